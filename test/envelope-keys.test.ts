/**
 * Envelope encryption with TOKEN_KMS_KEY_ID against the local KMS (the real SDK on KMS's JSON protocol)
 * and PostgreSQL 17: data keys from GenerateDataKey, wrapped in cafe24.token_data_keys, unwrapped once per
 * container; KMS down or denying fails exchange and refresh transiently with nothing sent; a warm
 * container needs no KMS at all; `rotate-key` re-seals every row and deletes the retired key.
 */

import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalKms, startLocalKms } from '../local/kms.ts';
import { startLocalSqs } from '../local/sqs.ts';
import { S3TokenStash } from '../src/aws/s3-token-stash.ts';
import { isSealed, sealedKeyId } from '../src/commons/token-codec.ts';
import { loadConfig } from '../src/config.ts';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import { refreshMall } from '../src/domain/refresh-mall.ts';
import { createExchangeRuntime } from '../src/runtime/exchange.ts';
import { createRefreshRuntime } from '../src/runtime/refresh.ts';
import { tokenCodecFor } from '../src/runtime/sealing.ts';
import { captureOutput } from './support/capture.ts';
import { runCli } from './support/cli.ts';
import { createTestDatabase } from './support/db.ts';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';
import { tokenSet } from './support/tokens.ts';

const logs = captureOutput();
/** The mall's token row as stored (stack.tokenRow opens the tokens). */
const storedRow = async (mallId: string): Promise<Record<string, unknown> | undefined> =>
  (await stack.db.pool.query('select * from cafe24.oauth_tokens where mall_id = $1', [mallId])).rows[0];
let kms: LocalKms;
let stack: ExchangeStack;

const calls = (target: string) => kms.calls.filter((call) => call.target === target).length;
const dataKeys = async () =>
  (await stack.db.pool.query('select key_id, retired_at from cafe24.token_data_keys order by created_at'))
    .rows as Array<{ key_id: string; retired_at: Date | null }>;
const tokenRows = async () =>
  (await stack.db.pool.query('select * from cafe24.oauth_tokens order by mall_id')).rows as Array<
    Record<string, string>
  >;

async function install(mallId: string, deps = stack.runtime.deps): Promise<void> {
  const { id } = await stack.newCode(mallId);
  expect(await exchangeCode(deps, id)).toMatchObject({ status: 'exchanged' });
}

/** Waits for `condition`, polling. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

beforeAll(async () => {
  kms = await startLocalKms();
  stack = await startExchangeStack({ TOKEN_KMS_KEY_ID: kms.keyArn, AWS_ENDPOINT_URL_KMS: kms.endpoint });
});
afterAll(async () => {
  await stack?.stop();
  await kms?.stop();
});

describe('envelope encryption under TOKEN_KMS_KEY_ID', () => {
  it('seals under a data key from GenerateDataKey, kept wrapped in the database; one KMS call per container', async () => {
    for (const mallId of ['kmsmall1', 'kmsmall2', 'kmsmall3']) await install(mallId);
    const keys = await dataKeys();
    expect(keys).toHaveLength(1);
    expect(keys[0]!.key_id).toMatch(/^kms-[A-Za-z0-9_-]{16}$/);
    // The runtime fetched its key at start; three exchanges later, still one call.
    expect(calls('GenerateDataKey')).toBe(1);
    expect(calls('Decrypt')).toBe(0);
    const text = JSON.stringify(await tokenRows());
    for (const row of await tokenRows()) {
      expect(sealedKeyId(row.access_token!)).toBe(keys[0]!.key_id);
      expect(sealedKeyId(row.refresh_token!)).toBe(keys[0]!.key_id);
      expect(row.access_key_id).toBe(keys[0]!.key_id);
      const issued = stack.sandbox.issuedTokens(row.mall_id!)!;
      expect(text).not.toContain(issued.accessToken);
      expect(text).not.toContain(issued.refreshToken);
    }
  });

  it('another container opens them with one Decrypt, and refreshes without asking KMS again', async () => {
    const before = kms.calls.length;
    const refresh = createRefreshRuntime(loadConfig('refresh', stack.env), { pool: stack.db.pool });
    for (const mallId of ['kmsmall1', 'kmsmall2', 'kmsmall3']) {
      expect(await refreshMall(refresh.deps, mallId, { force: true })).toMatchObject({ status: 'refreshed' });
      const row = (await storedRow(mallId))!;
      expect(isSealed(row.refresh_token as string)).toBe(true);
      expect((await refresh.tokens.read(mallId))!.refreshToken.reveal()).toBe(
        stack.sandbox.issuedTokens(mallId)!.refreshToken,
      );
    }
    expect(kms.calls.slice(before).map((call) => call.target)).toEqual(['Decrypt']);
  });

  it('two containers that find no key race for the first: one key, each opens what the other sealed', async () => {
    const db = await createTestDatabase();
    try {
      const config = loadConfig('refresh', { ...stack.env, DATABASE_URL: db.url });
      const [a, b] = [tokenCodecFor(config, db.pool), tokenCodecFor(config, db.pool)];
      const { Secret } = await import('../src/commons/secret.ts');
      const at = { mallId: 'racemall', column: 'refresh_token' } as const;
      const [fromA, fromB] = await Promise.all([
        a.seal(new Secret('token-a'), at),
        b.seal(new Secret('token-b'), at),
      ]);
      const { rows } = await db.pool.query('select key_id from cafe24.token_data_keys');
      expect(rows).toHaveLength(1);
      expect(sealedKeyId(fromA)).toBe(rows[0].key_id);
      expect(sealedKeyId(fromB)).toBe(rows[0].key_id);
      expect((await a.open(fromB, at)).reveal()).toBe('token-b');
      expect((await b.open(fromA, at)).reveal()).toBe('token-a');
    } finally {
      await db.drop();
    }
  });

  it('a warm container needs no KMS: it exchanges and refreshes while KMS denies everything', async () => {
    const refresh = createRefreshRuntime(loadConfig('refresh', stack.env), { pool: stack.db.pool });
    await refresh.tokens.read('kmsmall1');
    await refresh.tokens.ready();
    kms.deny(true);
    try {
      const before = kms.calls.length;
      await install('warmmall');
      expect(await refreshMall(refresh.deps, 'kmsmall1', { force: true })).toMatchObject({
        status: 'refreshed',
      });
      expect(kms.calls.length).toBe(before);
    } finally {
      kms.deny(false);
    }
  });

  it('KMS denying a cold container: the code is handed back unsent, the refresh is transient, start-up says why', async () => {
    kms.deny(true);
    const cold = createExchangeRuntime(loadConfig('exchange', stack.env));
    const coldRefresh = createRefreshRuntime(loadConfig('refresh', stack.env), { pool: stack.db.pool });
    try {
      await until(() => logs.text().includes('the data key to seal tokens with is not available'));
      expect(logs.text()).toMatch(/AccessDeniedException/);
      const { id } = await stack.newCode('coldmall');
      const sentBefore = stack.sandbox.tokenRequests({ mallId: 'coldmall' }).length;
      expect(await exchangeCode(cold.deps, id)).toMatchObject({
        status: 'retry',
        reason: expect.stringMatching(/could not be sealed.*AccessDeniedException.*nothing sent/),
      });
      expect(stack.sandbox.tokenRequests({ mallId: 'coldmall' })).toHaveLength(sentBefore);
      expect((await stack.codeRow(id)).status).toBe('pending');

      const refreshes = stack.sandbox.tokenRequests({ mallId: 'kmsmall1' }).length;
      const result = await refreshMall(coldRefresh.deps, 'kmsmall1', { force: true });
      expect(result).toMatchObject({ status: 'transient-failure' });
      expect(stack.sandbox.tokenRequests({ mallId: 'kmsmall1' })).toHaveLength(refreshes);
      expect((await storedRow('kmsmall1'))!.status).toBe('active');

      kms.deny(false);
      expect(await exchangeCode(cold.deps, id)).toMatchObject({ status: 'exchanged' });
      expect(await refreshMall(coldRefresh.deps, 'kmsmall1', { force: true })).toMatchObject({
        status: 'refreshed',
      });
    } finally {
      kms.deny(false);
      await cold.close();
    }
  });

  it('KMS throttling or failing is retried by the SDK within the call, unseen by the exchange', async () => {
    kms.failNext(2, 'throttle');
    const cold = createExchangeRuntime(loadConfig('exchange', stack.env));
    try {
      const { id } = await stack.newCode('throttledmall');
      expect(await exchangeCode(cold.deps, id)).toMatchObject({ status: 'exchanged' });
    } finally {
      await cold.close();
    }
  });

  it('start-up names a missing key (a first deployment, no data key yet)', async () => {
    const db = await createTestDatabase();
    const missing = createExchangeRuntime(
      loadConfig('exchange', { ...stack.env, DATABASE_URL: db.url, TOKEN_KMS_KEY_ID: 'alias/no-such-key' }),
    );
    try {
      await until(() => logs.text().includes('alias/no-such-key'));
      const line = logs
        .text()
        .split('\n')
        .find((text) => text.includes('alias/no-such-key'))!;
      expect(line).toMatch(/not available/);
      expect(line).toMatch(/NotFoundException/);
    } finally {
      await missing.close();
      await db.drop();
    }
  });
});

describe('nothing secret in the logs', () => {
  it('logs no token, no wrapped data key, no value as stored', async () => {
    const text = logs.text();
    const { rows } = await stack.db.pool.query('select wrapped from cafe24.token_data_keys');
    for (const row of rows as Array<{ wrapped: Buffer }>) {
      for (const encoding of ['base64', 'base64url', 'hex'] as const) {
        expect(text).not.toContain(row.wrapped.toString(encoding).slice(0, 40));
      }
    }
    for (const row of await tokenRows()) {
      const issued = stack.sandbox.issuedTokens(row.mall_id!)!;
      for (const value of [issued.accessToken, issued.refreshToken, row.access_token!, row.refresh_token!]) {
        expect(text).not.toContain(value);
      }
    }
  });
});

describe('cafe24-tokens rotate-key', () => {
  /** As if the grace (two minutes, for running functions to take up the new key) had passed. */
  const graceOver = () =>
    stack.db.pool.query(
      "update cafe24.token_data_keys set retired_at = retired_at - interval '10 minutes' where retired_at is not null",
    );
  const env = () => ({
    DATABASE_URL: stack.db.url,
    TOKEN_KMS_KEY_ID: kms.keyArn,
    AWS_ENDPOINT_URL_KMS: kms.endpoint,
  });

  it('re-seals every row under a new data key in batches, resumable, then deletes the retired key', async () => {
    const [old] = await dataKeys();
    const malls = (await tokenRows()).length;
    expect(malls).toBeGreaterThanOrEqual(4);
    const first = await runCli(['rotate-key', '--batch', '1', '--max-batches', '2', '--no-stash'], env());
    expect(first.code).toBe(3);
    expect(first.stdout).toMatch(
      new RegExp(`data key kms-[A-Za-z0-9_-]{16} is current; ${old!.key_id} retired`),
    );
    expect(first.stdout).toContain('sealed 2 row(s) under');
    expect(await dataKeys()).toHaveLength(2);

    // Killed meanwhile (here: stopped by --max-batches), the next run goes on: no third key.
    await graceOver();
    const rest = await runCli(['rotate-key', '--no-stash'], env());
    expect(rest.stderr).not.toMatch(/error/i);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toContain(`resuming the rotation: retired key(s) ${old!.key_id}`);
    expect(rest.stdout).toContain(`deleted retired key ${old!.key_id}`);
    const keys = await dataKeys();
    expect(keys).toHaveLength(1);
    expect(keys[0]!.retired_at).toBeNull();
    for (const row of await tokenRows()) {
      expect(row.access_key_id).toBe(keys[0]!.key_id);
      expect(row.refresh_key_id).toBe(keys[0]!.key_id);
    }
    // Every reader opens what was re-sealed.
    const refresh = createRefreshRuntime(loadConfig('refresh', stack.env), { pool: stack.db.pool });
    expect((await refresh.tokens.read('kmsmall2'))!.refreshToken.reveal()).toBe(
      stack.sandbox.issuedTokens('kmsmall2')!.refreshToken,
    );
    for (const output of [first.stdout, first.stderr, rest.stdout]) {
      for (const row of await tokenRows()) expect(output).not.toContain(row.refresh_token);
    }
  });

  it('the database holds the guarantee: no row is written under a deleted key, no key deleted under a row', async () => {
    const [current] = await dataKeys();
    const row = (await storedRow('kmsmall1'))!;
    const underDeleted = (row.refresh_token as string).replace(current!.key_id, 'kms-AAAAAAAAAAAAAAAA');
    await expect(
      stack.db.pool.query(`update cafe24.oauth_tokens set refresh_token = $1 where mall_id = 'kmsmall1'`, [
        underDeleted,
      ]),
    ).rejects.toMatchObject({ code: '23503' });
    await expect(
      stack.db.pool.query('delete from cafe24.token_data_keys where key_id = $1', [current!.key_id]),
    ).rejects.toMatchObject({ code: '23503' });
  });

  it('keeps a retired key while the grace for running functions lasts, and says to run again', async () => {
    const ran = await runCli(['rotate-key', '--no-wait', '--no-stash', '--grace-seconds', '5'], env());
    expect(ran.code).toBe(3);
    expect(ran.stdout).toMatch(
      /kept kms-[A-Za-z0-9_-]{16} \(0 row\(s\) still under it\): run rotate-key again/,
    );
    expect(await dataKeys()).toHaveLength(2);
    // The grace cannot be shortened below two minutes (5 s was asked): a second run right away keeps it.
    expect((await runCli(['rotate-key', '--no-wait', '--no-stash'], env())).code).toBe(3);
    // Without TOKEN_STASH_BUCKET (and no --no-stash), nothing is deleted: a stashed pair might need it.
    await graceOver();
    const unknown = await runCli(['rotate-key'], env());
    expect(unknown.code).toBe(3);
    expect(unknown.stdout).toContain('TOKEN_STASH_BUCKET unset');
    expect(await dataKeys()).toHaveLength(2);
    const done = await runCli(['rotate-key', '--no-stash'], env());
    expect(done.code).toBe(0);
    expect(await dataKeys()).toHaveLength(1);
  });

  it('keeps a retired key while a stashed pair is sealed under it, and deletes it once the pair is stored', async () => {
    const emulator = await startLocalSqs(); // fauxqs serves S3 on the same endpoint
    try {
      const aws = { AWS_ENDPOINT_URL_S3: emulator.endpoint, AWS_REGION: emulator.region };
      const s3 = new S3Client({
        endpoint: emulator.endpoint,
        region: emulator.region,
        forcePathStyle: true,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      await s3.send(new CreateBucketCommand({ Bucket: 'rotate-stash' }));
      s3.destroy();
      const config = loadConfig('refresh', { ...stack.env, ...aws });
      const stash = new S3TokenStash({
        bucket: 'rotate-stash',
        aws: config.aws,
        log: { info() {}, warn() {}, error() {} },
        codec: tokenCodecFor(config, stack.db.pool),
      });
      // A rotated pair the database refused, stashed under the current key.
      const tokens = tokenSet({ access: 'stashed-access', refresh: 'stashed-refresh', mallId: 'kmsmall3' });
      await stash.put({ grant: 'refresh_token', key: 'kmsmall3', mallId: 'kmsmall3', tokens });
      const env2 = { ...env(), ...aws, TOKEN_STASH_BUCKET: 'rotate-stash' };
      expect((await runCli(['rotate-key', '--no-wait'], env2)).code).toBe(3);
      await graceOver();
      const kept = await runCli(['rotate-key'], env2);
      expect(kept.code).toBe(3);
      expect(kept.stdout).toMatch(
        /kept kms-[A-Za-z0-9_-]{16} \(0 row\(s\) still under it, 2 stashed value\(s\)/,
      );
      expect(await dataKeys()).toHaveLength(2);
      // Another container (cold) takes it while KMS denies: the pair stays in the bucket, not lost.
      const cold = () =>
        new S3TokenStash({
          bucket: 'rotate-stash',
          aws: config.aws,
          log: { info() {}, warn() {}, error() {} },
          codec: tokenCodecFor(config, stack.db.pool),
        });
      kms.deny(true);
      try {
        await expect(cold().take('refresh_token', 'kmsmall3')).rejects.toThrow(/AccessDeniedException/);
      } finally {
        kms.deny(false);
      }
      // The next refresh of the mall stores it (here: taken from the stash, as it does), and opens it.
      expect((await cold().take('refresh_token', 'kmsmall3'))?.tokens.refreshToken.reveal()).toBe(
        'stashed-refresh',
      );
      const done = await runCli(['rotate-key'], env2);
      expect(done.code).toBe(0);
      expect(await dataKeys()).toHaveLength(1);
    } finally {
      await emulator.stop();
    }
  });

  it('a function that still seals under a deleted key is refused by the database, and stores under the new one', async () => {
    // The stack's exchange runtime found its key current moments ago: it keeps it for a minute.
    await install('beforerotation');
    const before = (await dataKeys())[0]!.key_id;
    expect((await runCli(['rotate-key', '--no-wait', '--no-stash'], env())).code).toBe(3);
    await graceOver();
    expect((await runCli(['rotate-key', '--no-stash'], env())).code).toBe(0);
    const [after] = await dataKeys();
    expect(after!.key_id).not.toBe(before);
    // Sealed under `before` (deleted), refused by the foreign key, sealed again under `after`: stored.
    await install('afterrotation');
    const row = (await storedRow('afterrotation'))!;
    expect(row.access_key_id).toBe(after!.key_id);
    expect(row.refresh_key_id).toBe(after!.key_id);
  });

  it('runs one at a time: a second rotate-key while one holds the lock changes nothing', async () => {
    const holder = await stack.db.pool.connect();
    try {
      await holder.query("select pg_advisory_lock(hashtext('cafe24-tokens rotate-key'))");
      const keys = await dataKeys();
      const second = await runCli(['rotate-key', '--no-stash'], env());
      expect(second.code).toBe(3);
      expect(second.stdout).toContain('another rotate-key is running');
      expect(await dataKeys()).toEqual(keys);
    } finally {
      await holder.query("select pg_advisory_unlock(hashtext('cafe24-tokens rotate-key'))");
      holder.release();
    }
  });

  it('refuses without TOKEN_KMS_KEY_ID, saying what to set', async () => {
    const ran = await runCli(['rotate-key'], { DATABASE_URL: stack.db.url });
    expect(ran.code).toBe(1);
    expect(ran.stderr).toContain('set TOKEN_KMS_KEY_ID');
  });
});
