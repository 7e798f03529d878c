import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalSqs, startLocalSqs } from '../local/sqs.ts';
import { loadConfig } from '../src/config.ts';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import { publishDueMalls } from '../src/domain/refresh-schedule.ts';
import { CONFIGURATION_ERROR_MESSAGE, createRefreshHandler } from '../src/handlers/refresh.ts';
import { createRefreshScheduleHandler } from '../src/handlers/refresh-schedule.ts';
import { refreshMessage } from '../src/queue/messages.ts';
import { createRefreshRuntime, type RefreshRuntime } from '../src/runtime/refresh.ts';
import {
  createRefreshScheduleRuntime,
  type RefreshScheduleRuntime,
} from '../src/runtime/refresh-schedule.ts';
import { createPool } from '../src/store/pool.ts';
import { CLAIM_DUE_FOR_QUEUE, PostgresTokenStore } from '../src/store/tokens.ts';
import { captureOutput } from './support/capture.ts';
import { runCli } from './support/cli.ts';
import { createTestDatabase } from './support/db.ts';
import { emfLines, metricValues } from './support/emf.ts';
import { lambdaContext, sqsEvent, sqsRecord } from './support/events.ts';
import { CLIENT_SECRET, type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';
import { receiveAll } from './support/sqs.ts';

const WRONG_SECRET = 'wrong-client-secret-77ab';
const BODY_MARKER = 'secret-looking-body-value-3c1f';
const logs = captureOutput();
const closers: Array<{ close(): Promise<void> }> = [];
let stack: ExchangeStack;
let sqs: LocalSqs;

beforeAll(async () => {
  stack = await startExchangeStack();
  sqs = await startLocalSqs({ queueName: 'cafe24-token-refresh', dlqName: 'cafe24-token-refresh-dlq' });
});
afterAll(async () => {
  for (const closer of closers) await closer.close();
  await sqs.stop();
  await stack.stop();
});

function refreshRuntime(env: Record<string, string> = {}): RefreshRuntime {
  const runtime = createRefreshRuntime(loadConfig('refresh', { ...stack.env, ...env }));
  closers.push(runtime);
  return runtime;
}

function scheduleRuntime(): RefreshScheduleRuntime {
  const config = loadConfig('refreshSchedule', {
    ...stack.env,
    REFRESH_QUEUE_URL: sqs.queueUrl,
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_REGION: sqs.region,
  });
  // Each publisher its own pool: two Lambda containers.
  const pool = createPool({ connectionString: stack.db.url }, { max: 2, applicationName: 'test-schedule' });
  const runtime = createRefreshScheduleRuntime(config, { pool });
  closers.push(runtime, { close: () => pool.end() });
  return runtime;
}

const refreshRecord = (mallId: string) => sqsRecord(refreshMessage(mallId));

async function install(mallId: string): Promise<void> {
  const { id } = await stack.newCode(mallId);
  expect(await exchangeCode(stack.runtime.deps, id)).toMatchObject({ status: 'exchanged' });
}

async function makeDue(mallId: string): Promise<void> {
  await stack.db.pool.query(
    `update cafe24.oauth_tokens set expires_at = now() + interval '5 minutes' where mall_id = $1`,
    [mallId],
  );
}

const refreshRequests = (mallId: string) =>
  stack.sandbox.tokenRequests({ mallId }).filter((request) => request.grantType === 'refresh_token');

const failedIds = (response: SQSBatchResponse) =>
  response.batchItemFailures.map((failure) => failure.itemIdentifier).sort();

describe('the refresh handler (SQS) on PostgreSQL 17 and the Cafe24 sandbox', () => {
  it('refreshes a due mall once for two records of it; a malformed and an exchange record fail alone', async () => {
    await install('hdue');
    await makeDue('hdue');
    await install('hfresh');
    const handler = createRefreshHandler(() => refreshRuntime());
    const records = [
      refreshRecord('hdue'),
      refreshRecord('hdue'),
      sqsRecord(`{"kind":"refresh","mallId":"${BODY_MARKER}!"}`),
      sqsRecord(JSON.stringify({ kind: 'exchange', codeId: '1' })),
      sqsRecord(`not json ${BODY_MARKER}`),
      refreshRecord('hfresh'),
      refreshRecord('nosuchmall'),
    ];
    const response = await handler(sqsEvent(...records), lambdaContext('cafe24-token-refresh', 60_000));
    expect(failedIds(response)).toEqual(
      [records[2]!.messageId, records[3]!.messageId, records[4]!.messageId].sort(),
    );
    expect(refreshRequests('hdue')).toHaveLength(1);
    expect(refreshRequests('hfresh')).toHaveLength(0);
    expect(await stack.tokenRow('hdue')).toMatchObject({
      status: 'active',
      refresh_token: stack.sandbox.issuedTokens('hdue')!.refreshToken,
    });
    expect(logs.text()).toContain('an exchange message on the refresh queue (expected refresh)');
    expect(logs.text()).not.toContain(BODY_MARKER);
  });

  it('an invalid mall is done; a transient failure fails the record and keeps the mall active', async () => {
    await install('hinvalid');
    await makeDue('hinvalid');
    await install('htransient');
    await makeDue('htransient');
    const handler = createRefreshHandler(() => refreshRuntime());
    stack.sandbox.failNext({ type: 'invalid-grant' });
    const invalid = await handler(sqsEvent(refreshRecord('hinvalid')), lambdaContext('r', 60_000));
    expect(invalid.batchItemFailures).toEqual([]);
    expect(await stack.tokenRow('hinvalid')).toMatchObject({ status: 'invalid' });
    expect(logs.text()).toMatch(/"message":"mall invalid"/);

    const record = refreshRecord('htransient');
    const transient = await stack.duringFault({ type: 'status', status: 503 }, () =>
      handler(sqsEvent(record), lambdaContext('r', 60_000)),
    );
    expect(failedIds(transient)).toEqual([record.messageId]);
    expect(refreshRequests('htransient').length).toBeGreaterThanOrEqual(1);
    expect(await stack.tokenRow('htransient')).toMatchObject({ status: 'active' });
    expect(Number((await stack.tokenRow('htransient'))?.refresh_failures)).toBeGreaterThanOrEqual(1);
  });

  it('sends no request with less than one lease of the invocation left: the record fails for a retry', async () => {
    await install('hshort');
    await makeDue('hshort');
    const handler = createRefreshHandler(() => refreshRuntime());
    const record = refreshRecord('hshort');
    // The lease is CAFE24_REQUEST_TIMEOUT_MS (10 s) + 10 s; 15 s of Lambda time leave 10 s of budget.
    const response = await handler(sqsEvent(record), lambdaContext('r', 15_000));
    expect(failedIds(response)).toEqual([record.messageId]);
    expect(refreshRequests('hshort')).toHaveLength(0);
  });

  it('refused client credentials: the batch stops, every record fails, one request, an error for the alarm', async () => {
    const malls = ['hconf1', 'hconf2', 'hconf3'];
    for (const mall of malls) {
      await install(mall);
      await makeDue(mall);
    }
    const handler = createRefreshHandler(() =>
      refreshRuntime({ CAFE24_CLIENT_SECRET: WRONG_SECRET, REFRESH_CONCURRENCY: '1' }),
    );
    const records = malls.map(refreshRecord);
    const mark = logs.text().length;
    const response = await handler(sqsEvent(...records), lambdaContext('r', 60_000));
    expect(failedIds(response)).toEqual(records.map((record) => record.messageId).sort());
    expect(malls.flatMap(refreshRequests)).toHaveLength(1);
    // The alarm's metric: one configuration error, in the invocation's one EMF line.
    const metrics = emfLines(logs.text().slice(mark));
    expect(metrics).toHaveLength(1);
    expect(metricValues(metrics, 'RefreshConfigurationErrors')).toEqual([1]);
    expect(metricValues(metrics, 'MallsTurnedInvalid')).toEqual([]);
    for (const mall of malls) expect(await stack.tokenRow(mall)).toMatchObject({ status: 'active' });
    const errorLines = logs
      .text()
      .split('\n')
      .filter((line) => line.includes(CONFIGURATION_ERROR_MESSAGE));
    expect(errorLines).toHaveLength(1);
    expect(JSON.parse(errorLines[0]!)).toMatchObject({ level: 'ERROR', mallId: 'hconf1' });
  });

  it('two schedules at once publish each due mall exactly once per round; the handler refreshes them', async () => {
    const malls = Array.from({ length: 14 }, (_, index) => `sched${index}`);
    for (const mall of malls) {
      await install(mall);
      await makeDue(mall);
    }
    const due = (
      await stack.db.pool.query(
        `select mall_id from cafe24.oauth_tokens
          where status = 'active' and expires_at <= now() + interval '20 minutes'`,
      )
    ).rows.map((row) => row.mall_id as string);
    expect(due).toEqual(expect.arrayContaining(malls));

    const first = createRefreshScheduleHandler(scheduleRuntime);
    const second = createRefreshScheduleHandler(scheduleRuntime);
    const [a, b] = await Promise.all([
      first({}, lambdaContext('s1', 60_000)),
      second({}, lambdaContext('s2', 60_000)),
    ]);
    expect(a.published + b.published).toBe(due.length);
    // Within the round, a third run finds nothing to publish.
    expect(await first({}, lambdaContext('s1', 60_000))).toEqual({ published: 0, failed: 0, unusable: 0 });

    const messages = await receiveAll(sqs.client, sqs.queueUrl);
    const counts = new Map<string, number>();
    for (const message of messages) {
      const { kind, mallId } = JSON.parse(message.Body ?? '{}') as { kind: string; mallId: string };
      expect(kind).toBe('refresh');
      counts.set(mallId, (counts.get(mallId) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([...due].sort());
    for (const count of counts.values()) expect(count).toBe(1);

    const handler = createRefreshHandler(() => refreshRuntime());
    const response = await handler(
      sqsEvent(...messages.map((message) => sqsRecord(message.Body!))),
      lambdaContext('r', 60_000),
    );
    expect(response.batchItemFailures).toEqual([]);
    for (const mall of malls) expect(refreshRequests(mall)).toHaveLength(1);

    // Refreshed: no longer due, so the next round publishes none of them.
    await stack.db.pool.query('update cafe24.oauth_tokens set refresh_queued_at = null');
    await first({}, lambdaContext('s1', 60_000));
    const again = await receiveAll(sqs.client, sqs.queueUrl);
    const republished = again.map((message) => (JSON.parse(message.Body!) as { mallId: string }).mallId);
    for (const mall of malls) expect(republished).not.toContain(mall);
  });

  it('a mall whose message SQS refused is given back: the next run publishes it, not a round later', async () => {
    await install('refused1');
    await makeDue('refused1');
    const { deps } = scheduleRuntime();
    const sent: string[] = [];
    const refusing = {
      ...deps,
      publish: async (entries: Array<{ id: string; body: string }>) => ({
        published: entries.filter(({ id }) => id !== 'refused1').map(({ id }) => id),
        failed: entries.filter(({ id }) => id === 'refused1').map(({ id }) => ({ id, reason: 'Throttled' })),
      }),
    };
    expect((await publishDueMalls(refusing)).failed).toBe(1);
    const recording = {
      ...deps,
      publish: async (entries: Array<{ id: string; body: string }>) => {
        sent.push(...entries.map(({ body }) => body));
        return { published: entries.map(({ id }) => id), failed: [] };
      },
    };
    await publishDueMalls(recording);
    expect(sent).toEqual([refreshMessage('refused1')]);
    await publishDueMalls(recording);
    expect(sent).toHaveLength(1);
  });

  it('a token row whose mall_id is not a mall id is recorded invalid and skipped; every other due mall is published', async () => {
    const malls = Array.from({ length: 20 }, (_, n) => `poison${n}`);
    for (const mall of malls) {
      await install(mall);
      await makeDue(mall);
    }
    // Written by hand or by another tool, and first by expires_at: before the fix, 0 of 20 over 3 runs.
    await stack.db.pool.query(
      `insert into cafe24.oauth_tokens (mall_id, access_token, refresh_token, expires_at, refresh_token_expires_at, issued_at)
       values ('not a mall/id', 'a', 'r', now() - interval '1 hour', now() + interval '13 days', now())`,
    );
    const { deps } = scheduleRuntime();
    const sent: string[] = [];
    const recording = {
      ...deps,
      publish: async (entries: Array<{ id: string; body: string }>) => {
        sent.push(...entries.map(({ id }) => id));
        return { published: entries.map(({ id }) => id), failed: [] };
      },
    };
    const summary = await publishDueMalls(recording);
    expect(summary.unusable).toBe(1);
    expect(sent).toEqual(expect.arrayContaining(malls));
    const bad = await stack.db.pool.query(
      `select status, invalid_reason from cafe24.oauth_tokens where mall_id = 'not a mall/id'`,
    );
    expect(bad.rows[0]).toEqual({
      status: 'invalid',
      invalid_reason: expect.stringMatching(/mall_id must be a Cafe24 mall id.*correct or delete the row/),
    });
    // Out of the due index now: the next round does not meet it again.
    await stack.db.pool.query('update cafe24.oauth_tokens set refresh_queued_at = null');
    expect((await publishDueMalls(recording)).unusable).toBe(0);
  });

  it('refresh --due --queue publishes this round’s due malls once, as the schedule does', async () => {
    const malls = ['cliq1', 'cliq2'];
    for (const mall of malls) {
      await install(mall);
      await makeDue(mall);
    }
    const cli = (args: string[], env: Record<string, string>) => runCli(['refresh', ...args], env);
    const env = {
      DATABASE_URL: stack.db.url,
      REFRESH_QUEUE_URL: sqs.queueUrl,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      AWS_REGION: sqs.region,
    };
    const first = await cli(['--due', '--queue'], env);
    expect(first).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^published \d+ due malls? to the refresh queue\n$/),
    });
    const again = await cli(['--due', '--queue'], env);
    expect(again).toMatchObject({ code: 0, stdout: 'published 0 due malls to the refresh queue\n' });
    const bodies = (await receiveAll(sqs.client, sqs.queueUrl)).map((message) => message.Body);
    for (const mall of malls) expect(bodies.filter((body) => body === refreshMessage(mall))).toHaveLength(1);

    const { REFRESH_QUEUE_URL: _, ...withoutQueue } = env;
    expect(await cli(['--due', '--queue'], withoutQueue)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('REFRESH_QUEUE_URL is required'),
    });
    expect(await cli(['--mall', 'cliq1', '--queue'], env)).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--queue publishes the --due malls'),
    });
  });

  it('claims a round from 100,000 malls (5 % due) with an index scan, not a table scan', async () => {
    const db = await createTestDatabase();
    try {
      await db.pool.query(`
        insert into cafe24.oauth_tokens (mall_id, access_token, refresh_token, expires_at, refresh_token_expires_at, issued_at)
        select 'bulk' || n, 'a' || n, 'r' || n,
               now() + case when n % 20 = 0 then interval '10 minutes' else interval '90 minutes' end,
               now() + interval '13 days', now()
          from generate_series(1, 100000) n`);
      await db.pool.query('analyze cafe24.oauth_tokens');
      const { rows } = await db.pool.query(
        `explain (format json) ${CLAIM_DUE_FOR_QUEUE}`,
        [1_200_000, 240_000, 500],
      );
      const plan = JSON.stringify(rows[0]['QUERY PLAN']);
      expect(plan).toContain('"Index Name":"ix_oauth_tokens_refresh_due"');
      expect(plan).not.toContain('"Node Type":"Seq Scan"');
      const tokens = new PostgresTokenStore(db.pool);
      // Every due mall, once; how fast is the bench's to say (the plan above is why it is fast).
      let claimed = 0;
      for (
        let batch = await tokens.claimDueForQueue({ aheadMs: 1_200_000 }, 240_000, 500);
        batch.length > 0;
      ) {
        claimed += batch.length;
        batch = await tokens.claimDueForQueue({ aheadMs: 1_200_000 }, 240_000, 500);
      }
      expect(claimed).toBe(5_000);
    } finally {
      await db.drop();
    }
  });

  it('never lets a token or a secret reach the logs', () => {
    const secrets = [...stack.sandbox.knownSecrets(), CLIENT_SECRET, WRONG_SECRET];
    expect(secrets.length).toBeGreaterThan(20);
    const text = logs.text();
    expect(text).toContain('mall refreshed');
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
