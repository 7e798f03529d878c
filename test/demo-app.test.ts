/**
 * The local stack's demo app (APP_RETURN_URL): it believes a launch token only once verified against the
 * front's JWKS, greets the operator in the launch's language, and refuses a second use of the same token.
 */
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoApp, startDemoApp } from '../local/demo-app.ts';
import { type Listening, listen } from '../src/install/node-server.ts';
import {
  generateLaunchKey,
  type LaunchClaims,
  loadLaunchKeys,
  signLaunchToken,
} from '../src/launch/launch-token.ts';

const AUDIENCE = 'demo-client-id';
const keys = loadLaunchKeys(JSON.stringify(generateLaunchKey()));
const CLAIMS: LaunchClaims = {
  mall_id: 'demomall',
  shop_no: '1',
  user_id: 'owner',
  user_type: 'P',
  user_name: '홍길동 대표',
  lang: 'ko_KR',
  nation: 'KR',
  is_multi_shop: 'T',
  outcome: 'launched',
};

let front: Listening;
let issuer: string;
let demo: DemoApp;
beforeAll(async () => {
  // The install front's part: its JWKS, at its origin.
  const jwks = new Hono().get('/.well-known/jwks.json', (c) => c.json(keys.jwks));
  front = await listen(jwks, { port: 0, host: '127.0.0.1' });
  issuer = `http://127.0.0.1:${front.port}`;
  demo = await startDemoApp({ jwksUrl: `${issuer}/.well-known/jwks.json`, issuer, audience: AUDIENCE });
});
afterAll(async () => {
  await demo?.stop();
  await front?.close();
});

const sign = (
  claims: Partial<LaunchClaims> = {},
  options: { audience?: string; nowMs?: number; keys?: typeof keys } = {},
) =>
  signLaunchToken(
    options.keys ?? keys,
    { ...CLAIMS, ...claims },
    { issuer, audience: options.audience ?? AUDIENCE, ...(options.nowMs ? { nowMs: options.nowMs } : {}) },
  );

async function open(token?: string) {
  const response = await fetch(token === undefined ? demo.url : `${demo.url}?launch=${token}`);
  const html = await response.text();
  if (token) expect(html).not.toContain(token);
  return { status: response.status, html, headers: response.headers };
}

describe('the demo app', () => {
  it('greets the operator of the mall in Korean for ko_KR, with the outcome; strict headers', async () => {
    expect(demo.url).toMatch(/^http:\/\/localhost:\d+\/app$/);
    const before = demo.seen;
    const { status, html, headers } = await open(await sign());
    expect(status).toBe(200);
    expect(html).toContain('<html lang="ko">');
    expect(html).toMatch(
      /<p id="greeting" data-mall="demomall" data-user="홍길동 대표" data-outcome="launched">안녕하세요, demomall 쇼핑몰 홍길동 대표 님<\/p>/,
    );
    expect(html).toContain('이미 설치되어 있어 동의 절차 없이 열렸습니다');
    expect(headers.get('referrer-policy')).toBe('no-referrer');
    expect(headers.get('cache-control')).toBe('no-store');
    expect(headers.get('content-security-policy')).toMatch(/^default-src 'none'; style-src 'sha256-/);
    expect(demo.seen).toBe(before + 1);
  });

  it('speaks English otherwise, names the user id when there is no name, and escapes every value', async () => {
    const english = await open(await sign({ lang: 'en_US', outcome: 'installed', user_name: undefined }));
    expect(english.status).toBe(200);
    expect(english.html).toContain('<html lang="en">');
    expect(english.html).toContain('data-outcome="installed">hello, owner of demomall</p>');
    expect(english.html).toContain('Just installed');
    expect(english.html).toContain('A real app would now start its own session.');

    const odd = await open(await sign({ lang: 'en_US', user_name: '<b>"x"</b>', outcome: 'declined' }));
    expect(odd.html).not.toContain('<b>');
    expect(odd.html).toContain('hello, &#60;b&#62;&#34;x&#34;&#60;/b&#62; of demomall');
    expect(odd.html).toContain("cancelled on Cafe24's consent page");
  });

  it('refuses a second use of the same token (400): open the app again from the admin', async () => {
    const token = await sign({ lang: 'en_US' });
    expect((await open(token)).status).toBe(200);
    const seen = demo.seen;
    const again = await open(token);
    expect(again.status).toBe(400);
    expect(again.html).toContain('open the app again from the Cafe24 admin');
    expect(again.html).not.toContain('id="greeting"');
    expect(demo.seen).toBe(seen);
  });

  it.each([
    {
      given: 'a token signed by another key',
      token: () => sign({}, { keys: loadLaunchKeys(JSON.stringify(generateLaunchKey())) }),
      says: "the launch token's kid is not among the front's keys",
    },
    {
      given: 'a token for another app',
      token: () => sign({}, { audience: 'another-client' }),
      says: 'the launch token is for another app (aud)',
    },
    {
      given: 'an expired token',
      token: () => sign({}, { nowMs: Date.now() - 10 * 60_000 }),
      says: 'the launch token has expired',
    },
    {
      given: 'a token that is no JWT',
      token: async () => 'not-a-jwt',
      says: 'the launch token is not a compact JWT',
    },
    { given: 'no token', token: async () => undefined, says: 'there is no launch token in the link' },
  ])('answers $given with 401 and says why', async ({ token, says }) => {
    const seen = demo.seen;
    const { status, html, headers } = await open(await token());
    expect(status).toBe(401);
    expect(html).toContain(`<p id="error">${says.replaceAll("'", '&#39;')}`);
    expect(html).not.toContain('id="greeting"');
    expect(headers.get('cache-control')).toBe('no-store');
    expect(demo.seen).toBe(seen);
  });

  it('answers 503 when the front’s JWKS cannot be fetched: not the link’s fault', async () => {
    const stray = await startDemoApp({
      jwksUrl: 'http://127.0.0.1:9/.well-known/jwks.json',
      issuer,
      audience: AUDIENCE,
    });
    try {
      const token = await sign();
      const response = await fetch(`${stray.url}?launch=${token}`);
      const html = await response.text();
      expect(response.status).toBe(503);
      expect(html).toContain('could not be fetched');
      expect(html).not.toContain(token);
    } finally {
      await stray.stop();
    }
  });
});
