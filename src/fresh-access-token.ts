import { normaliseMallId } from './commons/ids.ts';
import type { Secret } from './commons/secret.ts';
import { type ConfigFor, loadConfig } from './config.ts';
import { accessTokenFor } from './domain/refresh-mall.ts';
import { createRefreshRuntime, type RefreshRuntime } from './runtime/refresh.ts';
import type { Pool } from './store/pool.ts';

export { NoAccessToken } from './domain/refresh-mall.ts';

export type FreshAccessTokenOptions = {
  /** The token returned lives at least this long (default 5 minutes); shorter-lived ones are refreshed. */
  minValidityMs?: number;
  /** Default: read once from the environment (CAFE24_CLIENT_ID, CAFE24_CLIENT_SECRET, …). */
  config?: ConfigFor<'refresh'>;
};

const runtimes = new WeakMap<Pool, RefreshRuntime>();

/**
 * A valid access token for `mallId`, for apps that cannot wait for the schedule: the stored one while it
 * lives long enough, else refreshed under the same per-mall lease the schedule takes (waiting for a
 * refresh in progress instead of racing it). Throws NoAccessToken when the mall is invalid or missing,
 * or Cafe24 cannot be reached. The token is a Secret: `.reveal()` it where it is sent.
 */
export async function freshAccessToken(
  pool: Pool,
  mallId: string,
  options: FreshAccessTokenOptions = {},
): Promise<Secret> {
  let runtime = runtimes.get(pool);
  if (!runtime) {
    runtime = createRefreshRuntime(options.config ?? loadConfig('refresh'), { pool });
    runtimes.set(pool, runtime);
  }
  // As Cafe24 spells it (lower case), as the table keys it.
  return accessTokenFor(runtime.deps, normaliseMallId(mallId), options.minValidityMs ?? 5 * 60_000);
}
