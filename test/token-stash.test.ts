import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { createExchangeHandler } from '../src/handlers/exchange.ts';
import { createExchangeRuntime, type ExchangeRuntime } from '../src/handlers/runtime/exchange.ts';
import { type LocalSqs, startLocalSqs } from '../src/local/sqs.ts';
import { captureOutput } from './support/capture.ts';
import { exchangeRecord, lambdaContext, sqsEvent } from './support/events.ts';
import { CLIENT_SECRET, type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

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
      expect(await stashedKeys()).toEqual([`stash/${id}.json`]);
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

  it('never logs the stashed tokens', () => {
    for (const secret of [...stack.sandbox.knownSecrets(), CLIENT_SECRET])
      expect(logs.text()).not.toContain(secret);
  });
});
