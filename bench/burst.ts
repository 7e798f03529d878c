import { DEPLOYED } from '../local/stack.ts';
import type { BenchEnvironment } from './environment.ts';
import { allFinished } from './latency.ts';
import { round, roundSummary, type Summary, summarize } from './stats.ts';

export type BurstResult = {
  codes: number;
  sandboxDelayMs: number;
  batchSize: number;
  maximumConcurrency: number;
  /** INSERT commit → the last token row's commit, on the database's clock. */
  seconds: number;
  /** INSERT commit → the last code finished, whatever its outcome (expired codes included). */
  finishedSeconds: number;
  /**
   * What the configuration allows at best: the codes in rounds of batch × concurrency, each round one
   * sandbox delay (issue 10: 1,000 codes at 100 ms over 10 × 5 in flight = 2.0 s).
   */
  floorSeconds: number;
  /** seconds / floorSeconds. */
  overFloor: number;
  /** Per code, INSERT commit → its token row's commit. */
  perCodeMs: Summary;
  tokenRequests: number;
  /** Codes that asked for more than one token request (must be none). */
  codesRequestedTwice: number;
  notExchanged: Record<string, number>;
};

/** `codes` codes in one transaction, the sandbox answering after `sandboxDelayMs`, the template's concurrency. */
export async function measureBurst(
  env: BenchEnvironment,
  codes = 1_000,
  sandboxDelayMs = 100,
): Promise<BurstResult> {
  const { sandbox } = env.stack;
  const malls = Array.from({ length: codes }, () => env.newMall('burst'));
  const issued = malls.map((mall) => sandbox.issueCode(mall));
  const requestsBefore = sandbox.tokenRequests().length;
  sandbox.setFault({ type: 'delay', ms: sandboxDelayMs });
  try {
    const client = await env.pool.connect();
    let ids: string[];
    try {
      await client.query('begin');
      const { rows } = await client.query<{ id: string }>(
        `insert into cafe24.oauth_authorization_codes (mall_id, code)
         select * from unnest($1::text[], $2::text[]) returning id::text`,
        [malls, issued],
      );
      await client.query('commit');
      ids = rows.map((row) => row.id);
    } finally {
      client.release();
    }
    await allFinished(env, ids, 120_000);

    const { rows } = await env.pool.query<{ status: string; count: string; last_ms: string; ms: string[] }>(
      `with committed as (select max(committed_at) as at from bench.code_commits where code_id = any($1::bigint[]))
       select c.status, count(*)::text as count,
              extract(epoch from max(t.committed_at) - (select at from committed)) * 1000 as last_ms,
              array_agg(extract(epoch from t.committed_at - (select at from committed)) * 1000) as ms
         from cafe24.oauth_authorization_codes c
         left join bench.token_commits t on t.code_id = c.id
        where c.id = any($1::bigint[])
        group by c.status`,
      [ids],
    );
    const { rows: finished } = await env.pool.query<{ ms: string }>(
      `select extract(epoch from max(c.finished_at) -
                (select max(committed_at) from bench.code_commits where code_id = any($1::bigint[]))) * 1000 as ms
         from cafe24.oauth_authorization_codes c where c.id = any($1::bigint[])`,
      [ids],
    );
    const exchanged = rows.find((row) => row.status === 'exchanged');
    const notExchanged = Object.fromEntries(
      rows.filter((row) => row.status !== 'exchanged').map((row) => [row.status, Number(row.count)]),
    );
    const mallSet = new Set(malls);
    const requests = sandbox
      .tokenRequests()
      .slice(requestsBefore)
      .filter((request) => mallSet.has(request.mallId));
    const perCode = new Map<string, number>();
    for (const request of requests)
      perCode.set(request.code ?? '', (perCode.get(request.code ?? '') ?? 0) + 1);
    const inFlight = DEPLOYED.batchSize * env.maximumConcurrency;
    const floorSeconds = (Math.ceil(codes / inFlight) * sandboxDelayMs) / 1000;
    const seconds = Number(exchanged?.last_ms ?? Number.NaN) / 1000;
    return {
      codes,
      sandboxDelayMs,
      batchSize: DEPLOYED.batchSize,
      maximumConcurrency: env.maximumConcurrency,
      seconds: round(seconds, 3),
      finishedSeconds: round(Number(finished[0]?.ms ?? Number.NaN) / 1000, 3),
      floorSeconds,
      overFloor: round(seconds / floorSeconds, 2),
      perCodeMs: roundSummary(summarize((exchanged?.ms ?? []).map(Number)), 1),
      tokenRequests: requests.length,
      codesRequestedTwice: [...perCode.values()].filter((count) => count > 1).length,
      notExchanged,
    };
  } finally {
    sandbox.setFault(undefined);
  }
}
