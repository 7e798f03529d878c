import { type Config, loadConfig } from '../config.ts';
import type { RefreshDeps } from '../domain/refresh-mall.ts';
import { createPool, type Pool } from '../store/pool.ts';
import { PostgresTokenStore } from '../store/tokens.ts';
import { createTokenClient, createTokenStash } from './exchange-runtime.ts';
import { logger } from './logger.ts';

/** Beyond one request's timeout, the lease covers storing the pair (or stashing it) before it ends. */
export const REFRESH_LEASE_MARGIN_MS = 10_000;

export type RefreshRuntime = {
  config: Config;
  deps: RefreshDeps;
  tokens: PostgresTokenStore;
  pool: Pool;
  close(): Promise<void>;
};

/** Everything a refresh needs, wired from the configuration; `pool` shares a caller's pool (not closed). */
export function createRefreshRuntime(
  config: Config = loadConfig(),
  options: { pool?: Pool; maxConnections?: number } = {},
): RefreshRuntime {
  const pool =
    options.pool ??
    createPool(config.database, {
      max: options.maxConnections ?? 10,
      applicationName: 'cafe24-token-refresh',
    });
  const tokens = new PostgresTokenStore(pool);
  const deps: RefreshDeps = {
    tokens,
    cafe24: createTokenClient(config),
    stash: createTokenStash(config),
    log: logger,
    policy: {
      aheadMs: config.refresh.aheadMs,
      leaseMs: config.cafe24.requestTimeoutMs + REFRESH_LEASE_MARGIN_MS,
    },
  };
  return { config, deps, tokens, pool, close: async () => (options.pool ? undefined : pool.end()) };
}
