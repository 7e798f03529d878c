import type { TokenSet } from '../cafe24/token-response.ts';
import { Secret } from '../commons/secret.ts';

import type { ClaimResult, CodeStatus, CodeStore, StoreOutcome } from '../domain/ports.ts';
import type { Pool } from './pool.ts';
import { upsertTokens } from './tokens.ts';
import { withTransaction } from './transaction.ts';

const CLAIM = `
update cafe24.oauth_authorization_codes
   set status = 'exchanging', claimed_at = now(), updated_at = now()
 where id = $1 and status = 'pending'
returning id::text, mall_id, code, redirect_uri,
          extract(epoch from created_at - now()) * 1000 + $2 as remaining_ms`;

const STATE = `
select status, last_error, attempts, extract(epoch from now() - claimed_at) * 1000 as claimed_ago_ms
  from cafe24.oauth_authorization_codes
 where id = $1`;

const RECORD_ATTEMPT = `
update cafe24.oauth_authorization_codes
   set attempts = attempts + 1, updated_at = now()
 where id = $1`;

const MARK_EXCHANGED = `
update cafe24.oauth_authorization_codes
   set status = 'exchanged', finished_at = now(), updated_at = now(), last_error = $2
 where id = $1 and status <> 'exchanged'`;

const MARK_FINAL = `
update cafe24.oauth_authorization_codes
   set status = $2, finished_at = now(), updated_at = now(), last_error = $3
 where id = $1 and status in ('pending', 'exchanging')`;

const NEWEST_PENDING = `
select id::text from cafe24.oauth_authorization_codes
 where mall_id = $1 and status = 'pending'
 order by created_at desc, id desc
 limit 1`;

/** The exchange's view of `cafe24.oauth_authorization_codes` and `cafe24.oauth_tokens`. */
export class PostgresCodeStore implements CodeStore {
  readonly #pool: Pool;
  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async claim(codeId: string, lifetimeMs: number): Promise<ClaimResult> {
    const claimed = await this.#pool.query(CLAIM, [codeId, lifetimeMs]);
    const row = claimed.rows[0];
    if (row) {
      return {
        claimed: true,
        code: {
          id: row.id,
          mallId: row.mall_id,
          code: new Secret(row.code as string),
          redirectUri: row.redirect_uri ?? undefined,
          remainingMs: Number(row.remaining_ms),
        },
      };
    }
    const state = (await this.#pool.query(STATE, [codeId])).rows[0];
    if (!state) return { claimed: false, status: 'missing' };
    return {
      claimed: false,
      status: state.status as CodeStatus,
      lastError: state.last_error ?? undefined,
      claimedAgoMs: state.claimed_ago_ms === null ? undefined : Number(state.claimed_ago_ms),
      attempts: state.attempts,
    };
  }

  async recordAttempt(codeId: string): Promise<void> {
    await this.#pool.query(RECORD_ATTEMPT, [codeId]);
  }

  async recordSuccess(code: { id: string; mallId: string }, tokens: TokenSet): Promise<StoreOutcome> {
    return withTransaction(this.#pool, async (client) => {
      const outcome = await upsertTokens(client, code.mallId, tokens, code.id);
      await client.query(MARK_EXCHANGED, [
        code.id,
        outcome === 'stored'
          ? null
          : 'exchanged, but the mall already had a token issued later; that one was kept',
      ]);
      return outcome;
    });
  }

  async recordFailure(codeId: string, status: 'failed' | 'expired', reason: string): Promise<void> {
    await this.#pool.query(MARK_FINAL, [codeId, status, reason]);
  }

  async newestPending(mallId: string): Promise<string | undefined> {
    const result = await this.#pool.query(NEWEST_PENDING, [mallId]);
    return result.rows[0]?.id;
  }
}
