/**
 * createCafe24Client against the Cafe24 sandbox's Admin API and its real per-mall bucket, on PostgreSQL 17:
 * calls as an app makes them, eight clients (eight pools: eight processes) on one mall staying under the
 * bucket, a removed mall, the API version header.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cafe24ApiError, Cafe24MallUnavailable, createCafe24Client } from '../src/client.ts';
import { loadConfig } from '../src/config.ts';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import { captureOutput } from './support/capture.ts';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

const logs = captureOutput();
let stack: ExchangeStack;
const pools: pg.Pool[] = [];

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
  await stack?.stop();
});

async function install(mallId: string, scopes?: string[]): Promise<void> {
  const code = stack.sandbox.issueCode(mallId, ...(scopes ? [{ scopes }] : []));
  const id = await stack.insertCode(code, { mallId });
  expect(await exchangeCode(stack.runtime.deps, id)).toMatchObject({ status: 'exchanged' });
}

function client(env: Record<string, string> = {}) {
  const pool = new pg.Pool({ connectionString: stack.db.url, max: 3 });
  pools.push(pool);
  return createCafe24Client({ pool, config: loadConfig('client', { ...stack.env, ...env }) });
}

describe('an app calling Cafe24 through the client', () => {
  it('reads the store and a page of products, creates and deletes one, with the API version it asks for', async () => {
    await install('clientmall', ['mall.read_store', 'mall.read_product', 'mall.write_product']);
    const mall = client({ CAFE24_API_VERSION: '2025-06-01' }).mall('clientmall');
    const { store } = await mall.get<{ store: { mall_id: string } }>('/api/v2/admin/store');
    expect(store.mall_id).toBe('clientmall');
    const { products } = await mall.get<{ products: unknown[] }>('/api/v2/admin/products', {
      query: { limit: 5, offset: 10 },
    });
    expect(products).toHaveLength(5);
    const { product } = await mall.post<{ product: { product_no: number } }>('/api/v2/admin/products', {
      body: { request: { product_name: '새 상품', price: '12000.00' } },
    });
    await mall.delete(`/api/v2/admin/products/${product.product_no}`);
    const missing = await mall.get(`/api/v2/admin/products/${product.product_no}`).catch((error) => error);
    expect(missing).toBeInstanceOf(Cafe24ApiError);
    expect((missing as Cafe24ApiError).status).toBe(404);
    const versions = stack.sandbox
      .adminRequests({ mallId: 'clientmall' })
      .map((request) => request.apiVersion);
    expect(new Set(versions)).toEqual(new Set(['2025-06-01']));
  });

  it('eight clients hammering one mall together get no 429: they share one bucket through PostgreSQL', async () => {
    await install('busyapimall');
    const clients = Array.from({ length: 8 }, () => client().mall('busyapimall'));
    const perClient = 6;
    const started = Date.now();
    const results = await Promise.allSettled(
      clients.flatMap((mall) =>
        Array.from({ length: perClient }, () =>
          mall.get('/api/v2/admin/products/count', { timeoutMs: 60_000 }),
        ),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    const answers = stack.sandbox.adminRequests({ mallId: 'busyapimall' });
    expect(answers).toHaveLength(8 * perClient);
    expect(answers.filter((request) => request.status === 429)).toEqual([]);
    // 48 calls: 38 at once, the rest at the drain rate (2 a second): about 5 s; never faster than allowed.
    // Each client alone would have sent all its calls at once, and Cafe24 refused the eight past 40.
    expect(seconds).toBeGreaterThan((8 * perClient - 40) / 2);
  }, 90_000);

  it('fails at once for a mall that removed the app', async () => {
    await install('goneapimall');
    await stack.db.pool.query(`delete from cafe24.oauth_tokens where mall_id = 'goneapimall'`);
    const error = await client()
      .mall('goneapimall')
      .get('/api/v2/admin/store')
      .catch((caught) => caught);
    expect(error).toBeInstanceOf(Cafe24MallUnavailable);
    expect(stack.sandbox.adminRequests({ mallId: 'goneapimall' })).toEqual([]);
  });

  it('logs no access token', async () => {
    const { rows } = await stack.db.pool.query('select access_token from cafe24.oauth_tokens');
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(logs.text()).not.toContain(row.access_token);
  });
});
