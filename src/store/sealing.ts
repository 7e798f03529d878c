import {
  isSealed,
  sealedKeyId,
  type TokenCodec,
  type TokenColumn,
  TokenSealError,
} from '../commons/token-codec.ts';
import type { Pool } from './pool.ts';

// `cafe24-tokens encrypt` and `rotate-key`: token rows sealed (again) in place, batch by batch.

/** Rows with a token not yet sealed, after `$1` in mall id order (the run's cursor), at most `$2`. */
const UNSEALED = `
select mall_id, access_token, refresh_token
  from cafe24.oauth_tokens
 where (access_token not like 'enc:v1:%' or refresh_token not like 'enc:v1:%')
   and mall_id > $1
 order by mall_id
 limit $2`;

/** Rows with a token not sealed under the data key `$3` (plaintext, another key), after `$1`, at most `$2`. */
const NOT_UNDER = `
select mall_id, access_token, refresh_token
  from cafe24.oauth_tokens
 where (access_key_id is distinct from $3 or refresh_key_id is distinct from $3)
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
       count(*) filter (where access_token not like 'enc:v1:%' or refresh_token not like 'enc:v1:%')::int as plaintext,
       count(*) filter (where access_token like 'enc:v1:local-%' or refresh_token like 'enc:v1:local-%')::int as local
  from cafe24.oauth_tokens`;

export type SealingCounts = {
  sealed: number;
  plaintext: number;
  /** Rows with a token sealed with a TOKEN_ENCRYPTION_KEY (local runs), not under a KMS data key. */
  local: number;
};

/** How many token rows are sealed, how many still hold a plaintext token, and how many a local key sealed. */
export async function sealingCounts(pool: Pool): Promise<SealingCounts> {
  return (await pool.query(COUNTS)).rows[0] as SealingCounts;
}

export type SealProgress = {
  sealed: number;
  /** Rows a writer changed between the read and the swap: left to it (it sealed them) or the next run. */
  changedMeanwhile: number;
  /** Rows whose tokens do not open with this deployment's keys: left as they are, named in `unreadable`. */
  unreadable: string[];
  batches: number;
};

type Row = { mall_id: string; access_token: string; refresh_token: string };

/**
 * Seals with `codec` every token that is plaintext (`which: 'plaintext'`, `encrypt`) or not sealed under
 * the data key `which.notUnder` (`rotate-key`), `batch` rows a statement, until none is left or
 * `maxBatches` ran. Safe to stop at any moment and run again: each row is sealed by one guarded UPDATE,
 * and a run starts over from the rows still to do.
 */
export async function resealRows(
  pool: Pool,
  codec: TokenCodec,
  options: {
    which: 'plaintext' | { notUnder: string };
    batch: number;
    maxBatches?: number;
    onBatch?: (progress: SealProgress) => void;
  },
): Promise<SealProgress> {
  if (!codec.sealing) throw new Error('no key to seal with: set TOKEN_KMS_KEY_ID (or TOKEN_ENCRYPTION_KEY)');
  const { which } = options;
  const progress: SealProgress = { sealed: 0, changedMeanwhile: 0, unreadable: [], batches: 0 };
  // A value stays as it is when it is sealed already (encrypt) or sealed under the target key (rotate).
  const keep = (stored: string) =>
    which === 'plaintext' ? isSealed(stored) : sealedKeyId(stored) === which.notUnder;
  const reseal = async (stored: string, mallId: string, column: TokenColumn) =>
    keep(stored) ? stored : codec.seal(await codec.open(stored, { mallId, column }), { mallId, column });
  let after = '';
  while (options.maxBatches === undefined || progress.batches < options.maxBatches) {
    const { rows } =
      which === 'plaintext'
        ? await pool.query(UNSEALED, [after, options.batch])
        : await pool.query(NOT_UNDER, [after, options.batch, which.notUnder]);
    if (rows.length === 0) break;
    for (const row of rows as Row[]) {
      const mallId = row.mall_id;
      after = mallId;
      let access: string;
      let refresh: string;
      try {
        access = await reseal(row.access_token, mallId, 'access_token');
        refresh = await reseal(row.refresh_token, mallId, 'refresh_token');
      } catch (error) {
        if (!(error instanceof TokenSealError)) throw error;
        progress.unreadable.push(mallId);
        continue;
      }
      const updated = await pool.query(SEAL_ROW, [
        mallId,
        row.access_token,
        row.refresh_token,
        access,
        refresh,
      ]);
      if (updated.rowCount === 1) progress.sealed += 1;
      else progress.changedMeanwhile += 1;
    }
    progress.batches += 1;
    options.onBatch?.({ ...progress, unreadable: [...progress.unreadable] });
  }
  return progress;
}
