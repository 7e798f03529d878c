/**
 * Ways the pipeline's own faults could lose a code (issue 10), each drilled on PostgreSQL 17 and the
 * sandbox through the real exchange handler.
 */
import { type Message, PurgeQueueCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalSqs, startLocalSqs } from '../local/sqs.ts';
import { sqsPublisher } from '../src/aws/sqs.ts';
import { logger } from '../src/commons/logger.ts';
import { Secret } from '../src/commons/secret.ts';
import { createRelayHandler } from '../src/handlers/relay.ts';
import { exchangeMessage } from '../src/queue/messages.ts';
import type { Publisher } from '../src/queue/publisher.ts';
import { drainOutbox } from '../src/relay/outbox.ts';
import { startRelay } from '../src/relay/relay.ts';
import { publishFromOutbox } from '../src/store/outbox.ts';
import { readStatus } from '../src/store/status.ts';
import { captureOutput } from './support/capture.ts';
import { exchangeRecord, lambdaContext, sqsEvent, sqsRecord } from './support/events.ts';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  type ExchangeStack,
  startExchangeStack,
} from './support/exchange-stack.ts';
import { insertInstallStates, installStateCounts } from './support/install-states.ts';
import { anotherContainersStash } from './support/shared-stash.ts';
import { countByCodeId, receiveAll } from './support/sqs.ts';

const logs = captureOutput();
let stack: ExchangeStack;

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('a relay frozen mid-send', () => {
  it('never makes an exchange wait: the relay holds outbox rows, the exchange claims code rows', async () => {
    const { id } = await stack.newCode();
    // What a relay holds while SQS takes its batch, and keeps holding if it freezes right there.
    const frozen = publishFromOutbox(stack.db.pool, 50, async (rows) => {
      expect(rows.map((row) => row.id)).toContain(id);
      expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
      expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged' });
      throw new Error('the frozen relay never sends');
    });
    await expect(frozen).rejects.toThrow('the frozen relay never sends');
  });

  it('bounds every wait on every pool: lock, statement and idle transaction', async () => {
    const { rows } = await stack.runtime.pool.query(
      `select current_setting('lock_timeout') as lock, current_setting('statement_timeout') as statement,
              current_setting('idle_in_transaction_session_timeout') as idle`,
    );
    for (const value of Object.values(rows[0] as Record<string, string>)) expect(value).not.toBe('0');
  });
});

describe('mall ids differing in case', () => {
  it('make one token row: a mall id is stored as Cafe24 spells it, lower case', async () => {
    const upper = await stack.insertCode(stack.sandbox.issueCode('casemall'), { mallId: 'CASEMALL' });
    const lower = await stack.insertCode(stack.sandbox.issueCode('casemall'), { mallId: 'casemall' });
    expect(await stack.deliver(upper, lower)).toEqual({ batchItemFailures: [] });
    const { rows } = await stack.db.pool.query(
      `select mall_id from cafe24.oauth_tokens where lower(mall_id) = 'casemall'`,
    );
    expect(rows).toEqual([{ mall_id: 'casemall' }]);
    expect((await stack.codeRow(upper)).mall_id).toBe('casemall');
  });

  it('are lower-cased wherever one is given: configuration, manual events, the CLI', async () => {
    const manual = await stack.handler({ mallId: 'NoSuchMall' });
    expect(manual).toEqual({ status: 'nothing-pending', mallId: 'nosuchmall' });
  });
});

describe('a Cafe24 (or a proxy) that echoes the request', () => {
  it('leaves no encoding of the code, the client secret or the Basic credential in any field kept', async () => {
    // Characters that URL- and form-encoding change, so each encoding differs from the code itself.
    const code = 'Zx9/+q=w k&z~ü-echo';
    const id = await stack.insertCode(code, { mallId: 'echomall' });
    await stack.duringFault({ type: 'echo' }, async () => {
      expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
    });
    const row = await stack.codeRow(id);
    expect(row.status).toBe('failed');
    // The echoed `error` is no standard OAuth code: it is not kept at all.
    expect(row.last_error).toMatch(/^Cafe24 answered HTTP 400 \(an error code outside the OAuth standard/);
    const basic = Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64');
    const report = JSON.stringify(await readStatus(stack.db.pool));
    const kept = [String(row.last_error), report, logs.text()].join('\n');
    for (const form of [
      code,
      encodeURIComponent(code),
      new URLSearchParams({ code }).toString().slice('code='.length),
      CLIENT_SECRET,
      basic,
    ]) {
      expect(kept).not.toContain(form);
    }
  });
});

describe('a short database outage at claim time', () => {
  it('is retried in process while the code lives: exchanged in the same invocation, one request', async () => {
    const { id, code } = await stack.newCode('outagemall');
    // Every UPDATE of the codes table fails, as statements do while the database restarts or fails over;
    // each refusal is counted (a sequence survives the rollback).
    await stack.db.pool.query(`
      create sequence test_outage_refusals;
      create or replace function test_outage() returns trigger language plpgsql as $$
      begin
        perform nextval('test_outage_refusals');
        raise exception 'the database is starting up' using errcode = '57P03';
      end $$;
      create trigger test_outage before update on cafe24.oauth_authorization_codes
        for each statement execute function test_outage();`);
    const delivered = stack.deliver(id);
    // The outage ends once the claim has been refused and retried, three times at least.
    const refusals = async () =>
      Number(
        (
          await stack.db.pool.query(
            'select case when is_called then last_value else 0 end as n from test_outage_refusals',
          )
        ).rows[0].n,
      );
    await expect.poll(refusals, { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
    await stack.db.pool.query(`drop trigger test_outage on cafe24.oauth_authorization_codes;
      drop sequence test_outage_refusals`);
    expect(await delivered).toEqual({ batchItemFailures: [] });
    expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged', attempts: 1 });
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
  });
});

describe("the Lambda's own deadline", () => {
  it('bounds every wait: a hanging Cafe24 makes the invocation hand the live code back in time', async () => {
    const { id, code } = await stack.newCode('deadlinemall');
    const context = lambdaContext(undefined, 8_000);
    const response = (await stack.duringFault({ type: 'hang' }, () =>
      stack.handler(sqsEvent(exchangeRecord(id)), context),
    )) as SQSBatchResponse;
    // Returned before Lambda would have killed it (the request timeout alone is 10 s).
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(response.batchItemFailures).toHaveLength(1);
    // The code lives on, unclaimed, for the redelivery: nothing lost, one request sent.
    expect(await stack.codeRow(id)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
  });
});

describe('stranded codes', () => {
  /** SQS takes everything and delivers nothing: these codes' messages are lost. */
  const lostQueue: Publisher = async (entries) => ({ published: entries.map((e) => e.id), failed: [] });

  /** A code claimed `minutesAgo` by a worker that is gone, after `attempts` token requests. */
  const abandoned = async (minutesAgo: number, attempts: number) => {
    const id = await stack.insertCode(stack.sandbox.issueCode('strandmall'), {
      mallId: 'strandmall',
      ageMs: minutesAgo * 60_000 + 5_000,
    });
    await stack.db.pool.query(
      `update cafe24.oauth_authorization_codes
          set status = 'exchanging', attempts = $2, claimed_at = now() - $3 * interval '1 minute'
        where id = $1`,
      [id, attempts, minutesAgo],
    );
    return id;
  };

  it("are recorded by the relay Lambda's scheduled run: lost message → expired, dead worker → expired or failed", async () => {
    const lost = await stack.insertCode(stack.sandbox.issueCode('strandmall'), {
      mallId: 'strandmall',
      ageMs: 3 * 60_000,
    });
    const neverSent = await abandoned(20, 0);
    const interrupted = await abandoned(20, 1);
    // Alive, or within the grace that lets a stashed-token redelivery finish it: untouched.
    const fresh = await stack.insertCode(stack.sandbox.issueCode('strandmall'), { mallId: 'strandmall' });
    const recentClaim = await abandoned(5, 1);

    const handler = createRelayHandler(() => ({
      pool: stack.db.pool,
      publish: lostQueue,
      codeLifetimeMs: 60_000,
    }));
    const summary = await handler({ source: 'aws.events' }, lambdaContext('relay'));
    expect(summary.strandedCodes).toBeGreaterThanOrEqual(3);

    expect(await stack.codeRow(lost)).toMatchObject({
      status: 'expired',
      last_error: 'not sent: no exchange claimed it within its life; its message was lost',
      finished_at: expect.any(Date),
    });
    expect(await stack.codeRow(neverSent)).toMatchObject({
      status: 'expired',
      last_error:
        'not sent: claimed 1200 s ago by a worker that stopped before sending; the code has expired',
    });
    expect(await stack.codeRow(interrupted)).toMatchObject({
      status: 'failed',
      last_error: 'exchange interrupted 1200 s ago with no result recorded; the code cannot be sent again',
    });
    expect(await stack.codeRow(fresh)).toMatchObject({ status: 'pending', last_error: null });
    expect(await stack.codeRow(recentClaim)).toMatchObject({ status: 'exchanging', last_error: null });
    // Nothing was sent to Cafe24 for any of them.
    expect(stack.sandbox.tokenRequests().filter((r) => r.mallId === 'strandmall')).toHaveLength(0);
  });

  it('recorded interrupted while their tokens waited in the stash, are still stored by a later delivery', async () => {
    const id = await abandoned(20, 1);
    // What an exchange on another container stashed (S3) when the database refused the tokens, for longer
    // than the claim's grace: this container's memory does not hold it, so only a take() finds it.
    const durable = anotherContainersStash();
    const now = Date.now();
    await durable.put({
      grant: 'authorization_code',
      key: id,
      mallId: 'strandmall',
      tokens: {
        accessToken: new Secret('stashed-access'),
        refreshToken: new Secret('stashed-refresh'),
        expiresAt: new Date(now + 7_200_000),
        refreshTokenExpiresAt: new Date(now + 1_209_600_000),
        issuedAt: new Date(now),
        mallId: 'strandmall',
        scopes: ['mall.read_order'],
        clientId: CLIENT_ID,
        userId: 'strandmall',
        shopNo: '1',
        tokenType: 'bearer',
      },
    });
    const handler = createRelayHandler(() => ({
      pool: stack.db.pool,
      publish: lostQueue,
      codeLifetimeMs: 60_000,
    }));
    await handler({ source: 'aws.events' }, lambdaContext('relay'));
    expect(await stack.codeRow(id)).toMatchObject({ status: 'failed' });

    const own = stack.runtime.deps.stash;
    stack.runtime.deps.stash = durable;
    try {
      expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
    } finally {
      stack.runtime.deps.stash = own;
    }
    expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged' });
    expect(await stack.tokenRow('strandmall')).toMatchObject({ access_token: 'stashed-access' });
  });

  it('are worded as a redelivery that finds the dead claim words them', async () => {
    const viaDelivery = await abandoned(4, 1);
    expect(await stack.deliver(viaDelivery)).toEqual({ batchItemFailures: [] });
    const viaSweep = await abandoned(20, 1);
    const relay = startRelay({
      pool: stack.db.pool,
      connection: { connectionString: stack.db.url },
      publish: lostQueue,
      codeLifetimeMs: 60_000,
      log: logger,
      sweepIntervalMs: 100,
    });
    try {
      await expect
        .poll(async () => (await stack.codeRow(viaSweep)).status, { timeout: 10_000 })
        .not.toBe('exchanging');
    } finally {
      await relay.stop();
    }
    const worded = async (id: string) => {
      const row = await stack.codeRow(id);
      return { status: row.status, reason: String(row.last_error).replace(/\d+ s ago/, 'N s ago') };
    };
    expect(await worded(viaSweep)).toEqual(await worded(viaDelivery));
    expect((await stack.codeRow(viaSweep)).status).toBe('failed');
  });
});

describe('a message lost after its outbox row is gone (issue 15.7)', () => {
  let sqs: LocalSqs;
  let publish: Publisher;
  beforeAll(async () => {
    sqs = await startLocalSqs();
    publish = sqsPublisher(sqs.client, sqs.queueUrl);
  });
  afterAll(() => sqs?.stop());

  /** A pending code `ageMs` old that nothing has touched since it was stored; its outbox row is there. */
  const agedCode = async (ageMs: number) => {
    const code = stack.sandbox.issueCode('lostmall');
    const id = await stack.insertCode(code, { mallId: 'lostmall', ageMs });
    await stack.db.pool.query(
      'update cafe24.oauth_authorization_codes set updated_at = created_at where id = $1',
      [id],
    );
    return { id, code };
  };

  /** The relay publishes every outbox row, then the queue loses the messages (a purge, an emulator killed). */
  const publishAndLose = async () => {
    await drainOutbox(stack.db.pool, publish, exchangeMessage);
    await sqs.client.send(new PurgeQueueCommand({ QueueUrl: sqs.queueUrl }));
  };

  const messagesFor = (messages: Message[], codes: Record<string, { id: string }>) => {
    const perCode = countByCodeId(messages);
    return Object.fromEntries(Object.entries(codes).map(([name, { id }]) => [name, perCode.get(id) ?? 0]));
  };

  it("is published again by the relay Lambda's scheduled run, and only a live, unclaimed code is", async () => {
    const lost = await agedCode(15_000);
    const exchanging = await agedCode(15_000);
    await stack.db.pool.query(
      `update cafe24.oauth_authorization_codes
          set status = 'exchanging', attempts = 1, claimed_at = now() - interval '14 seconds'
        where id = $1`,
      [exchanging.id],
    );
    // Past its minute, yet short of the grace after which the sweep records it expired.
    const pastLife = await agedCode(61_000);
    // Within the exchange's margin of its end: the exchange would not send it.
    const nearlyOver = await agedCode(58_000);
    // Published a moment ago: its message is on its way.
    const justPublished = await agedCode(500);
    // Handed back by an exchange a moment ago (deadline, transient answer): its message comes back.
    const handedBack = await agedCode(15_000);
    await stack.db.pool.query(
      `update cafe24.oauth_authorization_codes set updated_at = now() - interval '1 second' where id = $1`,
      [handedBack.id],
    );
    await publishAndLose();
    // Still in the outbox (no relay ran since), old or new: the drain publishes each once.
    const unpublished = await agedCode(15_000);
    const fresh = await agedCode(0);

    const handler = createRelayHandler(() => ({
      pool: stack.db.pool,
      publish,
      codeLifetimeMs: 60_000,
      codeExpiryMarginMs: 3_000,
    }));
    const summary = await handler({ source: 'aws.events' }, lambdaContext('relay'));

    const messages = await receiveAll(sqs.client, sqs.queueUrl);
    expect(
      messagesFor(messages, {
        lost,
        exchanging,
        pastLife,
        nearlyOver,
        justPublished,
        handedBack,
        unpublished,
        fresh,
      }),
    ).toEqual({
      lost: 1,
      exchanging: 0,
      pastLife: 0,
      nearlyOver: 0,
      justPublished: 0,
      handedBack: 0,
      unpublished: 1,
      fresh: 1,
    });
    expect(summary.republishedCodes).toBeGreaterThanOrEqual(1);
    expect(await stack.codeRow(exchanging.id)).toMatchObject({ status: 'exchanging', last_error: null });
    expect(await stack.codeRow(pastLife.id)).toMatchObject({ status: 'pending', last_error: null });

    // The message that arrived is an ordinary one: the exchange takes the code, one token request.
    const republished = messages.find((message) => countByCodeId([message]).has(lost.id));
    const response = await stack.handler(sqsEvent(sqsRecord(String(republished?.Body))), lambdaContext());
    expect(response).toEqual({ batchItemFailures: [] });
    expect(await stack.codeRow(lost.id)).toMatchObject({ status: 'exchanged' });
    expect(stack.sandbox.tokenRequests({ code: lost.code })).toHaveLength(1);
    // A count is logged, never a code.
    expect(logs.text()).toContain('lost messages published again');
    expect(logs.text()).not.toContain(lost.code);
  });

  it("is published again by the long-running relay's sweep timer", async () => {
    const lost = await agedCode(15_000);
    await publishAndLose();
    const relay = startRelay({
      pool: stack.db.pool,
      connection: { connectionString: stack.db.url },
      publish,
      codeLifetimeMs: 60_000,
      log: logger,
      sweepIntervalMs: 100,
    });
    const messages: Message[] = [];
    try {
      await vi.waitFor(
        async () => {
          messages.push(...(await receiveAll(sqs.client, sqs.queueUrl)));
          expect(countByCodeId(messages).has(lost.id), 'the lost code published again').toBe(true);
        },
        { timeout: 10_000 },
      );
      // A sweep that starts after the republication has run (it deletes this expired state after the step
      // that republishes): it left the code alone.
      await insertInstallStates(stack.db.pool, { expired: 1, live: 0 });
      await expect
        .poll(async () => (await installStateCounts(stack.db.pool)).expired, {
          timeout: 10_000,
          message: 'a later sweep',
        })
        .toBe(0);
    } finally {
      await relay.stop();
    }
    // Once: a republished code waits its turn, like any published one, before it may go again.
    messages.push(...(await receiveAll(sqs.client, sqs.queueUrl)));
    expect(countByCodeId(messages).get(lost.id)).toBe(1);
    expect(await stack.codeRow(lost.id)).toMatchObject({ status: 'pending' });
  });
});
