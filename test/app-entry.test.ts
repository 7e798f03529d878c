/**
 * Opening the app (docs/design.md, "The app's entry"): a launch of an installed mall opens the app with
 * no OAuth; the operator is handed to APP_RETURN_URL with a signed launch token, never an unsigned mall;
 * the JWKS serves the keys; and a relaunch racing a removal or an invalidation runs the install.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { createInstallApp, type InstallAppOptions } from '../src/install/app.ts';
import { appHandOff } from '../src/install/app-hand-off.ts';
import type { InstallDeps } from '../src/install/install.ts';
import {
  generateLaunchKey,
  type LaunchToken,
  loadLaunchKeys,
  verifyLaunchToken,
} from '../src/launch/launch-token.ts';
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
const RETURN_URL = 'https://app.example.com/cafe24?from=front';
const keys = loadLaunchKeys(JSON.stringify(generateLaunchKey()));
const verifyOptions = { publicKey: keys.jwks.keys[0]!, audience: CLIENT_ID, issuer: ORIGIN };

let stack: ExchangeStack;
/** Every launch token handed out: none may appear in a log line. */
const tokens: string[] = [];

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(() => stack?.stop());
beforeEach(async () => {
  await stack.db.pool.query(
    'truncate cafe24.install_states, cafe24.app_launches, cafe24.exchange_outbox, cafe24.oauth_authorization_codes, cafe24.oauth_tokens',
  );
});

function deps(scopes = SCOPES): InstallDeps {
  return installDeps(stack, scopes);
}

const handingOff: InstallAppOptions = {
  handOff: appHandOff({ returnUrl: RETURN_URL, keys: async () => keys, issuer: ORIGIN, audience: CLIENT_ID }),
};
const front = (options: InstallAppOptions = handingOff, scopes = SCOPES) =>
  createInstallApp(deps(scopes), options);

/** Each launch Cafe24 sends is its own (its timestamp, so its hmac): a second apart here, as in life. */
let launches = 0;
const launchQuery = (overrides: Record<string, string> = {}) =>
  launchQueryFor(CLIENT_SECRET, {
    mall_id: MALL,
    user_name: '김 대표',
    timestamp: String(Math.floor(Date.now() / 1000) - (launches++ % 3_600)),
    ...overrides,
  });
const launch = (app = front(), overrides: Record<string, string> = {}, cookie?: string) =>
  app.request(`${ORIGIN}/install?${launchQuery(overrides)}`, { headers: cookie ? { cookie } : {} });

/** A whole install through consent: launch, Cafe24's code, callback. Returns the callback's answer. */
async function install(app = front(), overrides: Record<string, string> = {}): Promise<Response> {
  const started = await launch(app, overrides);
  expect(started.status).toBe(302);
  const state = new URL(started.headers.get('location')!).searchParams.get('state')!;
  const cookie = started.headers.get('set-cookie')!.split(';')[0]!;
  const code = stack.sandbox.issueCode(MALL);
  return app.request(`${ORIGIN}${CALLBACK}?${new URLSearchParams({ code, state })}`, { headers: { cookie } });
}

/** The launch token of a hand-off, verified; the URL must hold nothing else about the mall or outcome. */
async function handedOff(response: Response): Promise<LaunchToken> {
  expect(response.status).toBe(303);
  const location = new URL(response.headers.get('location')!);
  expect(location.origin + location.pathname).toBe('https://app.example.com/cafe24');
  expect([...location.searchParams.keys()].sort()).toEqual(['from', 'launch']);
  const token = location.searchParams.get('launch')!;
  tokens.push(token);
  expect(response.headers.get('referrer-policy')).toBe('no-referrer');
  return verifyLaunchToken(token, verifyOptions);
}

const count = async (table: string) =>
  Number((await stack.db.pool.query(`select count(*) from cafe24.${table}`)).rows[0].count);

describe('a launch of an installed mall', () => {
  it('opens the app with no state, no code and no Cafe24 request, and leaves the tokens as they were', async () => {
    const installed = await handedOff(await install());
    expect(installed.outcome).toBe('installed');
    const before = await stack.tokenRow(MALL);
    const requests = stack.sandbox.tokenRequests().length;
    const states = await count('install_states');

    const opened = await handedOff(await launch());
    expect(opened).toMatchObject({
      outcome: 'launched',
      mall_id: MALL,
      sub: MALL,
      user_name: '김 대표',
      user_id: 'owner',
      user_type: 'P',
      shop_no: '1',
      lang: 'ko_KR',
      nation: 'KR',
      is_multi_shop: 'T',
      iss: ORIGIN,
      aud: CLIENT_ID,
    });
    expect(opened.exp - opened.iat).toBeLessThanOrEqual(120);
    expect(opened.jti).not.toBe(installed.jti);
    expect(stack.sandbox.tokenRequests()).toHaveLength(requests);
    expect(await count('install_states')).toBe(states);
    expect(await count('oauth_authorization_codes')).toBe(1);
    expect(await stack.tokenRow(MALL)).toEqual(before);
  });

  it('without APP_RETURN_URL shows "already installed" in the launch’s language', async () => {
    await install();
    const states = await count('install_states');
    const korean = await launch(front({}));
    expect(korean.status).toBe(200);
    const page = await korean.text();
    expect(page).toContain('<html lang="ko">');
    expect(page).toContain(MALL);
    const english = await launch(front({}), { lang: 'en_US' });
    expect(await english.text()).toContain('<html lang="en">');
    expect(await count('install_states')).toBe(states);
  });

  it('runs the install again for widened scopes, an invalid mall, a dead refresh token, or no row', async () => {
    await install();
    const widened = await launch(front(handingOff, [...SCOPES, 'mall.write_product']));
    expect(widened.status).toBe(302);
    expect(new URL(widened.headers.get('location')!).searchParams.get('scope')).toBe(
      'mall.read_order,mall.read_product,mall.write_product',
    );

    await stack.db.pool.query(
      `update cafe24.oauth_tokens set refresh_token_expires_at = now() - interval '1 second'`,
    );
    expect((await launch()).status).toBe(302);
    await stack.db.pool.query(
      `update cafe24.oauth_tokens set refresh_token_expires_at = now() + interval '1 day', status = 'invalid'`,
    );
    expect((await launch()).status).toBe(302);
    await stack.db.pool.query('delete from cafe24.oauth_tokens');
    expect((await launch()).status).toBe(302);
  });

  it('refuses a tampered, stale or unsigned launch and mints no token', async () => {
    await install();
    const forged = await front().request(
      `${ORIGIN}/install?${launchQueryFor('not-the-secret', { mall_id: MALL })}`,
    );
    const stale = await launch(front(), { timestamp: String(Math.floor(Date.now() / 1000) - 3 * 3600) });
    const unsigned = await front().request(`${ORIGIN}/install?mall_id=${MALL}&lang=ko_KR`);
    for (const refused of [forged, stale, unsigned]) {
      expect(refused.status).toBe(400);
      expect(refused.headers.get('location')).toBeNull();
      expect(await refused.text()).not.toContain('launch=');
    }
  });

  it('opens the app once per launch: the same launch URL again (history, a log) mints nothing', async () => {
    await install();
    const query = launchQuery();
    expect((await handedOff(await front().request(`${ORIGIN}/install?${query}`))).outcome).toBe('launched');
    const replay = await front().request(`${ORIGIN}/install?${query}`);
    expect(replay.status).toBe(400);
    expect(replay.headers.get('location')).toBeNull();
    expect(await replay.text()).toContain('이미 사용된 앱 실행 링크입니다');
    // A launch that ran the install (not opened the app) is left to Cafe24's consent, and is not kept.
    expect(await count('app_launches')).toBe(1);
  });

  it('runs the install when it races a removal or an invalidation of the row (never a token for dead tokens)', async () => {
    for (const change of [
      `delete from cafe24.oauth_tokens where mall_id = '${MALL}'`,
      `update cafe24.oauth_tokens set status = 'invalid' where mall_id = '${MALL}'`,
    ]) {
      await stack.db.pool.query('truncate cafe24.oauth_tokens, cafe24.install_states');
      await install();
      const racing = await stack.db.pool.connect();
      try {
        await racing.query('begin');
        await racing.query(change);
        // The relaunch reads the row while the change holds it: it must wait for the change's result.
        const relaunch = launch();
        await expect
          .poll(async () => {
            const { rows } = await stack.db.pool.query(
              `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query ilike '%for share%'`,
            );
            return rows[0].n;
          })
          .toBe(1);
        await racing.query('commit');
        expect((await relaunch).status).toBe(302);
      } finally {
        racing.release();
      }
    }
  });
});

describe('the hand-off after a callback', () => {
  it('carries the outcome and who launched, from the state (the lang travels with it)', async () => {
    const token = await handedOff(await install(front(), { lang: 'en_US', user_name: 'Kim' }));
    expect(token).toMatchObject({ outcome: 'installed', mall_id: MALL, lang: 'en_US', user_name: 'Kim' });
    const { rows } = await stack.db.pool.query('select launch from cafe24.install_states');
    expect(rows[0].launch).toEqual({
      shopNo: '1',
      userId: 'owner',
      userName: 'Kim',
      userType: 'P',
      lang: 'en_US',
      nation: 'KR',
      isMultiShop: 'T',
    });
  });

  it('says declined for a declined consent; a broken link gets the front’s own page, not the app', async () => {
    const app = front();
    const started = await launch(app);
    const state = new URL(started.headers.get('location')!).searchParams.get('state')!;
    const cookie = started.headers.get('set-cookie')!.split(';')[0]!;
    const declined = await app.request(
      `${ORIGIN}${CALLBACK}?${new URLSearchParams({ error: 'access_denied', state })}`,
      { headers: { cookie } },
    );
    expect((await handedOff(declined)).outcome).toBe('declined');
    // The state is spent: the same link again has no mall to speak of.
    const replay = await app.request(`${ORIGIN}${CALLBACK}?${new URLSearchParams({ code: 'c', state })}`, {
      headers: { cookie },
    });
    expect(replay.status).toBe(400);
    expect(replay.headers.get('location')).toBeNull();
    expect(await replay.text()).toContain('<html lang="ko">');
  });
});

describe('the hand-off’s URL and language', () => {
  it('keeps APP_RETURN_URL’s own query as written, and adds launch= only', async () => {
    const written = 'https://app.example.com/cafe24?next=%2Fhome%20page&x=a+b';
    const app = front({
      handOff: appHandOff({
        returnUrl: written,
        keys: async () => keys,
        issuer: ORIGIN,
        audience: CLIENT_ID,
      }),
    });
    const response = await install(app);
    const location = response.headers.get('location')!;
    expect(location.startsWith(`${written}&launch=`)).toBe(true);
    tokens.push(location.slice(location.indexOf('launch=') + 7));
  });

  it('a callback for a state kept before launches were (no launch on the row) speaks the browser’s language', async () => {
    const app = front({});
    const started = await launch(app);
    const state = new URL(started.headers.get('location')!).searchParams.get('state')!;
    const cookie = started.headers.get('set-cookie')!.split(';')[0]!;
    await stack.db.pool.query('update cafe24.install_states set launch = null');
    const code = stack.sandbox.issueCode(MALL);
    const english = await app.request(`${ORIGIN}${CALLBACK}?${new URLSearchParams({ code, state })}`, {
      headers: { cookie, 'accept-language': 'en-US,en;q=0.8' },
    });
    expect(english.status).toBe(200);
    expect(await english.text()).toContain('<html lang="en">');
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('serves the public keys (cacheable), and nothing without a hand-off', async () => {
    const served = await front().request(`${ORIGIN}/.well-known/jwks.json`);
    expect(served.status).toBe(200);
    expect(served.headers.get('cache-control')).toBe('public, max-age=300');
    const jwks = (await served.json()) as { keys: Array<Record<string, string>> };
    expect(jwks).toEqual(keys.jwks);
    for (const key of jwks.keys) expect(key).not.toHaveProperty('d');
    expect((await front({}).request(`${ORIGIN}/.well-known/jwks.json`)).status).toBe(404);
  });
});

describe('the front’s headers and configuration', () => {
  it('forbids framing unless origins are given', async () => {
    const closed = await front().request(`${ORIGIN}/healthz`);
    expect(closed.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(closed.headers.get('x-frame-options')).toBe('DENY');
    const open = await front({ ...handingOff, frameAncestors: ['https://admin.example.com'] }).request(
      `${ORIGIN}/healthz`,
    );
    expect(open.headers.get('content-security-policy')).toContain(
      'frame-ancestors https://admin.example.com',
    );
    expect(open.headers.get('x-frame-options')).toBeNull();
  });

  it('refuses at start-up a return URL that could point elsewhere, and a missing or broken key', () => {
    const base = {
      DATABASE_URL: 'postgres://u:p@localhost/db',
      CAFE24_CLIENT_ID: 'id',
      CAFE24_CLIENT_SECRET: 'secret',
      CAFE24_SCOPES: 'mall.read_order',
      CAFE24_REDIRECT_URI: 'https://front.example.com/cb',
    };
    const key = JSON.stringify(generateLaunchKey());
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig('install', { ...base, ...env });
        return [];
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as Error).message).not.toContain(key.slice(10, 40));
        return (error as ConfigError).problems;
      }
    };
    expect(problems({ APP_RETURN_URL: 'https://app.example.com/', LAUNCH_SIGNING_KEY: key })).toEqual([]);
    expect(problems({ APP_RETURN_URL: 'http://localhost:4000/app', LAUNCH_SIGNING_KEY: key })).toEqual([]);
    expect(problems({ APP_RETURN_URL: 'javascript:alert(1)', LAUNCH_SIGNING_KEY: key })).toEqual([
      expect.stringContaining('APP_RETURN_URL must be https'),
    ]);
    expect(problems({ APP_RETURN_URL: 'http://app.example.com/', LAUNCH_SIGNING_KEY: key })).toEqual([
      expect.stringContaining('APP_RETURN_URL must be https'),
    ]);
    expect(problems({ APP_RETURN_URL: 'https://app.example.com/' })).toEqual([
      expect.stringContaining('LAUNCH_SIGNING_KEY (or LAUNCH_SIGNING_KEY_ARN) is required'),
    ]);
    expect(
      problems({ APP_RETURN_URL: 'https://app.example.com/', LAUNCH_SIGNING_KEY: key.slice(0, -3) }),
    ).toEqual([expect.stringContaining('LAUNCH_SIGNING_KEY is neither')]);
    expect(
      problems({
        LAUNCH_SIGNING_KEY: key,
        LAUNCH_SIGNING_KEY_ARN: 'arn:aws:secretsmanager:ap-northeast-2:1:secret:k',
      }),
    ).toEqual([expect.stringContaining('both set')]);
    expect(problems({ INSTALL_FRAME_ANCESTORS: 'https://ok.example.com, http://bad.example.com' })).toEqual([
      expect.stringContaining('http://bad.example.com'),
    ]);
    expect(problems({ INSTALL_FRAME_ANCESTORS: 'https://*.cafe24.com' })).toEqual([
      expect.stringContaining('no wildcard'),
    ]);
    // Without APP_RETURN_URL the front signs nothing and needs no key.
    expect(problems({})).toEqual([]);
  });
});

// Last: no launch token handed out above reached a log line.
it('logs no launch token', () => {
  expect(tokens.length).toBeGreaterThanOrEqual(4);
  const text = logs.text();
  expect(text).toContain('app launched');
  for (const token of tokens) {
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.split('.')[2]);
  }
});
