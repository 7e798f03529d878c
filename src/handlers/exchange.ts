import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import pLimit from 'p-limit';
import * as z from 'zod/mini';
import { describeError } from '../commons/errors.ts';
import { codeIdSchema, mallIdSchema } from '../commons/ids.ts';
import { logger } from '../commons/logger.ts';
import { loadConfig } from '../config.ts';
import {
  type ExchangeOptions,
  exchangeCode,
  exchangeRequested,
  flushStash,
  type ManualResult,
} from '../domain/exchange-code.ts';
import { parseMessageBody } from '../queue/messages.ts';
import { createExchangeRuntime, type ExchangeRuntime } from '../runtime/exchange.ts';
import { recordExchangeResult, recordStashRecovered } from '../runtime/metrics.ts';
import { budgetEndsAt, invocation, perContainer, RecordNotDone } from './invocation.ts';

/** `{}`, `{"codeId": N}` or `{"mallId": "m"}`: the seed's console test, kept. */
const manualEventSchema = z.strictObject({
  codeId: z.optional(
    z.pipe(
      z.union([z.pipe(z.number().check(z.int(), z.positive()), z.transform(String)), z.string()]),
      codeIdSchema,
    ),
  ),
  mallId: z.optional(mallIdSchema),
});

export type ManualEvent = z.input<typeof manualEventSchema>;

/**
 * When a record whose tokens wait in the stash (the database refused them) comes back, by its receive
 * count: soon while an outage is likely short, then at the queue's own visibility timeout, so a long
 * outage still reaches the DLQ no sooner than before (and a redrive stores the tokens from there).
 */
export const STASHED_RETRY_MS: readonly number[] = [5_000, 20_000, 60_000];

/** How soon a record should come back, if sooner than the queue's visibility timeout. */
function retryDelayMs(
  result: { retryAfterMs?: number; stashed?: true },
  record: SQSRecord,
): number | undefined {
  if (!result.stashed) return result.retryAfterMs;
  const receives = Number(record.attributes.ApproximateReceiveCount);
  return STASHED_RETRY_MS[(Number.isSafeInteger(receives) && receives > 0 ? receives : 1) - 1];
}

/** The exchange Lambda: validates, maps and delegates to the domain's `exchangeCode`. */
export function createExchangeHandler(getRuntime: () => ExchangeRuntime) {
  async function handleRecord(
    runtime: ExchangeRuntime,
    record: SQSRecord,
    options: ExchangeOptions,
  ): Promise<void> {
    const parsed = parseMessageBody(record.body);
    if (!parsed.ok) {
      logger.error('malformed message', { messageId: record.messageId, reason: parsed.reason });
      throw new RecordNotDone(parsed.reason);
    }
    const message = parsed.message;
    // One case per message kind; a new kind (token refresh, say) fails to compile until it is handled here.
    switch (message.kind) {
      case 'exchange':
        return exchangeRecord(runtime, record, message.codeId, options);
      case 'refresh': {
        // Refreshes have a queue of their own: one here was sent to the wrong queue.
        const reason = 'a refresh message on the exchange queue (send it to the refresh queue)';
        logger.error('malformed message', { messageId: record.messageId, reason });
        throw new RecordNotDone(reason);
      }
      default:
        return message satisfies never;
    }
  }

  async function exchangeRecord(
    runtime: ExchangeRuntime,
    record: SQSRecord,
    codeId: string,
    options: ExchangeOptions,
  ): Promise<void> {
    const result = await exchangeCode(runtime.deps, codeId, options).catch((error: unknown) => {
      // The database (or something unforeseen) failed before any final state: SQS tries again.
      logger.error('exchange failed, message will be retried', {
        messageId: record.messageId,
        codeId,
        error: describeError(error),
      });
      throw error;
    });
    recordExchangeResult(result);
    if (result.status === 'retry') {
      // Another delivery holding the code is expected (the install front and the relay both publish it).
      logger[result.elsewhere ? 'info' : 'warn']('code not finished, message will be retried', {
        messageId: record.messageId,
        codeId: result.codeId,
        reason: result.reason,
      });
      // The code is still alive, or its tokens wait in the stash: back in seconds, not minutes.
      const delayMs = retryDelayMs(result, record);
      if (delayMs !== undefined) await runtime.requeue(record, delayMs);
      throw new RecordNotDone(result.reason);
    }
  }

  async function handle(
    event: SQSEvent | ManualEvent,
    context?: Context,
  ): Promise<SQSBatchResponse | ManualResult> {
    const runtime = getRuntime();
    // Every wait of this invocation ends before Lambda's own timeout would kill it mid-way.
    const budget = budgetEndsAt(context);
    const options: ExchangeOptions = budget === undefined ? {} : { budgetEndsAt: budget };
    recordStashRecovered(await flushStash(runtime.deps));
    if ('Records' in event && Array.isArray(event.Records)) {
      const limit = pLimit(runtime.config.exchange.concurrency);
      return processPartialResponse(
        event,
        (record: SQSRecord) => limit(() => handleRecord(runtime, record, options)),
        new BatchProcessor(EventType.SQS),
        {
          context,
          throwOnFullBatchFailure: false,
        },
      );
    }
    const manual = manualEventSchema.safeParse(event);
    if (!manual.success) {
      throw new Error(
        'unrecognised event: send an SQS event, {}, {"codeId": N} or {"mallId": "..."} ' +
          `(${manual.error.issues.map((issue) => `${issue.path.join('.') || 'event'}: ${issue.message}`).join('; ')})`,
      );
    }
    const mallId = manual.data.mallId ?? runtime.config.cafe24.mallId;
    if (manual.data.codeId === undefined && mallId === undefined) {
      throw new Error('{} exchanges the newest pending code of CAFE24_MALL_ID, which is not set');
    }
    const result = await exchangeRequested(runtime.deps, { codeId: manual.data.codeId, mallId }, options);
    if (result.status !== 'nothing-pending') recordExchangeResult(result);
    logger.info('manual exchange', { result });
    return result;
  }

  return invocation<SQSEvent | ManualEvent, SQSBatchResponse | ManualResult>(handle);
}

export const handler = createExchangeHandler(
  perContainer(() => createExchangeRuntime(loadConfig('exchange'))),
);
