import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExchangeHandler, STASHED_RETRY_MS } from '../src/handlers/exchange.ts';
import { captureOutput } from './support/capture.ts';
import { exchangeRecord, lambdaContext, sqsEvent, sqsRecord } from './support/events.ts';
import { CLIENT_SECRET, type ExchangeStack, MALL, startExchangeStack } from './support/exchange-stack.ts';

const KST = '+09:00';
let stack: ExchangeStack;
const logs = captureOutput();
let mallSeq = 0;
const newMall = () => `mall${++mallSeq}`;

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(async () => {
  await stack.stop();
});

const deliver = (...codeIds: string[]) => stack.deliver(...codeIds);

describe('exchange Lambda on PostgreSQL 17 and the Cafe24 sandbox', () => {
  it('turns a code row into a token row with the seed columns and the right expiry instant', async () => {
    const mall = newMall();
    const { id, code } = await stack.newCode(mall);
    const before = Date.now();
    expect(await deliver(id)).toEqual({ batchItemFailures: [] });
    const after = Date.now();

    const token = await stack.tokenRow(mall);
    const issued = stack.sandbox.issuedTokens(mall)!;
    expect(token).toMatchObject({
      mall_id: mall,
      access_token: issued.accessToken,
      refresh_token: issued.refreshToken,
      client_id: 'test-client-id',
      user_id: expect.any(String),
      scopes: ['mall.read_order', 'mall.read_product', 'mall.read_store'],
      token_type: 'Bearer',
      status: 'active',
      shop_no: '1',
      code_id: id,
    });
    // Stored as this pass of the suite stores tokens: sealed under a KMS data key in the `sealed` project.
    const sealedPass = process.env.TEST_SEALING === 'kms';
    for (const stored of [token!.stored_access_token, token!.stored_refresh_token]) {
      expect(String(stored).startsWith('enc:v1:kms-')).toBe(sealedPass);
    }
    // Cafe24's offset-less timestamps are Korea time: the stored instants are UTC-correct.
    const issuedAt = new Date(`${issued.issuedAt}${KST}`).getTime();
    expect((token!.issued_at as Date).getTime()).toBe(issuedAt);
    expect((token!.expires_at as Date).getTime()).toBe(issuedAt + 2 * 3600_000);
    expect((token!.refresh_token_expires_at as Date).getTime()).toBe(issuedAt + 14 * 24 * 3600_000);
    // Issued during the delivery: two hours from an instant within it, not nine hours off.
    expect((token!.expires_at as Date).getTime()).toBeGreaterThanOrEqual(before + 2 * 3600_000);
    expect((token!.expires_at as Date).getTime()).toBeLessThanOrEqual(after + 2 * 3600_000);

    expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged', attempts: 1, last_error: null });
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
  });

  it('counts the first attempt with the claim and gives it back when nothing is sent (time ran out first)', async () => {
    const { id, code } = await stack.newCode(newMall());
    // 5.5 s left minus the handler's 5 s margin: under the 1 s a request needs, so the code is handed back.
    expect((await stack.deliver(id, { timeoutMs: 5_500 })).batchItemFailures).toHaveLength(1);
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(0);
    expect(await stack.codeRow(id)).toMatchObject({ status: 'pending', attempts: 0 });
    // The next delivery, with time, sends once and counts that one request.
    expect(await deliver(id)).toEqual({ batchItemFailures: [] });
    expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged', attempts: 1 });
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
  });

  it('sends one token request when the same message arrives 5 times at once', async () => {
    const { id, code } = await stack.newCode(newMall());
    const results = await Promise.all(Array.from({ length: 5 }, () => deliver(id)));
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
    expect((await stack.codeRow(id)).status).toBe('exchanged');
    // Deliveries that met the claim in progress ask to come back; when they do, they find it done.
    const retried = results.filter((result) => result.batchItemFailures.length > 0).length;
    for (let i = 0; i < retried; i++) expect(await deliver(id)).toEqual({ batchItemFailures: [] });
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
  });

  it('acknowledges a redelivery after success without a request', async () => {
    const { id, code } = await stack.newCode(newMall());
    await deliver(id);
    expect(await deliver(id)).toEqual({ batchItemFailures: [] });
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
  });

  it('records invalid_grant as failed with the reason and never retries it', async () => {
    const { id, code } = await stack.newCode(newMall());
    stack.sandbox.failNext({ type: 'invalid-grant' });
    expect(await deliver(id)).toEqual({ batchItemFailures: [] });
    expect(await deliver(id)).toEqual({ batchItemFailures: [] });
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
    const row = await stack.codeRow(id);
    expect(row.status).toBe('failed');
    expect(row.last_error).toMatch(/HTTP 400 \(invalid_grant: Code time expired\)/);
  });

  it('stores the tokens in one invocation after 503 twice then 200', async () => {
    const mall = newMall();
    const { id, code } = await stack.newCode(mall);
    stack.sandbox.failNext({ type: 'status', status: 503 }, 2);
    expect(await deliver(id)).toEqual({ batchItemFailures: [] });
    expect(stack.sandbox.tokenRequests({ code }).map((r) => r.status)).toEqual([503, 503, 200]);
    expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged', attempts: 3 });
    expect(await stack.tokenRow(mall)).toBeDefined();
  });

  it('records a code older than its lifetime as expired without sending it', async () => {
    const mall = newMall();
    const code = stack.sandbox.issueCode(mall);
    const id = await stack.insertCode(code, { mallId: mall, ageMs: 61_000 });
    expect(await deliver(id)).toEqual({ batchItemFailures: [] });
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(0);
    const row = await stack.codeRow(id);
    expect(row.status).toBe('expired');
    expect(row.last_error).toMatch(/not sent: the code was 6\d\.\d s old/);
  });

  it('never overwrites a newer token with an older one', async () => {
    const mall = newMall();
    await stack.db.pool.query(
      `insert into cafe24.oauth_tokens (mall_id, access_token, refresh_token, expires_at, issued_at)
       values ($1, 'newer-access', 'newer-refresh', now() + interval '3 hours', now() + interval '1 hour')`,
      [mall],
    );
    const { id } = await stack.newCode(mall);
    expect(await deliver(id)).toEqual({ batchItemFailures: [] });
    expect((await stack.tokenRow(mall))!.access_token).toBe('newer-access');
    const row = await stack.codeRow(id);
    expect(row.status).toBe('exchanged');
    expect(row.last_error).toMatch(/token issued later; that one was kept/);
  });

  it('fails only the malformed record of a batch', async () => {
    const [a, b] = [newMall(), newMall()];
    const first = await stack.newCode(a);
    const second = await stack.newCode(b);
    const malformed = sqsRecord('{"kind":"exchange","codeId":"12","code":"leak?"}');
    const response = (await stack.handler(
      sqsEvent(exchangeRecord(first.id), malformed, exchangeRecord(second.id)),
      lambdaContext(),
    )) as SQSBatchResponse;
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: malformed.messageId }] });
    expect(await stack.tokenRow(a)).toBeDefined();
    expect(await stack.tokenRow(b)).toBeDefined();
    expect(logs.text()).toContain('malformed message');
    expect(logs.text()).toContain(malformed.messageId);
  });

  it('stores the tokens in the end when the database fails right after Cafe24 answered', async () => {
    const mall = newMall();
    // A real database error on the token INSERT, for the next N attempts (sequences survive rollback).
    await stack.db.pool.query(`
      create sequence if not exists test_failures;
      create table if not exists test_outage (remaining int not null);
      create or replace function test_fail_token_insert() returns trigger language plpgsql as $$
      begin
        if (select remaining from test_outage) >= nextval('test_failures') then
          raise exception 'simulated outage';
        end if;
        return new;
      end $$;
      create or replace trigger test_outage before insert on cafe24.oauth_tokens
        for each row execute function test_fail_token_insert();`);
    const outage = async (failures: number) => {
      await stack.db.pool.query(`delete from test_outage; select setval('test_failures', 1, false)`);
      await stack.db.pool.query('insert into test_outage values ($1)', [failures]);
    };

    // A short outage is ridden out in-process.
    await outage(2);
    const short = await stack.newCode(mall);
    expect(await deliver(short.id)).toEqual({ batchItemFailures: [] });
    expect(await stack.codeRow(short.id)).toMatchObject({ status: 'exchanged' });

    // An outage longer than the store retries: the tokens wait in the stash, the message comes back.
    stack.runtime.deps.policy.storeRetryMs = 300;
    try {
      await outage(1_000);
      const long = await stack.newCode(mall);
      const first = await deliver(long.id);
      expect(first.batchItemFailures).toHaveLength(1);
      expect(await stack.codeRow(long.id)).toMatchObject({ status: 'exchanging' });
      expect(logs.text()).toContain('tokens issued but not stored yet');

      await outage(0);
      expect(await deliver(long.id)).toEqual({ batchItemFailures: [] });
      expect(await stack.codeRow(long.id)).toMatchObject({ status: 'exchanged' });
      expect((await stack.tokenRow(mall))!.access_token).toBe(stack.sandbox.issuedTokens(mall)!.accessToken);
      expect(stack.sandbox.tokenRequests({ code: long.code })).toHaveLength(1);
    } finally {
      stack.runtime.deps.policy.storeRetryMs = undefined;
      await stack.db.pool.query('drop trigger test_outage on cafe24.oauth_tokens');
    }
  });

  it('brings a record whose tokens wait in the stash back in seconds, not after the visibility timeout', async () => {
    const mall = newMall();
    await stack.db.pool.query(`
      create or replace function test_refuse_tokens() returns trigger language plpgsql as $$
      begin raise exception 'simulated outage'; end $$;
      create or replace trigger test_refuse_tokens before insert on cafe24.oauth_tokens
        for each row execute function test_refuse_tokens();`);
    const requeued: Array<{ receives: string; ms: number }> = [];
    const handler = createExchangeHandler(() => ({
      ...stack.runtime,
      requeue: async (record, ms) => {
        requeued.push({ receives: record.attributes.ApproximateReceiveCount, ms });
      },
    }));
    const { id } = await stack.newCode(mall);
    stack.runtime.deps.policy.storeRetryMs = 300;
    try {
      for (const receives of ['1', '2', '4']) {
        const record = sqsRecord(JSON.stringify({ kind: 'exchange', codeId: id }), {
          attributes: { ...exchangeRecord(id).attributes, ApproximateReceiveCount: receives },
        });
        const response = (await handler(sqsEvent(record), lambdaContext())) as SQSBatchResponse;
        expect(response.batchItemFailures).toHaveLength(1);
      }
    } finally {
      stack.runtime.deps.policy.storeRetryMs = undefined;
      await stack.db.pool.query('drop trigger test_refuse_tokens on cafe24.oauth_tokens');
    }
    // Soon while the outage is likely short; the fourth waits out the queue's own timeout (the DLQ's pace).
    expect(requeued).toEqual([
      { receives: '1', ms: STASHED_RETRY_MS[0] },
      { receives: '2', ms: STASHED_RETRY_MS[1] },
    ]);
    expect(STASHED_RETRY_MS[0]).toBeLessThanOrEqual(5_000);
    expect(await deliver(id)).toEqual({ batchItemFailures: [] });
    expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged' });
  });

  it('runs the manual events: {} takes the newest pending code of CAFE24_MALL_ID, {"codeId"} that code', async () => {
    const older = await stack.newCode(MALL);
    const newer = await stack.newCode(MALL);
    const result = await stack.handler({}, lambdaContext());
    expect(result).toMatchObject({ status: 'exchanged', codeId: newer.id, mallId: MALL, token: 'stored' });
    expect(JSON.stringify(result)).not.toContain(stack.sandbox.issuedTokens(MALL)!.accessToken);

    expect(await stack.handler({ codeId: Number(older.id) })).toMatchObject({
      status: 'exchanged',
      codeId: older.id,
    });
    expect(await stack.handler({})).toEqual({ status: 'nothing-pending', mallId: MALL });
    await expect(stack.handler({ codeId: 'x' } as never)).rejects.toThrow(/unrecognised event/);
  });

  it('reports an unknown code id as a failure to retry (it ends in the DLQ)', async () => {
    const response = await deliver('999999');
    expect(response.batchItemFailures).toHaveLength(1);
    expect(logs.text()).toContain('no authorization code with id 999999');
  });

  it('never lets a code, a token or the secret reach the logs', () => {
    const secrets = [...stack.sandbox.knownSecrets(), CLIENT_SECRET];
    expect(secrets.length).toBeGreaterThan(10);
    expect(logs.text().length).toBeGreaterThan(1_000);
    for (const secret of secrets) expect(logs.text()).not.toContain(secret);
  });
});
