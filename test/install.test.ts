/**
 * The install front on PostgreSQL 17: app launch → state → callback, through the Hono app's routes
 * (`app.request`, no socket), the real store, and the real exchange handler against the Cafe24 sandbox.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSqsClient, localAws, sqsHandOff } from '../src/aws/sqs.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { createInstallApp } from '../src/install/app.ts';
import type { InstallDeps } from '../src/install/install.ts';
import { deleteExpiredStates } from '../src/store/install-states.ts';
import { captureOutput } from './support/capture.ts';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  type ExchangeStack,
  installDeps,
  MALL,
  REDIRECT_URI,
  startExchangeStack,
} from './support/exchange-stack.ts';
import { launchQueryFor } from './support/launch.ts';

const logs = captureOutput();
const ORIGIN = new URL(REDIRECT_URI).origin;
const CALLBACK = new URL(REDIRECT_URI).pathname;
const SCOPES = ['mall.read_order', 'mall.read_product'];
const COOKIE = '__Host-cafe24_install';

let stack: ExchangeStack;
/** Every code, state and cookie value the tests handled: none may appear in a log line. */
const handled = new Set<string>();

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(() => stack?.stop());
beforeEach(async () => {
  await stack.db.pool.query(
    'truncate cafe24.install_states, cafe24.exchange_outbox, cafe24.oauth_authorization_codes, cafe24.oauth_tokens',
  );
});

function deps(overrides: Partial<InstallDeps> = {}): InstallDeps {
  return installDeps(stack, SCOPES, overrides);
}

let app = () => createInstallApp(deps());

/**
 * The app URL as Cafe24 opens it: Cafe24's parameter order, %20 for spaces, hmac last. In English, so the
 * pages' words can be read here (test/install-pages.test.ts reads both languages).
 */
const launchQuery = (overrides: Record<string, string> = {}, secret = CLIENT_SECRET) =>
  launchQueryFor(secret, { mall_id: MALL, user_name: '홍길동 <b>대표</b>', lang: 'en_US', ...overrides });

/** GET /install; returns the state Cafe24 would carry back and the cookie the browser would keep. */
async function begin(cookie?: string): Promise<{ state: string; cookie: string; location: URL }> {
  const response = await app().request(`${ORIGIN}/install?${launchQuery()}`, {
    headers: cookie ? { cookie } : {},
  });
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get('location') ?? '');
  const state = location.searchParams.get('state') ?? '';
  const setCookie = response.headers.get('set-cookie') ?? '';
  const value = setCookie.split(';')[0] ?? '';
  handled.add(state);
  handled.add(value.split('=')[1] ?? '');
  return { state, cookie: value, location };
}

function callback(query: Record<string, string>, cookie?: string) {
  for (const [key, value] of Object.entries(query)) if (key === 'code') handled.add(value);
  // A page with no state behind it speaks the browser's language.
  return app().request(`${ORIGIN}${CALLBACK}?${new URLSearchParams(query)}`, {
    headers: { 'accept-language': 'en-US,en;q=0.9', ...(cookie ? { cookie } : {}) },
  });
}

const count = async (table: string) =>
  Number((await stack.db.pool.query(`select count(*) from cafe24.${table}`)).rows[0].count);

describe('GET /install', () => {
  it('verifies the launch, stores only the hash of a 256-bit state, and redirects to authorize', async () => {
    const { state, cookie, location } = await begin();
    expect(location.origin + location.pathname).toBe(
      `${stack.sandbox.baseUrl.replace('{mall_id}', MALL)}/api/v2/oauth/authorize`,
    );
    expect(Object.fromEntries(location.searchParams)).toEqual({
      response_type: 'code',
      client_id: CLIENT_ID,
      state,
      redirect_uri: REDIRECT_URI,
      scope: 'mall.read_order,mall.read_product',
    });
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes
    expect(cookie).toMatch(new RegExp(`^${COOKIE}=[A-Za-z0-9_-]{43}$`));

    const { rows } = await stack.db.pool.query('select * from cafe24.install_states');
    expect(rows).toHaveLength(1);
    const row = rows[0];
    expect(row.mall_id).toBe(MALL);
    expect(row.state_hash).toEqual(createHash('sha256').update(state).digest());
    expect(JSON.stringify(row)).not.toContain(state);
    expect((row.expires_at - row.created_at) / 1000).toBe(600);
  });

  it('binds the state with an HttpOnly, Secure, SameSite=Lax __Host- cookie on HTTPS', async () => {
    const response = await app().request(`${ORIGIN}/install?${launchQuery()}`);
    const setCookie = response.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^__Host-cafe24_install=/);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; Secure/);
    expect(setCookie).toMatch(/; SameSite=Lax/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).not.toMatch(/Domain=/i);
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('keeps the browser binding of a browser that has one (two tabs, one cookie)', async () => {
    const first = await begin();
    const second = await begin(first.cookie);
    expect(second.cookie === '' || second.cookie === first.cookie).toBe(true);
    for (const tab of [first, second]) {
      const response = await callback(
        { code: stack.sandbox.issueCode(MALL), state: tab.state },
        first.cookie,
      );
      expect(response.status, await response.clone().text()).toBeLessThan(300);
    }
  });

  it.each([
    ['a bad hmac', () => launchQuery({}, 'not-the-secret'), 'bad-hmac'],
    ['a tampered parameter', () => launchQuery().replace(`mall_id=${MALL}`, 'mall_id=othermall'), 'bad-hmac'],
    ['no hmac', () => launchQuery().replace(/&hmac=.*$/, ''), 'missing-hmac'],
    [
      'a timestamp 3 hours old',
      () => launchQuery({ timestamp: String(Math.floor(Date.now() / 1000) - 3 * 3600) }),
      'stale-timestamp',
    ],
    ['an invalid mall id', () => launchQuery({ mall_id: '../evil' }), 'invalid-mall-id'],
  ])('refuses a launch with %s: a 4xx page, nothing stored, the reason logged without values', async (_, query, reason) => {
    const before = logs.text().length;
    const q = query();
    const response = await app().request(`${ORIGIN}/install?${q}`);
    expect(response.status).toBe(400);
    expect(response.headers.get('set-cookie')).toBeNull();
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await count('install_states')).toBe(0);
    const logged = logs.text().slice(before);
    expect(logged).toContain(`"reason":"${reason}"`);
    expect(logged).not.toContain('owner');
    expect(logged).not.toContain(new URLSearchParams(q).get('hmac') ?? 'no hmac');
  });
});

describe('GET /callback', () => {
  it('stores the code for the mall of the state (never of the query), hands it on and shows it installed', async () => {
    const { state, cookie } = await begin();
    const code = stack.sandbox.issueCode(MALL);
    const response = await callback({ code, state, mall_id: 'othermall' }, cookie);
    const page = await response.text();
    expect(response.status, page).toBe(200);
    expect(page).toContain('App installed');
    expect(page).toContain(MALL);
    // The scopes in the operator's words.
    expect(page).toContain('See your orders');
    const { rows } = await stack.db.pool.query(
      'select mall_id, status from cafe24.oauth_authorization_codes',
    );
    expect(rows).toEqual([{ mall_id: MALL, status: 'exchanged' }]);
    expect((await stack.tokenRow(MALL))?.status).toBe('active');
    expect(page).not.toContain(code);
    expect(page).not.toContain(state);
  });

  it('says "almost done" (202) when the exchange has not finished within the wait', async () => {
    app = () =>
      createInstallApp(deps({ handOff: undefined, settings: { ...deps().settings, outcomeWaitMs: 100 } }));
    try {
      const { state, cookie } = await begin();
      const response = await callback({ code: 'pending-code-1', state }, cookie);
      expect(response.status).toBe(202);
      expect(await response.text()).toContain('Almost done');
      expect(await count('oauth_authorization_codes')).toBe(1);
    } finally {
      app = () => createInstallApp(deps());
    }
  });

  it('still answers, and leaves the code to the relay, when the hand-off fails', async () => {
    const failing = deps({
      handOff: async () => {
        throw new Error('queue unreachable');
      },
      settings: { ...deps().settings, outcomeWaitMs: 50 },
    });
    app = () => createInstallApp(failing);
    try {
      const before = logs.text().length;
      const { state, cookie } = await begin();
      const response = await callback({ code: 'code-for-the-relay', state }, cookie);
      expect(response.status).toBe(202);
      expect(logs.text().slice(before)).toContain('could not hand the code on; the relay will publish it');
      const { rows } = await stack.db.pool.query(
        'select c.status, o.code_id is not null as in_outbox from cafe24.oauth_authorization_codes c left join cafe24.exchange_outbox o on o.code_id = c.id',
      );
      expect(rows).toEqual([{ status: 'pending', in_outbox: true }]);
    } finally {
      app = () => createInstallApp(deps());
    }
  });

  it('bounds the SQS hand-off, so a queue that hangs cannot hold the person’s page', async () => {
    const hanging = createServer(() => {}); // accepts, never answers
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    const client = createSqsClient(localAws(endpoint, 'ap-northeast-2'), { maxAttempts: 1 });
    try {
      // Cut off by the hand-off's own 300 ms bound (an abort, not an answer or a refused connection);
      // without it the send would wait on the silent queue for good.
      await expect(sqsHandOff(client, `${endpoint}/000000000000/q`, 300)('1')).rejects.toMatchObject({
        name: 'AbortError',
      });
    } finally {
      client.destroy();
      hanging.closeAllConnections();
      hanging.close();
    }
  });

  it('refuses a replayed state: one code stored', async () => {
    const { state, cookie } = await begin();
    expect((await callback({ code: stack.sandbox.issueCode(MALL), state }, cookie)).status).toBe(200);
    const replay = await callback({ code: 'replayed-code', state }, cookie);
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('already used');
    expect(await count('oauth_authorization_codes')).toBe(1);
  });

  it('refuses an unknown state: no code stored', async () => {
    const { cookie } = await begin();
    const response = await callback({ code: 'code-for-unknown', state: 'A'.repeat(43) }, cookie);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('Unknown install link');
    expect(await count('oauth_authorization_codes')).toBe(0);
  });

  it('refuses a callback without the cookie (and from another browser); the right browser can still finish', async () => {
    const { state, cookie } = await begin();
    const bare = await callback({ code: 'code-without-cookie', state });
    expect(bare.status).toBe(403);
    expect(await bare.text()).toContain('browser you started it in');
    const other = await begin();
    const wrong = await callback({ code: 'code-from-other-browser', state }, other.cookie);
    expect(wrong.status).toBe(403);
    expect(await count('oauth_authorization_codes')).toBe(0);

    expect((await callback({ code: stack.sandbox.issueCode(MALL), state }, cookie)).status).toBe(200);
  });

  it('refuses an expired state: no code stored', async () => {
    const { state, cookie } = await begin();
    await stack.db.pool.query(
      "update cafe24.install_states set created_at = now() - interval '11 minutes', expires_at = now() - interval '1 minute'",
    );
    const response = await callback({ code: 'code-too-late', state }, cookie);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('expired');
    expect(await count('oauth_authorization_codes')).toBe(0);
  });

  it('lets exactly one of three racing callbacks on one state store its code', async () => {
    const { state, cookie } = await begin();
    app = () =>
      createInstallApp(deps({ handOff: undefined, settings: { ...deps().settings, outcomeWaitMs: 0 } }));
    try {
      const responses = await Promise.all(
        ['race-1', 'race-2', 'race-3'].map((code) => callback({ code, state }, cookie)),
      );
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses).toEqual([202, 400, 400]);
      const { rows } = await stack.db.pool.query('select code from cafe24.oauth_authorization_codes');
      expect(rows).toHaveLength(1);
    } finally {
      app = () => createInstallApp(deps());
    }
  });

  it("shows Cafe24's ?error= readably, escaped, and spends the state", async () => {
    const { state, cookie } = await begin();
    const description = '<script>alert(1)</script> & "quoted" <img src=x onerror=alert(2)>';
    const response = await callback(
      { error: 'invalid_scope', error_description: description, state },
      cookie,
    );
    const page = await response.text();
    expect(response.status).toBe(400);
    expect(page).toContain('Cafe24 refused the install');
    expect(page).toContain('&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#34;quoted&#34;');
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(response.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(logs.text()).not.toContain('alert(');

    const declined = await callback({ error: 'access_denied', error_description: 'no', state }, cookie);
    expect(await declined.text()).toContain('Install cancelled');
    // The state is spent: a code arriving for it later is refused.
    expect((await callback({ code: 'late-code', state }, cookie)).status).toBe(400);
    expect(await count('oauth_authorization_codes')).toBe(0);
  });
});

describe('the install front', () => {
  it('answers /healthz and 404s elsewhere with a page', async () => {
    expect(await (await app().request(`${ORIGIN}/healthz`)).json()).toEqual({ status: 'ok' });
    const missing = await app().request(`${ORIGIN}/nope`);
    expect(missing.status).toBe(404);
  });

  it('deletes expired states on the sweep, and only those', async () => {
    await begin();
    await begin();
    await stack.db.pool.query(
      "update cafe24.install_states set created_at = now() - interval '1 hour', expires_at = now() - interval '1 second' where ctid = (select ctid from cafe24.install_states limit 1)",
    );
    expect(await deleteExpiredStates(stack.db.pool)).toBe(1);
    expect(await count('install_states')).toBe(1);
  });

  it('refuses at start-up a redirect URI it cannot serve, and needs scopes', () => {
    const base = {
      DATABASE_URL: 'postgres://u:p@localhost/db',
      CAFE24_CLIENT_ID: 'id',
      CAFE24_CLIENT_SECRET: 'secret',
      CAFE24_SCOPES: 'mall.read_order, mall.read_product',
    };
    expect(
      loadConfig('install', { ...base, CAFE24_REDIRECT_URI: 'https://app.example.com/cb' }).install.scopes,
    ).toEqual(['mall.read_order', 'mall.read_product']);
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig('install', env);
        return [];
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).problems;
      }
    };
    expect(problems({ ...base, CAFE24_REDIRECT_URI: 'https://app.example.com/install' })).toEqual([
      expect.stringContaining("is the install server's own"),
    ]);
    expect(problems({ ...base, CAFE24_REDIRECT_URI: 'http://app.example.com/cb' })).toEqual([
      expect.stringContaining('must be https'),
    ]);
    expect(problems({ ...base, CAFE24_REDIRECT_URI: 'https://app.example.com/:id/cb' })).toEqual([
      expect.stringContaining('path may hold only'),
    ]);
    expect(problems({ ...base, CAFE24_REDIRECT_URI: 'https://app.example.com/cb?x=1' })).toEqual([
      expect.stringContaining('no query'),
    ]);
    const { CAFE24_SCOPES: _, ...noScopes } = base;
    expect(problems({ ...noScopes, CAFE24_REDIRECT_URI: 'http://localhost:3000/cb' })).toEqual([
      expect.stringContaining('CAFE24_SCOPES is required'),
    ]);
    expect(
      problems({ ...base, CAFE24_SCOPES: 'read everything', CAFE24_REDIRECT_URI: 'http://localhost/cb' }),
    ).toEqual([expect.stringContaining('CAFE24_SCOPES')]);
  });
});

// Last: every code, state and cookie value handled above, and the client secret, are absent from the logs.
it('logs no code, state, cookie or secret', () => {
  const text = logs.text();
  expect(text).toContain('authorization code stored');
  expect(handled.size).toBeGreaterThan(10);
  for (const value of [...handled].filter((v) => v.length >= 6)) expect(text).not.toContain(value);
  expect(text).not.toContain(CLIENT_SECRET);
});

describe('without CAFE24_REDIRECT_URI: one deploy, on the HTTP API’s own host', () => {
  const API = 'https://a1b2c3d4e5.execute-api.ap-northeast-2.amazonaws.com';
  let first: ExchangeStack;
  beforeAll(async () => {
    // Cafe24 Developers holds <InstallEndpoint>/callback, as the first deploy's outputs print it.
    first = await startExchangeStack(
      { CAFE24_REDIRECT_URI: '' },
      { registeredRedirectUri: `${API}/callback` },
    );
  });
  afterAll(() => first?.stop());

  const frontOf = () => {
    const base = installDeps(first, SCOPES);
    return createInstallApp({ ...base, settings: { ...base.settings, redirectUri: undefined } });
  };

  it('sends Cafe24 <host>/callback, serves the callback there, and the exchange sends the same one', async () => {
    const front = frontOf();
    const started = await front.request(`${API}/install?${launchQuery()}`);
    expect(started.status).toBe(302);
    const location = new URL(started.headers.get('location') ?? '');
    expect(location.searchParams.get('redirect_uri')).toBe(`${API}/callback`);
    const state = location.searchParams.get('state') ?? '';
    const cookie = (started.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    expect(cookie.startsWith(`${COOKIE}=`)).toBe(true);
    const code = first.sandbox.issueCode(MALL);
    handled.add(state);
    handled.add(code);
    const finished = await front.request(`${API}/callback?${new URLSearchParams({ code, state })}`, {
      headers: { cookie, 'accept-language': 'en-US' },
    });
    expect(finished.status).toBe(200);
    const { rows } = await first.db.pool.query(
      'select redirect_uri, status from cafe24.oauth_authorization_codes where mall_id = $1',
      [MALL],
    );
    // Kept with the code; the sandbox refuses a token request whose redirect_uri is not the registered one.
    expect(rows).toEqual([{ redirect_uri: `${API}/callback`, status: 'exchanged' }]);
    expect((await first.tokenRow(MALL))?.status).toBe('active');
  });

  it('a code stored with no redirect URI fails before anything is sent, naming what to set', async () => {
    const id = await first.insertCode('code-without-redirect', { mallId: 'noredirect' });
    expect(await first.handler({ codeId: Number(id) })).toMatchObject({ status: 'failed' });
    const row = await first.codeRow(id);
    expect(row.last_error).toMatch(/no redirect URI to send: .*CAFE24_REDIRECT_URI is unset/);
    expect(first.sandbox.tokenRequests({ mallId: 'noredirect' })).toHaveLength(0);
  });
});
