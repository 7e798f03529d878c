import pg from 'pg';
import { type BenchEnvironment, sleep, waitUntil } from './environment.ts';
import { median, round, roundSummary, type Summary, summarize } from './stats.ts';

export type LatencyOptions = {
  label: string;
  codes: number;
  /** Inserts per second, one at a time on a steady schedule: latency, not queueing. */
  ratePerSecond: number;
  /** Sandbox answer delay; 0 answers at once. */
  sandboxDelayMs: number;
  /** Codes run first and not counted (connections opened, code paths compiled). */
  warmup: number;
};

export type LatencyResult = {
  label: string;
  sandboxDelayMs: number;
  ratePerSecond: number;
  warmup: number;
  /** INSERT commit → token row commit, both on the database's clock, ms. */
  endToEndMs: Summary;
  /** Medians of where the time went, on the database's clock (ms); consecutive, they add up. */
  stagesP50Ms: {
    /** NOTIFY delivery, relay wake-up, BEGIN. */
    toRelayTransaction: number;
    /** Claim SELECT, SendMessageBatch, the runner's receive, the handler up to its claim UPDATE. */
    toClaimStart: number;
    /** The claim UPDATE (the relay locks only outbox rows: nothing to wait for). */
    claim: number;
    /** The token call (the first attempt is counted by the claim), parsing, up to the store statement. */
    toStoreTransaction: number;
    /** The store statement (UPSERT + mark exchanged) and its commit. */
    storeTransaction: number;
  };
  /** The relay's transaction, BEGIN → COMMIT (it spans SendMessageBatch), p50 ms. */
  relayTransactionP50Ms: number;
  tokenRequests: number;
  notExchanged: Record<string, number>;
};

const INSERT =
  'insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2) returning id::text';

/** Codes inserted one at a time at a steady pace; each one's INSERT commit → token row commit. */
export async function measureLatency(env: BenchEnvironment, options: LatencyOptions): Promise<LatencyResult> {
  const { sandbox } = env.stack;
  sandbox.setFault(options.sandboxDelayMs > 0 ? { type: 'delay', ms: options.sandboxDelayMs } : undefined);
  const inserter = new pg.Client({ connectionString: env.databaseUrl, application_name: 'bench-callback' });
  await inserter.connect();
  try {
    const warm = await insertPaced(env, inserter, options.warmup, options.ratePerSecond, 'warm');
    await allFinished(env, warm.ids, 30_000);
    const requestsBefore = sandbox.tokenRequests().length;
    const run = await insertPaced(env, inserter, options.codes, options.ratePerSecond, 'lat');
    await allFinished(env, run.ids, 30_000);
    const malls = new Set(run.malls);
    const tokenRequests = sandbox
      .tokenRequests()
      .slice(requestsBefore)
      .filter((r) => malls.has(r.mallId)).length;
    return { ...(await readTimings(env, run.ids)), label: options.label, tokenRequests, ...pick(options) };
  } finally {
    sandbox.setFault(undefined);
    await inserter.end();
  }
}

function pick(options: LatencyOptions) {
  return {
    sandboxDelayMs: options.sandboxDelayMs,
    ratePerSecond: options.ratePerSecond,
    warmup: options.warmup,
  };
}

/** One INSERT (autocommit, as the OAuth callback does) every 1/rate s, on a schedule that does not drift. */
async function insertPaced(
  env: BenchEnvironment,
  client: pg.Client,
  count: number,
  ratePerSecond: number,
  prefix: string,
): Promise<{ ids: string[]; malls: string[] }> {
  const intervalMs = 1000 / ratePerSecond;
  const ids: string[] = [];
  const malls: string[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + i * intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    const mall = env.newMall(prefix);
    const code = env.stack.sandbox.issueCode(mall);
    const { rows } = await client.query<{ id: string }>(INSERT, [mall, code]);
    ids.push(rows[0]!.id);
    malls.push(mall);
  }
  return { ids, malls };
}

/** Every code has left pending/exchanging (exchanged, or failed/expired, which is reported). */
export async function allFinished(env: BenchEnvironment, ids: string[], timeoutMs: number): Promise<void> {
  await waitUntil(
    async () => {
      const { rows } = await env.pool.query<{ open: string }>(
        `select count(*) as open from cafe24.oauth_authorization_codes
          where id = any($1::bigint[]) and status in ('pending', 'exchanging')`,
        [ids],
      );
      return rows[0]!.open === '0';
    },
    timeoutMs,
    `${ids.length} codes to finish`,
    20,
  );
}

type TimingRow = {
  status: string;
  total_ms: number | null;
  to_relay_ms: number | null;
  to_claim_ms: number | null;
  claim_ms: number | null;
  to_store_ms: number | null;
  store_ms: number | null;
  relay_tx_ms: number | null;
};

// claimed_at and finished_at are now() of the claim's and the store's transactions, relay_began_at now() of
// the relay's (recorded by its outbox DELETE); the bench tables hold clock_timestamp() at the commits and at
// the end of the claim UPDATE.
const TIMINGS = `
select c.status,
       extract(epoch from t.committed_at - i.committed_at) * 1000 as total_ms,
       extract(epoch from e.relay_began_at - i.committed_at) * 1000 as to_relay_ms,
       extract(epoch from c.claimed_at - e.relay_began_at) * 1000 as to_claim_ms,
       extract(epoch from e.claim_done_at - c.claimed_at) * 1000 as claim_ms,
       extract(epoch from c.finished_at - e.claim_done_at) * 1000 as to_store_ms,
       extract(epoch from t.committed_at - c.finished_at) * 1000 as store_ms,
       extract(epoch from e.relay_committed_at - e.relay_began_at) * 1000 as relay_tx_ms
  from cafe24.oauth_authorization_codes c
  join bench.code_commits i on i.code_id = c.id
  left join lateral (
         select (select min(at) from bench.relay_began where code_id = c.id) as relay_began_at,
                (select min(at) from bench.relay_committed where code_id = c.id) as relay_committed_at,
                (select min(at) from bench.claim_done where code_id = c.id) as claim_done_at) e on true
  left join bench.token_commits t on t.code_id = c.id
 where c.id = any($1::bigint[])`;

async function readTimings(env: BenchEnvironment, ids: string[]) {
  const { rows } = await env.pool.query<TimingRow>(TIMINGS, [ids]);
  const exchanged = rows.filter((row) => row.status === 'exchanged' && row.total_ms !== null);
  const notExchanged: Record<string, number> = {};
  for (const row of rows) {
    if (row.status !== 'exchanged') notExchanged[row.status] = (notExchanged[row.status] ?? 0) + 1;
  }
  const missing = ids.length - rows.length;
  if (missing > 0) notExchanged.missing = missing;
  const stage = (key: keyof Omit<TimingRow, 'status'>) =>
    round(median(exchanged.map((row) => Number(row[key]))), 3);
  return {
    endToEndMs: roundSummary(summarize(exchanged.map((row) => Number(row.total_ms))), 3),
    stagesP50Ms: {
      toRelayTransaction: stage('to_relay_ms'),
      toClaimStart: stage('to_claim_ms'),
      claim: stage('claim_ms'),
      toStoreTransaction: stage('to_store_ms'),
      storeTransaction: stage('store_ms'),
    },
    relayTransactionP50Ms: stage('relay_tx_ms'),
    notExchanged,
  };
}
