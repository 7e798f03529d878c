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
