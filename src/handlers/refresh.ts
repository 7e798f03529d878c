import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import pLimit from 'p-limit';
import { describeError } from '../commons/errors.ts';
import { logger } from '../commons/logger.ts';
import { recordRefreshOutcome } from '../commons/metrics.ts';
import { loadConfig } from '../config.ts';
import { flushRefreshStash, type RefreshResult, refreshMall } from '../domain/refresh-mall.ts';
import { parseMessageBody } from '../queue/messages.ts';
import { recordRefreshResult, recordStashRecovered } from '../runtime/metrics.ts';
import { createRefreshRuntime, type RefreshRuntime } from '../runtime/refresh.ts';
import { REFRESH_OUTCOMES } from '../runtime/refresh-outcomes.ts';
import { budgetEndsAt, invocation, perContainer, RecordNotDone } from './invocation.ts';

/**
 * Logged at `error` when Cafe24 refuses a refresh for a reason that blames the app (its client credentials,
 * or the request: ANSWER_OUTCOMES in src/cafe24/token-client.ts) and the batch stops; the alarm watches
 * the `RefreshConfigurationErrors` metric recorded for the same result (commons/metrics.ts).
 */
export const CONFIGURATION_ERROR_MESSAGE = 'refresh stopped: a configuration error, no mall marked invalid';

/**
 * The refresh Lambda: one `{"kind":"refresh","mallId":…}` per record, refreshed by the domain's
 * `refreshMall` under the mall's lease, so a duplicate (or a mall refreshed meanwhile) is skipped.
 * Done: refreshed, fresh, invalid (needs a new install), held by another process, no row. Failed (SQS
 * retries with its backoff): transient failures, a pair waiting in the stash, malformed records, and,
 * once Cafe24 answered with a configuration error, every record not finished yet, none of them sent.
 */
export function createRefreshHandler(getRuntime: () => RefreshRuntime) {
  // One EMF line per invocation with every mall's outcome (commons/metrics.ts).
  return invocation(handle);

  async function handle(event: SQSEvent, context?: Context): Promise<SQSBatchResponse> {
    const runtime = getRuntime();
    const deadline = budgetEndsAt(context) ?? Number.POSITIVE_INFINITY;
    recordStashRecovered(await flushRefreshStash(runtime.deps));
    let stopped: string | undefined;

    async function handleRecord(record: SQSRecord): Promise<void> {
      const mallId = refreshMallOf(record);
      if (stopped !== undefined) throw new RecordNotDone(`not attempted: ${stopped}`);
      // No lease is taken unless a whole one fits before the invocation's end (the domain checks).
      const result = await refreshMall(runtime.deps, mallId, { deadline }).catch((error: unknown): never => {
        // The database (or the stash) failed: the lease was given back, SQS tries again.
        recordRefreshOutcome('transient-failure');
        logger.error('refresh failed, message will be retried', {
          messageId: record.messageId,
          mallId,
          error: describeError(error),
        });
        throw error;
      });
      recordRefreshResult(result);
      settle(record, result);
    }

    function settle(record: SQSRecord, result: RefreshResult): void {
      const { messageId } = record;
      const { mallId, status } = result;
      const reason = 'reason' in result ? result.reason : undefined;
      switch (REFRESH_OUTCOMES[status].record) {
        case 'done':
          // `invalid` was logged by the domain when the mall turned so; a missing row is worth a look.
          if (status === 'missing')
            logger.warn('no token row for this mall, message done', { messageId, mallId });
          else if (status !== 'refreshed' && status !== 'skipped-fresh')
            logger.info('message done', { messageId, mallId, status });
          return;
        case 'stop':
          stopped = 'a configuration error stopped this batch (see the first failed record)';
          logger.error(CONFIGURATION_ERROR_MESSAGE, { messageId, mallId, reason });
          throw new RecordNotDone(reason ?? status);
        case 'retry':
          logger.warn('mall not refreshed yet, message will be retried', {
            messageId,
            mallId,
            status,
            reason,
          });
          throw new RecordNotDone(reason ?? status);
      }
    }

    const limit = pLimit(runtime.config.refresh.concurrency);
    return processPartialResponse(
      event,
      (record: SQSRecord) => limit(() => handleRecord(record)),
      new BatchProcessor(EventType.SQS),
      { context, throwOnFullBatchFailure: false },
    );
  }
}

/** The mall a refresh record names; any other body (an exchange message too) fails the record alone. */
function refreshMallOf(record: SQSRecord): string {
  const parsed = parseMessageBody(record.body);
  if (parsed.ok && parsed.message.kind === 'refresh') return parsed.message.mallId;
  // The reason names what is wrong, never a value from the body.
  const reason = parsed.ok
    ? `an ${parsed.message.kind} message on the refresh queue (expected refresh)`
    : parsed.reason;
  logger.error('malformed message', { messageId: record.messageId, reason });
  throw new RecordNotDone(reason);
}

export const handler = createRefreshHandler(
  perContainer(() => {
    const config = loadConfig('refresh');
    return createRefreshRuntime(config, { maxConnections: config.refresh.concurrency });
  }),
);
