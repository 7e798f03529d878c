import type { Context } from 'aws-lambda';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createRelayHandler } from '../src/handlers/relay.ts';
import type { OutboxEntry, Publisher } from '../src/queue/publisher.ts';
import { captureOutput } from './support/capture.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { emfLines, metricValues } from './support/emf.ts';
import { lambdaContext } from './support/events.ts';

const output = captureOutput();
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

function timedPublisher(): Publisher & { sent: Array<OutboxEntry & { at: number }> } {
  const sent: Array<OutboxEntry & { at: number }> = [];
  const publish = (async (entries: OutboxEntry[]) => {
    sent.push(...entries.map((entry) => ({ ...entry, at: Date.now() })));
    return { published: entries.map((e) => e.id), failed: [] };
  }) as unknown as Publisher & { sent: Array<OutboxEntry & { at: number }> };
  publish.sent = sent;
  return publish;
}

const insertCode = async (code: string) =>
  (
    await db.pool.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code) values ('listenmall', $1) returning id::text`,
      [code],
    )
  ).rows[0].id as string;

/** Sessions of `applicationName` whose last statement was their LISTEN: a run that is listening. */
const listening = async (applicationName: string) =>
  (
    await db.pool.query(
      `select count(*)::int as n from pg_stat_activity where application_name = $1 and query ilike 'listen%'`,
      [applicationName],
    )
  ).rows[0].n as number;

/** The relay handler over the test database, publishing through `publish`; its LISTEN session named `applicationName`. */
function relayHandler(
  publish: Publisher,
  applicationName?: string,
  extra: { pool?: pg.Pool; options?: Parameters<typeof createRelayHandler>[1] } = {},
) {
  return createRelayHandler(
    () => ({
      pool: extra.pool ?? db.pool,
      codeLifetimeMs: 60_000,
      publish,
      connection: { connectionString: db.url, ...(applicationName && { application_name: applicationName }) },
    }),
    extra.options,
  );
}

/** `context`, remembering each remaining time it told the handler. */
function recording(context: Context): { context: Context; told: number[] } {
  const told: number[] = [];
  const ask = context.getRemainingTimeInMillis.bind(context);
  context.getRemainingTimeInMillis = () => {
    const ms = ask();
    told.push(ms);
    return ms;
  };
  return { context, told };
}

describe('the scheduled relay Lambda listens for the rest of its time budget', () => {
  it('publishes a code inserted mid-run on its NOTIFY and returns before its budget ends', async () => {
    const publish = timedPublisher();
    const handler = relayHandler(publish);
    // Waiting before the run: the catch-up after its LISTEN publishes it, so once it is sent the run listens.
    const earlyAt = Date.now();
    const early = await insertCode('c0');
    const { context, told } = recording(lambdaContext('relay', 3_000));
    let returned = false;
    const run = handler({ source: 'aws.events', 'detail-type': 'Scheduled Event' }, context).finally(() => {
      returned = true;
    });
    await vi.waitFor(
      () => {
        if (!returned) expect(publish.sent.map((entry) => entry.id)).toContain(early);
      },
      { timeout: 10_000 },
    );
    expect(returned, 'still listening after its catch-up').toBe(false);

    const insertedAt = Date.now();
    const id = await insertCode('c1');
    const summary = await run;
    expect(context.getRemainingTimeInMillis(), 'returned before its budget ended').toBeGreaterThan(0);
    // It listened, not just drained once: most of the time it was told it had, leaving its margin.
    const [budgetMs] = told;
    expect(summary.listenedMs).toBeGreaterThan(budgetMs! / 2);
    // Published while the run listened: the catch-up was over and the sweep (every 10 s) never came, so
    // only the code's NOTIFY can have woken the drain that sent it.
    expect(publish.sent.map((entry) => entry.id)).toEqual([early, id]);
    expect(summary.published).toBe(2);
    const { rows: left } = await db.pool.query('select count(*)::int as n from cafe24.exchange_outbox');
    expect(left[0].n).toBe(0);

    // Its metrics: the heartbeat, the codes published, and each one's INSERT → SQS lag: at most the time
    // from just before its INSERT to its publication (+1: whole milliseconds on this clock).
    const lines = emfLines(output.text());
    expect(metricValues(lines, 'RelayRuns')).toEqual([1]);
    expect(metricValues(lines, 'RelayPublished')).toEqual([1, 1]);
    const lags = metricValues(lines, 'RelayLag');
    expect(lags).toHaveLength(2);
    const [earlySent, sent] = publish.sent;
    expect(lags[0]).toBeGreaterThanOrEqual(0);
    expect(lags[0]).toBeLessThanOrEqual(earlySent!.at - earlyAt + 1);
    expect(lags[1]).toBeGreaterThanOrEqual(0);
    expect(lags[1]).toBeLessThanOrEqual(sent!.at - insertedAt + 1);
  });

  it('listens again after its session is killed, and publishes what was inserted meanwhile', async () => {
    const publish = timedPublisher();
    const handler = relayHandler(publish, 'relay-lambda-listen');
    const run = handler({ source: 'aws.events' }, lambdaContext('relay', 4_500));
    await expect.poll(() => listening('relay-lambda-listen'), { timeout: 10_000 }).toBe(1);
    const { rowCount } = await db.pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where application_name = 'relay-lambda-listen' and query ilike 'listen%'`,
    );
    expect(rowCount).toBe(1);
    const id = await insertCode('c3');
    await run;
    // Published within the run, long before the 10 s sweep: by the reconnect's catch-up (or a NOTIFY
    // once it listened again).
    expect(publish.sent.map((entry) => entry.id)).toContain(id);
  });

  it('returns before its budget ends even when SQS never answers a send', async () => {
    // Its own pool: the stuck drain keeps a client checked out for good.
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    let sends = 0;
    const stuck = (() => {
      sends += 1;
      return new Promise(() => {});
    }) as unknown as Publisher;
    const handler = relayHandler(stuck, 'relay-lambda-stuck', { pool });
    const context = lambdaContext('relay', 3_000);
    const run = handler({ source: 'aws.events' }, context);
    await expect.poll(() => listening('relay-lambda-stuck'), { timeout: 10_000 }).toBe(1);
    await insertCode('stuck');
    // A drain is now stuck on SQS, as the run comes to stop.
    await expect.poll(() => sends, { timeout: 10_000 }).toBeGreaterThan(0);
    await run;
    expect(context.getRemainingTimeInMillis(), 'returned before its budget ended').toBeGreaterThan(0);
    void pool.end().catch(() => {});
    // The code stays unpublished (its claim ends with the stuck session) for the next run to publish.
    await db.pool.query(`select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and state like 'idle in transaction%'`);
    await db.pool.query(`delete from cafe24.exchange_outbox`);
  });

  it('an RDS-trigger invocation finds its row, drains and returns at once', async () => {
    const publish = timedPublisher();
    const rowWaitMs = 10_000;
    const handler = relayHandler(publish, undefined, { options: { waitForRowMs: rowWaitMs } });
    const id = await insertCode('c2');
    const context = lambdaContext('relay', 70_000);
    const summary = await handler({ source: 'rds-trigger', codeId: id }, context);
    expect(summary).toMatchObject({ published: 1, waitedFor: { codeId: id, seen: true } });
    expect(summary.listenedMs).toBeUndefined();
    expect(publish.sent.map((entry) => entry.id)).toEqual([id]);
    // At once: it neither listened (65 s of its 70) nor spent its wait on a row it could already see.
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(70_000 - rowWaitMs);
  });
});
