import type pg from 'pg';
import type { TokenSet } from '../cafe24/token-response.ts';
import type { StoreOutcome } from '../domain/ports.ts';

// Rules 5 and 10: a token row is never replaced by an older issue. Any grant that stores a pair
// (a code's exchange, a refresh) goes through this one statement.
const UPSERT_TOKENS = `
insert into cafe24.oauth_tokens as t
       (mall_id, access_token, expires_at, refresh_token, refresh_token_expires_at, client_id, user_id,
        scopes, token_type, issued_at, shop_no, code_id, status, updated_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, 'bearer'), $10, $11, $12, 'active', now())
on conflict (mall_id) do update
   set access_token = excluded.access_token, expires_at = excluded.expires_at,
       refresh_token = excluded.refresh_token, refresh_token_expires_at = excluded.refresh_token_expires_at,
       client_id = excluded.client_id, user_id = excluded.user_id, scopes = excluded.scopes,
       token_type = excluded.token_type, issued_at = excluded.issued_at, shop_no = excluded.shop_no,
       code_id = coalesce(excluded.code_id, t.code_id), status = 'active', updated_at = now()
 where t.issued_at <= excluded.issued_at
returning id`;

/**
 * Stores a mall's pair inside the caller's transaction, unless the row holds a newer issue.
 * `codeId` names the code a pair came from (null for a refresh, which keeps the row's code id).
 */
export async function upsertTokens(
  client: pg.ClientBase,
  mallId: string,
  tokens: TokenSet,
  codeId: string | null,
): Promise<StoreOutcome> {
  const upserted = await client.query(UPSERT_TOKENS, [
    mallId,
    tokens.accessToken.reveal(),
    tokens.expiresAt,
    tokens.refreshToken.reveal(),
    tokens.refreshTokenExpiresAt,
    tokens.clientId ?? null,
    tokens.userId ?? null,
    tokens.scopes ?? null,
    tokens.tokenType ?? null,
    tokens.issuedAt,
    tokens.shopNo ?? null,
    codeId,
  ]);
  return upserted.rowCount === 1 ? 'stored' : 'newer-token-kept';
}
