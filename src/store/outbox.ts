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

const MARK_PUBLISHED = `
delete from cafe24.exchange_outbox
 where code_id = any($1::bigint[])`;

const CODE_VISIBLE = `select 1 from cafe24.oauth_authorization_codes where id = $1`;

/** Up to `limit` unpublished code ids, locked by the caller's transaction until it ends. */
export async function claimUnpublished(client: pg.ClientBase, limit: number): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(CLAIM_UNPUBLISHED, [limit]);
  return rows.map(({ id }) => id);
}

/** SQS took these codes: they leave the outbox when the caller's transaction commits. */
export async function markPublished(client: pg.ClientBase, codeIds: string[]): Promise<void> {
  if (codeIds.length > 0) await client.query(MARK_PUBLISHED, [codeIds]);
}

/** Whether this session sees the code: false while its inserting transaction has not committed. */
export async function codeVisible(pool: Pool, codeId: string): Promise<boolean> {
  const { rowCount } = await pool.query(CODE_VISIBLE, [codeId]);
  return rowCount === 1;
}
