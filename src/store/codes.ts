import { Secret } from '../commons/secret.ts';
import type { TokenCodec } from '../commons/token-codec.ts';
import type { ClaimResult, CodeStatus, CodeStore, ExchangeStoreOutcome, TokenSet } from '../domain/ports.ts';
import type { Pool } from './pool.ts';
import { PLAINTEXT, upsertTokensSql, upsertTokensValues, writeSealed } from './tokens.ts';

// The exchange's hot statements run as named (prepared) statements: parsed and planned once per connection.

/**
 * Rule 11: the code's mall was removed after the code was created (a code inserted by a transaction that
 * committed after the removal, and so escaped the removal's stamp). Read through ix_mall_events_removed.
 */
const REMOVED_SINCE_CREATED = `exists (
  select 1 from cafe24.mall_events e
   where e.kind = 'removed' and e.mall_id = c.mall_id and e.occurred_at > c.created_at)`;

/**
 * The claim, and the first attempt counted in the same statement (rule 2: before the request). A claimer
 * that then sends nothing (the code too old, an empty code, the invocation's time gone) gives the count
 * back in the statement that records why (MARK_FINAL, RELEASE with $2/$4 = 1), so `attempts` stays the
 * number of requests sent or about to be sent, and 0 still means the code never left the database.
 */
const CLAIM = `
update cafe24.oauth_authorization_codes c
   set status = 'exchanging', claimed_at = now(), updated_at = now(), attempts = attempts + 1
 where id = $1 and status = 'pending' and mall_removed_at is null and not ${REMOVED_SINCE_CREATED}
returning id::text, mall_id, code, redirect_uri,
          extract(epoch from created_at - now()) * 1000 + $2 as remaining_ms`;

const STATE = `
select status, last_error, attempts, interrupted_at is not null as interrupted,
       extract(epoch from now() - claimed_at) * 1000 as claimed_ago_ms,
       mall_removed_at is not null or ${REMOVED_SINCE_CREATED} as removed
  from cafe24.oauth_authorization_codes c
 where id = $1`;

const RECORD_ATTEMPT = `
update cafe24.oauth_authorization_codes
   set attempts = attempts + 1, updated_at = now()
 where id = $1`;

const RELEASE = `
update cafe24.oauth_authorization_codes
   set status = 'pending', claimed_at = null, updated_at = now(), attempts = attempts - $2
 where id = $1 and status = 'exchanging'`;

/**
 * Rule 5, the store of rule 6 and rule 11 in ONE statement (one round trip, one implicit transaction, so
 * still atomic). The code is marked exchanged first, and only while no removal stamped it: a removal
 * committed meanwhile holds the code row's lock, and the re-check after it finds the stamp. Only then the
 * token UPSERT with its issued_at guard, and the mall's event: `installed` for a new row, `reinstalled`
 * for a row made after a removal or one revived from `invalid`. Data-modifying CTEs run exactly once and
 * to completion; the rows are locked in the same order as before (code, then token) and as a removal.
 */
const STORE_EXCHANGED = `
with before as (
  select status, issued_at > $10 as newer from cafe24.oauth_tokens where mall_id = $1
), marked as (
  update cafe24.oauth_authorization_codes
     set status = 'exchanged', finished_at = now(), updated_at = now(),
         last_error = case when coalesce((select newer from before), false) then $13 end
   where id = $12 and status <> 'exchanged' and mall_removed_at is null
  returning id
), upserted as (
  ${upsertTokensSql("select $1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, 'bearer'), $10, $11, $12, 'active', now() where exists (select 1 from marked)")}
), event as (
  insert into cafe24.mall_events (mall_id, kind, detail)
  select $1,
         case when u.inserted and not exists (
                select 1 from cafe24.mall_events e where e.kind = 'removed' and e.mall_id = $1)
              then 'installed' else 'reinstalled' end,
         jsonb_build_object('codeId', $12::text,
                            'scopes', to_jsonb(coalesce($8::text[], '{}'::text[])),
                            'previous', case when u.inserted then
                              case when exists (select 1 from cafe24.mall_events e
                                                 where e.kind = 'removed' and e.mall_id = $1)
                                   then 'removed' end
                              else 'invalid' end)
    from upserted u
   where u.inserted or (select status from before) = 'invalid'
  returning kind
)
select exists (select 1 from upserted) as stored, exists (select 1 from marked) as marked,
       (select kind from event) as event`;

const NEWER_KEPT = 'exchanged, but the mall already had a token issued later; that one was kept';

const MARK_FINAL = `
update cafe24.oauth_authorization_codes
   set status = $2, finished_at = now(), updated_at = now(), last_error = $3, attempts = attempts - $4,
       interrupted_at = case when $5 then now() end
 where id = $1 and status in ('pending', 'exchanging')`;

const NEWEST_PENDING = `
select id::text from cafe24.oauth_authorization_codes
 where mall_id = $1 and status = 'pending'
 order by created_at desc, oauth_authorization_codes.id desc
 limit 1`;

/**
 * Codes nobody will exchange any more, recorded with a reason (the relay's sweep): `pending` created more
 * than $1 ms ago (no exchange claimed it within its life: its message was lost) → `expired`; `exchanging`
 * claimed more than $2 ms ago (its worker is gone) → `expired` when no request was sent, else `failed`.
 * `{ago}` in the reasons becomes whole seconds since the claim. Rows an exchange holds are skipped. The
 * open codes are read through ix_oauth_authorization_codes_open (migration 007): 0.5 ms among 200,000
 * codes, where a sequential scan took 26 ms.
 */
const RECORD_STRANDED = `
with stranded as (
  select id, status as was, attempts,
         round(extract(epoch from now() - claimed_at))::bigint::text as ago
    from cafe24.oauth_authorization_codes
   where (status = 'pending' and created_at < now() - $1 * interval '1 millisecond')
      or (status = 'exchanging' and claimed_at < now() - $2 * interval '1 millisecond')
   order by id
   limit $6
     for update skip locked
)
update cafe24.oauth_authorization_codes c
   set status = case when s.was = 'exchanging' and s.attempts > 0 then 'failed' else 'expired' end,
       last_error = case when s.was = 'pending' then $3
                         when s.attempts = 0 then replace($4, '{ago}', s.ago)
                         else replace($5, '{ago}', s.ago) end,
       interrupted_at = case when s.was = 'exchanging' and s.attempts > 0 then now() end,
       finished_at = now(), updated_at = now()
  from stranded s
 where c.id = s.id
returning c.id::text, c.mall_id, s.was, c.status, c.last_error`;

export type StrandedRules = {
  /** A `pending` code older than this was never claimed: its life and a grace are over. */
  pendingAfterMs: number;
  /** An `exchanging` claim older than this has no worker left (a stashed-token redelivery had its time). */
  claimedAfterMs: number;
  /** The reasons, worded by the domain (STRANDED_REASONS); `{ago}` is filled in here. */
  reasons: { lostMessage: string; claimedNeverSent: string; interrupted: string };
  /** Rows per call (the next sweep takes the rest). */
  limit?: number;
};

export type StrandedCode = {
  id: string;
  mallId: string;
  was: 'pending' | 'exchanging';
  status: 'expired' | 'failed';
  reason: string;
};

/** Records stranded codes as `expired` or `failed` with the reason; returns what it recorded. */
export async function recordStrandedCodes(pool: Pool, rules: StrandedRules): Promise<StrandedCode[]> {
  const { rows } = await pool.query(RECORD_STRANDED, [
    rules.pendingAfterMs,
    rules.claimedAfterMs,
    rules.reasons.lostMessage,
    rules.reasons.claimedNeverSent,
    rules.reasons.interrupted,
    rules.limit ?? 1_000,
  ]);
  return rows.map((row) => ({
    id: row.id,
    mallId: row.mall_id,
    was: row.was,
    status: row.status,
    reason: row.last_error,
  }));
}

/** The exchange's view of `cafe24.oauth_authorization_codes` and `cafe24.oauth_tokens`. */
export class PostgresCodeStore implements CodeStore {
  readonly #pool: Pool;
  readonly #codec: TokenCodec;
  /** `codec` seals the pair it stores (TOKEN_ENCRYPTION_KEY, TOKEN_KMS_KEY_ID); plaintext by default. */
  constructor(pool: Pool, codec: TokenCodec = PLAINTEXT) {
    this.#pool = pool;
    this.#codec = codec;
  }

  /** The data key at hand (fetched from KMS once per container), or DataKeyUnavailable. */
  ready(): Promise<void> {
    return this.#codec.ready();
  }

  async claim(codeId: string, lifetimeMs: number): Promise<ClaimResult> {
    const claimed = await this.#pool.query({
      name: 'exchange-claim',
      text: CLAIM,
      values: [codeId, lifetimeMs],
    });
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
          attemptRecorded: true,
        },
      };
    }
    const state = (await this.#pool.query(STATE, [codeId])).rows[0];
    if (!state) return { claimed: false, status: 'missing' };
    return {
      claimed: false,
      status: state.status as CodeStatus,
      lastError: state.last_error ?? undefined,
      interrupted: state.interrupted === true,
      claimedAgoMs: state.claimed_ago_ms === null ? undefined : Number(state.claimed_ago_ms),
      removed: state.removed === true,
      attempts: state.attempts,
    };
  }

  async release(codeId: string, options: { unsentAttempt?: boolean } = {}): Promise<void> {
    await this.#pool.query(RELEASE, [codeId, options.unsentAttempt ? 1 : 0]);
  }

  async recordAttempt(codeId: string): Promise<void> {
    await this.#pool.query({ name: 'exchange-attempt', text: RECORD_ATTEMPT, values: [codeId] });
  }

  async recordSuccess(code: { id: string; mallId: string }, tokens: TokenSet): Promise<ExchangeStoreOutcome> {
    const { rows } = await writeSealed(this.#codec, async () =>
      this.#pool.query({
        name: 'exchange-store',
        text: STORE_EXCHANGED,
        values: [...(await upsertTokensValues(this.#codec, code.mallId, tokens, code.id)), NEWER_KEPT],
      }),
    );
    if (rows[0]?.stored === true) return rows[0].event === 'reinstalled' ? 'reinstalled' : 'stored';
    if (rows[0]?.marked === true) return 'newer-token-kept';
    // Not marked: exchanged by another delivery meanwhile, or stamped by a removal (rule 11).
    const state = (await this.#pool.query(STATE, [code.id])).rows[0];
    return state?.removed === true ? 'removed' : 'newer-token-kept';
  }

  async recordFailure(
    codeId: string,
    status: 'failed' | 'expired',
    reason: string,
    options: { unsentAttempt?: boolean; interrupted?: boolean } = {},
  ): Promise<void> {
    await this.#pool.query(MARK_FINAL, [
      codeId,
      status,
      reason,
      options.unsentAttempt ? 1 : 0,
      options.interrupted === true,
    ]);
  }

  async newestPending(mallId: string): Promise<string | undefined> {
    const result = await this.#pool.query(NEWEST_PENDING, [mallId]);
    return result.rows[0]?.id;
  }
}
