import type pg from 'pg';
import type { Pool } from './pool.ts';

// Claims a batch of outbox rows; another relay skips the locked rows instead of waiting. Only outbox
// rows are locked: an exchange claiming the code rows never waits on a relay.
const CLAIM_UNPUBLISHED = `
select code_id::text as id
  from cafe24.exchange_outbox
 order by code_id
 limit $1
   for update skip locked`;

// Returns each code's INSERT → SQS lag (the outbox row is written by the INSERT's trigger, with its now()).
const MARK_PUBLISHED = `
delete from cafe24.exchange_outbox
 where code_id = any($1::bigint[])
returning (extract(epoch from clock_timestamp() - created_at) * 1000)::float8 as lag_ms`;

const CODE_VISIBLE = `select 1 from cafe24.oauth_authorization_codes where id = $1`;

/** Up to `limit` unpublished code ids, locked by the caller's transaction until it ends. */
export async function claimUnpublished(client: pg.ClientBase, limit: number): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(CLAIM_UNPUBLISHED, [limit]);
  return rows.map(({ id }) => id);
}

/**
 * SQS took these codes: they leave the outbox when the caller's transaction commits. Returns how long
 * each waited since its INSERT, in milliseconds.
 */
export async function markPublished(client: pg.ClientBase, codeIds: string[]): Promise<number[]> {
  if (codeIds.length === 0) return [];
  const { rows } = await client.query<{ lag_ms: number }>(MARK_PUBLISHED, [codeIds]);
  return rows.map((row) => row.lag_ms);
}

/** Whether this session sees the code: false while its inserting transaction has not committed. */
export async function codeVisible(pool: Pool, codeId: string): Promise<boolean> {
  const { rowCount } = await pool.query(CODE_VISIBLE, [codeId]);
  return rowCount === 1;
}
