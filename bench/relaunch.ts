/**
 * The relaunch's numbers (issue 18): the answer time of GET /install for an installed mall (the hmac, one
 * indexed read, a signature: no OAuth) against the install's first leg for a mall that is not installed
 * (the hmac, a state stored, the redirect to authorize), and the Cafe24 requests a relaunch makes (none).
 * Prints numbers; asserts nothing.
 *
 *   node bench/relaunch.ts [--malls 200] [--launches 2000] [--concurrency 10]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { startEmbeddedPostgres } from '../local/postgres.ts';
import { LOCAL_APP, startLocalStack } from '../local/stack.ts';
import { launchHmac } from '../src/cafe24/app-launch.ts';
import { logger } from '../src/commons/logger.ts';
import { round, summarize } from './stats.ts';

const { values } = parseArgs({
  options: {
    malls: { type: 'string', default: '200' },
    launches: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '10' },
  },
});
const mallCount = Number(values.malls);
const launches = Number(values.launches);
const limit = pLimit(Number(values.concurrency));

/** A launch as Cafe24 signs it (its parameter order, hmac last); each its own (a launch opens the app once). */
let launchCount = 0;
function launchQuery(mallId: string): string {
  const message = [
    'is_multi_shop=T',
    'lang=ko_KR',
    `mall_id=${mallId}`,
    'nation=KR',
    'shop_no=1',
    `timestamp=${Math.floor(Date.now() / 1000) - (launchCount++ % 3_600)}`,
    'user_id=owner',
    `user_name=${encodeURIComponent('홍길동')}`,
    'user_type=P',
  ].join('&');
  return `${message}&hmac=${encodeURIComponent(launchHmac(message, LOCAL_APP.clientSecret))}`;
}

// The numbers, not a log line per launch.
logger.setLogLevel('ERROR');
const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-bench-relaunch-'));
const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
const stack = await startLocalStack({
  databaseUrl: postgres.url(),
  install: { port: 0, hostname: '127.0.0.1' },
});
try {
  const origin = stack.install!.origin;
  // Installed malls: a code each, as a callback stores it; the pipeline exchanges them.
  const malls = Array.from({ length: mallCount }, (_, i) => `benchopen${i}`);
  for (const mall of malls) {
    await stack.pool.query('insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2)', [
      mall,
      stack.sandbox.issueCode(mall),
    ]);
  }
  const started = Date.now();
  while (
    (await stack.pool.query('select count(*)::int as n from cafe24.oauth_tokens')).rows[0].n < mallCount
  ) {
    if (Date.now() - started > 120_000) throw new Error('the malls were not installed within 2 minutes');
    await delay(200);
  }

  const timed = async (mallId: string) => {
    const at = performance.now();
    const response = await fetch(`${origin}/install?${launchQuery(mallId)}`, { redirect: 'manual' });
    await response.arrayBuffer();
    return { ms: performance.now() - at, status: response.status };
  };
  // Warm both paths (connections, JIT) before measuring.
  await Promise.all(Array.from({ length: 20 }, (_, i) => timed(malls[i % mallCount]!)));
  await Promise.all(Array.from({ length: 20 }, (_, i) => timed(`benchnew${i}`)));

  const requestsBefore = stack.sandbox.tokenRequests().length;
  const relaunches = await Promise.all(
    Array.from({ length: launches }, (_, i) => limit(() => timed(malls[i % mallCount]!))),
  );
  const cafe24Requests = stack.sandbox.tokenRequests().length - requestsBefore;
  const firstLegs = await Promise.all(
    Array.from({ length: launches }, (_, i) => limit(() => timed(`benchfresh${i}`))),
  );

  const statuses = (runs: Array<{ status: number }>) =>
    Object.fromEntries(
      [...new Set(runs.map((run) => run.status))].map((status) => [
        status,
        runs.filter((run) => run.status === status).length,
      ]),
    );
  const describe = (runs: Array<{ ms: number }>) => {
    const summary = summarize(runs.map((run) => run.ms));
    return { p50: round(summary.p50, 1), p99: round(summary.p99, 1), max: round(summary.max, 1) };
  };
  console.log(
    JSON.stringify(
      {
        malls: mallCount,
        launches,
        concurrency: Number(values.concurrency),
        relaunchMs: describe(relaunches),
        relaunchStatuses: statuses(relaunches),
        firstLegMs: describe(firstLegs),
        firstLegStatuses: statuses(firstLegs),
        cafe24RequestsPerRelaunch: cafe24Requests / launches,
      },
      null,
      2,
    ),
  );
} finally {
  await stack.stop();
  await postgres.stop();
  await rm(dataDir, { recursive: true, force: true });
}
