import { S3TokenStash } from '../aws/s3-token-stash.ts';
import { Cafe24TokenClient } from '../cafe24/token-client.ts';
import { type Config, loadConfig } from '../config.ts';
import type { ExchangeDeps } from '../domain/exchange-code.ts';
import type { TokenStash } from '../domain/ports.ts';
import { PostgresCodeStore } from '../store/codes.ts';
import { createPool, type Pool } from '../store/pool.ts';
import { MemoryTokenStash } from '../store/token-stash.ts';
import { logger } from './logger.ts';
import { clientSecretSource } from './secrets.ts';

export type ExchangeRuntime = { config: Config; deps: ExchangeDeps; pool: Pool; close(): Promise<void> };

/** Everything an exchange needs, wired from the environment. */
export function createExchangeRuntime(config: Config = loadConfig()): ExchangeRuntime {
  const pool = createPool(config.database, {
    max: config.exchangeConcurrency,
    applicationName: 'cafe24-token-exchange',
  });
  const cafe24 = createTokenClient(config);
  const deps: ExchangeDeps = {
    codes: new PostgresCodeStore(pool),
    cafe24,
    stash: createTokenStash(config),
    log: logger,
    redirectUri: config.cafe24.redirectUri,
    policy: { codeLifetimeMs: config.codes.lifetimeMs, expiryMarginMs: config.codes.expiryMarginMs },
  };
  return { config, deps, pool, close: () => pool.end() };
}

/** The one Cafe24 token client of a process (both grants), from the configuration. */
export function createTokenClient(config: Config): Cafe24TokenClient {
  return new Cafe24TokenClient({
    apiBaseUrl: config.cafe24.apiBaseUrl,
    clientId: config.cafe24.clientId,
    clientSecret: clientSecretSource(config.cafe24.clientSecret, config.sqs.region),
    connectTimeoutMs: config.cafe24.connectTimeoutMs,
    requestTimeoutMs: config.cafe24.requestTimeoutMs,
  });
}

/** Where issued tokens wait when the database cannot take them: S3 where a bucket is set, else memory. */
export function createTokenStash(config: Config): TokenStash {
  return config.tokenStash.bucket
    ? new S3TokenStash({
        bucket: config.tokenStash.bucket,
        endpoint: config.tokenStash.endpoint,
        region: config.sqs.region,
        log: logger,
      })
    : new MemoryTokenStash();
}
