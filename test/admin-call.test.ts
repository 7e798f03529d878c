/**
 * One Admin API call, on real PostgreSQL 17 (the token row, the refresh's lease, the shared bucket) with
 * the Cafe24 sandbox's token endpoint and a scripted Admin API in front of it: the request checks, the
 * bucket every process shares, Cafe24's 429/401/5xx answers, and no token in any error.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { logger } from '../src/commons/logger.ts';
import { loadConfig } from '../src/config.ts';
import {
  type AdminCallDeps,
  Cafe24ApiError,
  Cafe24ClientDatabaseError,
  Cafe24MallUnavailable,
  Cafe24NetworkError,
  Cafe24RateLimited,
  Cafe24RequestError,
  callAdminApi,
} from '../src/domain/admin-call.ts';
import type { AdminAnswer, AdminRequest, BucketSettings } from '../src/domain/admin-ports.ts';
import { createRefreshRuntime, type RefreshRuntime } from '../src/runtime/refresh.ts';
import { PostgresCallBucket } from '../src/store/api-buckets.ts';
import { captureOutput } from './support/capture.ts';
import { type ExchangeStack, MALL, startExchangeStack } from './support/exchange-stack.ts';

const logs = captureOutput();
const BUCKET: BucketSettings = { size: 40, drainPerSecond: 2, reserve: 2 };

let stack: ExchangeStack;
let refresh: RefreshRuntime;
/** Every access token the scripted API saw: none may appear in an error or a log line. */
const seenTokens = new Set<string>();

beforeAll(async () => {
  stack = await startExchangeStack();
  refresh = createRefreshRuntime(loadConfig('refresh', stack.env), { pool: stack.db.pool });
});
afterAll(() => stack?.stop());
beforeEach(async () => {
  await stack.db.pool.query(
    'truncate cafe24.api_buckets, cafe24.oauth_tokens, cafe24.oauth_authorization_codes cascade',
  );
  const { id } = await stack.newCode(MALL);
  expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
});

type Script = (call: AdminRequest, token: string, attempt: number) => Partial<AdminAnswer> | Error;

/** Deps whose Admin API answers as `script` says; `sent` records each request that went out. */
function deps(script: Script, overrides: Partial<AdminCallDeps['settings']> = {}) {
  const sent: Array<{ call: AdminRequest; token: string }> = [];
  const slept: number[] = [];
  const value: AdminCallDeps = {
    bucket: new PostgresCallBucket(stack.db.pool),
    send: async (_mallId, call, token) => {
      seenTokens.add(token);
      sent.push({ call, token });
      const answer = script(call, token, sent.length);
      if (answer instanceof Error) throw answer;
      return {
        status: 200,
        json: {},
        bodyKind: 'application/json',
        callLimit: undefined,
        retryAfterSeconds: undefined,
        ...answer,
      };
    },
    refresh: refresh.deps,
    settings: { bucket: BUCKET, timeoutMs: 10_000, minValidityMs: 60_000, ...overrides },
    log: logger,
    sleep: async (ms) => {
      slept.push(ms);
      await new Promise((resolve) => setTimeout(resolve, Math.min(ms, 20)));
    },
  };
  return { deps: value, sent, slept };
}

const get = (path: string, query?: AdminRequest['query']): AdminRequest => ({ method: 'GET', path, query });

/** An error's message and every enumerable field, as text: what a log of it could show. */
const shown = (error: unknown) => `${(error as Error).message} ${JSON.stringify(error)}`;

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('the call succeeded');
}

describe('before anything is sent', () => {
  it('refuses a path that leaves /api/v2/admin/, a mall id that is not one, a body JSON cannot carry', async () => {
    const { deps: d, sent } = deps(() => ({}));
    for (const path of [
      '/api/v2/oauth/token',
      'https://evil.example.com/api/v2/admin/store',
      '//evil.example.com/api/v2/admin/store',
      '/api/v2/admin/../oauth/token',
      '/api/v2/admin/%2e%2e/oauth/token',
      '/api/v2/admin//evil',
      '/api/v2/admin/products?limit=1',
      '/api/v2/admin/products\\..\\x',
    ]) {
      expect(await failure(callAdminApi(d, MALL, get(path))), path).toBeInstanceOf(Cafe24RequestError);
    }
    expect(await failure(callAdminApi(d, 'not a mall!', get('/api/v2/admin/store')))).toBeInstanceOf(
      Cafe24RequestError,
    );
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    for (const body of [cycle, { n: 1n }, () => 1]) {
      const error = await failure(
        callAdminApi(d, MALL, { method: 'POST', path: '/api/v2/admin/products', body }),
      );
      expect(error).toBeInstanceOf(Cafe24RequestError);
    }
    expect(
      await failure(callAdminApi(d, MALL, { method: 'GET', path: '/api/v2/admin/store', body: { a: 1 } })),
    ).toBeInstanceOf(Cafe24RequestError);
    expect(sent).toEqual([]);
  });

  it('fails at once for an invalid or removed mall, with an error that says so', async () => {
    const { deps: d, sent } = deps(() => ({}));
    await stack.db.pool.query(
      `update cafe24.oauth_tokens set status = 'invalid', invalid_reason = 'refused'`,
    );
    const invalid = await failure(callAdminApi(d, MALL, get('/api/v2/admin/store')));
    expect(invalid).toBeInstanceOf(Cafe24MallUnavailable);
    expect((invalid as Cafe24MallUnavailable).reason).toBe('invalid');
    await stack.db.pool.query('delete from cafe24.oauth_tokens');
    const removed = await failure(callAdminApi(d, MALL, get('/api/v2/admin/store')));
    expect((removed as Cafe24MallUnavailable).reason).toBe('missing');
    expect(removed.message).toContain('removed the app, or never installed it');
    expect(sent).toEqual([]);
  });

  it('fails clearly when PostgreSQL is down, and never calls Cafe24 without a slot', async () => {
    const pg = (await import('pg')).default;
    const down = new pg.Pool({
      connectionString: 'postgres://postgres:x@127.0.0.1:1/postgres',
      connectionTimeoutMillis: 500,
    });
    try {
      const { deps: d, sent } = deps(() => ({}));
      const offline: AdminCallDeps = { ...d, bucket: new PostgresCallBucket(down) };
      const error = await failure(callAdminApi(offline, MALL, get('/api/v2/admin/store')));
      expect(error).toBeInstanceOf(Cafe24ClientDatabaseError);
      expect(error.message).toContain('nothing was sent to Cafe24');
      expect(sent).toEqual([]);
    } finally {
      await down.end();
    }
  });
});

describe('the token', () => {
  it('is the stored one while it lives; an expiring one is refreshed first, through the lease', async () => {
    const stored = (await stack.tokenRow())!.access_token as string;
    const { deps: d, sent } = deps(() => ({ json: { store: { mall_id: MALL } } }));
    expect(await callAdminApi(d, MALL, get('/api/v2/admin/store'))).toEqual({ store: { mall_id: MALL } });
    expect(sent[0]!.token).toBe(stored);
    await stack.db.pool.query(`update cafe24.oauth_tokens set expires_at = now() + interval '10 seconds'`);
    await callAdminApi(d, MALL, get('/api/v2/admin/store'));
    const fresh = (await stack.tokenRow())!.access_token as string;
    expect(fresh).not.toBe(stored);
    expect(sent[1]!.token).toBe(fresh);
  });

  it('a 401 refreshes once and retries once; a second 401 is an error, not a loop', async () => {
    const { deps: d, sent } = deps((_call, _token, attempt) =>
      attempt === 1
        ? { status: 401, json: { error: { code: 401, message: 'Invalid access_token' } } }
        : { json: { ok: true } },
    );
    expect(await callAdminApi(d, MALL, get('/api/v2/admin/store'))).toEqual({ ok: true });
    expect(sent).toHaveLength(2);
    expect(sent[1]!.token).not.toBe(sent[0]!.token);

    const always = deps(() => ({
      status: 401,
      json: { error: { code: 401, message: 'Invalid access_token' } },
    }));
    const error = await failure(callAdminApi(always.deps, MALL, get('/api/v2/admin/store')));
    expect(error).toBeInstanceOf(Cafe24ApiError);
    expect((error as Cafe24ApiError).status).toBe(401);
    expect(always.sent).toHaveLength(2);
  });
});

describe('the shared bucket', () => {
  it('grants the bucket less its reserve, then says how long until a slot drains', async () => {
    const bucket = new PostgresCallBucket(stack.db.pool);
    const takes = [];
    for (let i = 0; i < 40; i += 1) takes.push(await bucket.take('bucketmall', BUCKET));
    expect(takes.filter((take) => take.granted)).toHaveLength(38);
    const refused = takes.at(-1)!;
    expect(refused.granted).toBe(false);
    // Full at 38: the next slot is one call's drain away (0.5 s at 2 a second), less what drained meanwhile.
    expect(refused.waitMs).toBeGreaterThan(0);
    expect(refused.waitMs).toBeLessThanOrEqual(500);
  });

  it('is one bucket for every process: 120 takes from 6 pools at once grant no more than fits', async () => {
    const pg = (await import('pg')).default;
    const pools = Array.from({ length: 6 }, () => new pg.Pool({ connectionString: stack.db.url, max: 4 }));
    try {
      const started = Date.now();
      const takes = await Promise.all(
        Array.from({ length: 120 }, (_, i) =>
          new PostgresCallBucket(pools[i % 6]!).take('sharedmall', BUCKET),
        ),
      );
      const elapsedS = (Date.now() - started) / 1000;
      const granted = takes.filter((take) => take.granted).length;
      // 38 at once, plus at most what drained (2 a second) while the takes ran.
      expect(granted).toBeGreaterThanOrEqual(38);
      expect(granted).toBeLessThanOrEqual(38 + Math.ceil(elapsedS * 2));
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('believes Cafe24 when it says the bucket is fuller, and waits rather than send past it', async () => {
    const { deps: d, sent, slept } = deps(() => ({ callLimit: { used: 38, size: 40 } }));
    await callAdminApi(d, MALL, get('/api/v2/admin/store'));
    // Cafe24 counted 38: the next call waits for a slot to drain before it goes.
    await callAdminApi(d, MALL, get('/api/v2/admin/store'));
    expect(sent).toHaveLength(2);
    expect(slept.some((ms) => ms > 0)).toBe(true);
  });

  it('a call that cannot get a slot before its deadline fails without sending', async () => {
    const { deps: d, sent } = deps(() => ({}));
    const bucket = new PostgresCallBucket(stack.db.pool);
    await bucket.take(MALL, BUCKET);
    await bucket.block(MALL, 60_000);
    const error = await failure(callAdminApi(d, MALL, get('/api/v2/admin/store'), { timeoutMs: 2_000 }));
    expect(error).toBeInstanceOf(Cafe24RateLimited);
    expect((error as Cafe24RateLimited).retryAfterMs).toBeGreaterThan(50_000);
    expect(sent).toEqual([]);
  });
});

describe("Cafe24's answers", () => {
  it('a 429 blocks the mall for every process for what Cafe24 says, and is retried at most twice', async () => {
    const twice = deps((_c, _t, attempt) =>
      attempt <= 2 ? { status: 429, retryAfterSeconds: 0.2 } : { json: { ok: 1 } },
    );
    expect(await callAdminApi(twice.deps, MALL, get('/api/v2/admin/store'))).toEqual({ ok: 1 });
    expect(twice.sent).toHaveLength(3);

    const always = deps(() => ({ status: 429, retryAfterSeconds: 0.2 }));
    const error = await failure(callAdminApi(always.deps, MALL, get('/api/v2/admin/store')));
    expect(error).toBeInstanceOf(Cafe24RateLimited);
    expect(always.sent).toHaveLength(3);

    // Without headers: a second, not a hammering.
    const bare = deps((_c, _t, attempt) => (attempt === 1 ? { status: 429 } : {}));
    await callAdminApi(bare.deps, MALL, get('/api/v2/admin/store'));
    expect(bare.slept.some((ms) => ms >= 1_000)).toBe(true);
  });

  it('a 429 asking for an hour fails at once with when to come back, and holds off other callers', async () => {
    const { deps: d, sent } = deps(() => ({ status: 429, retryAfterSeconds: 3_600 }));
    const error = await failure(callAdminApi(d, MALL, get('/api/v2/admin/store')));
    expect(error).toBeInstanceOf(Cafe24RateLimited);
    expect((error as Cafe24RateLimited).retryAfterMs).toBe(3_600_000);
    expect(sent).toHaveLength(1);
    const other = deps(() => ({}));
    expect(
      await failure(callAdminApi(other.deps, MALL, get('/api/v2/admin/store'), { timeoutMs: 1_000 })),
    ).toBeInstanceOf(Cafe24RateLimited);
    expect(other.sent).toEqual([]);
  });

  it('retries a GET after a 5xx or a network failure, never a POST', async () => {
    const flaky = deps((_c, _t, attempt) =>
      attempt === 1
        ? { status: 503, json: undefined, bodyKind: 'text/html' }
        : attempt === 2
          ? new Error('ECONNRESET')
          : { json: { ok: 1 } },
    );
    expect(await callAdminApi(flaky.deps, MALL, get('/api/v2/admin/store'))).toEqual({ ok: 1 });
    expect(flaky.sent).toHaveLength(3);

    const post = deps(() => ({ status: 503, json: undefined, bodyKind: 'text/html' }));
    const error = await failure(
      callAdminApi(post.deps, MALL, {
        method: 'POST',
        path: '/api/v2/admin/products',
        body: { request: {} },
      }),
    );
    expect(error).toBeInstanceOf(Cafe24ApiError);
    expect(error.message).toContain('not JSON (text/html)');
    expect(post.sent).toHaveLength(1);

    const down = deps(() => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const unreachable = await failure(
      callAdminApi(down.deps, MALL, { method: 'PUT', path: '/api/v2/admin/products/1', body: {} }),
    );
    expect(unreachable).toBeInstanceOf(Cafe24NetworkError);
    expect(down.sent).toHaveLength(1);
  });

  it("types Cafe24's error: status, code and message", async () => {
    const { deps: d } = deps(() => ({
      status: 403,
      json: { error: { code: 403, message: 'Insufficient scope' } },
    }));
    const error = (await failure(callAdminApi(d, MALL, get('/api/v2/admin/orders')))) as Cafe24ApiError;
    expect(error).toMatchObject({
      status: 403,
      code: '403',
      cafe24Message: 'Insufficient scope',
      mallId: MALL,
      method: 'GET',
    });
  });

  it('puts no token in an error, even when Cafe24 echoes it', async () => {
    const { deps: d } = deps((_call, token) => ({
      status: 400,
      json: { error: { code: 400, message: `bad token ${token}` } },
    }));
    const error = await failure(callAdminApi(d, MALL, get('/api/v2/admin/store')));
    for (const token of seenTokens) expect(shown(error)).not.toContain(token);
    expect(error.message).toContain('bad token');
  });
});

it('logs no access token', () => {
  expect(seenTokens.size).toBeGreaterThan(2);
  for (const token of seenTokens) expect(logs.text()).not.toContain(token);
});
