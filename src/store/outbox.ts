import type pg from 'pg';
import type { Pool } from './pool.ts';

// Claims a batch of unpublished codes; another relay skips the locked rows instead of waiting.
const CLAIM_UNPUBLISHED = `
select id::text
  from cafe24.oauth_authorization_codes
 where published_at is null and status = 'pending'
 order by id
 limit $1
   for update skip locked`;

const MARK_PUBLISHED = `
update cafe24.oauth_authorization_codes
   set published_at = now(), updated_at = now()
 where id = any($1::bigint[])`;

const CODE_VISIBLE = `select 1 from cafe24.oauth_authorization_codes where id = $1`;

/** Up to `limit` unpublished pending code ids, locked by the caller's transaction until it ends. */
export async function claimUnpublished(client: pg.ClientBase, limit: number): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(CLAIM_UNPUBLISHED, [limit]);
  return rows.map(({ id }) => id);
}

export async function markPublished(client: pg.ClientBase, codeIds: string[]): Promise<void> {
  if (codeIds.length > 0) await client.query(MARK_PUBLISHED, [codeIds]);
}

/** Whether this session sees the code: false while its inserting transaction has not committed. */
export async function codeVisible(pool: Pool, codeId: string): Promise<boolean> {
  const { rowCount } = await pool.query(CODE_VISIBLE, [codeId]);
  return rowCount === 1;
}
