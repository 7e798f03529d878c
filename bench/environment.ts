import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../local/postgres.ts';
import { DEPLOYED, type LocalStack, startLocalStack } from '../local/stack.ts';

/**
 * Bench-only instrumentation, never part of the migrations. Deferred constraint triggers run during
 * COMMIT, just before the commit record is written, so `clock_timestamp()` there is the commit time on
 * the database's own clock, for the code INSERT and for the token row alike.
 */
const INSTRUMENT = `
create schema bench;

create table bench.code_commits (code_id bigint primary key, committed_at timestamptz not null);
create table bench.token_commits (code_id bigint primary key, committed_at timestamptz not null);

create function bench.record_code_commit() returns trigger language plpgsql as $$
begin
    insert into bench.code_commits values (new.id, clock_timestamp()) on conflict do nothing;
    return null;
end $$;

create constraint trigger bench_code_commit
    after insert on cafe24.oauth_authorization_codes
    deferrable initially deferred
    for each row execute function bench.record_code_commit();

create function bench.record_token_commit() returns trigger language plpgsql as $$
begin
    if new.code_id is not null then
        insert into bench.token_commits values (new.code_id, clock_timestamp()) on conflict do nothing;
    end if;
    return null;
end $$;

create constraint trigger bench_token_commit
    after insert or update on cafe24.oauth_tokens
    deferrable initially deferred
    for each row execute function bench.record_token_commit();

-- Moments inside the pipeline: the relay's transaction start and its commit that marks a code published
-- (deferred: at COMMIT), and the end of the exchange's claim UPDATE (after any wait for a lock on the row).
-- Plain inserts into tables without a unique key, one table per event: an upsert into one shared row
-- would make the exchange's claim wait for the relay's uncommitted insert of the same key (the unique
-- index's wait), a lock the pipeline itself never takes, and the bench measured that wait as the
-- exchange's time until this was split. Readers take the earliest row per code (a code published twice).
create table bench.relay_began (code_id bigint not null, at timestamptz not null);
create table bench.relay_committed (code_id bigint not null, at timestamptz not null);
create table bench.claim_done (code_id bigint not null, at timestamptz not null);
create index on bench.relay_began (code_id);
create index on bench.relay_committed (code_id);
create index on bench.claim_done (code_id);

-- The relay's DELETE of the outbox row: now() is its transaction's start (before the claim SELECT).
create function bench.record_relay_delete() returns trigger language plpgsql as $$
begin
    insert into bench.relay_began values (old.code_id, now());
    return null;
end $$;

create trigger bench_relay_delete
    after delete on cafe24.exchange_outbox
    for each row execute function bench.record_relay_delete();

create function bench.record_relay_commit() returns trigger language plpgsql as $$
begin
    insert into bench.relay_committed values (old.code_id, clock_timestamp());
    return null;
end $$;

create constraint trigger bench_relay_commit
    after delete on cafe24.exchange_outbox
    deferrable initially deferred
    for each row
    execute function bench.record_relay_commit();

create function bench.record_claim_done() returns trigger language plpgsql as $$
begin
    insert into bench.claim_done values (new.id, clock_timestamp());
    return null;
end $$;

create trigger bench_claim_done
    after update of status on cafe24.oauth_authorization_codes
    for each row when (old.status = 'pending' and new.status = 'exchanging')
    execute function bench.record_claim_done();

-- The floor's NOTIFY probe: the same trigger shape as the codes table's, on its own channel.
create table bench.notify_probe (id bigserial primary key, created_at timestamptz not null default now());

create function bench.notify_probe() returns trigger language plpgsql as $$
begin
    perform pg_notify('bench_probe', new.id::text);
    return null;
end $$;

create trigger bench_notify_probe
    after insert on bench.notify_probe
    for each row execute function bench.notify_probe();
`;

export type BenchEnvironment = {
  stack: LocalStack;
  /** The bench's own connections, apart from the relay's and the exchange's pools. */
  pool: pg.Pool;
  databaseUrl: string;
  /** The runner's concurrent invocations (the template's MaximumConcurrency unless asked otherwise). */
  maximumConcurrency: number;
  /** Codes the relay has handed to SQS since the stack started (its onPublished). */
  readonly published: number;
  /** Resolves once the relay has published at least `count` codes in total. */
  publishedReaches(count: number, timeoutMs: number): Promise<void>;
  /** A mall id no other code in this run uses. */
  newMall(prefix: string): string;
  stop(): Promise<void>;
};

/** A fresh PostgreSQL 17 in a temp dir, the whole local stack on it, and the bench's triggers. */
export async function startBenchEnvironment(
  options: { maximumConcurrency?: number } = {},
): Promise<BenchEnvironment> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-bench-pg-'));
  const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
  let published = 0;
  let waiters: Array<{ count: number; resolve: () => void }> = [];
  const onPublished = (count: number) => {
    published += count;
    const due = waiters.filter((waiter) => published >= waiter.count);
    waiters = waiters.filter((waiter) => published < waiter.count);
    for (const waiter of due) waiter.resolve();
  };

  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      databaseUrl: postgres.url(),
      acceptUnknownCodes: false,
      sweepIntervalMs: 60_000,
      visibilityTimeoutSeconds: 30,
      batchSize: DEPLOYED.batchSize,
      maximumConcurrency: options.maximumConcurrency ?? DEPLOYED.maximumConcurrency,
      onPublished,
    });
  } catch (error) {
    await postgres.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const pool = new pg.Pool({ connectionString: postgres.url(), max: 4, application_name: 'bench' });
  await pool.query(INSTRUMENT);

  let mallSeq = 0;
  return {
    stack,
    pool,
    databaseUrl: postgres.url(),
    maximumConcurrency: options.maximumConcurrency ?? DEPLOYED.maximumConcurrency,
    get published() {
      return published;
    },
    publishedReaches(count, timeoutMs) {
      if (published >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the relay published ${published} of ${count} codes in ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    newMall: (prefix) => `${prefix}${String(++mallSeq).padStart(5, '0')}`,
    async stop() {
      await pool.end().catch(() => {});
      await stack.stop();
      await postgres.stop();
      await rm(dataDir, { recursive: true, force: true });
      if (postgres.dataDir !== dataDir) await rm(postgres.dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` every `everyMs` until it holds; throws after `timeoutMs`. */
export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 10,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
