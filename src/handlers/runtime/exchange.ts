import { S3TokenStash } from '../../aws/s3-token-stash.ts';
import { clientSecretSource } from '../../aws/secrets-manager.ts';
import { Cafe24TokenClient } from '../../cafe24/token-client.ts';
import { logger } from '../../commons/logger.ts';
import type { ConfigFor } from '../../config.ts';
import type { ExchangeDeps } from '../../domain/exchange-code.ts';
import { PostgresCodeStore } from '../../store/codes.ts';
import type { Pool } from '../../store/pool.ts';
import { MemoryTokenStash } from '../../store/token-stash.ts';
import { openPool } from './database.ts';

export type ExchangeRuntime = {
  config: ConfigFor<'exchange'>;
  deps: ExchangeDeps;
  pool: Pool;
  close(): Promise<void>;
};

/** Everything an exchange needs, wired from its configuration. */
export function createExchangeRuntime(config: ConfigFor<'exchange'>): ExchangeRuntime {
  const pool = openPool(config, {
    max: config.exchange.concurrency,
    applicationName: 'cafe24-token-exchange',
  });
  const cafe24 = new Cafe24TokenClient({
    apiBaseUrl: config.cafe24.apiBaseUrl,
    clientId: config.cafe24.clientId,
    clientSecret: clientSecretSource(config.clientSecret, config.aws),
    connectTimeoutMs: config.cafe24.connectTimeoutMs,
    requestTimeoutMs: config.cafe24.requestTimeoutMs,
  });
  const bucket = config.exchange.stashBucket;
  const deps: ExchangeDeps = {
    codes: new PostgresCodeStore(pool),
    cafe24,
    stash:
      bucket === undefined
        ? new MemoryTokenStash()
        : new S3TokenStash({ bucket, aws: config.aws, log: logger }),
    log: logger,
    redirectUri: config.cafe24.redirectUri,
    policy: {
      codeLifetimeMs: config.exchange.codeLifetimeMs,
      expiryMarginMs: config.exchange.expiryMarginMs,
    },
  };
  return { config, deps, pool, close: () => pool.end() };
}
