/**
 * Refresh calls per day under REFRESH_MODE=ahead and =on-demand (issue 19, "Measure"): 100,000 active
 * malls in cafe24.oauth_tokens of an embedded PostgreSQL, one simulated warm-up day and one measured day of
 * the schedule's 5-minute rounds, each round running the real publisher (`publishDueMalls`) over the real
 * store claim (`PostgresTokenStore.claimDueForQueue`: `CLAIM_DUE_FOR_QUEUE` / `CLAIM_KEEPALIVE_FOR_QUEUE`).
 * Prints numbers; asserts nothing.
 *
 *   node bench/refresh-modes.ts [--malls 100000] [--busy 5] [--daily 20] [--days 2] [--mode ahead,on-demand]
 *
 * The virtual clock: the claim statements say `now()` unqualified. This script's connection runs with
 * `search_path = bench, pg_catalog, public` and a function `bench.now()` returning the setting
 * `bench.now`, which it sets to the simulated instant before each round; with pg_catalog named after
 * `bench`, the unqualified `now()` of the statements (text unchanged) resolves to it. Only the rows a
 * round really claims or refreshes are written; no row is shifted.
 *
 * Model, per round at the simulated instant t (every 5 minutes from 00:00 KST):
 * - the app's calls in (t − 5 min, t]: a call refreshes (counted on-demand) only if the stored access
 *   token has less than 60 s left (the client's minValidityMs), at the call's own instant c;
 * - the schedule: `publishDueMalls` at t (REFRESH_AHEAD_SECONDS 1200, REFRESH_ROUND_SECONDS 240,
 *   under on-demand REFRESH_KEEPALIVE_SECONDS 259200), each published mall refreshed at t;
 * - a refresh at instant x sets expires_at = x + 2 h and refresh_token_expires_at = x + 14 days (Cafe24
 *   rotates both), as the refresh's store does; refresh_queued_at is left as the claim stamped it, as the
 *   real store leaves it (a refreshed mall is not due again within the 240 s round).
 * Activity (both modes alike): `--busy` % of malls called every 10 minutes from 09:00 to 21:00 KST
 * (72 calls, each mall at a phase of its own), `--daily` % once a day at a random instant, the rest never.
 *
 * The start is the steady state of both modes: access tokens uniform over (t0 + 20 min, t0 + 2 h] (what
 * refreshing every access token 20 minutes ahead leaves), refresh tokens uniform over (t0 + 3 d,
 * t0 + 14 d] (what a 3-day keep-alive of a 14-day token leaves: a mall is kept alive every 11 days). The
 * warm-up day settles the called malls (busy and daily ones end each day with tokens of that day).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startEmbeddedPostgres } from '../local/postgres.ts';
import type { DueWindow } from '../src/domain/refresh-schedule.ts';
import { publishDueMalls } from '../src/domain/refresh-schedule.ts';
import { migrate } from '../src/store/migrate.ts';
import { CLAIM_DUE_FOR_QUEUE, CLAIM_KEEPALIVE_FOR_QUEUE, PostgresTokenStore } from '../src/store/tokens.ts';
import { round, summarize } from './stats.ts';

const { values } = parseArgs({
  options: {
    malls: { type: 'string', default: '100000' },
    busy: { type: 'string', default: '5' },
    daily: { type: 'string', default: '20' },
    days: { type: 'string', default: '2' },
    mode: { type: 'string', default: 'ahead,on-demand' },
  },
});
const mallCount = Number(values.malls);
const busyShare = Number(values.busy) / 100;
const dailyShare = Number(values.daily) / 100;
const days = Math.max(2, Number(values.days));
const modes = values.mode.split(',') as Array<'ahead' | 'on-demand'>;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const ROUND_MS = 5 * MINUTE; // the schedule's rate(5 minutes)
const ROUNDS_PER_DAY = DAY / ROUND_MS;
const AHEAD_MS = 1_200_000; // REFRESH_AHEAD_SECONDS's default
const KEEPALIVE_MS = 259_200_000; // REFRESH_KEEPALIVE_SECONDS's default
const CLAIM_ROUND_MS = 240_000; // REFRESH_ROUND_SECONDS's default
const ACCESS_LIFE_MS = 2 * HOUR;
const REFRESH_LIFE_MS = 14 * DAY;
const MIN_VALIDITY_MS = 60_000; // createCafe24Client's minValidityMs default
/** The simulation starts at midnight KST. */
const T0 = Date.parse('2026-12-01T00:00:00+09:00');

/** A small seeded PRNG (mulberry32): the same malls, phases and call times on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const mallId = (n: number) => `rm${String(n).padStart(6, '0')}`;

// The app's calls, bucketed by the round whose interval (t − 5 min, t] holds them.
const random = prng(19);
const kinds = { busy: 0, daily: 0, idle: 0 };
const callsByRound: Array<{ malls: string[]; at: number[] }> = Array.from(
  { length: days * ROUNDS_PER_DAY + 1 },
  () => ({ malls: [], at: [] }),
);
function addCall(mall: string, at: number): void {
  const index = Math.ceil((at - T0) / ROUND_MS);
  const bucket = callsByRound[index];
  if (bucket === undefined) return;
  bucket.malls.push(mall);
  bucket.at.push(at);
}
for (let n = 1; n <= mallCount; n += 1) {
  const draw = random();
  const mall = mallId(n);
  if (draw < busyShare) {
    kinds.busy += 1;
    const phase = random() * 10 * MINUTE;
    for (let day = 0; day < days; day += 1)
      for (let k = 0; k < 72; k += 1) addCall(mall, T0 + day * DAY + 9 * HOUR + phase + k * 10 * MINUTE);
  } else if (draw < busyShare + dailyShare) {
    kinds.daily += 1;
    for (let day = 0; day < days; day += 1) addCall(mall, T0 + day * DAY + random() * DAY);
  } else kinds.idle += 1;
}

const REFRESH_SET = `
       access_token = 'at-' || md5(random()::text), refresh_token = 'rt-' || md5(random()::text),
       expires_at = c.at + $3 * interval '1 millisecond',
       refresh_token_expires_at = c.at + $4 * interval '1 millisecond',
       issued_at = c.at, updated_at = c.at, last_refreshed_at = c.at`;

/** The app's calls of a round: each refreshes its mall when the stored access token has < 60 s left. */
const CALLS = `
update cafe24.oauth_tokens t
   set ${REFRESH_SET}
  from unnest($1::text[], $2::timestamptz[]) as c(mall_id, at)
 where t.mall_id = c.mall_id and t.status = 'active'
   and t.expires_at < c.at + $5 * interval '1 millisecond'`;

/** The refresh of the malls a round published, at the round's instant. */
const SCHEDULED = `
update cafe24.oauth_tokens t
   set ${REFRESH_SET}
  from (select unnest($1::text[]) as mall_id, $2::timestamptz as at) as c
 where t.mall_id = c.mall_id`;

type DayNumbers = {
  scheduled: number;
  onDemand: number;
  calls: number;
  peakRound: number;
  peakScheduledRound: number;
  peakRoundAt: string;
};

type ModeResult = {
  mode: 'ahead' | 'on-demand';
  days: DayNumbers[];
  /** Wall time of the round's claim statements (all of publishDueMalls' claims), ms. */
  claimRoundMs: ReturnType<typeof summarize>;
  /** Claim statements per round, p50 and max. */
  statementsPerRound: { p50: number; max: number };
  claimPlan: string;
  simulationSeconds: number;
};

const kst = (at: number) => `${new Date(at + 9 * HOUR).toISOString().slice(0, 16).replace('T', ' ')} KST`;

async function simulate(
  postgres: Awaited<ReturnType<typeof startEmbeddedPostgres>>,
  mode: 'ahead' | 'on-demand',
): Promise<ModeResult> {
  const database = `bench_refresh_${mode.replace('-', '_')}`;
  const admin = new pg.Client({ connectionString: postgres.url() });
  await admin.connect();
  await admin.query(`drop database if exists ${database}`);
  await admin.query(`create database ${database}`);
  await admin.end();
  const url = postgres.url(database);
  await migrate({ connectionString: url });

  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  await setup.query('create schema bench');
  await setup.query(`create function bench.now() returns timestamptz language sql stable
                       as $$ select current_setting('bench.now')::timestamptz $$`);
  await setup.query('select setseed(0.19)');
  await setup.query(
    `insert into cafe24.oauth_tokens
            (mall_id, access_token, expires_at, refresh_token, refresh_token_expires_at, client_id, user_id,
             scopes, issued_at, updated_at, status)
     select 'rm' || lpad(n::text, 6, '0'), 'at-' || n,
            $2::timestamptz + interval '20 minutes' + random() * interval '100 minutes',
            'rt-' || n, $2::timestamptz + interval '3 days' + random() * interval '11 days',
            'bench', 'rm' || n, array['mall.read_product'], $2::timestamptz - interval '1 hour',
            $2::timestamptz - interval '1 hour', 'active'
       from generate_series(1, $1::int) as n`,
    [mallCount, new Date(T0).toISOString()],
  );
  await setup.query('vacuum analyze cafe24.oauth_tokens');
  await setup.end();

  // One connection, its `now()` the simulated instant.
  const pool = new pg.Pool({
    connectionString: url,
    max: 1,
    options: `-c search_path=bench,pg_catalog,public -c bench.now=${new Date(T0).toISOString()}`,
  });
  const setNow = (at: number) =>
    pool.query(`select set_config('bench.now', $1, false)`, [new Date(at).toISOString()]);
  const check = await pool.query('select now() as now');
  if ((check.rows[0].now as Date).getTime() !== T0)
    throw new Error('now() does not follow the simulated clock');

  const store = new PostgresTokenStore(pool);
  let statementMs = 0;
  let statements = 0;
  const timedStore = {
    claimDueForQueue: async (window: DueWindow, roundMs: number, limit: number) => {
      const start = performance.now();
      try {
        return await store.claimDueForQueue(window, roundMs, limit);
      } finally {
        statementMs += performance.now() - start;
        statements += 1;
      }
    },
    unclaimQueued: (ids: string[]) => store.unclaimQueued(ids),
    markUnusable: (ids: string[], reason: string) => store.markUnusable(ids, reason),
  };
  let published: string[] = [];
  const silent = { info: () => {}, warn: () => {}, error: () => {} };
  const deps = {
    tokens: timedStore,
    publish: async (entries: Array<{ id: string }>) => {
      for (const entry of entries) published.push(entry.id);
      return { published: entries.map((entry) => entry.id), failed: [] };
    },
    log: silent,
    policy: {
      aheadMs: AHEAD_MS,
      roundMs: CLAIM_ROUND_MS,
      keepaliveMs: mode === 'on-demand' ? KEEPALIVE_MS : undefined,
    },
  };

  // The plan of the mode's claim at the start, as PostgreSQL chooses it (EXPLAIN only: nothing claimed).
  await setNow(T0 + ROUND_MS);
  const planRows = (
    await pool.query(
      `explain ${mode === 'on-demand' ? CLAIM_KEEPALIVE_FOR_QUEUE : CLAIM_DUE_FOR_QUEUE}`
        .replaceAll('$1', String(mode === 'on-demand' ? KEEPALIVE_MS : AHEAD_MS))
        .replaceAll('$2', String(CLAIM_ROUND_MS))
        .replaceAll('$3', '500'),
    )
  ).rows.map((row) => String(row['QUERY PLAN']));
  const claimPlan = planRows
    .filter((line) => /Scan/.test(line))
    .map((line) =>
      line
        .trim()
        .replace(/^->\s*/, '')
        .replace(/\s+\(cost.*$/, ''),
    )
    .join('; ');

  const dayNumbers: DayNumbers[] = [];
  const claimRoundMs: number[] = [];
  const statementCounts: number[] = [];
  const began = performance.now();
  for (let day = 0; day < days; day += 1) {
    const numbers: DayNumbers = {
      scheduled: 0,
      onDemand: 0,
      calls: 0,
      peakRound: 0,
      peakScheduledRound: 0,
      peakRoundAt: '',
    };
    for (let r = 1; r <= ROUNDS_PER_DAY; r += 1) {
      const index = day * ROUNDS_PER_DAY + r;
      const t = T0 + index * ROUND_MS;
      const calls = callsByRound[index]!;
      let onDemand = 0;
      if (calls.malls.length > 0) {
        const result = await pool.query(CALLS, [
          calls.malls,
          calls.at.map((at) => new Date(at).toISOString()),
          ACCESS_LIFE_MS,
          REFRESH_LIFE_MS,
          MIN_VALIDITY_MS,
        ]);
        onDemand = result.rowCount ?? 0;
      }
      await setNow(t);
      published = [];
      statementMs = 0;
      statements = 0;
      await publishDueMalls(deps);
      if (published.length > 0)
        await pool.query(SCHEDULED, [published, new Date(t).toISOString(), ACCESS_LIFE_MS, REFRESH_LIFE_MS]);
      claimRoundMs.push(statementMs);
      statementCounts.push(statements);
      numbers.calls += calls.malls.length;
      numbers.onDemand += onDemand;
      numbers.scheduled += published.length;
      numbers.peakScheduledRound = Math.max(numbers.peakScheduledRound, published.length);
      if (onDemand + published.length > numbers.peakRound) {
        numbers.peakRound = onDemand + published.length;
        numbers.peakRoundAt = kst(t);
      }
    }
    dayNumbers.push(numbers);
  }
  const simulationSeconds = (performance.now() - began) / 1000;
  await pool.end();
  const sortedCounts = [...statementCounts].sort((a, b) => a - b);
  return {
    mode,
    days: dayNumbers,
    claimRoundMs: summarize(claimRoundMs),
    statementsPerRound: {
      p50: sortedCounts[Math.floor(sortedCounts.length / 2)]!,
      max: sortedCounts.at(-1)!,
    },
    claimPlan,
    simulationSeconds,
  };
}

const fmt = (value: number) => Math.round(value).toLocaleString('en-US');

const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-bench-refresh-modes-'));
const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
try {
  process.stdout.write(
    `${fmt(mallCount)} active malls: ${fmt(kinds.busy)} busy (every 10 min, 09:00–21:00 KST), ` +
      `${fmt(kinds.daily)} daily (once, at a random time), ${fmt(kinds.idle)} idle; ` +
      `${days - 1} warm-up day(s), then 1 measured day of ${ROUNDS_PER_DAY} rounds\n\n`,
  );
  const results: ModeResult[] = [];
  for (const mode of modes) {
    const result = await simulate(postgres, mode);
    results.push(result);
    const measured = result.days.at(-1)!;
    const total = measured.scheduled + measured.onDemand;
    process.stdout.write(
      [
        `REFRESH_MODE=${mode} (simulated ${days} days in ${round(result.simulationSeconds, 1)} s)`,
        ...result.days.map(
          (day, i) =>
            `  day ${i + 1}${i < result.days.length - 1 ? ' (warm-up)' : ' (measured)'}: ` +
            `schedule ${fmt(day.scheduled)}, on-demand ${fmt(day.onDemand)} (of ${fmt(day.calls)} app calls), ` +
            `total ${fmt(day.scheduled + day.onDemand)}; peak round ${fmt(day.peakRound)} at ${day.peakRoundAt} ` +
            `(schedule's peak ${fmt(day.peakScheduledRound)})`,
        ),
        `  refresh calls per day: ${fmt(total)} (schedule ${fmt(measured.scheduled)}, on-demand ${fmt(measured.onDemand)})`,
        `  per mall per day: ${round(total / mallCount, 3)}`,
        `  claim statements per round: wall ms p50 ${round(result.claimRoundMs.p50)}, p99 ${round(result.claimRoundMs.p99)}, ` +
          `max ${round(result.claimRoundMs.max)}; statements p50 ${result.statementsPerRound.p50}, max ${result.statementsPerRound.max}`,
        `  claim's plan: ${result.claimPlan}`,
        '',
      ].join('\n'),
    );
  }
  process.stdout.write(
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        malls: mallCount,
        activity: kinds,
        modes: results.map((result) => {
          const measured = result.days.at(-1)!;
          return {
            mode: result.mode,
            perDay: {
              scheduled: measured.scheduled,
              onDemand: measured.onDemand,
              total: measured.scheduled + measured.onDemand,
            },
            perMallPerDay: round((measured.scheduled + measured.onDemand) / mallCount, 3),
            peakPerRound: measured.peakRound,
            peakRoundAt: measured.peakRoundAt,
            warmUp: result.days.slice(0, -1),
            claimMsPerRound: {
              p50: round(result.claimRoundMs.p50),
              p99: round(result.claimRoundMs.p99),
              max: round(result.claimRoundMs.max),
            },
            claimPlan: result.claimPlan,
            simulationSeconds: round(result.simulationSeconds, 1),
          };
        }),
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await postgres.stop();
  await rm(dataDir, { recursive: true, force: true });
}
