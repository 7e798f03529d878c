import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort, startEmbeddedPostgres } from '../local/postgres.ts';
import { type LocalSqs, startLocalSqs } from '../local/sqs.ts';
import type { OutboxEntry, Publisher } from '../src/queue/publisher.ts';
import { startRelay } from '../src/relay/relay.ts';
import { REPUBLISH_LOST } from '../src/store/outbox.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { insertInstallStates, installStateCounts } from './support/install-states.ts';
import { type RelayProcess, spawnRelay } from './support/relay-process.ts';

const quiet = { info() {}, warn() {}, error() {} };

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

const insertCodes = async (n: number) =>
  (
    await db.pool.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code)
       select 'relaymall', 'code-' || g from generate_series(1, $1) g returning id::text`,
      [n],
    )
  ).rows.map((row) => row.id as string);

function recordingPublisher(options: { failFirst?: number; delayMs?: number } = {}) {
  const sent: OutboxEntry[] = [];
  let calls = 0;
  const publish: Publisher = async (entries) => {
    calls += 1;
    if (calls <= (options.failFirst ?? 0)) throw new Error('SQS unavailable (simulated)');
    // SQS's own latency, simulated: it is what lets two relays' drains overlap.
    if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    sent.push(...entries);
    return { published: entries.map((e) => e.id), failed: [] };
  };
  return { publish, sent };
}

/** The ids among `ids` not published to `sent` yet. */
const unpublished = (ids: string[], sent: OutboxEntry[]) => {
  const published = new Set(sent.map((entry) => entry.id));
  return ids.filter((id) => !published.has(id));
};

/** A relay on the test database that only NOTIFY and (re)connects wake. */
const relayPublishingTo = (publish: Publisher) =>
  startRelay({
    pool: db.pool,
    connection: { connectionString: db.url },
    publish,
    codeLifetimeMs: 60_000,
    log: quiet,
    sweepIntervalMs: 60_000,
  });

describe('relay', () => {
  it('two relays at once publish every code, none twice', async () => {
    const sink = recordingPublisher({ delayMs: 2 });
    const relays = [1, 2].map(() => relayPublishingTo(sink.publish));
    try {
      const ids: string[] = [];
      for (let burst = 0; burst < 6; burst++) ids.push(...(await insertCodes(50)));
      await expect.poll(() => unpublished(ids, sink.sent), { timeout: 15_000 }).toEqual([]);
      const counts = new Map<string, number>();
      for (const entry of sink.sent) counts.set(entry.id, (counts.get(entry.id) ?? 0) + 1);
      expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
    } finally {
      await Promise.all(relays.map((relay) => relay.stop()));
    }
  });

  it('removes from the outbox only what SQS accepted: refused codes stay, as they were, for the next drain', async () => {
    await db.pool.query('delete from cafe24.exchange_outbox');
    const ids = await insertCodes(12);
    const refused = new Set(ids.filter((_, index) => index % 3 === 0));
    const before = await db.pool.query(
      'select code_id::text as id, created_at from cafe24.exchange_outbox where code_id = any($1::bigint[]) order by 1',
      [[...refused]],
    );
    const { drainOutbox } = await import('../src/relay/outbox.ts');
    const result = await drainOutbox(
      db.pool,
      async (entries) => ({
        published: entries.filter((e) => !refused.has(e.id)).map((e) => e.id),
        failed: entries
          .filter((e) => refused.has(e.id))
          .map((e) => ({ id: e.id, reason: 'refused (simulated)' })),
      }),
      (id) => id,
    );
    expect(result).toMatchObject({ published: 8, failed: 4 });
    expect(result.lagsMs).toHaveLength(8);
    const after = await db.pool.query(
      'select code_id::text as id, created_at from cafe24.exchange_outbox order by 1',
    );
    expect(after.rows).toEqual(before.rows);
  });

  it('backs off and retries while SQS fails, losing nothing', async () => {
    const sink = recordingPublisher({ failFirst: 3 });
    const relay = relayPublishingTo(sink.publish);
    try {
      const ids = await insertCodes(15);
      // Published once SQS recovers.
      await expect.poll(() => unpublished(ids, sink.sent), { timeout: 15_000 }).toEqual([]);
      expect(relay.stats.errors).toBeGreaterThanOrEqual(1);
      const { rows } = await db.pool.query(
        'select count(*) from cafe24.exchange_outbox where code_id = any($1::bigint[])',
        [ids],
      );
      expect(Number(rows[0].count)).toBe(0);
    } finally {
      await relay.stop();
    }
  });
});

describe('the relay sweep', () => {
  it('deletes expired install states on its timer, not on a NOTIFY', async () => {
    await db.pool.query('truncate cafe24.install_states');
    await insertInstallStates(db.pool, { expired: 3, live: 2 });
    // Woken by NOTIFY only (the sweep is a minute away): codes are published, states stay.
    const sink = recordingPublisher();
    const notified = relayPublishingTo(sink.publish);
    try {
      const ids = await insertCodes(3);
      await expect.poll(() => unpublished(ids, sink.sent), { timeout: 10_000 }).toEqual([]);
      expect(await installStateCounts(db.pool)).toEqual({ expired: 3, live: 2 });
    } finally {
      await notified.stop();
    }

    const swept = startRelay({
      pool: db.pool,
      connection: { connectionString: db.url },
      publish: sink.publish,
      codeLifetimeMs: 60_000,
      log: quiet,
      sweepIntervalMs: 100,
    });
    try {
      await expect
        .poll(() => installStateCounts(db.pool), { timeout: 10_000 })
        .toEqual({ expired: 0, live: 2 });
    } finally {
      await swept.stop();
    }
  });
});

describe('republishing lost messages', () => {
  type PlanNode = {
    'Node Type': string;
    'Relation Name'?: string;
    'Index Name'?: string;
    Plans?: PlanNode[];
  };
  const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];

  it('reads the open codes through their index among 100,000 codes, never every code', async () => {
    const big = await createTestDatabase();
    try {
      // A month of finished codes, and the last minute's 100 pending ones, a third still in the outbox.
      // Without the INSERT trigger (replica role): 100,000 outbox rows and NOTIFYs would only cost time.
      await big.pool.query(`
        set session_replication_role = replica;
        insert into cafe24.oauth_authorization_codes (mall_id, code, status, created_at, updated_at)
        select 'bulk' || (n % 5000), 'code-' || n,
               case when n > 99900 then 'pending' when n % 50 = 0 then 'expired' else 'exchanged' end, at, at
          from generate_series(1, 100000) n,
               lateral (select case when n > 99900 then now() - (n - 99900) * interval '500 milliseconds'
                                    else now() - interval '30 days' + n * interval '25 seconds' end as at) t;
        reset session_replication_role;
        insert into cafe24.exchange_outbox (code_id) select id from cafe24.oauth_authorization_codes
         where status = 'pending' and id % 3 = 0;
        analyze cafe24.oauth_authorization_codes;
        analyze cafe24.exchange_outbox;`);
      const { rows } = await big.pool.query(
        `explain (format json) ${REPUBLISH_LOST}`,
        [57_000, 10_000, 1_000],
      );
      const plan = nodes(rows[0]['QUERY PLAN'][0].Plan);
      expect(plan.map((node) => node['Index Name'])).toContain('ix_oauth_authorization_codes_open');
      expect(
        plan.filter(
          (node) => node['Node Type'] === 'Seq Scan' && node['Relation Name'] === 'oauth_authorization_codes',
        ),
      ).toEqual([]);
    } finally {
      await big.drop();
    }
  });
});

describe('cafe24-tokens relay (the process)', () => {
  let sqs: LocalSqs;
  beforeAll(async () => {
    sqs = await startLocalSqs();
  });
  afterAll(() => sqs.stop());

  /** The relay process, on this file's SQS emulator. */
  const relayProcess = (env: Record<string, string>) =>
    spawnRelay({
      SQS_QUEUE_URL: sqs.queueUrl,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      AWS_REGION: sqs.region,
      ...env,
    });

  /** Waits for `text` in the relay's output, showing the output's tail if it never comes. */
  const untilLogged = (relay: RelayProcess, text: string) =>
    vi.waitFor(
      () => {
        if (!relay.output().includes(text))
          throw new Error(`no ${text} in the relay's output:\n${relay.output().slice(-3_000)}`);
      },
      { timeout: 15_000, interval: 20 },
    );

  /** `docker stop`'s grace before it kills: the shortest a relay's host gives it to stop. */
  const STOP_GRACE_MS = 10_000;

  /**
   * SIGTERM, then its exit code, within the grace its host gives it. Its own stop is bounded (the
   * listener's close bound); a relay that hangs, as pg-listen's reconnect loop once made it, fails here.
   */
  async function exitOnSigterm(relay: RelayProcess) {
    relay.child.kill('SIGTERM');
    return vi
      .waitFor(() => relay.exited, { timeout: STOP_GRACE_MS })
      .catch((error: Error) => {
        throw new Error(`still running after SIGTERM (${error.message}):\n${relay.output().slice(-2_000)}`);
      });
  }

  it('stops on SIGTERM within its grace while reconnecting to a Postgres that went away', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-relay-proc-'));
    const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
    const relay = relayProcess({ DATABASE_URL: postgres.url() });
    try {
      await untilLogged(relay, '"listening"');
      await postgres.stop();
      await untilLogged(relay, 'reconnecting');
      expect(await exitOnSigterm(relay), relay.output().slice(-2_000)).toBe(0);
    } finally {
      relay.child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('stops on SIGTERM within its grace while it cannot reach Postgres at all', async () => {
    const relay = relayProcess({
      DATABASE_URL: `postgres://postgres:postgres@127.0.0.1:${await freePort()}/postgres`,
    });
    try {
      // Retrying its first connect.
      await untilLogged(relay, 'cannot listen yet');
      expect(await exitOnSigterm(relay), relay.output().slice(-2_000)).toBe(0);
    } finally {
      relay.child.kill('SIGKILL');
    }
  });

  it('names every missing setting and exits 2', async () => {
    const relay = relayProcess({ DATABASE_URL: '', PGHOST: '', SQS_QUEUE_URL: '' });
    expect(await relay.exited).toBe(2);
    expect(relay.output()).toContain('PGHOST is required (or set DATABASE_URL)');
    expect(relay.output()).toContain('SQS_QUEUE_URL is required');
  });
});
