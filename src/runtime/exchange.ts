import type { SQSRecord } from 'aws-lambda';
import { sqsRequeue } from '../aws/sqs-requeue.ts';
import { describeError } from '../commons/errors.ts';
import { logger } from '../commons/logger.ts';
import type { ConfigFor } from '../config.ts';
import type { ExchangeDeps } from '../domain/exchange-code.ts';
import { PostgresCodeStore } from '../store/codes.ts';
import type { Pool } from '../store/pool.ts';
import { createTokenClient, createTokenStash } from './cafe24.ts';
import { openPool } from './database.ts';
import { tokenCodecFor, warmTokenCodec } from './sealing.ts';

/**
 * Shortens a record's visibility on the exchange queue (SQS_QUEUE_URL) so it returns in seconds.
 * Without a queue URL the record waits out the queue's visibility timeout, as SQS does by default.
 */
function requeueWith(config: ConfigFor<'exchange'>): ExchangeRuntime['requeue'] {
  const queueUrl = config.exchangeQueue.queueUrl;
  if (queueUrl === undefined) return async () => {};
  const changeVisibility = sqsRequeue(config.aws, queueUrl);
  return async (record, ms) => {
    try {
      await changeVisibility(record.receiptHandle, Math.max(1, Math.ceil(ms / 1000)));
    } catch (error) {
      logger.warn('could not shorten the visibility timeout', {
        messageId: record.messageId,
        error: describeError(error),
      });
    }
  };
}

export type ExchangeRuntime = {
  config: ConfigFor<'exchange'>;
  deps: ExchangeDeps;
  pool: Pool;
  /** Makes a record visible again in `ms` (rounded up to whole seconds); best effort. */
  requeue(record: SQSRecord, ms: number): Promise<void>;
  close(): Promise<void>;
};

/** Everything an exchange needs, wired from its configuration. */
export function createExchangeRuntime(config: ConfigFor<'exchange'>): ExchangeRuntime {
  const pool = openPool(config, {
    // Each exchange takes a connection per statement and none across its Cafe24 request: the pool is
    // EXCHANGE_POOL_SIZE, not EXCHANGE_CONCURRENCY; a record waits for a connection, never a code.
    max: config.exchange.poolSize,
    applicationName: 'cafe24-token-exchange',
  });
  const codec = tokenCodecFor(config, pool);
  warmTokenCodec(codec, config, logger);
  const deps: ExchangeDeps = {
    codes: new PostgresCodeStore(pool, codec),
    cafe24: createTokenClient(config),
    stash: createTokenStash(config.exchange.stashBucket, config, codec),
    log: logger,
    redirectUri: config.redirect.uri,
    policy: {
      codeLifetimeMs: config.exchange.codeLifetimeMs,
      expiryMarginMs: config.exchange.expiryMarginMs,
    },
  };
  return { config, deps, pool, requeue: requeueWith(config), close: () => pool.end() };
}
