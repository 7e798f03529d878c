import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { codeIdSchema } from '../commons/ids.ts';
import { logger } from '../commons/logger.ts';
import { recordRelayRun } from '../commons/metrics.ts';
import { loadConfig } from '../config.ts';
import {
  type RelayDeps,
  type RelayHandlerOptions,
  type RelaySummary,
  relayScheduled,
  relayTriggered,
} from '../relay/lambda-runs.ts';
import { createRelayRuntime } from '../runtime/relay.ts';
import { invocation, perContainer } from './invocation.ts';

export { LISTEN_MARGIN_MS, type RelayDeps, type RelaySummary } from '../relay/lambda-runs.ts';

/** What the aws_lambda trigger sends; anything else (the one-minute schedule) listens, drains and sweeps. */
const rdsTriggerSchema = z.object({ source: z.literal('rds-trigger'), codeId: codeIdSchema });

/** The relay Lambda: a trigger run or a scheduled run (src/relay/lambda-runs.ts). */
export function createRelayHandler(getDeps: () => RelayDeps, options: RelayHandlerOptions = {}) {
  return invocation(async (event: unknown, context?: Context): Promise<RelaySummary> => {
    recordRelayRun();
    const deps = getDeps();
    const trigger = rdsTriggerSchema.safeParse(event);
    const remainingMs = context?.getRemainingTimeInMillis();
    const summary = trigger.success
      ? await relayTriggered(deps, trigger.data.codeId, remainingMs, options)
      : await relayScheduled(deps, remainingMs, options);
    logger.info('relay drained', { ...summary });
    // A listening run retried SQS failures itself; only a drain-once run reports them as an error.
    if (summary.failed > 0 && !summary.listenedMs)
      throw new Error(`SQS refused ${summary.failed} message(s); they stay unpublished`);
    return summary;
  });
}

/** A pool of 2 and one LISTEN session per container. */
export const handler = createRelayHandler(
  perContainer(() => createRelayRuntime(loadConfig('relay'), { poolSize: 2 })),
);
