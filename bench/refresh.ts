import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import pg from 'pg';
import { createSqsClient, localAws } from '../src/aws/sqs.ts';
import { Secret } from '../src/commons/secret.ts';
import { loadConfig } from '../src/config.ts';
import { refreshMall } from '../src/domain/refresh-mall.ts';
import { createTokenClient } from '../src/handlers/runtime/cafe24.ts';
import { createRefreshRuntime, type RefreshRuntime } from '../src/handlers/runtime/refresh.ts';
import { sqsPublisher } from '../src/queue/publisher.ts';
import { migrate } from '../src/store/migrate.ts';
import { PostgresTokenStore } from '../src/store/tokens.ts';
import type { BenchEnvironment } from './environment.ts';
import { median, round } from './stats.ts';

/**
 * How the refresh would run deployed: SQS batches of 10 malls, 5 invocations at once, each container with
 * its own small pool (a connection is held for the lease claim and the store, never across the Cafe24
 * request). This branch's template has no refresh function yet; these are the sizes the issue names.
 */
export const REFRESH_DEPLOYED = { maximumConcurrency: 5, batchSize: 10, poolSize: 4 } as const;
/** REFRESH_AHEAD_SECONDS's default: due when the access token expires within 20 minutes. */
const AHEAD_MS = 1_200_000;

export type RefreshBenchResult = {
  malls: number;
  due: number;
  /** One scheduler round: the store's due-malls query (src/store/tokens.ts dueMalls), ms. */
  round: {
    firstMs: number;
    medianMs: number;
    runs: number;
    found: number;
    /** SendMessageBatch of every due mall to a scratch queue (10 a call, 4 calls in flight), ms. */
    publishMs: number;
    /** find (median) + publish. */
    totalMs: number;
    /** EXPLAIN (ANALYZE, BUFFERS) of the store's statement, as PostgreSQL printed it. */
    plan: string;
    indexScan: boolean;
    seqScan: boolean;
  };
  refresh: {
    sandboxDelayMs: number;
    maximumConcurrency: number;
    batchSize: number;
    poolSize: number;
    seconds: number;
    perSecond: number;
    outcomes: Record<string, number>;
    /** Connections of the refresh pools open at once (pg_stat_activity, sampled every 20 ms), peak. */
    peakConnections: number;
    /** Of those, running a statement at once, peak. */
    peakActiveConnections: number;
    /** Cafe24 refresh requests per refreshed mall: each must be exactly 1. */
    requestsPerMall: { min: number; max: number; total: number };
  };
};

/**
 * At `malls` malls in oauth_tokens of a database of its own (`dueShare` due), one scheduler round and
 * the refresh of every due mall against the sandbox answering in `sandboxDelayMs`.
 */
export async function measureRefresh(
  env: BenchEnvironment,
  options: { malls?: number; dueShare?: number; sandboxDelayMs?: number } = {},
): Promise<RefreshBenchResult> {
  const malls = options.malls ?? 100_000;
  const due = Math.round(malls * (options.dueShare ?? 0.05));
  const sandboxDelayMs = options.sandboxDelayMs ?? 100;
  const { sandbox } = env.stack;

  await env.pool.query('drop database if exists bench_refresh');
  await env.pool.query('create database bench_refresh');
  const databaseUrl = env.databaseUrl.replace(/\/[^/?]*(\?|$)/, '/bench_refresh$1');
  await migrate({ connectionString: databaseUrl });
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 4, application_name: 'bench-refresh' });
  const runtimes: RefreshRuntime[] = [];
  try {
    // Bench-only seeding: `malls` rows, the first `due` expiring within the window (spread over it), the
    // rest later in the access token's 2 hours.
    await admin.query(
      `insert into cafe24.oauth_tokens
              (mall_id, access_token, expires_at, refresh_token, refresh_token_expires_at, client_id,
               user_id, scopes, issued_at, status)
       select 'rm' || lpad(n::text, 6, '0'), md5('a' || n), 
              case when n <= $2 then now() + (n % 1100 + 10) * interval '1 second'
                   else now() + interval '25 minutes' + (n % 5700) * interval '1 second' end,
              md5('r' || n), now() + interval '13 days', 'bench', 'rm' || n, array['mall.read_order'],
              now() - interval '1 hour', 'active'
         from generate_series(1, $1::int) as n`,
      [malls, due],
    );
    await admin.query('analyze cafe24.oauth_tokens');

    // The due malls need refresh tokens the sandbox knows: each gets one through a real code exchange.
    const config = loadConfig('refresh', refreshEnv(env, databaseUrl));
    const seeder = createTokenClient(config);
    const dueIds = Array.from({ length: due }, (_, i) => `rm${String(i + 1).padStart(6, '0')}`);
    const seedLimit = pLimit(50);
    const pairs = await Promise.all(
      dueIds.map((mallId) =>
        seedLimit(async () => {
          const tokens = await seeder.exchangeCode({
            mallId,
            code: new Secret(sandbox.issueCode(mallId)),
            redirectUri: env.stack.env.CAFE24_REDIRECT_URI ?? '',
          });
          return tokens.refreshToken.reveal();
        }),
      ),
    );
    await admin.query(
      `update cafe24.oauth_tokens t set refresh_token = s.token
         from unnest($1::text[], $2::text[]) as s(mall_id, token) where t.mall_id = s.mall_id`,
      [dueIds, pairs],
    );
    await admin.query('vacuum analyze cafe24.oauth_tokens');

    // One scheduler round: the store's own statement, captured to EXPLAIN exactly what it runs.
    const store = new PostgresTokenStore(admin);
    const limit = Math.max(10_000, due * 2);
    const times: number[] = [];
    let found: string[] = [];
    for (let i = 0; i < 7; i++) {
      const started = performance.now();
      found = await store.dueMalls(AHEAD_MS, limit);
      times.push(performance.now() - started);
    }
    let statement: { text: string; values: unknown[] } | undefined;
    const capturing = {
      query: async (text: string, values: unknown[]) => {
        statement = { text, values };
        return { rows: [] };
      },
    } as unknown as ConstructorParameters<typeof PostgresTokenStore>[0];
    await new PostgresTokenStore(capturing).dueMalls(AHEAD_MS, limit);
    if (!statement) throw new Error('dueMalls ran no statement');
    const explained = await admin.query(`explain (analyze, buffers) ${statement.text}`, statement.values);
    const plan = explained.rows.map((row) => row['QUERY PLAN'] as string).join('\n');

    const sqs = createSqsClient(localAws(env.stack.sqs.endpoint, env.stack.sqs.region));
    let publishMs: number;
    try {
      const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'bench-refresh' }));
      const publish = sqsPublisher(sqs, QueueUrl!);
      const entries = found.map((mallId) => ({
        id: mallId,
        body: JSON.stringify({ kind: 'refresh', mallId }),
      }));
      const sendLimit = pLimit(4);
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: Math.ceil(entries.length / 50) }, (_, i) =>
          sendLimit(() => publish(entries.slice(i * 50, i * 50 + 50))),
        ),
      );
      publishMs = performance.now() - started;
      const failed = results.reduce((sum, r) => sum + r.failed.length, 0);
      if (failed > 0) throw new Error(`the emulator refused ${failed} refresh messages`);
    } finally {
      sqs.destroy();
    }

    // Refresh every due mall: 5 "containers", each taking batches of 10 and refreshing a batch at once.
    for (let i = 0; i < REFRESH_DEPLOYED.maximumConcurrency; i++) {
      runtimes.push(
        createRefreshRuntime(loadConfig('refresh', refreshEnv(env, databaseUrl)), {
          maxConnections: REFRESH_DEPLOYED.poolSize,
        }),
      );
    }
    const requestsBefore = sandbox.tokenRequests().length;
    sandbox.setFault({ type: 'delay', ms: sandboxDelayMs });
    const outcomes: Record<string, number> = {};
    const peak = { connections: 0, active: 0 };
    let sampling = true;
    const sampler = (async () => {
      const client = new pg.Client({ connectionString: databaseUrl, application_name: 'bench-sampler' });
      await client.connect();
      try {
        while (sampling) {
          const { rows } = await client.query<{ open: number; active: number }>(
            `select count(*)::int as open, (count(*) filter (where state <> 'idle'))::int as active
               from pg_stat_activity where application_name = 'cafe24-token-refresh'`,
          );
          peak.connections = Math.max(peak.connections, rows[0]!.open);
          peak.active = Math.max(peak.active, rows[0]!.active);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await client.end();
      }
    })();
    let next = 0;
    const started = performance.now();
    try {
      await Promise.all(
        runtimes.map(async (runtime) => {
          for (;;) {
            const batch = found.slice(next, next + REFRESH_DEPLOYED.batchSize);
            next += REFRESH_DEPLOYED.batchSize;
            if (batch.length === 0) return;
            const results = await Promise.all(batch.map((mallId) => refreshMall(runtime.deps, mallId)));
            for (const result of results) outcomes[result.status] = (outcomes[result.status] ?? 0) + 1;
          }
        }),
      );
    } finally {
      sandbox.setFault(undefined);
      sampling = false;
      await sampler;
    }
    const seconds = (performance.now() - started) / 1000;

    const dueSet = new Set(found);
    const perMall = new Map<string, number>();
    for (const request of sandbox.tokenRequests().slice(requestsBefore)) {
      if (request.grantType === 'refresh_token' && dueSet.has(request.mallId)) {
        perMall.set(request.mallId, (perMall.get(request.mallId) ?? 0) + 1);
      }
    }
    const counts = found.map((mallId) => perMall.get(mallId) ?? 0);
    const findMs = median(times);
    return {
      malls,
      due,
      round: {
        firstMs: round(times[0] ?? Number.NaN, 2),
        medianMs: round(findMs, 2),
        runs: times.length,
        found: found.length,
        publishMs: round(publishMs, 1),
        totalMs: round(findMs + publishMs, 1),
        plan,
        indexScan: /Index (Only )?Scan/.test(plan),
        seqScan: /Seq Scan/.test(plan),
      },
      refresh: {
        sandboxDelayMs,
        ...REFRESH_DEPLOYED,
        seconds: round(seconds, 2),
        perSecond: round((outcomes.refreshed ?? 0) / seconds, 0),
        outcomes,
        peakConnections: peak.connections,
        peakActiveConnections: peak.active,
        requestsPerMall: {
          min: Math.min(...counts),
          max: Math.max(...counts),
          total: counts.reduce((a, b) => a + b, 0),
        },
      },
    };
  } finally {
    await Promise.all(runtimes.map((runtime) => runtime.close()));
    await admin.end();
  }
}

/** The refresh's environment, on the bench's refresh database. */
function refreshEnv(env: BenchEnvironment, databaseUrl: string): Record<string, string> {
  return { ...env.stack.env, DATABASE_URL: databaseUrl, REFRESH_AHEAD_SECONDS: String(AHEAD_MS / 1000) };
}
