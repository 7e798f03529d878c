import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { codeIdSchema } from '../commons/ids.ts';
import { logger } from '../commons/logger.ts';
import { loadConfig } from '../config.ts';
import { exchangeMessage } from '../queue/messages.ts';
import type { Publisher } from '../queue/publisher.ts';
import { drainOutbox } from '../relay/outbox.ts';
import { sweep } from '../relay/sweep.ts';
import { codeVisible } from '../store/outbox.ts';
import type { Pool } from '../store/pool.ts';
import { createRelayRuntime } from './runtime/relay.ts';

/** What the aws_lambda trigger sends; anything else (the one-minute schedule) drains and sweeps. */
const rdsTriggerSchema = z.object({ source: z.literal('rds-trigger'), codeId: codeIdSchema });

export type RelayDeps = { pool: Pool; publish: Publisher; codeLifetimeMs: number };
export type RelaySummary = {
  published: number;
  failed: number;
  waitedFor?: { codeId: string; seen: boolean };
  /** The scheduled run's housekeeping: expired install states deleted. */
  expiredStatesDeleted?: number;
  /** The scheduled run's housekeeping: codes past their life recorded `expired` or `failed`. */
  strandedCodes?: number;
};

const VISIBILITY_POLL_MS = 100;

/**
 * The relay Lambda: drains the outbox to SQS. Invoked by the RDS trigger inside the inserting
 * transaction, it may run before that transaction commits, so it waits (briefly) for the announced row.
 */
export function createRelayHandler(getDeps: () => RelayDeps, options: { waitForRowMs?: number } = {}) {
  return async function handler(event: unknown, context?: Context): Promise<RelaySummary> {
    if (context) logger.addContext(context);
    const { pool, publish, codeLifetimeMs } = getDeps();
    const trigger = rdsTriggerSchema.safeParse(event);
    const summary: RelaySummary = await drainOutbox(pool, publish, exchangeMessage);
    if (trigger.success) {
      const codeId = trigger.data.codeId;
      const budget = Math.min(
        options.waitForRowMs ?? 10_000,
        (context?.getRemainingTimeInMillis() ?? 30_000) - 2_000,
      );
      const deadline = Date.now() + budget;
      let seen = await codeVisible(pool, codeId);
      while (!seen && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, VISIBILITY_POLL_MS));
        seen = await codeVisible(pool, codeId);
      }
      if (seen) {
        const more = await drainOutbox(pool, publish, exchangeMessage);
        summary.published += more.published;
        summary.failed += more.failed;
      }
      // Not seen: rolled back, or still uncommitted; the one-minute schedule publishes it if it commits.
      summary.waitedFor = { codeId, seen };
    } else {
      Object.assign(summary, await sweep(pool, logger, { codeLifetimeMs }));
    }
    logger.info('relay drained', { ...summary });
    if (summary.failed > 0)
      throw new Error(`SQS refused ${summary.failed} message(s); they stay unpublished`);
    return summary;
  };
}

let deps: RelayDeps | undefined;

/** Built on the first invocation and kept for the container's life. */
export const handler = createRelayHandler(() => {
  deps ??= createRelayRuntime(loadConfig('relay'), { poolSize: 2 });
  return deps;
});
