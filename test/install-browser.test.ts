/**
 * The install as a shop operator does it, in a real headless Chromium (from npm: @sparticuz/chromium,
 * driven by puppeteer-core): the sandbox's app store → GET /install → Cafe24's consent page → the
 * callback → the page says the app is installed, and the token row is in PostgreSQL 17. The local stack
 * does the rest as deployed: SQS emulator, relay, and the real exchange handler in a Lambda-style runner.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import chromium from '@sparticuz/chromium';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LOCAL_APP, type LocalStack, startLocalStack } from '../local/stack.ts';
import { captureOutput } from './support/capture.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// The README's picture is refreshed on request only, so a test run leaves the checkout as it was.
const SCREENSHOT = join(ROOT, process.env.UPDATE_SCREENSHOT === '1' ? 'docs' : '.local', 'install.png');

captureOutput();
let db: TestDatabase;
let stack: LocalStack;
let browser: Browser;

beforeAll(async () => {
  db = await createTestDatabase();
  [stack, browser] = await Promise.all([
    startLocalStack({ databaseUrl: db.url, install: { port: 0, hostname: '127.0.0.1' } }),
    chromium.executablePath().then((executablePath) =>
      puppeteer.launch({
        executablePath,
        args: chromium.args,
        headless: true,
        defaultViewport: { width: 880, height: 620 },
      }),
    ),
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

it('installs from the app store through consent to a page that says installed, with the token stored', async () => {
  const install = stack.install!;
  const page = await browser.newPage();
  await page.goto(install.appStoreUrl);
  expect(await text(page)).toContain('Cafe24 app store');

  // App store → GET /install (hmac verified, state created, cookie set) → authorize → consent page.
  await clickThrough(page, '#launch');
  expect(page.url()).toContain('/api/v2/oauth/authorize');
  expect(await text(page)).toContain(`Install this app on ${LOCAL_APP.mallId}?`);
  const cookies = await browser.cookies();
  expect(cookies.find((c) => c.name === 'cafe24_install')).toMatchObject({
    httpOnly: true,
    sameSite: 'Lax',
  });

  // Install → callback: the state is consumed, the code stored and exchanged while the page waits.
  await clickThrough(page, '#install');
  expect(page.url()).toContain('/cafe24/callback');
  const shown = await text(page);
  expect(shown).toContain('App installed');
  expect(shown).toContain(`installed on ${LOCAL_APP.mallId}`);
  expect(shown).toContain('mall.read_order');

  const { rows } = await db.pool.query(
    `select t.mall_id, t.status, c.status as code_status
       from cafe24.oauth_tokens t join cafe24.oauth_authorization_codes c on c.id = t.code_id`,
  );
  expect(rows).toEqual([{ mall_id: LOCAL_APP.mallId, status: 'active', code_status: 'exchanged' }]);

  await mkdir(dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT as `${string}.png` });

  // Back and reload: the callback's state is spent, so a replay is refused and stores nothing.
  await page.reload({ waitUntil: 'load' });
  expect(await text(page)).toContain('already used');
  const codes = await db.pool.query('select count(*)::int as n from cafe24.oauth_authorization_codes');
  expect(codes.rows[0].n).toBe(1);
  await page.close();
});

it('shows a declined install as cancelled, and stores no code', async () => {
  const page = await browser.newPage();
  await page.goto(stack.install!.appStoreUrl);
  await clickThrough(page, '#launch');
  await clickThrough(page, '#decline');
  expect(await text(page)).toContain('Install cancelled');
  const codes = await db.pool.query('select count(*)::int as n from cafe24.oauth_authorization_codes');
  expect(codes.rows[0].n).toBe(1);
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

  await page.goto(stack.install!.appStoreUrl);
  await clickThrough(page, '#launch');
  await clickThrough(page, '#install');
  expect(await text(page)).toContain('App installed');
  expect(await kinds()).toEqual(['installed', 'removed', 'reinstalled']);
  await page.close();
});
