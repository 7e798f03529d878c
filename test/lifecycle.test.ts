/**
 * The end of a mall's life on PostgreSQL 17: Cafe24's webhooks through the install front's route
 * (`app.request`, no socket), the removal's transaction, and rule 11 raced against every path that writes
 * `cafe24.oauth_tokens`: an exchange in flight, a code created before the removal, a refresh in flight, a
 * stashed pair flushed after it; and a reinstall after it.
 */
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { formatStatus } from '../src/cli/status.ts';
import { logger } from '../src/commons/logger.ts';
import { Secret } from '../src/commons/secret.ts';
import { loadConfig } from '../src/config.ts';
import { exchangeCode, flushStash } from '../src/domain/exchange-code.ts';
import { REMOVAL_REASONS } from '../src/domain/lifecycle.ts';
import { flushRefreshStash, refreshMall } from '../src/domain/refresh-mall.ts';
import { createInstallApp } from '../src/install/app.ts';
import { DEFAULT_SETTINGS } from '../src/install/install.ts';
import { MAX_WEBHOOK_BYTES } from '../src/install/webhook.ts';
import { createRefreshRuntime, type RefreshRuntime } from '../src/runtime/refresh.ts';
import { PostgresInstallStore } from '../src/store/install-states.ts';
import { PostgresLifecycleStore } from '../src/store/lifecycle.ts';
import { readStatus } from '../src/store/status.ts';
import { captureOutput } from './support/capture.ts';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  type ExchangeStack,
  REDIRECT_URI,
  startExchangeStack,
} from './support/exchange-stack.ts';
import { tokenSet } from './support/tokens.ts';

const KEY = 'webhook-key-7c2e94b1d0';
const logs = captureOutput();
let stack: ExchangeStack;
const runtimes: RefreshRuntime[] = [];
let mallSeq = 0;
const newMall = () => `gone${++mallSeq}`;

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(async () => {
  for (const runtime of runtimes) await runtime.close();
  await stack.stop();
});
beforeEach(() => {
  stack.sandbox.reset();
});

function front(options: { key?: string | undefined; pool?: pg.Pool } = {}) {
  const key = 'key' in options ? options.key : KEY;
  return createInstallApp(
    {
      store: new PostgresInstallStore(stack.db.pool),
      handOff: undefined,
      clientSecret: async () => new Secret(CLIENT_SECRET),
      settings: {
        ...DEFAULT_SETTINGS,
        clientId: CLIENT_ID,
        redirectUri: REDIRECT_URI,
        apiBaseUrl: stack.sandbox.baseUrl,
        scopes: ['mall.read_order'],
      },
      log: logger,
    },
    {
      webhook: {
        key: key === undefined ? undefined : async () => new Secret(key),
        clientId: CLIENT_ID,
        store: new PostgresLifecycleStore(options.pool ?? stack.db.pool),
        log: logger,
      },
    },
  );
}

function removal(mallId: string, overrides: Record<string, unknown> = {}) {
  return {
    event_no: 90077,
    resource: {
      mall_id: mallId,
      client_id: CLIENT_ID,
      app_name: 'test_app',
      deleted_date: `${new Date(Date.now() + 9 * 3600_000).toISOString().slice(0, 19)}+09:00`,
      ...overrides,
    },
  };
}

function post(
  body: unknown,
  headers: Record<string, string> = { 'X-API-Key': KEY, 'X-Trace-ID': randomUUID() },
  app = front(),
) {
  return app.request('/webhooks/cafe24', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function install(mallId: string): Promise<void> {
  const { id } = await stack.newCode(mallId);
  expect(await exchangeCode(stack.runtime.deps, id)).toMatchObject({ status: 'exchanged' });
}

/** An installed mall whose access token is due for a refresh (5 minutes left). */
async function installDue(mallId: string): Promise<void> {
  await install(mallId);
  await stack.db.pool.query(
    `update cafe24.oauth_tokens set expires_at = now() + interval '5 minutes' where mall_id = $1`,
    [mallId],
  );
}

function refreshProcess(): RefreshRuntime {
  const runtime = createRefreshRuntime(loadConfig('refresh', stack.env));
  runtimes.push(runtime);
  return runtime;
}

async function mallEvents(mallId: string) {
  const { rows } = await stack.db.pool.query(
    'select kind, detail from cafe24.mall_events where mall_id = $1 order by id',
    [mallId],
  );
  return rows as Array<{ kind: string; detail: Record<string, unknown> }>;
}

async function appEvents(mallId: string) {
  const { rows } = await stack.db.pool.query(
    'select event_no, outcome, trace_id from cafe24.app_events where mall_id = $1 order by id',
    [mallId],
  );
  return rows;
}

/** Sessions whose statement waits on Cafe24: the exchange or refresh has sent its request. */
async function sandboxAnswerHeld(mallId: string): Promise<number> {
  return stack.sandbox.tokenRequests({ mallId }).filter((request) => request.status === 0).length;
}

describe('POST /webhooks/cafe24', () => {
  it('refuses a missing, wrong, differently-cased or other-length key with 403, stores nothing, logs no key', async () => {
    const mall = newMall();
    await install(mall);
    const wrong: Array<Record<string, string>> = [
      {},
      { 'X-API-Key': 'not-the-key-at-all' },
      { 'X-API-Key': KEY.toUpperCase() },
      { 'X-API-Key': `${KEY}0` },
      { 'X-API-Key': KEY.slice(0, 8) },
      { 'X-API-Key': '' },
    ];
    for (const headers of wrong) {
      const answer = await post(removal(mall), headers);
      expect(answer.status).toBe(403);
    }
    expect(await stack.tokenRow(mall)).toBeDefined();
    expect(await appEvents(mall)).toEqual([]);
    // The header name is case-insensitive in HTTP: the right key under any spelling is accepted.
    expect((await post(removal(mall), { 'x-api-KEY': KEY })).status).toBe(200);
    const text = logs.text();
    expect(text).toContain('X-API-Key does not match');
    expect(text).toContain('no X-API-Key header');
    for (const secret of [KEY, KEY.toUpperCase(), `${KEY}0`, KEY.slice(0, 8)])
      expect(text).not.toContain(secret);
  });

  it('answers 503 without a configured key, 413 over 64 KiB, 400 for a body that is not an app event', async () => {
    expect((await post(removal('anymall'), { 'X-API-Key': KEY }, front({ key: undefined }))).status).toBe(
      503,
    );
    const huge = JSON.stringify({ ...removal('anymall'), padding: 'x'.repeat(MAX_WEBHOOK_BYTES) });
    expect((await post(huge)).status).toBe(413);
    for (const body of [
      'not json',
      '[1, 2]',
      { resource: { mall_id: 'anymall' } },
      { event_no: 'ninety', resource: { mall_id: 'anymall' } },
      { event_no: 90077 },
      { event_no: 90077, resource: { client_id: CLIENT_ID } },
      { event_no: 90077, resource: { mall_id: 'not a mall/id', client_id: CLIENT_ID } },
    ]) {
      const answer = await post(body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(((await answer.json()) as { error: string }).error).toMatch(/JSON|event_no|resource/);
    }
    const { rows } = await stack.db.pool.query(
      `select count(*)::int as n from cafe24.app_events where mall_id = 'anymall'`,
    );
    expect(rows[0].n).toBe(0);
  });

  it('90077 deletes the token row, its open install states and writes `removed`; ten resends at once have one effect', async () => {
    const mall = newMall();
    await install(mall);
    await stack.db.pool.query(
      `insert into cafe24.install_states (state_hash, mall_id, browser_hash, expires_at)
       values ($1, $2, $1, now() + interval '10 minutes')`,
      [createHash('sha256').update(mall).digest(), mall],
    );
    const body = removal(mall);
    const headers = { 'X-API-Key': KEY, 'X-Trace-ID': randomUUID() };
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(body, headers)));
    expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    const outcomes = await Promise.all(
      answers.map(async (answer) => ((await answer.json()) as { outcome: string }).outcome),
    );
    expect(outcomes.filter((outcome) => outcome === 'removed')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'duplicate')).toHaveLength(9);

    expect(await stack.tokenRow(mall)).toBeUndefined();
    const states = await stack.db.pool.query('select 1 from cafe24.install_states where mall_id = $1', [
      mall,
    ]);
    expect(states.rowCount).toBe(0);
    expect(await appEvents(mall)).toEqual([
      { event_no: 90077, outcome: 'removed', trace_id: headers['X-Trace-ID'] },
    ]);
    const events = await mallEvents(mall);
    expect(events.map((event) => event.kind)).toEqual(['installed', 'removed']);
    expect(events[1]!.detail).toMatchObject({ cause: 'deleted', eventNo: 90077, tokensDeleted: true });
    // The codes table keeps its history.
    const codes = await stack.db.pool.query(
      'select status from cafe24.oauth_authorization_codes where mall_id = $1',
      [mall],
    );
    expect(codes.rows).toEqual([{ status: 'exchanged' }]);
    // Without a trace id, the same body is the same delivery.
    const expired = { ...removal(mall), event_no: 90078 };
    expect((await post(expired, { 'X-API-Key': KEY })).status).toBe(200);
    expect(await (await post(expired, { 'X-API-Key': KEY })).json()).toMatchObject({ outcome: 'duplicate' });
  });

  it('records TEST samples, unknown events and string event numbers without effect, and 90079 as an event', async () => {
    const mall = newMall();
    await install(mall);
    const sample = {
      event_no: 90077,
      resource: { mall_id: mall, client_id: 'sample7eBNEqSfkd7I8hoA', app_name: 'sample_app' },
    };
    expect(await (await post(sample)).json()).toMatchObject({ outcome: 'ignored' });
    const unknown = { event_no: 12345, resource: { mall_id: mall, client_id: CLIENT_ID } };
    expect(await (await post(unknown)).json()).toMatchObject({ outcome: 'unknown-event' });
    const extended = {
      event_no: '90079',
      resource: {
        mall_id: mall,
        client_id: CLIENT_ID,
        expire_date: '2027-01-01T00:00:00+09:00',
        previous_expire_date: '2026-12-01T00:00:00+09:00',
      },
    };
    expect(await (await post(extended)).json()).toMatchObject({ outcome: 'expiry-extended' });
    expect(await stack.tokenRow(mall)).toBeDefined();
    expect((await appEvents(mall)).map((row) => row.outcome)).toEqual([
      'ignored',
      'unknown-event',
      'expiry-extended',
    ]);
    const events = await mallEvents(mall);
    expect(events.map((event) => event.kind)).toEqual(['installed', 'expiry-extended']);
    expect(events[1]!.detail).toEqual({
      eventNo: 90079,
      expireDate: '2027-01-01T00:00:00+09:00',
      previousExpireDate: '2026-12-01T00:00:00+09:00',
    });
  });

  it('answers 503 when PostgreSQL cannot record the delivery, so Cafe24 resends it', async () => {
    const down = new pg.Pool({
      connectionString: 'postgres://nobody@127.0.0.1:1/none',
      connectionTimeoutMillis: 500,
    });
    try {
      const answer = await post(removal('anymall'), { 'X-API-Key': KEY }, front({ pool: down }));
      expect(answer.status).toBe(503);
      expect(logs.text()).toContain('webhook not recorded; Cafe24 resends it');
    } finally {
      await down.end();
    }
  });
});

describe('rule 11: a removal is final for everything issued before it', () => {
  it('an exchange in flight when the mall is removed stores nothing; the code is failed with the reason', async () => {
    const mall = newMall();
    const { id } = await stack.newCode(mall);
    let answer!: () => void;
    stack.sandbox.failNext({ type: 'hold', until: new Promise<void>((resolve) => (answer = resolve)) });
    const exchanging = exchangeCode(stack.runtime.deps, id);
    await expect.poll(() => sandboxAnswerHeld(mall)).toBe(1);
    expect((await post(removal(mall))).status).toBe(200);
    answer();
    expect(await exchanging).toMatchObject({ status: 'already-done', state: 'failed' });
    expect(await stack.tokenRow(mall)).toBeUndefined();
    expect(await stack.codeRow(id)).toMatchObject({
      status: 'failed',
      last_error: REMOVAL_REASONS.code('deleted'),
    });
    expect((await mallEvents(mall)).map((event) => event.kind)).toEqual(['removed']);
  });

  it('a code created before the removal is never sent; one created after it is a reinstall, served', async () => {
    const mall = newMall();
    await install(mall);
    const { id: before } = await stack.newCode(mall);
    expect((await post(removal(mall))).status).toBe(200);
    expect(await stack.codeRow(before)).toMatchObject({ status: 'failed', attempts: 0 });
    expect(await exchangeCode(stack.runtime.deps, before)).toMatchObject({
      status: 'already-done',
      state: 'failed',
    });
    expect(
      stack.sandbox
        .tokenRequests({ mallId: mall })
        .filter((request) => request.grantType === 'authorization_code'),
    ).toHaveLength(1);

    const { id: after } = await stack.newCode(mall);
    expect(await exchangeCode(stack.runtime.deps, after)).toMatchObject({
      status: 'exchanged',
      token: 'reinstalled',
    });
    expect(await stack.tokenRow(mall)).toMatchObject({ status: 'active', code_id: after });
    const events = await mallEvents(mall);
    expect(events.map((event) => event.kind)).toEqual(['installed', 'removed', 'reinstalled']);
    expect(events[2]!.detail).toMatchObject({ codeId: after, previous: 'removed' });
  });

  it('a code inserted by a transaction that began before the removal and committed after it is not sent', async () => {
    const mall = newMall();
    await install(mall);
    const code = stack.sandbox.issueCode(mall);
    const late = await stack.db.pool.connect();
    try {
      await late.query('begin');
      // now() is the transaction's start: the code's created_at is before the removal.
      const { rows } = await late.query(
        'insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2) returning id::text',
        [mall, code],
      );
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect((await post(removal(mall, { deleted_date: undefined }))).status).toBe(200);
      await late.query('commit');
      const id = rows[0].id as string;
      expect(await exchangeCode(stack.runtime.deps, id)).toMatchObject({
        status: 'already-done',
        state: 'failed',
      });
      expect(stack.sandbox.tokenRequests({ code })).toHaveLength(0);
    } finally {
      late.release();
    }
  });

  it('a refresh in flight when the mall is removed never writes the row back', async () => {
    const mall = newMall();
    await installDue(mall);
    let answer!: () => void;
    stack.sandbox.failNext({ type: 'hold', until: new Promise<void>((resolve) => (answer = resolve)) });
    const refreshing = refreshMall(refreshProcess().deps, mall);
    await expect.poll(() => sandboxAnswerHeld(mall)).toBe(1);
    expect((await post(removal(mall))).status).toBe(200);
    answer();
    expect(await refreshing).toMatchObject({ status: 'missing' });
    expect(await stack.tokenRow(mall)).toBeUndefined();
  });

  it("a removed mall's stashed pairs are dropped, not stored: a refresh's and a code's", async () => {
    const refreshed = newMall();
    await install(refreshed);
    const runtime = refreshProcess();
    const tokens = (await stack.tokenRow(refreshed))!;
    await runtime.deps.stash.put({
      grant: 'refresh_token',
      key: refreshed,
      mallId: refreshed,
      tokens: tokenSet(
        {
          access: 'stashed-access-token-1',
          refresh: 'stashed-refresh-token-1',
          mallId: refreshed,
          issuedAt: (tokens.issued_at as Date).getTime() + 1_000,
        },
        { clientId: CLIENT_ID },
      ),
    });
    expect((await post(removal(refreshed))).status).toBe(200);
    expect(await flushRefreshStash(runtime.deps)).toBe(0);
    expect(await stack.tokenRow(refreshed)).toBeUndefined();
    expect(await runtime.deps.stash.entries()).toEqual([]);

    // A code whose tokens waited in the exchange's stash (recorded interrupted) when the mall was removed.
    const exchanged = newMall();
    const { id } = await stack.newCode(exchanged);
    await stack.db.pool.query(
      `update cafe24.oauth_authorization_codes set status = 'failed', attempts = 1, interrupted_at = now() where id = $1`,
      [id],
    );
    await stack.runtime.deps.stash.put({
      grant: 'authorization_code',
      key: id,
      mallId: exchanged,
      tokens: tokenSet(
        {
          access: 'stashed-access-token-2',
          refresh: 'stashed-refresh-token-2',
          mallId: exchanged,
          issuedAt: Date.now(),
        },
        { clientId: CLIENT_ID },
      ),
    });
    expect((await post(removal(exchanged))).status).toBe(200);
    expect(await flushStash(stack.runtime.deps)).toBe(0);
    expect(await stack.tokenRow(exchanged)).toBeUndefined();
    expect((await stack.runtime.deps.stash.entries()).filter((entry) => entry.key === id)).toEqual([]);
  });

  it('a removal webhook that arrives after a reinstall does not undo it', async () => {
    const mall = newMall();
    await install(mall);
    const deletedAt = new Date(Date.now() - 1_000);
    await new Promise((resolve) => setTimeout(resolve, 5));
    await install(mall);
    const late = removal(mall, {
      deleted_date: `${new Date(deletedAt.getTime() + 9 * 3600_000).toISOString().slice(0, 19)}+09:00`,
    });
    expect(await (await post(late)).json()).toMatchObject({ outcome: 'reinstalled-since' });
    expect(await stack.tokenRow(mall)).toMatchObject({ status: 'active' });
  });

  it('a refresh refused with invalid_grant still marks the mall invalid and tells the app (the net)', async () => {
    const mall = newMall();
    await installDue(mall);
    stack.sandbox.failNext({ type: 'invalid-grant' });
    expect(await refreshMall(refreshProcess().deps, mall)).toMatchObject({ status: 'invalid' });
    const events = await mallEvents(mall);
    expect(events.map((event) => event.kind)).toEqual(['installed', 'invalid']);
    expect(events[1]!.detail.reason).toMatch(/refresh token/i);
  });
});

describe('cafe24-tokens forget', () => {
  it('revokes at Cafe24, then removes the mall as 90077 would; the output holds no token', async () => {
    const mall = newMall();
    await install(mall);
    const issued = stack.sandbox.issuedTokens(mall)!;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['src/cli/main.ts', 'forget', '--mall', mall],
      {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        env: { PATH: process.env.PATH ?? '', ...stack.env },
      },
    );
    expect(stdout).toContain('✓ revoke refresh token at Cafe24: HTTP 200');
    expect(stdout).toMatch(new RegExp(`✓ ${mall} removed: its tokens are deleted`));
    for (const secret of [issued.accessToken, issued.refreshToken, CLIENT_SECRET])
      expect(stdout).not.toContain(secret);
    expect(await stack.tokenRow(mall)).toBeUndefined();
    const events = await mallEvents(mall);
    expect(events.at(-1)).toMatchObject({
      kind: 'removed',
      detail: { cause: 'forgotten', tokensDeleted: true },
    });
    expect(stack.sandbox.requests.filter((request) => request.path.endsWith('/oauth/revoke'))).toHaveLength(
      2,
    );

    // status shows the removed mall (when, why) and the latest events; a mall installed again is not removed.
    const report = await readStatus(stack.db.pool);
    expect(report.removed.find((removed) => removed.mallId === mall)).toMatchObject({ cause: 'forgotten' });
    expect(report.recentEvents[0]).toMatchObject({ mallId: mall, kind: 'removed', publishedAt: null });
    const text = formatStatus(report);
    expect(text).toMatch(new RegExp(`${mall} +\\S+ \\S+ +removed by hand \\(forget\\)`));
    expect(text).toMatch(/Recent events \(newest first/);
    await install(mall);
    expect((await readStatus(stack.db.pool)).removed.map((removed) => removed.mallId)).not.toContain(mall);
  });
});
