import type { Publisher } from '../queue/publisher.ts';
import { claimUnpublished, markPublished } from '../store/outbox.ts';
import type { Pool } from '../store/pool.ts';
import { withTransaction } from '../store/transaction.ts';

export type DrainResult = {
  published: number;
  failed: number;
  /** INSERT → SQS, in milliseconds, per published code (the relay lag metric). */
  lagsMs: number[];
};

/** Codes claimed per transaction: ten SendMessageBatch calls, sent in parallel (one transaction per 100 codes). */
export const CLAIM_SIZE = 100;

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
  const total: DrainResult = { published: 0, failed: 0, lagsMs: [] };
  for (let batch = 0; batch < (options.maxBatches ?? Number.POSITIVE_INFINITY); batch++) {
    const result = await publishBatch(pool, publish, toBody, claimSize);
    total.published += result.published;
    total.failed += result.failed;
    total.lagsMs.push(...result.lagsMs);
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
    const ids = await claimUnpublished(client, claimSize);
    if (ids.length === 0) return { claimed: 0, published: 0, failed: 0, lagsMs: [] as number[] };
    // A throwing publisher rolls the claim back: the codes stay unpublished for the next drain.
    const result = await publish(ids.map((id) => ({ id, body: toBody(id) })));
    const lagsMs = await markPublished(client, result.published);
    return {
      claimed: ids.length,
      published: result.published.length,
      failed: result.failed.length,
      lagsMs,
    };
  });
}
