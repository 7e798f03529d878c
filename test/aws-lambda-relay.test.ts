import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelayHandler } from '../src/handlers/relay.ts';
import type { OutboxEntry, Publisher } from '../src/queue/publisher.ts';
import { enableAwsLambdaRelay } from '../src/store/migrate.ts';
import { captureOutput } from './support/capture.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { lambdaContext } from './support/events.ts';
import { insertInstallStates, installStateCounts } from './support/install-states.ts';

// A stand-in for RDS's aws_lambda.invoke, with the real (JSON, function-name-as-text) signature. It
// records each call; `fail` makes it raise, as an unreachable Lambda endpoint would.
const STAND_IN = `
create schema aws_lambda;
create table aws_lambda.calls (function_name text, payload json, region text, invocation_type text);
create table aws_lambda.behaviour (fail boolean not null);
insert into aws_lambda.behaviour values (false);
create function aws_lambda.invoke(
    function_name text, payload json, region text default null, invocation_type text default 'RequestResponse',
    log_type text default 'None', context json default null, qualifier varchar(128) default null,
    out status_code int, out response json, out executed_version text, out log_result text)
language plpgsql as $$
begin
  if (select fail from aws_lambda.behaviour) then
    raise exception 'Could not connect to the Lambda endpoint';
  end if;
  insert into aws_lambda.calls values (function_name, payload, region, invocation_type);
  status_code := 202;
end $$;`;

const logs = captureOutput();
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query(STAND_IN);
  await enableAwsLambdaRelay(
    { connectionString: db.url },
    { functionName: 'cafe24-relay', region: 'ap-northeast-2' },
  );
});
afterAll(() => db.drop());

const insertCodes = async (client: pg.ClientBase | pg.Pool, n: number, mall = 'rdsmall') =>
  (
    await client.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code)
       select $1, 'code-' || g from generate_series(1, $2) g returning id::text`,
      [mall, n],
    )
  ).rows.map((row) => row.id as string);

function recordingPublisher(): Publisher & { sent: OutboxEntry[] } {
  const sent: OutboxEntry[] = [];
  const publish = (async (entries: OutboxEntry[]) => {
    sent.push(...entries);
    return { published: entries.map((e) => e.id), failed: [] };
  }) as unknown as Publisher & { sent: OutboxEntry[] };
  publish.sent = sent;
  return publish;
}

describe('RDS path: the INSERT trigger invokes the relay Lambda through aws_lambda', () => {
  it('calls aws_lambda.invoke once per statement, asynchronously, with the newest code id', async () => {
    await db.pool.query('truncate aws_lambda.calls');
    const ids = await insertCodes(db.pool, 3);
    const { rows } = await db.pool.query('select * from aws_lambda.calls');
    expect(rows).toEqual([
      {
        function_name: 'cafe24-relay',
        payload: { source: 'rds-trigger', codeId: ids[2] },
        region: 'ap-northeast-2',
        invocation_type: 'Event',
      },
    ]);
  });

  it('never fails the INSERT when the invoke fails', async () => {
    await db.pool.query('update aws_lambda.behaviour set fail = true');
    try {
      const [id] = await insertCodes(db.pool, 1);
      const { rows } = await db.pool.query(
        'select status from cafe24.oauth_authorization_codes where id = $1',
        [id],
      );
      expect(rows[0].status).toBe('pending');
    } finally {
      await db.pool.query('update aws_lambda.behaviour set fail = false');
    }
  });

  it('the relay handler waits for a row that is not committed yet, then publishes it', async () => {
    const publish = recordingPublisher();
    // Its own sessions, named, so pg_stat_activity shows what it last asked.
    const pool = new pg.Pool({ connectionString: db.url, application_name: 'relay-trigger-wait', max: 2 });
    const handler = createRelayHandler(() => ({ pool, publish, codeLifetimeMs: 60_000 }), {
      waitForRowMs: 5_000,
    });
    try {
      await handler({}, lambdaContext('relay')); // drain what earlier tests left

      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      await client.query('begin');
      const [id] = await insertCodes(client, 1);
      // The trigger's payload, delivered while the inserting transaction is still open.
      const invocation = handler({ source: 'rds-trigger', codeId: id }, lambdaContext('relay'));
      // It has looked for the row (and could not see it) before the commit.
      await expect
        .poll(
          async () =>
            (
              await db.pool.query(
                `select query from pg_stat_activity where application_name = 'relay-trigger-wait'`,
              )
            ).rows.some((row) => /from cafe24\.oauth_authorization_codes where id = \$1/.test(row.query)),
          { timeout: 10_000 },
        )
        .toBe(true);
      await client.query('commit');
      await client.end();

      const summary = await invocation;
      expect(summary).toMatchObject({ published: 1, waitedFor: { codeId: id, seen: true } });
      expect(logs.text()).toContain('relay drained');
      expect(publish.sent.at(-1)).toEqual({ id, body: JSON.stringify({ kind: 'exchange', codeId: id }) });
    } finally {
      await pool.end();
    }
  });

  it('gives up quietly on a row that never commits, leaving nothing published', async () => {
    const publish = recordingPublisher();
    const handler = createRelayHandler(() => ({ pool: db.pool, publish, codeLifetimeMs: 60_000 }), {
      waitForRowMs: 400,
    });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('begin');
    const [id] = await insertCodes(client, 1);
    const summary = await handler({ source: 'rds-trigger', codeId: id }, lambdaContext('relay'));
    await client.query('rollback');
    await client.end();
    expect(summary.waitedFor).toEqual({ codeId: id, seen: false });
    expect(publish.sent.map((e) => e.id)).not.toContain(id);
  });

  it('the scheduled run drains everything unpublished and empties the outbox', async () => {
    const ids = await insertCodes(db.pool, 25);
    const publish = recordingPublisher();
    const handler = createRelayHandler(() => ({ pool: db.pool, publish, codeLifetimeMs: 60_000 }));
    const summary = await handler(
      { source: 'aws.events', 'detail-type': 'Scheduled Event' },
      lambdaContext('relay'),
    );
    expect(summary.published).toBeGreaterThanOrEqual(25);
    expect(publish.sent.map((e) => e.id)).toEqual(expect.arrayContaining(ids));
    const { rows } = await db.pool.query('select count(*) from cafe24.exchange_outbox');
    expect(Number(rows[0].count)).toBe(0);
  });

  it('the scheduled run deletes expired install states; a trigger run leaves them', async () => {
    const handler = createRelayHandler(
      () => ({ pool: db.pool, publish: recordingPublisher(), codeLifetimeMs: 60_000 }),
      {
        waitForRowMs: 0,
      },
    );
    await db.pool.query('truncate cafe24.install_states');
    await insertInstallStates(db.pool, { expired: 2, live: 1 });
    const triggered = await handler({ source: 'rds-trigger', codeId: '1' }, lambdaContext('relay'));
    expect(triggered.expiredStatesDeleted).toBeUndefined();
    expect(await installStateCounts(db.pool)).toEqual({ expired: 2, live: 1 });

    const scheduled = await handler({ source: 'aws.events' }, lambdaContext('relay'));
    expect(scheduled.expiredStatesDeleted).toBe(2);
    expect(await installStateCounts(db.pool)).toEqual({ expired: 0, live: 1 });
  });

  it('re-enabling is a no-op and can change the target', async () => {
    await enableAwsLambdaRelay({ connectionString: db.url }, { functionName: 'other-relay' });
    const { rows } = await db.pool.query('select function_name, region from cafe24.relay_lambda');
    expect(rows).toEqual([{ function_name: 'other-relay', region: null }]);
  });
});
