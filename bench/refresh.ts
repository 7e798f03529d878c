import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import pg from 'pg';
import { startLambdaRunner } from '../local/lambda-runner.ts';
import { DEPLOYED_REFRESH } from '../local/stack.ts';
import { createSqsClient, localAws, sqsPublisher } from '../src/aws/sqs.ts';
import { Secret } from '../src/commons/secret.ts';
import { loadConfig } from '../src/config.ts';
import { publishDueMalls } from '../src/domain/refresh-schedule.ts';
import { createRefreshHandler } from '../src/handlers/refresh.ts';
import { createTokenClient } from '../src/runtime/cafe24.ts';
import { createRefreshRuntime, type RefreshRuntime } from '../src/runtime/refresh.ts';
import { migrate } from '../src/store/migrate.ts';
import { CLAIM_DUE_FOR_QUEUE, PostgresTokenStore } from '../src/store/tokens.ts';
import { type BenchEnvironment, waitUntil } from './environment.ts';
import { median, round } from './stats.ts';

/** REFRESH_AHEAD_SECONDS's default: due when the access token expires within 20 minutes. */
const AHEAD_MS = 1_200_000;
/** REFRESH_ROUND_SECONDS's default. */
const ROUND_MS = 240_000;
/** Malls per claim statement, as the schedule claims them (src/domain/refresh-schedule.ts CLAIM_BATCH). */
const CLAIM_BATCH = 500;

export type RefreshBenchResult = {
  malls: number;
  due: number;
  /**
   * One scheduler round as deployed (publishDueMalls): the store's claim of the due malls (500 a
   * statement), each batch published to a refresh queue on the emulator.
   */
  round: {
    /** Claim and publish, the whole round. */
    ms: number;
    published: number;
    /** One claim statement alone (500 malls, as the schedule claims them; rolled back), first and median. */
    claimFirstMs: number;
    claimMedianMs: number;
    claimRuns: number;
    /** Malls one claim statement returned. */
    claimed: number;
    /** Due malls in all. */
    found: number;
    /** EXPLAIN (ANALYZE, BUFFERS) of the store's claim (CLAIM_DUE_FOR_QUEUE), as PostgreSQL printed it. */
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

    // One scheduler round as the schedule runs it (src/domain/refresh-schedule.ts publishDueMalls): the
    // store's claim of the round's due malls, 500 a statement, each batch published to the refresh queue.
    const store = new PostgresTokenStore(admin);
    const sqs = createSqsClient(localAws(env.stack.sqs.endpoint, env.stack.sqs.region));
    const { QueueUrl: queueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: 'bench-refresh',
        Attributes: { VisibilityTimeout: String(DEPLOYED_REFRESH.visibilityTimeoutSeconds) },
      }),
    );
    // The claim alone, before the round: timed and explained on transactions rolled back (it stamps rows).
    const claimTimes: number[] = [];
    let claimed = 0;
    let plan = '';
    for (let i = 0; i < 5; i++) {
      const client = await admin.connect();
      try {
        await client.query('begin');
        const started = performance.now();
        const { rows } = await client.query<{ mall_id: string }>(CLAIM_DUE_FOR_QUEUE, [
          AHEAD_MS,
          ROUND_MS,
          CLAIM_BATCH,
        ]);
        claimTimes.push(performance.now() - started);
        claimed = rows.length;
        if (i === 0) {
          await client.query('rollback');
          await client.query('begin');
          const explained = await client.query(`explain (analyze, buffers) ${CLAIM_DUE_FOR_QUEUE}`, [
            AHEAD_MS,
            ROUND_MS,
            CLAIM_BATCH,
          ]);
          plan = explained.rows.map((row) => row['QUERY PLAN'] as string).join('\n');
        }
      } finally {
        await client.query('rollback');
        client.release();
      }
    }

    // Every due mall, to wait for each one's refresh below.
    const found = await store.dueMalls(AHEAD_MS, due * 2);
    const quiet = { info() {}, warn() {}, error() {} };
    const roundStarted = performance.now();
    const summary = await publishDueMalls({
      tokens: store,
      publish: sqsPublisher(sqs, queueUrl!),
      log: quiet,
      policy: { aheadMs: AHEAD_MS, roundMs: ROUND_MS },
    });
    const roundMs = performance.now() - roundStarted;
    if (summary.failed > 0) throw new Error(`the emulator refused ${summary.failed} refresh messages`);
    // Refresh every published mall: the real refresh handler behind a Lambda-style runner with the
    // template's batch size and concurrency, each invocation in a "container" of its own (its own pool of
    // REFRESH_CONCURRENCY connections and its own HTTP agent), as Lambda runs them.
    for (let i = 0; i < DEPLOYED_REFRESH.maximumConcurrency; i++) {
      runtimes.push(
        createRefreshRuntime(loadConfig('refresh', refreshEnv(env, databaseUrl)), {
          maxConnections: DEPLOYED_REFRESH.batchSize,
        }),
      );
    }
    const containers = runtimes.map((runtime) => ({
      handler: createRefreshHandler(() => runtime),
      busy: false,
    }));
    const requestsBefore = sandbox.tokenRequests().length;
    sandbox.setFault({ type: 'delay', ms: sandboxDelayMs });
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
    const started = performance.now();
    const runner = startLambdaRunner({
      client: sqs,
      queueUrl: queueUrl!,
      batchSize: DEPLOYED_REFRESH.batchSize,
      maximumBatchingWindowMs: 0,
      maximumConcurrency: DEPLOYED_REFRESH.maximumConcurrency,
      functionName: 'cafe24-token-refresh',
      timeoutMs: DEPLOYED_REFRESH.timeoutSeconds * 1000,
      handler: async (event, context) => {
        const container = containers.find((c) => !c.busy);
        if (!container) throw new Error('more invocations than containers');
        container.busy = true;
        try {
          return await container.handler(event, context);
        } finally {
          container.busy = false;
        }
      },
    });
    let seconds: number;
    try {
      await waitUntil(
        async () => {
          const { rows } = await admin.query<{ done: number }>(
            `select count(*)::int as done from cafe24.oauth_tokens
              where mall_id = any($1::text[]) and last_refreshed_at is not null`,
            [found],
          );
          return rows[0]!.done >= found.length;
        },
        120_000,
        `${found.length} malls refreshed`,
        50,
      );
      seconds = (performance.now() - started) / 1000;
    } finally {
      await runner.stop();
      sandbox.setFault(undefined);
      sampling = false;
      await sampler;
      sqs.destroy();
    }
    const outcomes = await admin.query<{ status: string; refreshed: boolean; count: number }>(
      `select status, last_refreshed_at is not null as refreshed, count(*)::int as count
         from cafe24.oauth_tokens where mall_id = any($1::text[]) group by 1, 2`,
      [found],
    );

    const dueSet = new Set(found);
    const perMall = new Map<string, number>();
    for (const request of sandbox.tokenRequests().slice(requestsBefore)) {
      if (request.grantType === 'refresh_token' && dueSet.has(request.mallId)) {
        perMall.set(request.mallId, (perMall.get(request.mallId) ?? 0) + 1);
      }
    }
    const counts = found.map((mallId) => perMall.get(mallId) ?? 0);
    const refreshed = outcomes.rows.find((row) => row.status === 'active' && row.refreshed)?.count ?? 0;
    return {
      malls,
      due,
      round: {
        ms: round(roundMs, 1),
        published: summary.published,
        claimFirstMs: round(claimTimes[0] ?? Number.NaN, 2),
        claimMedianMs: round(median(claimTimes), 2),
        claimRuns: claimTimes.length,
        claimed,
        found: found.length,
        plan,
        indexScan: /Index (Only )?Scan/.test(plan),
        seqScan: /Seq Scan/.test(plan),
      },
      refresh: {
        sandboxDelayMs,
        maximumConcurrency: DEPLOYED_REFRESH.maximumConcurrency,
        batchSize: DEPLOYED_REFRESH.batchSize,
        poolSize: DEPLOYED_REFRESH.batchSize,
        seconds: round(seconds, 2),
        perSecond: round(refreshed / seconds, 0),
        outcomes: Object.fromEntries(
          outcomes.rows.map((row) => [`${row.status}${row.refreshed ? ', refreshed' : ''}`, row.count]),
        ),
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
