import type { Context } from 'aws-lambda';
import { logger } from '../commons/logger.ts';
import { loadConfig } from '../config.ts';
import { publishDueMalls, type RefreshScheduleSummary } from '../domain/refresh-schedule.ts';
import { createRefreshScheduleRuntime, type RefreshScheduleRuntime } from '../runtime/refresh-schedule.ts';
import { budgetEndsAt, invocation, perContainer } from './invocation.ts';

/**
 * The refresh schedule (EventBridge, every few minutes): publishes each due mall to the refresh queue,
 * once per round however many runs overlap. The event's content is not read.
 */
export function createRefreshScheduleHandler(getRuntime: () => RefreshScheduleRuntime) {
  return invocation(async (_event: unknown, context?: Context): Promise<RefreshScheduleSummary> => {
    const { deps } = getRuntime();
    const deadline = budgetEndsAt(context);
    const summary = await publishDueMalls(deps, deadline === undefined ? {} : { deadline });
    logger.info('due malls published to the refresh queue', { ...summary });
    if (summary.failed > 0)
      throw new Error(`SQS refused ${summary.failed} refresh message(s); the next run retries`);
    return summary;
  });
}

export const handler = createRefreshScheduleHandler(
  perContainer(() => createRefreshScheduleRuntime(loadConfig('refreshSchedule'))),
);
