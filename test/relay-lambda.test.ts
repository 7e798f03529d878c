import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe('the scheduled relay Lambda listens for the rest of its time budget', () => {
  it('publishes a code inserted mid-run within a second and returns before its budget ends', async () => {
    const publish = timedPublisher();
    const handler = createRelayHandler(() => ({
      pool: db.pool,
      codeLifetimeMs: 60_000,
      publish,
      connection: { connectionString: db.url },
    }));
    const budgetMs = 3_000;
    const started = Date.now();
    const run = handler(
      { source: 'aws.events', 'detail-type': 'Scheduled Event' },
      lambdaContext('relay', budgetMs),
    );

    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const insertedAt = Date.now();
    const { rows } = await db.pool.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code) values ('listenmall', 'c1') returning id::text`,
    );
    const id = rows[0].id as string;

    const summary = await run;
    const returnedAfter = Date.now() - started;
    expect(returnedAfter).toBeLessThan(budgetMs);
    // It listened, not just drained once: most of the budget, leaving its margin.
    expect(summary.listenedMs).toBeGreaterThan(1_500);
    const sent = publish.sent.find((entry) => entry.id === id);
    expect(sent, 'the code was published while the run listened').toBeDefined();
    expect((sent?.at ?? Number.POSITIVE_INFINITY) - insertedAt).toBeLessThan(1_000);
    expect(summary.published).toBe(1);
    const { rows: left } = await db.pool.query('select count(*)::int as n from cafe24.exchange_outbox');
    expect(left[0].n).toBe(0);

    // Its metrics: the heartbeat, one code published, and its INSERT → SQS lag (under a second).
    const lines = emfLines(output.text());
    expect(metricValues(lines, 'RelayRuns')).toEqual([1]);
    expect(metricValues(lines, 'RelayPublished')).toEqual([1]);
    const [lag] = metricValues(lines, 'RelayLag');
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(1_000);
  });

  it('listens again after its session is killed, and publishes what was inserted meanwhile', async () => {
    const publish = timedPublisher();
    const handler = createRelayHandler(() => ({
      pool: db.pool,
      codeLifetimeMs: 60_000,
      publish,
      connection: { connectionString: db.url, application_name: 'relay-lambda-listen' },
    }));
    const run = handler({ source: 'aws.events' }, lambdaContext('relay', 4_500));
    await new Promise((resolve) => setTimeout(resolve, 700));
    const { rowCount } = await db.pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where application_name = 'relay-lambda-listen' and query ilike 'listen%'`,
    );
    expect(rowCount).toBe(1);
    const { rows } = await db.pool.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code) values ('listenmall', 'c3') returning id::text`,
    );
    const id = rows[0].id as string;
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    // Published on the reconnect's catch-up, long before the 10 s sweep.
    expect(publish.sent.map((entry) => entry.id)).toContain(id);
    await run;
  });

  it('returns before its budget ends even when SQS never answers a send', async () => {
    // Its own pool: the stuck drain keeps a client checked out for good.
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const stuck = (() => new Promise(() => {})) as unknown as Publisher;
    const handler = createRelayHandler(() => ({
      pool,
      publish: stuck,
      codeLifetimeMs: 60_000,
      connection: { connectionString: db.url },
    }));
    const started = Date.now();
    const run = handler({ source: 'aws.events' }, lambdaContext('relay', 3_000));
    await new Promise((resolve) => setTimeout(resolve, 500));
    await db.pool.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code) values ('listenmall', 'stuck') returning id::text`,
    );
    await run;
    expect(Date.now() - started).toBeLessThan(3_000);
    void pool.end().catch(() => {});
    // The code stays unpublished (its claim ends with the stuck session) for the next run to publish.
    await db.pool.query(`select pg_terminate_backend(pid) from pg_stat_activity
      where datname = current_database() and state like 'idle in transaction%'`);
    await db.pool.query(`delete from cafe24.exchange_outbox`);
  });

  it('an RDS-trigger invocation still waits for its row, drains and returns at once', async () => {
    const publish = timedPublisher();
    const handler = createRelayHandler(() => ({
      pool: db.pool,
      codeLifetimeMs: 60_000,
      publish,
      connection: { connectionString: db.url },
    }));
    const { rows } = await db.pool.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code) values ('listenmall', 'c2') returning id::text`,
    );
    const id = rows[0].id as string;
    const started = Date.now();
    const summary = await handler({ source: 'rds-trigger', codeId: id }, lambdaContext('relay', 70_000));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(summary).toMatchObject({ published: 1, waitedFor: { codeId: id, seen: true } });
    expect(summary.listenedMs).toBeUndefined();
  });
});
