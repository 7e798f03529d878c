import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSqs, startLocalSqs } from '../local/sqs.ts';
import { unstoredPairsLines } from '../src/cli/refresh.ts';
import { loadConfig } from '../src/config.ts';
import { createExchangeHandler } from '../src/handlers/exchange.ts';
import { createTokenStash } from '../src/runtime/cafe24.ts';
import { createExchangeRuntime, type ExchangeRuntime } from '../src/runtime/exchange.ts';
import { captureOutput } from './support/capture.ts';
import { exchangeRecord, lambdaContext, sqsEvent } from './support/events.ts';
import { CLIENT_SECRET, type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';
import { tokenSet } from './support/tokens.ts';

const BUCKET = 'cafe24-token-stash-test';
const logs = captureOutput();
let emulator: LocalSqs;
let stack: ExchangeStack;
let s3: S3Client;
const containers: ExchangeRuntime[] = [];

beforeAll(async () => {
  emulator = await startLocalSqs(); // fauxqs serves S3 on the same endpoint
  s3 = new S3Client({
    endpoint: emulator.endpoint,
    region: emulator.region,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  stack = await startExchangeStack({
    TOKEN_STASH_BUCKET: BUCKET,
    AWS_ENDPOINT_URL_S3: emulator.endpoint,
    AWS_REGION: emulator.region,
  });
});
afterAll(async () => {
  for (const runtime of containers) await runtime.close();
  await stack.stop();
  s3.destroy();
  await emulator.stop();
});

/** Another Lambda container: same configuration, its own memory. */
function container() {
  const runtime = createExchangeRuntime(loadConfig('exchange', stack.env));
  runtime.deps.policy.storeRetryMs = 200;
  containers.push(runtime);
  const handler = createExchangeHandler(() => runtime);
  return async (codeId: string) =>
    (await handler(sqsEvent(exchangeRecord(codeId)), lambdaContext())) as SQSBatchResponse;
}

const stashedKeys = async () =>
  ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((o) => o.Key);

describe('the S3 token stash (rule 6 across containers)', () => {
  it('keeps tokens the database refused, and another container stores them on redelivery', async () => {
    const { id, code } = await stack.newCode('stashmall');
    // The database refuses to finish the exchange transaction while this trigger exists.
    await stack.db.pool.query(`
      create or replace function test_refuse() returns trigger language plpgsql as $$
      begin raise exception 'simulated outage'; end $$;
      create trigger test_refuse before update on cafe24.oauth_authorization_codes
        for each row when (new.status = 'exchanged') execute function test_refuse();`);
    const first = container();
    try {
      expect((await first(id)).batchItemFailures).toHaveLength(1);
      expect(await stashedKeys()).toEqual([`stash/authorization_code/${id}.json`]);
    } finally {
      await stack.db.pool.query('drop trigger test_refuse on cafe24.oauth_authorization_codes');
    }

    // The first container is gone; a fresh one gets the redelivery.
    const second = container();
    expect(await second(id)).toEqual({ batchItemFailures: [] });
    expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged', attempts: 1 });
    expect((await stack.tokenRow('stashmall'))!.access_token).toBe(
      stack.sandbox.issuedTokens('stashmall')!.accessToken,
    );
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
    expect(await stashedKeys()).toEqual([]);
  });

  it('costs nothing on the normal path: no stash object for an ordinary exchange', async () => {
    const { id } = await stack.newCode('plainmall');
    expect(await container()(id)).toEqual({ batchItemFailures: [] });
    expect(await stashedKeys()).toEqual([]);
  });

  it('keeps a refreshed pair under stash/refresh_token/<mall>, and another container takes it whole', async () => {
    const config = loadConfig('refresh', stack.env);
    const tokens = tokenSet(
      { access: 'stash-access-5b2e', refresh: 'stash-refresh-9c4d', mallId: 'stashmall' },
      { clientId: 'client', scopes: ['mall.read_order'], shopNo: '1', tokenType: 'Bearer' },
    );
    await createTokenStash(config.refresh.stashBucket, config).put({
      grant: 'refresh_token',
      key: 'stashmall',
      mallId: 'stashmall',
      tokens,
    });
    expect(await stashedKeys()).toEqual(['stash/refresh_token/stashmall.json']);
    const taken = await createTokenStash(config.refresh.stashBucket, config).take(
      'refresh_token',
      'stashmall',
    );
    expect(taken).toMatchObject({ grant: 'refresh_token', key: 'stashmall', mallId: 'stashmall' });
    const { accessToken, refreshToken, ...rest } = taken!.tokens;
    expect([accessToken.reveal(), refreshToken.reveal()]).toEqual([
      'stash-access-5b2e',
      'stash-refresh-9c4d',
    ]);
    expect(rest).toMatchObject({ expiresAt: tokens.expiresAt, scopes: ['mall.read_order'], shopNo: '1' });
    expect(await stashedKeys()).toEqual([]);
  });

  it('keeps the copy in memory when S3 fails, on put and on take', async () => {
    // S3 unreachable: nothing listens on this port.
    const config = loadConfig('refresh', { ...stack.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    const stash = createTokenStash(BUCKET, config);
    const tokens = tokenSet({
      access: 'memory-access-1f3a',
      refresh: 'memory-refresh-7d2c',
      mallId: 'memorymall',
    });
    await stash.put({ grant: 'refresh_token', key: 'memorymall', mallId: 'memorymall', tokens });
    const taken = await stash.take('refresh_token', 'memorymall');
    expect(taken?.tokens.refreshToken.reveal()).toBe('memory-refresh-7d2c');
  });

  it('tells the CLI where a refreshed pair the database refused waits: the bucket keeps it, memory loses it at exit', async () => {
    const config = loadConfig('refresh', stack.env);
    const entry = (mallId: string) => ({
      grant: 'refresh_token' as const,
      key: mallId,
      mallId,
      tokens: tokenSet({ access: `where-access-${mallId}`, refresh: `where-refresh-${mallId}`, mallId }),
    });
    const inBucket = createTokenStash(BUCKET, config);
    await inBucket.put(entry('keptmall'));
    const unreachable = createTokenStash(
      BUCKET,
      loadConfig('refresh', { ...stack.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' }),
    );
    await unreachable.put(entry('lostmall'));
    expect(await inBucket.durable('refresh_token', 'keptmall')).toBe(true);
    expect(await unreachable.durable('refresh_token', 'lostmall')).toBe(false);
    expect(await createTokenStash(undefined, config).durable('refresh_token', 'keptmall')).toBe(false);

    // Before: "set TOKEN_STASH_BUCKET so they outlive this process", with the pair already in S3.
    const [kept] = unstoredPairsLines({ kept: ['keptmall'], lost: [] }, BUCKET);
    expect(kept).toMatch(/keptmall .*kept in the stash bucket .*next refresh of each mall stores them/);
    expect(kept).not.toContain('set TOKEN_STASH_BUCKET');
    expect(unstoredPairsLines({ kept: [], lost: ['lostmall'] }, BUCKET)).toEqual([
      expect.stringMatching(/lostmall .*lost when this process exits; the stash bucket .* refused them too/),
    ]);
    expect(unstoredPairsLines({ kept: [], lost: ['m'] }, undefined)).toEqual([
      expect.stringContaining('set TOKEN_STASH_BUCKET so they outlive this process'),
    ]);

    await inBucket.take('refresh_token', 'keptmall');
    expect(await inBucket.durable('refresh_token', 'keptmall')).toBe(false);
  });

  it('never logs the stashed tokens', () => {
    for (const secret of [...stack.sandbox.knownSecrets(), CLIENT_SECRET])
      expect(logs.text()).not.toContain(secret);
  });
});
