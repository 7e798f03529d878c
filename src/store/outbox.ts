import type pg from 'pg';
import type { Pool } from './pool.ts';
import { transactionBegunBy } from './transaction.ts';

/**
 * Opens the relay's transaction and takes up to `limit` unpublished codes out of the outbox, in ONE round
 * trip (a simple-protocol query string; `limit` is an integer the relay chooses, never input). The rows
 * are deleted but the transaction stays open across the SQS call: until it commits they are locked and
 * invisible as deleted to no one, so another relay skips them (SKIP LOCKED) and a rollback (SQS refused,
 * the relay died) puts every one back. Only outbox rows are locked: an exchange claiming the code rows
 * never waits on a relay.
 *
 * `synchronous_commit = off` for this transaction only: all it commits is the removal of rows whose
 * messages SQS has already accepted. A crash that loses that commit brings the rows back and the codes
 * are published again, a duplicate message the exchange's claim makes harmless (rule 1), as when a relay
 * dies between SQS's answer and its commit. The relay's commit then never waits for a WAL flush, and
 * never makes the exchange's claim, committing at the same moment, wait behind one.
 */
function beginClaimUnpublished(limit: number): string {
  if (!Number.isInteger(limit) || limit < 1)
    throw new RangeError('the claim size must be a positive integer');
  return `begin;
set local synchronous_commit = off;
delete from cafe24.exchange_outbox
 where code_id in (select code_id
                     from cafe24.exchange_outbox
                    order by code_id
                    limit ${limit}
                      for update skip locked)
returning code_id::text as id, created_at::text as created_at,
          (extract(epoch from clock_timestamp() - created_at) * 1000)::float8 as waited_ms`;
}

export type ClaimedOutboxRow = { id: string; createdAt: string; waitedMs: number };

/** The rows beginClaimUnpublished took, from the results of its query string. */
function claimedRows(results: pg.QueryResult | pg.QueryResult[]): ClaimedOutboxRow[] {
  const last = Array.isArray(results) ? results.at(-1) : results;
  return (last?.rows ?? []).map((row) => ({
    id: row.id as string,
    createdAt: row.created_at as string,
    waitedMs: Number(row.waited_ms),
  }));
}

/** Codes SQS did not take go back into the outbox, as they were, in the caller's transaction. */
const PUT_BACK = `
insert into cafe24.exchange_outbox (code_id, created_at)
select * from unnest($1::bigint[], $2::timestamptz[])
    on conflict do nothing`;

async function putBack(client: pg.ClientBase, rows: ClaimedOutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(PUT_BACK, [rows.map((row) => row.id), rows.map((row) => row.createdAt)]);
}

/**
 * One outbox transaction, owned here: BEGIN with the claim of up to `limit` rows (one round trip), `send`
 * them (the transaction stays open across it), put back every row `send` did not accept, COMMIT. A
 * throwing `send` rolls the claim back: every row stays unpublished for the next drain.
 */
export function publishFromOutbox<T>(
  pool: Pool,
  limit: number,
  send: (rows: ClaimedOutboxRow[]) => Promise<{ accepted: ReadonlySet<string>; result: T }>,
): Promise<T> {
  return transactionBegunBy(pool, beginClaimUnpublished(limit), async (client, began) => {
    const rows = claimedRows(began);
    const { accepted, result } = await send(rows);
    await putBack(
      client,
      rows.filter((row) => !accepted.has(row.id)),
    );
    return result;
  });
}

const CODE_VISIBLE = `select 1 from cafe24.oauth_authorization_codes where id = $1`;

/** Whether this session sees the code: false while its inserting transaction has not committed. */
export async function codeVisible(pool: Pool, codeId: string): Promise<boolean> {
  const { rowCount } = await pool.query(CODE_VISIBLE, [codeId]);
  return rowCount === 1;
}

/**
 * Live `pending` codes whose message never reached an exchange (a purged queue, an in-memory SQS killed,
 * a consumer that died before its claim) go back into the outbox, for the drain to publish again; a
 * duplicate is harmless (rule 1). A code qualifies while alive (created less than $1 ms ago), with no
 * outbox row, and untouched for $2 ms: `updated_at` is its insert, its last hand-back by an exchange
 * (RELEASE) or its last republication, which this statement sets, so a code goes again at most once per
 * $2. Claimed or finished codes are never taken (the status is checked again under the row lock); neither
 * are rows an exchange holds (SKIP LOCKED), and a code whose outbox row reappeared is left alone (ON
 * CONFLICT): no row makes it fail. The `created_at`
 * range, redundant beside `updated_at`, is what lets it read ix_oauth_authorization_codes_open
 * (migration 007) rather than every code: 2.6 ms to put back 59 of 100,000 codes, where sequential scans
 * took 89 ms.
 */
export const REPUBLISH_LOST = `
with lost as (
  select c.id
    from cafe24.oauth_authorization_codes c
   where c.status = 'pending'
     and c.created_at > now() - $1 * interval '1 millisecond'
     and c.created_at < now() - $2 * interval '1 millisecond'
     and c.updated_at < now() - $2 * interval '1 millisecond'
     and not exists (select 1 from cafe24.exchange_outbox o where o.code_id = c.id)
   order by c.created_at
   limit $3
     for update of c skip locked
),
touched as (
  update cafe24.oauth_authorization_codes c
     set updated_at = now()
    from lost
   where c.id = lost.id
  returning c.id
)
insert into cafe24.exchange_outbox (code_id)
select id from touched
    on conflict do nothing`;

export type LostMessageRules = {
  /** A code younger than this is still worth sending: its life minus the exchange's margin. */
  aliveForMs: number;
  /** No outbox row and nothing done to the code for this long: its message is taken as lost. */
  untouchedForMs: number;
  /** Codes per call (the next sweep takes the rest). */
  limit?: number;
};

/** Puts live codes whose message was lost back into the outbox; returns how many. */
export async function republishLost(pool: Pool, rules: LostMessageRules): Promise<number> {
  const { rowCount } = await pool.query(REPUBLISH_LOST, [
    rules.aliveForMs,
    rules.untouchedForMs,
    rules.limit ?? 1_000,
  ]);
  return rowCount ?? 0;
}
