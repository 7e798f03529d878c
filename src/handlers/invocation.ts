import type { Context } from 'aws-lambda';
import { logger } from '../commons/logger.ts';
import { captureColdStart, flushMetrics } from '../commons/metrics.ts';

/**
 * What every Lambda entry point does around its work: the logger learns the invocation, the cold
 * start is counted, and the metrics are flushed once, whatever happened, into this invocation's log.
 */
export function invocation<E, R>(handle: (event: E, context?: Context) => Promise<R>) {
  return async (event: E, context?: Context): Promise<R> => {
    if (context) {
      logger.addContext(context);
      captureColdStart(context.functionName);
    }
    try {
      return await handle(event, context);
    } finally {
      flushMetrics();
    }
  };
}

/** Left of an invocation for answering, releasing a claim or a lease, and stashing (an S3 write). */
export const DEADLINE_MARGIN_MS = 5_000;

/** When this invocation's work must be done (epoch ms): Lambda's remaining time less the margin. */
export function budgetEndsAt(context: Context | undefined): number | undefined {
  return context ? Date.now() + context.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS : undefined;
}

/** Built on first use and kept for the container's life (pool, HTTP agent, secret, SDK clients). */
export function perContainer<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => {
    built ??= { value: build() };
    return built.value;
  };
}

/** A record reported failed to SQS (it comes back, or goes to the DLQ), with the reason logged. */
export class RecordNotDone extends Error {
  override name = 'RecordNotDone';
}
