import type { Pool } from '../store/pool.ts';
import { withTransaction } from '../store/transaction.ts';

/** One queue message per code; `id` doubles as the batch entry id. */
export type OutboxEntry = { id: string; body: string };
export type PublishResult = { published: string[]; failed: Array<{ id: string; reason: string }> };
/** Sends the entries (SQS: SendMessageBatch calls of 10, in parallel) and says which were accepted. */
export type Publisher = (entries: OutboxEntry[]) => Promise<PublishResult>;

// Claims a batch of unpublished codes; another relay skips the locked rows instead of waiting.
const CLAIM_UNPUBLISHED = `
select id::text
  from cafe24.oauth_authorization_codes
 where published_at is null and status = 'pending'
 order by id
 limit $1
   for update skip locked`;

const MARK_PUBLISHED = `
update cafe24.oauth_authorization_codes
   set published_at = now(), updated_at = now()
 where id = any($1::bigint[])`;

export type DrainResult = { published: number; failed: number };

/** Codes claimed per transaction: five SendMessageBatch calls, sent in parallel. */
export const CLAIM_SIZE = 50;

/**
 * Publishes every unpublished pending code, `claimSize` per transaction, marking only what SQS accepted.
 * The rows stay locked from claim to mark, so two relays never send the same code; a crash between
 * SQS accepting and the commit sends it again later, which the exchange's claim makes harmless.
 */
export async function drainOutbox(
  pool: Pool,
  publish: Publisher,
  toBody: (codeId: string) => string,
  options: { claimSize?: number; maxBatches?: number } = {},
): Promise<DrainResult> {
  const claimSize = options.claimSize ?? CLAIM_SIZE;
  const total: DrainResult = { published: 0, failed: 0 };
  for (let batch = 0; batch < (options.maxBatches ?? Number.POSITIVE_INFINITY); batch++) {
    const result = await publishBatch(pool, publish, toBody, claimSize);
    total.published += result.published;
    total.failed += result.failed;
    // A partial failure stops the drain: the caller backs off before trying those codes again.
    if (result.claimed < claimSize || result.failed > 0) break;
  }
  return total;
}

async function publishBatch(
  pool: Pool,
  publish: Publisher,
  toBody: (codeId: string) => string,
  claimSize: number,
) {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<{ id: string }>(CLAIM_UNPUBLISHED, [claimSize]);
    if (rows.length === 0) return { claimed: 0, published: 0, failed: 0 };
    // A throwing publisher rolls the claim back: the codes stay unpublished for the next drain.
    const result = await publish(rows.map(({ id }) => ({ id, body: toBody(id) })));
    if (result.published.length > 0) await client.query(MARK_PUBLISHED, [result.published]);
    return { claimed: rows.length, published: result.published.length, failed: result.failed.length };
  });
}
