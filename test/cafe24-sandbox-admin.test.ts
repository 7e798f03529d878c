/**
 * The sandbox's Admin API: the store and a product catalogue with the tokens it issued (401 for a missing,
 * unknown, expired, revoked or another mall's token, 403 for a removed app or a scope not granted), behind
 * Cafe24's per-mall leaky bucket on the sandbox's clock (40, draining 2 a second; a call while blocked
 * lengthens the block), its headers, injected faults, and a record of the calls that holds no token.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Cafe24Sandbox, startCafe24Sandbox } from '../local/cafe24-sandbox.ts';
import { basicAuth, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, sandboxRunner } from './support/sandbox.ts';

const MALL = 'adminmall';
const OTHER = 'othermall';
const START = Date.parse('2025-03-01T03:00:00.000Z');
const HOUR = 60 * 60 * 1000;
const READ = ['mall.read_store', 'mall.read_product'];
const READ_WRITE = [...READ, 'mall.write_product'];
const KST_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+09:00$/;

let clock: number;
let sandbox: Cafe24Sandbox;

const sandboxes = sandboxRunner(() => ({ now: () => clock }));
const start = async (extra?: Parameters<typeof sandboxes.start>[0]) => {
  sandbox = await sandboxes.start(extra);
  return sandbox;
};

beforeEach(async () => {
  clock = START;
  await start();
});

afterEach(async () => {
  await sandboxes.stop();
});

type Tokens = { access_token: string; refresh_token: string };

function tokenPost(mallId: string, form: Record<string, string>, path = 'token') {
  return fetch(`${sandbox.baseUrl.replace('{mall_id}', mallId)}/api/v2/oauth/${path}`, {
    method: 'POST',
    headers: { authorization: basicAuth(), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
}

/** An install at `mallId`: a code with `scopes`, exchanged. */
async function install(mallId = MALL, scopes: string[] = READ_WRITE): Promise<Tokens & { code: string }> {
  const code = sandbox.issueCode(mallId, { scopes });
  const response = await tokenPost(mallId, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
  });
  expect(response.status).toBe(200);
  return { ...((await response.json()) as Tokens), code };
}

async function refresh(mallId: string, refreshToken: string): Promise<Tokens> {
  const response = await tokenPost(mallId, { grant_type: 'refresh_token', refresh_token: refreshToken });
  expect(response.status).toBe(200);
  return (await response.json()) as Tokens;
}

type CallOptions = {
  token?: string | undefined;
  mallId?: string;
  body?: unknown;
  rawBody?: string;
  contentType?: string;
  version?: string;
  signal?: AbortSignal;
};

function admin(method: string, path: string, options: CallOptions = {}) {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.version !== undefined) headers['x-cafe24-api-version'] = options.version;
  let body: string | undefined;
  if (options.body !== undefined || options.rawBody !== undefined) {
    headers['content-type'] = options.contentType ?? 'application/json';
    body = options.rawBody ?? JSON.stringify(options.body);
  }
  const base = sandbox.baseUrl.replace('{mall_id}', options.mallId ?? MALL);
  return fetch(`${base}/api/v2/admin/${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal: options.signal ?? null,
  });
}

type Answer = { status: number; body: unknown; headers: Headers };

async function answer(response: Response | Promise<Response>): Promise<Answer> {
  const r = await response;
  const text = await r.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: r.status, body, headers: r.headers };
}

const get = (path: string, options: CallOptions = {}) => answer(admin('GET', path, options));

/** Cafe24's resource error: `message` exactly, matching a RegExp, or any string when not given. */
function cafe24Error(code: number, message?: string | RegExp) {
  const expected =
    message === undefined
      ? expect.any(String)
      : typeof message === 'string'
        ? message
        : expect.stringMatching(message);
  return { error: { code, message: expected, more_info: {} } };
}

const callLimit = (a: Answer) => a.headers.get('x-api-call-limit');

describe('resources', () => {
  it('GET store: the mall, shop 1, in Cafe24 shape', async () => {
    const { access_token } = await install();
    const store = await get('store', { token: access_token });
    expect(store.status).toBe(200);
    expect(store.headers.get('content-type')).toBe('application/json');
    expect(store.body).toEqual({
      store: expect.objectContaining({
        mall_id: MALL,
        shop_no: 1,
        shop_name: '샌드박스 상점',
        mall_url: `https://${MALL}.cafe24.com`,
        currency_code: 'KRW',
      }),
    });
  });

  it('GET products: a fixed catalogue of 25, paged by limit (default 10, at most 100) and offset', async () => {
    const { access_token: token } = await install();
    const first = await get('products', { token });
    expect(first.status).toBe(200);
    const products = (first.body as { products: Array<Record<string, unknown>> }).products;
    expect(products.map((p) => p.product_no)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const product of products) {
      expect(product).toMatchObject({
        shop_no: 1,
        product_name: expect.any(String),
        price: expect.stringMatching(/^\d+\.\d{2}$/),
        created_date: expect.stringMatching(KST_SECONDS),
      });
    }
    expect(products[0]).toMatchObject({ product_name: '블랙 기본 반팔 티셔츠', price: '15000.00' });

    const last = await get('products?limit=10&offset=20', { token });
    expect(
      (last.body as { products: Array<{ product_no: number }> }).products.map((p) => p.product_no),
    ).toEqual([21, 22, 23, 24, 25]);
    const all = await get('products?limit=100', { token });
    expect((all.body as { products: unknown[] }).products).toHaveLength(25);
    const beyond = await get('products?offset=25', { token });
    expect(beyond.body).toEqual({ products: [] });

    for (const query of ['limit=0', 'limit=101', 'limit=ten', 'offset=-1']) {
      const refused = await get(`products?${query}`, { token });
      expect(refused.status, query).toBe(422);
      expect(refused.body, query).toEqual(cafe24Error(422));
    }

    expect((await get('products/count', { token })).body).toEqual({ count: 25 });
    expect((await get('products/7', { token })).body).toEqual({
      product: expect.objectContaining({ product_no: 7, price: expect.any(String) }),
    });
  });

  it('POST, PUT and DELETE products: kept in memory per mall; an unknown one is a Cafe24 404', async () => {
    const { access_token: token } = await install();
    const { access_token: otherToken } = await install(OTHER);
    clock += 90_000;

    const created = await answer(
      admin('POST', 'products', {
        token,
        body: { shop_no: 1, request: { product_name: '새 상품', price: 15000 } },
      }),
    );
    expect(created.status).toBe(201);
    const product = (created.body as { product: Record<string, unknown> }).product;
    expect(product).toMatchObject({
      shop_no: 1,
      product_no: 26,
      product_name: '새 상품',
      price: '15000.00',
      created_date: '2025-03-01T12:01:30+09:00',
    });
    expect((await get('products/count', { token })).body).toEqual({ count: 26 });
    expect((await get('products/26', { token })).body).toEqual({ product });
    // Another mall's catalogue is its own.
    expect((await get('products/count', { token: otherToken, mallId: OTHER })).body).toEqual({ count: 25 });

    clock += 60_000;
    const updated = await answer(
      admin('PUT', 'products/26', {
        token,
        body: { request: { product_name: '바뀐 상품', price: '9900.5' } },
      }),
    );
    expect(updated.status).toBe(200);
    expect(updated.body).toEqual({
      product: {
        ...product,
        product_name: '바뀐 상품',
        price: '9900.50',
        updated_date: '2025-03-01T12:02:30+09:00',
      },
    });

    const deleted = await answer(admin('DELETE', 'products/26', { token }));
    expect(deleted).toMatchObject({ status: 200, body: { product: { product_no: 26 } } });
    expect((await get('products/count', { token })).body).toEqual({ count: 25 });
    for (const [method, path] of [
      ['GET', 'products/26'],
      ['PUT', 'products/26'],
      ['DELETE', 'products/26'],
      ['DELETE', 'products/999'],
    ] as const) {
      const body = method === 'PUT' ? { request: { price: 1 } } : undefined;
      const missing = await answer(admin(method, path, { token, body }));
      expect(missing.status, `${method} ${path}`).toBe(404);
      expect(missing.body).toEqual(cafe24Error(404, /^No product was found for product_no \d+\.$/));
    }
    // A number is never reused.
    const next = await answer(
      admin('POST', 'products', { token, body: { request: { product_name: 'x', price: 1 } } }),
    );
    expect((next.body as { product: { product_no: number } }).product.product_no).toBe(27);
  });

  it('refuses a product body that is not JSON, not {"request": …}, or misses what it needs', async () => {
    const { access_token: token } = await install();
    const cases: Array<[CallOptions, number]> = [
      [{ rawBody: '{"request":', contentType: 'application/json' }, 400],
      [{ rawBody: 'product_name=x', contentType: 'application/x-www-form-urlencoded' }, 400],
      [{ body: { product_name: 'x', price: 1 } }, 422],
      [{ body: { request: { price: 1 } } }, 422],
      [{ body: { request: { product_name: 'x' } } }, 422],
      [{ body: { request: { product_name: 'x', price: 'free' } } }, 422],
      [{ body: { request: { product_name: 'x', price: 1, display: 'yes' } } }, 422],
      [{ rawBody: JSON.stringify({ request: { product_name: 'x'.repeat(70_000), price: 1 } }) }, 413],
    ];
    for (const [options, status] of cases) {
      const refused = await answer(admin('POST', 'products', { token, ...options }));
      expect(refused.status, JSON.stringify(options).slice(0, 80)).toBe(status);
      expect(refused.body).toEqual(cafe24Error(status));
    }
    expect((await get('products/count', { token })).body).toEqual({ count: 25 });
  });

  it('answers an unknown Admin API path 404 and a wrong method 405, in Cafe24 shape', async () => {
    const { access_token: token } = await install();
    for (const path of ['orders', 'store/1', 'products/abc', 'products/0', 'products/1/variants']) {
      const missing = await get(path, { token });
      expect(missing.status, path).toBe(404);
      expect(missing.body).toEqual(cafe24Error(404, 'No such endpoint'));
    }
    const wrong = await answer(admin('DELETE', 'store', { token }));
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    expect(wrong.body).toEqual(cafe24Error(405));
  });

  it('takes X-Cafe24-Api-Version as yyyy-mm-dd and records it; another format is a 400', async () => {
    const { access_token: token } = await install();
    expect((await get('store', { token, version: '2025-06-01' })).status).toBe(200);
    expect((await get('store', { token })).status).toBe(200);
    for (const version of ['2025-6-1', '2025-13-01', '2025-02-30', 'latest']) {
      const refused = await get('store', { token, version });
      expect(refused.status, version).toBe(400);
      expect(refused.body).toEqual(cafe24Error(400, /X-Cafe24-Api-Version/));
    }
    expect(sandbox.adminRequests().map((r) => r.apiVersion)).toEqual([
      '2025-06-01',
      undefined,
      'invalid',
      'invalid',
      'invalid',
      'invalid',
    ]);
  });
});

describe('the access token', () => {
  it('is required: none, another scheme, or an unknown one is a 401 that charges no bucket', async () => {
    await install();
    for (const headers of [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer not-a-token' }]) {
      const refused = await answer(
        fetch(`${sandbox.baseUrl.replace('{mall_id}', MALL)}/api/v2/admin/store`, { headers }),
      );
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual(cafe24Error(401));
      expect(callLimit(refused)).toBeNull();
    }
    expect(sandbox.adminBucket(MALL).level).toBe(0);
  });

  it('lives 2 hours on the sandbox clock', async () => {
    const { access_token: token } = await install();
    clock += 2 * HOUR - 1;
    expect((await get('store', { token })).status).toBe(200);
    clock += 1;
    const expired = await get('store', { token });
    expect(expired.status).toBe(401);
    expect(expired.body).toEqual(cafe24Error(401, 'access_token time expired.'));
  });

  it("is the mall's own: another mall's token is a 401 there", async () => {
    const { access_token: token } = await install(OTHER);
    const refused = await get('store', { token });
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual(cafe24Error(401, 'Invalid access_token'));
    expect((await get('store', { token, mallId: OTHER })).status).toBe(200);
  });

  it('outlives a refresh until its own expiry (a refresh rotates the refresh token only)', async () => {
    const first = await install();
    clock += HOUR;
    const second = await refresh(MALL, first.refresh_token);
    expect((await get('store', { token: first.access_token })).status).toBe(200);
    expect((await get('store', { token: second.access_token })).status).toBe(200);
    clock += HOUR;
    expect((await get('store', { token: first.access_token })).status).toBe(401);
    expect((await get('store', { token: second.access_token })).status).toBe(200);
  });

  it('dies when revoked, or when its code is replayed (the grant revoked)', async () => {
    const revoked = await install();
    expect((await tokenPost(MALL, { token: revoked.access_token }, 'revoke')).status).toBe(200);
    expect((await get('store', { token: revoked.access_token })).status).toBe(401);

    const replayed = await install();
    const again = await tokenPost(MALL, {
      grant_type: 'authorization_code',
      code: replayed.code,
      redirect_uri: REDIRECT_URI,
    });
    expect(again.status).toBe(400);
    await again.arrayBuffer();
    expect((await get('store', { token: replayed.access_token })).status).toBe(401);
  });

  it('answers 403 once the shop removed the app; a new install is served again', async () => {
    const before = await install();
    const other = await install(OTHER);
    await sandbox.removeApp(MALL, 'deleted');
    const refused = await get('store', { token: before.access_token });
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual(cafe24Error(403, /not installed/));
    expect((await get('store', { token: other.access_token, mallId: OTHER })).status).toBe(200);
    const after = await install();
    expect((await get('store', { token: after.access_token })).status).toBe(200);
  });

  it('needs the scope of the resource: a 403 naming it, the call counted in the bucket', async () => {
    const { access_token: token } = await install(MALL, ['mall.read_store']);
    expect((await get('store', { token })).status).toBe(200);
    const list = await get('products', { token });
    expect(list.status).toBe(403);
    expect(list.body).toEqual(cafe24Error(403, /mall\.read_product/));
    expect(callLimit(list)).toBe('2/40');

    const { access_token: reader } = await install(MALL, READ);
    expect((await get('products/count', { token: reader })).status).toBe(200);
    for (const [method, path] of [
      ['POST', 'products'],
      ['PUT', 'products/1'],
      ['DELETE', 'products/1'],
    ] as const) {
      const refused = await answer(admin(method, path, { token: reader, body: { request: { price: 1 } } }));
      expect(refused.status, method).toBe(403);
      expect(refused.body).toEqual(cafe24Error(403, /mall\.write_product/));
    }
    const { access_token: noStore } = await install(MALL, ['mall.read_product']);
    expect((await get('store', { token: noStore })).body).toEqual(cafe24Error(403, /mall\.read_store/));
  });
});

describe("the mall's bucket", () => {
  it('admits 40 calls, then answers 429 with Remain and Retry-After', async () => {
    const { access_token: token } = await install();
    for (let i = 1; i <= 40; i += 1) {
      const admitted = await get('store', { token });
      expect(admitted.status).toBe(200);
      expect(callLimit(admitted)).toBe(`${i}/40`);
      expect(admitted.headers.get('x-cafe24-call-usage')).toBe(String(Math.ceil((i / 40) * 100)));
      expect(admitted.headers.get('x-cafe24-time-usage')).toBe('0');
      expect(admitted.headers.get('retry-after')).toBeNull();
      // Remain appears once usage reaches 100 %: the next call would be refused.
      expect(admitted.headers.get('x-cafe24-call-remain')).toBe(i === 40 ? '1' : null);
    }
    const refused = await get('products', { token });
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual(cafe24Error(429, 'Too Many Requests'));
    expect(callLimit(refused)).toBe('40/40');
    expect(refused.headers.get('x-cafe24-call-usage')).toBe('100');
    expect(refused.headers.get('x-cafe24-call-remain')).toBe('1');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(sandbox.adminRequests({ status: 429 })).toHaveLength(1);
  });

  it('drains 2 calls a second on the sandbox clock', async () => {
    const { access_token: token } = await install();
    sandbox.setAdminBucketLevel(MALL, 40);
    expect(sandbox.adminBucket(MALL)).toEqual({ level: 40, size: 40, drainPerSecond: 2, remainSeconds: 0.5 });
    clock += 500;
    expect(sandbox.adminBucket(MALL)).toMatchObject({ level: 39, remainSeconds: 0 });
    expect(callLimit(await get('store', { token }))).toBe('40/40');
    clock += 5_000;
    expect(sandbox.adminBucket(MALL).level).toBe(30);
    expect(callLimit(await get('store', { token }))).toBe('31/40');
    clock += 60_000;
    expect(sandbox.adminBucket(MALL).level).toBe(0);
    expect(callLimit(await get('store', { token }))).toBe('1/40');
  });

  it('lengthens the block for each call made while blocked (each counts as a call)', async () => {
    const { access_token: token } = await install();
    sandbox.setAdminBucketLevel(MALL, 40);
    const remains: Array<string | null> = [];
    for (let i = 0; i < 3; i += 1) {
      const refused = await get('store', { token });
      expect(refused.status).toBe(429);
      expect(callLimit(refused)).toBe('40/40');
      remains.push(refused.headers.get('x-cafe24-call-remain'));
    }
    // 41, 42, 43 calls in a bucket of 40: admitted again at 39, in 1, 1.5, 2 seconds.
    expect(remains).toEqual(['1', '2', '2']);
    expect(sandbox.adminBucket(MALL)).toMatchObject({ level: 43, remainSeconds: 2 });
    // Without the penalty the bucket would be at 38 a second later, and admit; with it, still blocked.
    clock += 1_000;
    expect((await get('store', { token })).status).toBe(429);
    clock += 1_500;
    const admitted = await get('store', { token });
    expect(admitted.status).toBe(200);
    expect(callLimit(admitted)).toBe('40/40');
  });

  it("is the mall's: another mall's calls are admitted while one is blocked", async () => {
    const { access_token: token } = await install();
    const other = await install(OTHER);
    sandbox.setAdminBucketLevel(MALL, 40);
    expect((await get('store', { token })).status).toBe(429);
    const admitted = await get('store', { token: other.access_token, mallId: OTHER });
    expect(admitted.status).toBe(200);
    expect(callLimit(admitted)).toBe('1/40');
  });

  it('takes its size and drain from the options', async () => {
    await start({ adminApi: { bucketSize: 3, drainPerSecond: 1 } });
    const { access_token: token } = await install();
    for (let i = 1; i <= 3; i += 1) expect(callLimit(await get('store', { token }))).toBe(`${i}/3`);
    const refused = await get('store', { token });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('2');
    clock += 2_000;
    expect(callLimit(await get('store', { token }))).toBe('3/3');
    await expect(start({ adminApi: { bucketSize: 0 } })).rejects.toThrow(/bucketSize/);
    await expect(start({ adminApi: { drainPerSecond: 0 } })).rejects.toThrow(/drainPerSecond/);
  });

  it('is emptied by reset(), which keeps the tokens and the catalogue', async () => {
    const { access_token: token } = await install();
    await answer(admin('DELETE', 'products/1', { token }));
    sandbox.setAdminBucketLevel(MALL, 40);
    sandbox.reset();
    expect(sandbox.adminBucket(MALL).level).toBe(0);
    expect((await get('products/count', { token })).body).toEqual({ count: 24 });
    expect(() => sandbox.setAdminBucketLevel(MALL, -1)).toThrow();
  });
});

describe('faults', () => {
  it('meet the Admin API with target admin, and leave the token endpoint alone (and the reverse)', async () => {
    const { access_token: token } = await install();
    sandbox.failNext({ type: 'status', status: 503, target: 'admin' });
    sandbox.failNext({ type: 'status', status: 500 });
    const failed = await get('store', { token });
    expect(failed.status).toBe(503);
    expect(failed.body).toEqual(cafe24Error(503));
    expect((await get('store', { token })).status).toBe(200);
    const exchange = await tokenPost(MALL, { grant_type: 'refresh_token', refresh_token: 'x' });
    expect(exchange.status).toBe(500);
    await exchange.arrayBuffer();
    expect(sandbox.adminRequests().map((r) => [r.status, r.fault])).toEqual([
      [503, 'status'],
      [200, undefined],
    ]);
  });

  it('answer HTML, a bare 429, or a 429 that says an hour', async () => {
    const { access_token: token } = await install();
    sandbox.failNext({ type: 'html', target: 'admin' });
    sandbox.failNext({ type: 'rate-limit', withoutHeaders: true, target: 'admin' });
    sandbox.failNext({ type: 'rate-limit', remainSeconds: 3600, target: 'admin' });

    const html = await get('store', { token });
    expect(html.status).toBe(502);
    expect(html.headers.get('content-type')).toBe('text/html');
    expect(String(html.body)).toMatch(/^<html>/);

    const bare = await get('store', { token });
    expect(bare.status).toBe(429);
    expect(bare.body).toEqual(cafe24Error(429, 'Too Many Requests'));
    for (const name of ['x-api-call-limit', 'x-cafe24-call-remain', 'retry-after', 'x-cafe24-call-usage']) {
      expect(bare.headers.get(name), name).toBeNull();
    }

    const hour = await get('store', { token });
    expect(hour.status).toBe(429);
    expect(hour.headers.get('x-cafe24-call-remain')).toBe('3600');
    expect(hour.headers.get('retry-after')).toBe('3600');
    // Canned: the mall's real bucket was never charged.
    expect(sandbox.adminBucket(MALL).level).toBe(0);
  });

  it('persist with setFault until cleared for the Admin API only', async () => {
    const { access_token: token, refresh_token } = await install();
    sandbox.setFault({ type: 'status', status: 500, body: 'oops', target: 'admin' });
    sandbox.setFault({ type: 'status', status: 503 });
    for (let i = 0; i < 2; i += 1) {
      const failed = await get('store', { token });
      expect(failed).toMatchObject({ status: 500, body: 'oops' });
    }
    sandbox.setFault(undefined, 'admin');
    expect((await get('store', { token })).status).toBe(200);
    const stillFailing = await tokenPost(MALL, { grant_type: 'refresh_token', refresh_token });
    expect(stillFailing.status).toBe(503);
    await stillFailing.arrayBuffer();
    sandbox.setFault({ type: 'status', status: 500, target: 'admin' });
    sandbox.setFault(undefined);
    expect((await get('store', { token })).status).toBe(200);
    expect((await refresh(MALL, refresh_token)).access_token).toEqual(expect.any(String));
  });

  it('hang: no answer, recorded with status 0', async () => {
    const { access_token: token } = await install();
    sandbox.failNext({ type: 'hang', target: 'admin' });
    await expect(get('store', { token, signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect(sandbox.adminRequests()[0]).toMatchObject({ status: 0, fault: 'hang' });
    expect(sandbox.adminBucket(MALL).level).toBe(0);
  });

  it('hang-after-processing: the product is made, the answer never comes', async () => {
    const { access_token: token } = await install();
    sandbox.failNext({ type: 'hang-after-processing', target: 'admin' });
    const body = { request: { product_name: 'lost answer', price: 1 } };
    await expect(
      answer(admin('POST', 'products', { token, body, signal: AbortSignal.timeout(300) })),
    ).rejects.toThrow();
    expect((await get('products/count', { token })).body).toEqual({ count: 26 });
    expect(sandbox.adminBucket(MALL).level).toBe(2);
  });

  it('delay and malformed-json: processed, answered late or cut off', async () => {
    const { access_token: token } = await install();
    sandbox.failNext({ type: 'delay', ms: 150, target: 'admin' });
    const started = performance.now();
    expect((await get('store', { token })).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);

    sandbox.failNext({ type: 'malformed-json', target: 'admin' });
    const cut = await get('products', { token });
    expect(cut.status).toBe(200);
    expect(typeof cut.body).toBe('string');
    expect(() => JSON.parse(cut.body as string)).toThrow();
  });

  it("refuse the token endpoint's own faults for the Admin API", () => {
    for (const type of ['invalid-grant', 'invalid-client', 'missing-fields'] as const) {
      expect(() => sandbox.failNext({ type, target: 'admin' })).toThrow(/token endpoint/);
      expect(() => sandbox.setFault({ type, target: 'admin' })).toThrow(/token endpoint/);
    }
  });
});

describe('the record of Admin API calls', () => {
  it('holds method, path, mall, status, API version and time, and never a token', async () => {
    const { access_token: token, refresh_token } = await install();
    clock += 1_000;
    await get('store', { token, version: '2025-06-01' });
    await answer(admin('POST', 'products', { token, body: { request: { product_name: 'x', price: 1 } } }));
    await get('store', { token: 'nope', mallId: OTHER });

    expect(sandbox.adminRequests()).toEqual([
      {
        at: START + 1_000,
        method: 'GET',
        path: `/${MALL}/api/v2/admin/store`,
        mallId: MALL,
        status: 200,
        fault: undefined,
        apiVersion: '2025-06-01',
      },
      {
        at: START + 1_000,
        method: 'POST',
        path: `/${MALL}/api/v2/admin/products`,
        mallId: MALL,
        status: 201,
        fault: undefined,
        apiVersion: undefined,
      },
      {
        at: START + 1_000,
        method: 'GET',
        path: `/${OTHER}/api/v2/admin/store`,
        mallId: OTHER,
        status: 401,
        fault: undefined,
        apiVersion: undefined,
      },
    ]);
    expect(sandbox.adminRequests({ mallId: OTHER })).toHaveLength(1);
    expect(sandbox.adminRequests({ method: 'post' })).toHaveLength(1);
    // Admin calls are not token requests.
    expect(sandbox.tokenRequests()).toHaveLength(1);
    const everything = JSON.stringify(sandbox.requests);
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(refresh_token);
  });
});

describe('a restart with a state file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cafe24-sandbox-admin-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps each access token's expiry and a removed app's 403", async () => {
    const stateFile = join(dir, 'sandbox.json');
    await start({ stateFile, log: () => {} });
    const kept = await install();
    const removed = await install(OTHER);
    await sandbox.removeApp(OTHER, 'deleted');
    clock += HOUR;
    await start({ stateFile, log: () => {} });
    expect((await get('store', { token: kept.access_token })).status).toBe(200);
    expect((await get('store', { token: removed.access_token, mallId: OTHER })).status).toBe(403);
    clock += HOUR;
    expect((await get('store', { token: kept.access_token })).status).toBe(401);
  });

  it('reads a file written before access tokens kept their expiry: the latest lives 2 h from its issue', async () => {
    const stateFile = join(dir, 'sandbox.json');
    await start({ stateFile, log: () => {} });
    const first = await install();
    const latest = await refresh(MALL, first.refresh_token);
    await sandboxes.stop();
    const state = JSON.parse(await readFile(stateFile, 'utf8')) as {
      accessTokens: Array<[string, { grant: number }]>;
    };
    state.accessTokens = state.accessTokens.map(([token, entry]) => [token, entry.grant as never]);
    await writeFile(stateFile, JSON.stringify(state));

    const logged: string[] = [];
    await start({ stateFile, log: (line) => logged.push(line) });
    expect(logged).toEqual([]);
    expect((await get('store', { token: latest.access_token })).status).toBe(200);
    expect((await get('store', { token: first.access_token })).status).toBe(401);
    clock += 2 * HOUR;
    expect((await get('store', { token: latest.access_token })).status).toBe(401);
  });
});

it('starts with the default bucket when given none, as npm start runs it', async () => {
  const plain = await startCafe24Sandbox({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: REDIRECT_URI,
  });
  try {
    expect(plain.adminBucket(MALL)).toEqual({ level: 0, size: 40, drainPerSecond: 2, remainSeconds: 0 });
  } finally {
    await plain.stop();
  }
});
