import type { TokenCodec } from '../commons/token-codec.ts';
import type { Pool } from './pool.ts';

// `cafe24-tokens encrypt`: every row holding a plaintext token, sealed in place, batch by batch.

/** Rows with a token not yet sealed, after `$1` in mall id order (the run's cursor), at most `$2`. */
const UNSEALED = `
select mall_id, access_token, refresh_token
  from cafe24.oauth_tokens
 where (access_token not like 'enc:v1:%' or refresh_token not like 'enc:v1:%')
   and mall_id > $1
 order by mall_id
 limit $2`;

/**
 * Compare-and-swap on both stored values: a row a refresh or an exchange wrote meanwhile is left alone
 * (that writer sealed it already, or the next run will), so no rotated pair is ever overwritten (rule 8).
 */
const SEAL_ROW = `
update cafe24.oauth_tokens
   set access_token = $4, refresh_token = $5
 where mall_id = $1 and access_token = $2 and refresh_token = $3`;

const COUNTS = `
select count(*) filter (where access_token like 'enc:v1:%' and refresh_token like 'enc:v1:%')::int as sealed,
       count(*) filter (where access_token not like 'enc:v1:%' or refresh_token not like 'enc:v1:%')::int as plaintext
  from cafe24.oauth_tokens`;

export type SealingCounts = { sealed: number; plaintext: number };

/** How many token rows are sealed, and how many still hold a plaintext token. */
export async function sealingCounts(pool: Pool): Promise<SealingCounts> {
  return (await pool.query(COUNTS)).rows[0] as SealingCounts;
}

export type EncryptProgress = { sealed: number; changedMeanwhile: number; batches: number };

/**
 * Seals every plaintext token with `codec`, `batch` rows a statement, until none is left or `maxBatches`
 * ran. Safe to stop at any moment and run again: each row is sealed by one guarded UPDATE, and a run
 * starts over from the rows still in plaintext.
 */
export async function sealPlaintextRows(
  pool: Pool,
  codec: TokenCodec,
  options: { batch: number; maxBatches?: number; onBatch?: (progress: EncryptProgress) => void },
): Promise<EncryptProgress> {
  if (!codec.sealing) throw new Error('no key to seal with: set TOKEN_ENCRYPTION_KEY (or TOKEN_KMS_KEY_ID)');
  const progress: EncryptProgress = { sealed: 0, changedMeanwhile: 0, batches: 0 };
  let after = '';
  while (options.maxBatches === undefined || progress.batches < options.maxBatches) {
    const { rows } = await pool.query(UNSEALED, [after, options.batch]);
    if (rows.length === 0) break;
    for (const row of rows as Array<{ mall_id: string; access_token: string; refresh_token: string }>) {
      const mallId = row.mall_id;
      // Open (a sealed one stays as it is) and seal again only what is plaintext.
      const access = row.access_token.startsWith('enc:v1:')
        ? row.access_token
        : await codec.seal(await codec.open(row.access_token, { mallId, column: 'access_token' }), {
            mallId,
            column: 'access_token',
          });
      const refresh = row.refresh_token.startsWith('enc:v1:')
        ? row.refresh_token
        : await codec.seal(await codec.open(row.refresh_token, { mallId, column: 'refresh_token' }), {
            mallId,
            column: 'refresh_token',
          });
      const updated = await pool.query(SEAL_ROW, [
        mallId,
        row.access_token,
        row.refresh_token,
        access,
        refresh,
      ]);
      if (updated.rowCount === 1) progress.sealed += 1;
      else progress.changedMeanwhile += 1;
      after = mallId;
    }
    progress.batches += 1;
    options.onBatch?.({ ...progress });
  }
  return progress;
}
