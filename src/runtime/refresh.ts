import type { Cafe24TokenClient } from '../cafe24/token-client.ts';
import { logger } from '../commons/logger.ts';
import type { ConfigFor } from '../config.ts';
import type { RefreshDeps } from '../domain/refresh-mall.ts';
import type { Pool } from '../store/pool.ts';
import { PostgresTokenStore } from '../store/tokens.ts';
import { createTokenClient, createTokenStash } from './cafe24.ts';
import { openPool } from './database.ts';
import { tokenCodecFor, warmTokenCodec } from './sealing.ts';

/** Beyond one request's timeout, the lease covers storing the pair (or stashing it) before it ends. */
export const REFRESH_LEASE_MARGIN_MS = 10_000;

export type RefreshRuntime = {
  config: ConfigFor<'refresh'>;
  deps: RefreshDeps;
  tokens: PostgresTokenStore;
  /** The same client as `deps.cafe24`, with what only the CLI asks of it (`forget` revokes). */
  tokenClient: Cafe24TokenClient;
  pool: Pool;
  close(): Promise<void>;
};

/** Everything a refresh needs, wired from its configuration; `pool` shares a caller's (not closed here). */
export function createRefreshRuntime(
  config: ConfigFor<'refresh'>,
  options: { pool?: Pool; maxConnections?: number } = {},
): RefreshRuntime {
  const pool =
    options.pool ??
    openPool(config, { max: options.maxConnections ?? 10, applicationName: 'cafe24-token-refresh' });
  const codec = tokenCodecFor(config, pool);
  warmTokenCodec(codec, config, logger);
  const tokens = new PostgresTokenStore(pool, codec);
  const tokenClient = createTokenClient(config);
  const deps: RefreshDeps = {
    tokens,
    cafe24: tokenClient,
    stash: createTokenStash(config.refresh.stashBucket, config, codec),
    log: logger,
    policy: {
      aheadMs: config.refresh.aheadMs,
      ...(config.refresh.keepaliveMs === undefined ? {} : { keepaliveMs: config.refresh.keepaliveMs }),
      leaseMs: config.cafe24.requestTimeoutMs + REFRESH_LEASE_MARGIN_MS,
    },
  };
  return {
    config,
    deps,
    tokens,
    tokenClient,
    pool,
    close: async () => (options.pool ? undefined : pool.end()),
  };
}
