import type { Context } from 'aws-lambda';
import { logger } from '../commons/logger.ts';
import { loadConfig } from '../config.ts';
import { publishDueMalls, type RefreshScheduleSummary } from '../relay/refresh-schedule.ts';
import { createRefreshScheduleRuntime, type RefreshScheduleRuntime } from '../runtime/refresh-schedule.ts';

/** Left for the last SendMessageBatch and the answer. */
const DEADLINE_MARGIN_MS = 5_000;

/**
 * The refresh schedule (EventBridge, every few minutes): publishes each due mall to the refresh queue,
 * once per round however many runs overlap. The event's content is not read.
 */
export function createRefreshScheduleHandler(getRuntime: () => RefreshScheduleRuntime) {
  return async function handler(_event: unknown, context?: Context): Promise<RefreshScheduleSummary> {
    if (context) logger.addContext(context);
    const { deps } = getRuntime();
    const deadline = context
      ? Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS
      : undefined;
    const summary = await publishDueMalls(deps, deadline === undefined ? {} : { deadline });
    logger.info('due malls published to the refresh queue', { ...summary });
    if (summary.failed > 0)
      throw new Error(`SQS refused ${summary.failed} refresh message(s); the next run retries`);
    return summary;
  };
}

let runtime: RefreshScheduleRuntime | undefined;

/** Built on the first invocation and kept for the container's life. */
export const handler = createRefreshScheduleHandler(() => {
  runtime ??= createRefreshScheduleRuntime(loadConfig('refreshSchedule'));
  return runtime;
});
