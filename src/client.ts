import { adminApiSender } from './cafe24/admin-api.ts';
import { logger } from './commons/logger.ts';
import { type ConfigFor, loadConfig } from './config.ts';
import { type AdminCallDeps, type CallOptions, callAdminApi } from './domain/admin-call.ts';
import type { AdminMethod } from './domain/admin-ports.ts';
import { createRefreshRuntime } from './runtime/refresh.ts';
import { PostgresCallBucket } from './store/api-buckets.ts';
import type { Pool } from './store/pool.ts';

export { DataKeyUnavailable } from './commons/token-codec.ts';
export {
  Cafe24ApiError,
  Cafe24ClientDatabaseError,
  Cafe24MallUnavailable,
  Cafe24NetworkError,
  Cafe24RateLimited,
  Cafe24RequestError,
  type CallOptions,
} from './domain/admin-call.ts';

/** Query parameters: `undefined` ones are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** One mall's Admin API: `path` starts with `/api/v2/admin/`; each resolves to Cafe24's JSON. */
export type MallClient = {
  readonly mallId: string;
  get<T = unknown>(path: string, options?: CallOptions & { query?: Query }): Promise<T>;
  post<T = unknown>(path: string, options?: CallOptions & { body?: unknown; query?: Query }): Promise<T>;
  put<T = unknown>(path: string, options?: CallOptions & { body?: unknown; query?: Query }): Promise<T>;
  delete<T = unknown>(path: string, options?: CallOptions & { query?: Query }): Promise<T>;
};

export type Cafe24Client = {
  mall(mallId: string): MallClient;
};

export type Cafe24ClientOptions = {
  /** A pg Pool on the database that holds `cafe24.oauth_tokens` (migrated). Not closed by the client. */
  pool: Pool;
  /** Default: read once from the environment (CAFE24_CLIENT_ID, CAFE24_CLIENT_SECRET or _ARN, CAFE24_API_BASE_URL, …). */
  config?: ConfigFor<'client'>;
  /** A stored access token that expires sooner than this is refreshed before a call (default 60 s). */
  minValidityMs?: number;
};

/**
 * Cafe24's Admin API for an app's own code (`cafe24-token-issuer/client`): the mall's token from the table
 * (refreshed on demand through the refresh's lease, never a second refresh path), one leaky bucket per
 * mall shared by every process through PostgreSQL, Cafe24's rate-limit headers followed, typed errors.
 *
 *   const cafe24 = createCafe24Client({ pool });
 *   const { store } = await cafe24.mall('myshop').get('/api/v2/admin/store');
 */
export function createCafe24Client(options: Cafe24ClientOptions): Cafe24Client {
  const config = options.config ?? loadConfig('client');
  const refresh = createRefreshRuntime(config, { pool: options.pool });
  const deps: AdminCallDeps = {
    bucket: new PostgresCallBucket(options.pool),
    send: adminApiSender({
      apiBaseUrl: config.cafe24.apiBaseUrl,
      apiVersion: config.adminApi.apiVersion,
      connectTimeoutMs: config.cafe24.connectTimeoutMs,
    }),
    refresh: refresh.deps,
    settings: {
      bucket: config.adminApi.bucket,
      timeoutMs: config.adminApi.timeoutMs,
      minValidityMs: options.minValidityMs ?? 60_000,
    },
    log: logger,
  };
  const send =
    (mallId: string, method: AdminMethod) =>
    <T>(path: string, call: CallOptions & { body?: unknown; query?: Query } = {}) => {
      const { body, query, ...rest } = call;
      return callAdminApi(deps, mallId, { method, path, query, body }, rest) as Promise<T>;
    };
  return {
    mall(mallId) {
      return {
        mallId,
        get: send(mallId, 'GET'),
        post: send(mallId, 'POST'),
        put: send(mallId, 'PUT'),
        delete: send(mallId, 'DELETE'),
      };
    },
  };
}
