import type pg from 'pg';
import type { Pool } from './pool.ts';

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
export function beginClaimUnpublished(limit: number): string {
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
export function claimedRows(results: pg.QueryResult | pg.QueryResult[]): ClaimedOutboxRow[] {
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

export async function putBack(client: pg.ClientBase, rows: ClaimedOutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  await client.query(PUT_BACK, [rows.map((row) => row.id), rows.map((row) => row.createdAt)]);
}

const CODE_VISIBLE = `select 1 from cafe24.oauth_authorization_codes where id = $1`;

/** Whether this session sees the code: false while its inserting transaction has not committed. */
export async function codeVisible(pool: Pool, codeId: string): Promise<boolean> {
  const { rowCount } = await pool.query(CODE_VISIBLE, [codeId]);
  return rowCount === 1;
}
