import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startEmbeddedPostgres } from '../local/postgres.ts';
import { type LocalSqs, startLocalSqs } from '../local/sqs.ts';
import type { OutboxEntry, Publisher } from '../src/queue/publisher.ts';
import { startRelay } from '../src/relay/relay.ts';
import { REPUBLISH_LOST } from '../src/store/outbox.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { insertInstallStates, installStateCounts } from './support/install-states.ts';
import { waitFor } from './support/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
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
    if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    sent.push(...entries);
    return { published: entries.map((e) => e.id), failed: [] };
  };
  return { publish, sent };
}

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
      await waitFor(
        () => ids.every((id) => sink.sent.some((e) => e.id === id)),
        15_000,
        'every code published',
      );
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
      await waitFor(
        () => ids.every((id) => sink.sent.some((e) => e.id === id)),
        15_000,
        'publication after SQS recovers',
      );
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
      await waitFor(() => ids.every((id) => sink.sent.some((e) => e.id === id)), 10_000, 'publication');
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
      await waitFor(
        async () => (await installStateCounts(db.pool)).expired === 0,
        10_000,
        'the sweep to delete expired states',
      );
      expect(await installStateCounts(db.pool)).toEqual({ expired: 0, live: 2 });
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

  function spawnRelay(env: Record<string, string>): {
    child: ChildProcess;
    output: () => string;
    exited: Promise<number | null>;
  } {
    const child = spawn(process.execPath, ['src/cli/main.ts', 'relay'], {
      cwd: ROOT,
      env: {
        ...process.env,
        SQS_QUEUE_URL: sqs.queueUrl,
        AWS_ENDPOINT_URL_SQS: sqs.endpoint,
        AWS_REGION: sqs.region,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout?.on('data', (chunk) => (text += chunk));
    child.stderr?.on('data', (chunk) => (text += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, output: () => text, exited };
  }

  async function stopsWithin(relay: ReturnType<typeof spawnRelay>, ms: number) {
    const started = Date.now();
    relay.child.kill('SIGTERM');
    const code = await Promise.race([
      relay.exited,
      new Promise((resolve) => setTimeout(() => resolve('timeout'), ms)),
    ]);
    return { code, elapsed: Date.now() - started };
  }

  it('stops on SIGTERM within a few seconds while reconnecting to a Postgres that went away', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-relay-proc-'));
    const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
    const relay = spawnRelay({ DATABASE_URL: postgres.url() });
    try {
      await waitFor(() => relay.output().includes('"listening"'), 15_000, 'the relay to listen');
      await postgres.stop();
      await waitFor(
        () => relay.output().includes('reconnecting'),
        15_000,
        'the relay to start reconnecting',
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${relay.output().slice(-3_000)}`);
      });
      const { code, elapsed } = await stopsWithin(relay, 5_000);
      expect(code, relay.output().slice(-2_000)).toBe(0);
      expect(elapsed).toBeLessThan(5_000);
    } finally {
      relay.child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('stops on SIGTERM while it cannot reach Postgres at all', async () => {
    const relay = spawnRelay({
      DATABASE_URL: `postgres://postgres:postgres@127.0.0.1:${await freePort()}/postgres`,
    });
    try {
      await waitFor(
        () => relay.output().includes('cannot listen yet'),
        15_000,
        'the relay to retry its first connect',
      );
      const { code, elapsed } = await stopsWithin(relay, 5_000);
      expect(code, relay.output().slice(-2_000)).toBe(0);
      expect(elapsed).toBeLessThan(5_000);
    } finally {
      relay.child.kill('SIGKILL');
    }
  });

  it('names every missing setting and exits 2', async () => {
    const relay = spawnRelay({ DATABASE_URL: '', PGHOST: '', SQS_QUEUE_URL: '' });
    expect(await relay.exited).toBe(2);
    expect(relay.output()).toContain('PGHOST is required (or set DATABASE_URL)');
    expect(relay.output()).toContain('SQS_QUEUE_URL is required');
  });
});
