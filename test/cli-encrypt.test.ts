/**
 * `cafe24-tokens encrypt`: every plaintext row sealed, in batches, resumable; a row a refresh wrote
 * meanwhile is never overwritten; afterwards no plaintext token is left in the table.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Secret } from '../src/commons/secret.ts';
import { isSealed, localDataKeys, TokenCodec } from '../src/commons/token-codec.ts';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import { resealRows, sealingCounts } from '../src/store/sealing.ts';
import { runCli } from './support/cli.ts';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

const KEY = randomBytes(32).toString('base64');
const MALLS = ['encmall1', 'encmall2', 'encmall3', 'encmall4', 'encmall5'];
let stack: ExchangeStack;

beforeAll(async () => {
  // Installed before sealing was turned on: plaintext rows.
  stack = await startExchangeStack();
  for (const mallId of MALLS) {
    const { id } = await stack.newCode(mallId);
    expect(await exchangeCode(stack.runtime.deps, id)).toMatchObject({ status: 'exchanged' });
  }
});
afterAll(() => stack?.stop());

it('seals in batches, stops when told, and finishes when run again; no plaintext token is left', async () => {
  const env = { DATABASE_URL: stack.db.url, TOKEN_ENCRYPTION_KEY: KEY };
  expect(await sealingCounts(stack.db.pool)).toEqual({ sealed: 0, plaintext: MALLS.length, local: 0 });
  expect((await runCli(['status'], { DATABASE_URL: stack.db.url })).stdout).toContain(
    'Tokens (5 malls, 5 in plaintext at rest)',
  );
  const first = await runCli(['encrypt', '--batch', '2', '--max-batches', '1'], env);
  expect(first.code).toBe(3);
  expect(first.stdout).toContain('sealed 2 row(s) of 5 in plaintext; now 2 sealed, 3 in plaintext');
  const rest = await runCli(['encrypt', '--batch', '2'], env);
  expect(rest.code).toBe(0);
  expect(rest.stdout).toContain('now 5 sealed, 0 in plaintext');
  expect((await runCli(['encrypt'], env)).stdout).toContain('sealed 0 row(s) of 0');

  const codec = new TokenCodec(localDataKeys(KEY));
  const { rows } = await stack.db.pool.query('select * from cafe24.oauth_tokens order by mall_id');
  const text = JSON.stringify(rows);
  for (const mallId of MALLS) {
    const issued = stack.sandbox.issuedTokens(mallId)!;
    expect(text).not.toContain(issued.accessToken);
    expect(text).not.toContain(issued.refreshToken);
    const row = rows.find((r) => r.mall_id === mallId)!;
    expect(isSealed(row.access_token) && isSealed(row.refresh_token)).toBe(true);
    expect((await codec.open(row.refresh_token, { mallId, column: 'refresh_token' })).reveal()).toBe(
      issued.refreshToken,
    );
  }
  for (const output of [first.stdout, first.stderr, rest.stdout, rest.stderr])
    expect(output).not.toContain(KEY);
  expect((await runCli(['status'], { DATABASE_URL: stack.db.url })).stdout).toContain(
    'Tokens (5 malls, all sealed at rest)',
  );
});

it('never overwrites a row a refresh wrote while it ran (compare-and-swap on the stored values)', async () => {
  const { id } = await stack.newCode('racedmall');
  expect(await exchangeCode(stack.runtime.deps, id)).toMatchObject({ status: 'exchanged' });
  const codec = new TokenCodec(localDataKeys(KEY));
  // A refresh stores a new pair between the read and the guarded UPDATE.
  const racing = new TokenCodec(localDataKeys(KEY));
  let raced = false;
  racing.seal = async (value: Secret, at) => {
    if (!raced) {
      raced = true;
      await stack.db.pool.query(
        `update cafe24.oauth_tokens set access_token = 'refreshed-access', refresh_token = 'refreshed-refresh' where mall_id = 'racedmall'`,
      );
    }
    return codec.seal(value, at);
  };
  const progress = await resealRows(stack.db.pool, racing, { which: 'plaintext', batch: 10 });
  expect(progress).toMatchObject({ sealed: 0, changedMeanwhile: 1 });
  const row = (await stack.tokenRow('racedmall'))!;
  expect(row.refresh_token).toBe('refreshed-refresh');
});

it('refuses to run without a key', async () => {
  const ran = await runCli(['encrypt'], { DATABASE_URL: stack.db.url });
  expect(ran.code).toBe(1);
  expect(ran.stderr).toContain('no key to seal with');
});
