import { logger } from '../../commons/logger.ts';
import type { ConfigFor } from '../../config.ts';
import type { ExchangeDeps } from '../../domain/exchange-code.ts';
import { PostgresCodeStore } from '../../store/codes.ts';
import type { Pool } from '../../store/pool.ts';
import { createTokenClient, createTokenStash } from './cafe24.ts';
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
  const deps: ExchangeDeps = {
    codes: new PostgresCodeStore(pool),
    cafe24: createTokenClient(config),
    stash: createTokenStash(config.exchange.stashBucket, config),
    log: logger,
    redirectUri: config.cafe24.redirectUri,
    policy: {
      codeLifetimeMs: config.exchange.codeLifetimeMs,
      expiryMarginMs: config.exchange.expiryMarginMs,
    },
  };
  return { config, deps, pool, close: () => pool.end() };
}
