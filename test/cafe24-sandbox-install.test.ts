/** The sandbox's browser side of an install: the app store's signed launch and the consent page. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cafe24Sandbox, startCafe24Sandbox } from '../local/cafe24-sandbox.ts';
import { verifyAppLaunch } from '../src/cafe24/app-launch.ts';

const CLIENT_ID = 'sandbox-client';
const CLIENT_SECRET = 'sandbox-secret';
const REDIRECT_URI = 'https://app.example.com/cafe24/callback';
const MALL = 'storemall';

let sandbox: Cafe24Sandbox;
beforeAll(async () => {
  sandbox = await startCafe24Sandbox({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: REDIRECT_URI,
    consent: true,
    appStoreMallId: MALL,
  });
});
afterAll(() => sandbox?.stop());

describe('app store', () => {
  it('lists the app and launches the app URL as Cafe24 does, with a correct hmac', async () => {
    const store = await fetch(`${sandbox.origin}/appstore`);
    expect(store.status).toBe(200);
    expect(store.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await store.text()).toContain('id="launch"');

    const launch = await fetch(`${sandbox.origin}/appstore/launch`, { redirect: 'manual' });
    expect(launch.status).toBe(302);
    const location = launch.headers.get('location') ?? '';
    expect(
      location.startsWith('https://app.example.com/install?is_multi_shop=T&lang=ko_KR&mall_id=storemall&'),
    ).toBe(true);
    // Cafe24's encoding: %20 for the space in the Korean user_name, hmac last.
    expect(location).toMatch(/&user_name=[^&+]*%20[^&+]*&user_type=P&hmac=[^&]+$/);
    const query = location.slice(location.indexOf('?') + 1);
    expect(verifyAppLaunch(query, CLIENT_SECRET)).toMatchObject({ ok: true, launch: { mallId: MALL } });
    expect(verifyAppLaunch(query, 'another-secret')).toEqual({ ok: false, reason: 'bad-hmac' });
  });

  it('carries ?lang= from the app store into the signed launch (xx_YY only; ko_KR otherwise)', async () => {
    const launchOf = async (store: string) => {
      const html = await (await fetch(`${sandbox.origin}${store}`)).text();
      const href = html.match(/id="launch" href="([^"]+)"/)?.[1]?.replaceAll('&#38;', '&') ?? '';
      const launch = await fetch(`${sandbox.origin}${href}`, { redirect: 'manual' });
      return (launch.headers.get('location') ?? '').split('?')[1] ?? '';
    };
    const english = await launchOf('/appstore?lang=en_US');
    expect(english).toMatch(/^is_multi_shop=T&lang=en_US&mall_id=storemall&/);
    expect(verifyAppLaunch(english, CLIENT_SECRET)).toMatchObject({ ok: true, launch: { lang: 'en_US' } });
    expect(await launchOf('/appstore')).toMatch(/^is_multi_shop=T&lang=ko_KR&/);
    expect(await launchOf(`/appstore?lang=${encodeURIComponent('en_US&x=1')}`)).toMatch(
      /^is_multi_shop=T&lang=ko_KR&mall_id=storemall&nation=KR&/,
    );
  });

  it('launches a stale link on request (for tests of the timestamp window)', async () => {
    const launch = await fetch(`${sandbox.origin}/appstore/launch?mall_id=othermall&timestamp=1000`, {
      redirect: 'manual',
    });
    const location = launch.headers.get('location') ?? '';
    expect(location).toContain('mall_id=othermall');
    expect(verifyAppLaunch(location.slice(location.indexOf('?') + 1), CLIENT_SECRET)).toEqual({
      ok: false,
      reason: 'stale-timestamp',
    });
  });
});

describe('consent', () => {
  const authorize = (extra: Record<string, string> = {}) =>
    fetch(
      `${sandbox.baseUrl.replace('{mall_id}', MALL)}/api/v2/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: CLIENT_ID,
        state: 'st"ate<1>',
        redirect_uri: REDIRECT_URI,
        scope: 'mall.read_order,mall.read_product',
        ...extra,
      })}`,
      { redirect: 'manual' },
    );

  it('shows Install and Decline, carrying the request escaped', async () => {
    const page = await authorize();
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('id="install"');
    expect(html).toContain('id="decline"');
    expect(html).toContain('value="st&#34;ate&#60;1&#62;"');
    expect(html).toContain('mall.read_product');
  });

  it('Install redirects with a code and the state; Decline with access_denied', async () => {
    const installed = await authorize({ consent: 'install' });
    const location = new URL(installed.headers.get('location') ?? '');
    expect(location.searchParams.get('state')).toBe('st"ate<1>');
    expect(location.searchParams.get('code')).toMatch(/^[\w-]{22}$/);

    const declined = await authorize({ consent: 'decline' });
    const back = new URL(declined.headers.get('location') ?? '');
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('st"ate<1>');
    expect(back.searchParams.has('code')).toBe(false);
  });
});
