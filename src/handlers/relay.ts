import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { createSqsClient } from '../aws/sqs.ts';
import { logger } from '../commons/logger.ts';
import { loadRelayConfig } from '../config.ts';
import { exchangeMessage } from '../messages.ts';
import { drainOutbox, type Publisher } from '../relay/outbox.ts';
import { sqsPublisher } from '../relay/sqs-publisher.ts';
import { createPool, type Pool } from '../store/pool.ts';

/** What the aws_lambda trigger sends; anything else (the one-minute schedule) just drains. */
const rdsTriggerSchema = z.object({
  source: z.literal('rds-trigger'),
  codeId: z.string().check(z.regex(/^[1-9][0-9]*$/)),
});

export type RelayRuntime = { pool: Pool; publish: Publisher };
export type RelaySummary = {
  published: number;
  failed: number;
  waitedFor?: { codeId: string; seen: boolean };
};

const VISIBILITY_POLL_MS = 100;

/**
 * The relay Lambda: drains the outbox to SQS. Invoked by the RDS trigger inside the inserting
 * transaction, it may run before that transaction commits, so it waits (briefly) for the announced row.
 */
export function createRelayHandler(getRuntime: () => RelayRuntime, options: { waitForRowMs?: number } = {}) {
  return async function handler(event: unknown, context?: Context): Promise<RelaySummary> {
    if (context) logger.addContext(context);
    const { pool, publish } = getRuntime();
    const trigger = rdsTriggerSchema.safeParse(event);
    const summary: RelaySummary = await drainOutbox(pool, publish, exchangeMessage);
    if (trigger.success) {
      const codeId = trigger.data.codeId;
      const budget = Math.min(
        options.waitForRowMs ?? 10_000,
        (context?.getRemainingTimeInMillis() ?? 30_000) - 2_000,
      );
      const deadline = Date.now() + budget;
      let seen = await rowVisible(pool, codeId);
      while (!seen && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, VISIBILITY_POLL_MS));
        seen = await rowVisible(pool, codeId);
      }
      if (seen) {
        const more = await drainOutbox(pool, publish, exchangeMessage);
        summary.published += more.published;
        summary.failed += more.failed;
      }
      // Not seen: rolled back, or still uncommitted; the one-minute schedule publishes it if it commits.
      summary.waitedFor = { codeId, seen };
    }
    logger.info('relay drained', { ...summary });
    if (summary.failed > 0)
      throw new Error(`SQS refused ${summary.failed} message(s); they stay unpublished`);
    return summary;
  };
}

async function rowVisible(pool: Pool, codeId: string): Promise<boolean> {
  const { rowCount } = await pool.query('select 1 from cafe24.oauth_authorization_codes where id = $1', [
    codeId,
  ]);
  return rowCount === 1;
}

let runtime: RelayRuntime | undefined;

export const handler = createRelayHandler(() => {
  if (!runtime) {
    const { database, sqs } = loadRelayConfig();
    const pool = createPool(database, { max: 2, applicationName: 'cafe24-token-relay' });
    runtime = { pool, publish: sqsPublisher(createSqsClient(sqs), sqs.queueUrl) };
  }
  return runtime;
});
