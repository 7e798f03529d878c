/**
 * The install and the app's entry as a shop operator lives them, in a real headless Chromium (from npm:
 * @sparticuz/chromium, driven by puppeteer-core, with a Hangul font): the sandbox's app store → GET
 * /install → Cafe24's consent page → the callback → the demo app at APP_RETURN_URL, handed a signed
 * launch token, greeting the operator in Korean; then opening the app again goes straight to the app, no
 * consent, the tokens untouched. The local stack does the rest as deployed: SQS emulator, relay, and the
 * real exchange handler in a Lambda-style runner.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LOCAL_APP, type LocalStack, startLocalStack } from '../local/stack.ts';
import { launchBrowser } from './support/browser.ts';
import { captureOutput } from './support/capture.ts';
import { ROOT } from './support/cli.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

// The README's picture is refreshed on request only, so a test run leaves the checkout as it was.
const SCREENSHOT = join(ROOT, process.env.UPDATE_SCREENSHOT === '1' ? 'docs' : '.local', 'launch.png');

captureOutput();
let db: TestDatabase;
let stack: LocalStack;
let browser: Browser;

beforeAll(async () => {
  db = await createTestDatabase();
  [stack, browser] = await Promise.all([
    startLocalStack({ databaseUrl: db.url, install: { port: 0, hostname: '127.0.0.1' } }),
    launchBrowser({ width: 880, height: 620 }),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  await db?.drop();
});

/** Clicks and waits for the navigation (and every redirect after it) to land. */
async function clickThrough(page: Page, selector: string): Promise<void> {
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
}

const text = (page: Page) => page.evaluate('document.body.innerText') as Promise<string>;

/** The demo app's greeting: who it greets, for which mall, and the outcome the launch token says. */
const greeting = (page: Page) =>
  page.$eval('#greeting', (element) => ({
    mall: element.getAttribute('data-mall'),
    user: element.getAttribute('data-user'),
    outcome: element.getAttribute('data-outcome'),
    text: element.textContent,
  }));

/** Every URL the page's main frame asked for from now on, each redirect included. */
function visits(page: Page): string[] {
  const seen: string[] = [];
  page.on('request', (request) => {
    if (request.isNavigationRequest() && request.frame() === page.mainFrame()) seen.push(request.url());
  });
  return seen;
}

const tokenRow = async () =>
  (
    await db.pool.query(
      'select access_token, refresh_token, issued_at, code_id from cafe24.oauth_tokens where mall_id = $1',
      [LOCAL_APP.mallId],
    )
  ).rows[0];
const codeCount = async () =>
  (await db.pool.query('select count(*)::int as n from cafe24.oauth_authorization_codes')).rows[0]
    .n as number;

it('a declined consent reaches the app as declined, and stores no code', async () => {
  const page = await browser.newPage();
  await page.goto(stack.install!.appStoreUrl);
  await clickThrough(page, '#launch');
  await clickThrough(page, '#decline');
  expect(page.url().startsWith(stack.demoApp!.url)).toBe(true);
  expect(await greeting(page)).toMatchObject({ mall: LOCAL_APP.mallId, outcome: 'declined' });
  expect(await codeCount()).toBe(0);
  await page.close();
});

it('installs in Korean through consent to the app, and opening it again goes to the app with no consent', async () => {
  const install = stack.install!;
  const page = await browser.newPage();
  await page.goto(install.appStoreUrl);
  expect(await text(page)).toContain('Cafe24 app store');

  // App store → GET /install (hmac verified, state created, cookie set) → authorize → consent page.
  await clickThrough(page, '#launch');
  expect(page.url()).toContain('/api/v2/oauth/authorize');
  expect(await text(page)).toContain(`Install this app on ${LOCAL_APP.mallId}?`);
  const cookies = await browser.cookies();
  expect(cookies.find((c) => c.name === 'cafe24_install')).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

  // Install → callback (code stored and exchanged while it waits) → the app, with a signed launch token.
  const installing = visits(page);
  await clickThrough(page, '#install');
  expect(installing.some((url) => url.includes('/cafe24/callback'))).toBe(true);
  expect(page.url().startsWith(`${stack.demoApp!.url}?launch=`)).toBe(true);
  expect(new URL(page.url()).searchParams.has('mall_id')).toBe(false);
  const installed = await greeting(page);
  expect(installed).toMatchObject({ mall: LOCAL_APP.mallId, user: '홍길동 대표', outcome: 'installed' });
  expect(installed.text).toBe(`안녕하세요, ${LOCAL_APP.mallId} 쇼핑몰 홍길동 대표 님`);
  expect(await page.$eval('html', (html) => html.lang)).toBe('ko');
  const { rows } = await db.pool.query(
    `select t.mall_id, t.status, c.status as code_status
       from cafe24.oauth_tokens t join cafe24.oauth_authorization_codes c on c.id = t.code_id`,
  );
  expect(rows).toEqual([{ mall_id: LOCAL_APP.mallId, status: 'active', code_status: 'exchanged' }]);
  await mkdir(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT as `${string}.png` });

  // The app refuses the same link twice (its jti); the callback's link, visited again, is spent.
  await page.reload({ waitUntil: 'load' });
  expect(await page.$('#replay')).not.toBeNull();
  const callback = installing.find((url) => url.includes('/cafe24/callback'))!;
  await page.goto(callback, { waitUntil: 'load' });
  expect(await page.$eval('html', (html) => html.lang)).toBe('ko');
  expect(await text(page)).toContain('이미 사용된 설치 링크입니다');
  expect(await codeCount()).toBe(1);

  // Opening the app again from the admin: straight to the app, no consent page, the tokens untouched.
  const before = await tokenRow();
  const requests = stack.sandbox.tokenRequests().length;
  await page.goto(install.appStoreUrl);
  const opening = visits(page);
  await clickThrough(page, '#launch');
  expect(opening.some((url) => url.includes('/oauth/authorize'))).toBe(false);
  expect(await greeting(page)).toMatchObject({ mall: LOCAL_APP.mallId, outcome: 'launched' });
  expect(await tokenRow()).toEqual(before);
  expect(stack.sandbox.tokenRequests()).toHaveLength(requests);
  expect(await codeCount()).toBe(1);
  await page.close();
});

it('deleting the app in the mall admin removes the tokens and tells the app; installing again is served', async () => {
  const mall = LOCAL_APP.mallId;
  const kinds = async () =>
    (
      await db.pool.query('select kind from cafe24.mall_events where mall_id = $1 order by id', [mall])
    ).rows.map((row) => row.kind as string);
  expect(await kinds()).toEqual(['installed']);

  const page = await browser.newPage();
  await page.goto(`${stack.sandbox.origin}/admin/${mall}`);
  await clickThrough(page, '#delete-app');
  // The sandbox shows what the install front answered to Cafe24's webhook.
  expect(await text(page)).toContain('90077');
  expect(await text(page)).toContain('HTTP 200');
  const tokens = await db.pool.query('select 1 from cafe24.oauth_tokens where mall_id = $1', [mall]);
  expect(tokens.rowCount).toBe(0);
  expect(await kinds()).toEqual(['installed', 'removed']);
  // The relay's sweep publishes the event to the (local) EventBridge.
  await expect
    .poll(() => stack.eventBridge.events.map((event) => event.detailType), { timeout: 20_000 })
    .toContain('Mall Removed');

  // Removed: opening the app runs the install again (consent), here in English.
  await page.goto(`${stack.sandbox.origin}/appstore?lang=en_US`);
  await clickThrough(page, '#launch');
  expect(page.url()).toContain('/api/v2/oauth/authorize');
  await clickThrough(page, '#install');
  const back = await greeting(page);
  expect(back).toMatchObject({ mall: mall, outcome: 'installed' });
  expect(back.text).toBe(`hello, 홍길동 대표 of ${mall}`);
  expect(await kinds()).toEqual(['installed', 'removed', 'reinstalled']);
  await page.close();
});
