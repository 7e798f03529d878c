import type { Publisher } from '../queue/publisher.ts';
import { publishFromOutbox } from '../store/outbox.ts';
import type { Pool } from '../store/pool.ts';

export type DrainResult = {
  published: number;
  failed: number;
  /** INSERT → SQS, in milliseconds, per published code (the relay lag metric). */
  lagsMs: number[];
};

/** Codes claimed per transaction: ten SendMessageBatch calls, sent in parallel (one transaction per 100 codes). */
export const CLAIM_SIZE = 100;

/**
 * Publishes every unpublished pending code, `claimSize` per transaction, removing only what SQS accepted.
 * The rows stay locked from claim to commit, so two relays never send the same code; a crash between
 * SQS accepting and the commit sends it again later, which the exchange's claim makes harmless.
 * One transaction is three round trips: BEGIN with the claim (rows taken out of the outbox), the SQS
 * call, and COMMIT (plus a put-back only when SQS refused some).
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
  return publishFromOutbox(pool, claimSize, async (rows) => {
    if (rows.length === 0) {
      return {
        accepted: new Set<string>(),
        result: { claimed: 0, published: 0, failed: 0, lagsMs: [] as number[] },
      };
    }
    const claimedAt = performance.now();
    // A throwing publisher rolls the claim back: the codes stay unpublished for the next drain.
    const result = await publish(rows.map(({ id }) => ({ id, body: toBody(id) })));
    const sent = performance.now() - claimedAt;
    // Only what SQS accepted leaves the outbox: the others go back, unpublished, as they were.
    const accepted = new Set(result.published);
    return {
      accepted,
      result: {
        claimed: rows.length,
        published: result.published.length,
        failed: result.failed.length,
        // INSERT → SQS: the wait until the claim (database clock) plus the send (this process's clock).
        lagsMs: rows.filter((row) => accepted.has(row.id)).map((row) => row.waitedMs + sent),
      },
    };
  });
}
