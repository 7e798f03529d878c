import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Secret } from '../commons/secret.ts';
import { TokenCodec } from '../commons/token-codec.ts';
import type { RefreshClaim, StoreOutcome, TokenRow, TokenSet, TokenStore } from '../domain/ports.ts';
import type { DueWindow } from '../domain/refresh-schedule.ts';
import type { Pool } from './pool.ts';
import { withTransaction } from './transaction.ts';

// Every statement on cafe24.oauth_tokens, named, in one place: the pair's UPSERT shared by both grants,
// and the refresh's per-mall lease.

/**
 * Rules 5 and 10: a token row is never replaced by an older issue. A code's exchange stores its pair
 * through this one statement (`source` gives the row: `values (…)` or a `select … where …`), and
 * whatever was issued makes the row `active` again (a new install revives an `invalid` mall and clears
 * its reason). `inserted` says whether the row is new. $1 … $12 as `upsertTokensValues`.
 */
export function upsertTokensSql(source: string): string {
  return `
insert into cafe24.oauth_tokens as t
       (mall_id, access_token, expires_at, refresh_token, refresh_token_expires_at, client_id, user_id,
        scopes, token_type, issued_at, shop_no, code_id, status, updated_at)
${source}
on conflict (mall_id) do update
   set ${PAIR_SET('excluded.')}, code_id = coalesce(excluded.code_id, t.code_id)
 where t.issued_at <= excluded.issued_at
returning id, (xmax = 0) as inserted`;
}

/**
 * The columns a stored pair sets, for both grants: from `excluded.` (the exchange's UPSERT) or from the
 * refresh's parameters. What Cafe24 may omit keeps what the row knew.
 */
function PAIR_SET(from: 'excluded.' | 'params'): string {
  const v = (column: string, param: string) => (from === 'params' ? param : `excluded.${column}`);
  return `access_token = ${v('access_token', '$2')}, expires_at = ${v('expires_at', '$3')},
       refresh_token = ${v('refresh_token', '$4')}, refresh_token_expires_at = ${v('refresh_token_expires_at', '$5')},
       client_id = coalesce(${v('client_id', '$6')}, t.client_id), user_id = coalesce(${v('user_id', '$7')}, t.user_id),
       scopes = coalesce(${v('scopes', '$8')}, t.scopes),
       token_type = ${from === 'params' ? "coalesce($9, 'bearer')" : 'excluded.token_type'}, issued_at = ${v('issued_at', '$10')},
       shop_no = coalesce(${v('shop_no', '$11')}, t.shop_no),
       status = 'active', invalid_reason = null,
       refresh_failures = 0, last_refresh_error = null, updated_at = now(),
       -- A live pair is stored: no send is in doubt any more.
       refresh_sending_by = null, refresh_sending_at = null,
       refresh_unrecorded_by = null, refresh_unrecorded_at = null`;
}

/**
 * A refresh's pair (rule 11): it updates the row it leased and never inserts one, so a mall removed while
 * its refresh was in flight (or whose pair waited in a stash) stays removed. Rule 5's guard as above.
 * $1 … $11 as `upsertTokensValues` without the code id.
 */
const STORE_REFRESHED = `
with updated as (
  update cafe24.oauth_tokens t
     set ${PAIR_SET('params')}, last_refreshed_at = now()
   where t.mall_id = $1 and t.issued_at <= $10
  returning t.id
)
select exists (select 1 from updated) as stored,
       exists (select 1 from cafe24.oauth_tokens where mall_id = $1) as present`;

/** For seeding (the bench): a pair stored as an exchange would, outside any code's transaction. */
const UPSERT_TOKENS = upsertTokensSql(
  "values ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, 'bearer'), $10, $11, $12, 'active', now())",
);

const ROW = `
mall_id, status, access_token, refresh_token, issued_at, expires_at, refresh_token_expires_at, invalid_reason,
extract(epoch from expires_at - now()) * 1000 as expires_in_ms,
extract(epoch from refresh_token_expires_at - now()) * 1000 as refresh_expires_in_ms,
refresh_unrecorded_by, extract(epoch from now() - refresh_unrecorded_at) * 1000 as unrecorded_age_ms`;

/**
 * Takes the mall's refresh lease unless a live one is held; a lease older than $3 ms belongs to a holder
 * that died. Under READ COMMITTED a concurrent UPDATE is waited for and the row re-checked, so `claimed`
 * is the latest committed row: the re-read of rule 7, in the same statement. A send the previous holder
 * never recorded (refresh_sending_*) is kept as unrecorded: its rotated pair may still be on its way. The
 * lease is stamped with the clock at the claim, not the statement's start (a claim may wait on a lock).
 * `seen` is the row as the statement found it before any wait: a refresh token that differs later means
 * a refresh finished after this one began.
 */
const CLAIM_REFRESH = `
with seen as (
  select refresh_token, refresh_locked_by, refresh_locked_at from cafe24.oauth_tokens where mall_id = $1
), claimed as (
  update cafe24.oauth_tokens
     set refresh_locked_at = clock_timestamp(), refresh_locked_by = $2,
         refresh_unrecorded_by = coalesce(refresh_sending_by, refresh_unrecorded_by),
         refresh_unrecorded_at = case when refresh_sending_by is not null then refresh_sending_at
                                      else refresh_unrecorded_at end,
         refresh_sending_by = null, refresh_sending_at = null
   where mall_id = $1
     and (refresh_locked_at is null or refresh_locked_at <= now() - $3 * interval '1 millisecond')
  returning ${ROW}
)
select claimed.*, seen.refresh_token as seen_refresh_token, seen.refresh_locked_by as seen_locked_by,
       extract(epoch from seen.refresh_locked_at + $3 * interval '1 millisecond' - now()) * 1000 as lease_left_ms
  from seen left join claimed on true`;

/** The holder is about to send the refresh token: said before, so a lost answer is known to be lost. */
const MARK_SENDING = `
update cafe24.oauth_tokens
   set refresh_sending_by = $2, refresh_sending_at = now()
 where mall_id = $1 and refresh_locked_by = $2`;

const READ = `select ${ROW} from cafe24.oauth_tokens where mall_id = $1`;

/** Only the holder releases: a holder that outlived its lease must not free its successor's. */
const RELEASE = `
update cafe24.oauth_tokens
   set refresh_locked_at = null, refresh_locked_by = null,
       refresh_sending_by = null, refresh_sending_at = null
 where mall_id = $1 and refresh_locked_by = $2`;

/** The app's `invalid` event, in the statement that marks the rows of `marked` (design: mall_events). */
function INVALID_EVENT(reason: string): string {
  return `event as (
  insert into cafe24.mall_events (mall_id, kind, detail)
  select mall_id, 'invalid', jsonb_build_object('reason', ${reason}::text) from marked
)`;
}

/** Guarded by the refused token: if the row holds another one, someone rotated it (a race, rule 9). */
const MARK_INVALID = `
with marked as (
  update cafe24.oauth_tokens
     set status = 'invalid', invalid_reason = $4, last_refresh_error = $4, updated_at = now(),
         refresh_locked_at = null, refresh_locked_by = null, refresh_sending_by = null, refresh_sending_at = null,
         refresh_unrecorded_by = null, refresh_unrecorded_at = null
   where mall_id = $1 and refresh_locked_by = $2 and refresh_token = $3
  returning mall_id
), ${INVALID_EVENT('$4')}
select count(*)::int as marked from marked`;

const RECORD_FAILURE = `
update cafe24.oauth_tokens
   set refresh_failures = refresh_failures + 1, last_refresh_error = $3,
       refresh_locked_at = null, refresh_locked_by = null, refresh_sending_by = null, refresh_sending_at = null
 where mall_id = $1 and refresh_locked_by = $2`;

/** Due: active and expiring within the window; a range scan of ix_oauth_tokens_refresh_due. */
const DUE_MALLS = `
select mall_id
  from cafe24.oauth_tokens
 where status = 'active' and expires_at <= now() + $1 * interval '1 millisecond'
 order by expires_at
 limit $2`;

/**
 * The schedule's claim of one round: malls due by `column` (within $1 ms) not published within the round
 * ($2 ms) are stamped and returned, at most $3. Two publishers at once: a row the other is stamping is
 * skipped (SKIP LOCKED); one it stamped and committed is re-checked against its new refresh_queued_at and
 * left out, so each due mall is returned to exactly one publisher per round. The range scan of the
 * column's partial index (ix_oauth_tokens_refresh_due, ix_oauth_tokens_keepalive_due).
 */
function claimDueSql(column: 'expires_at' | 'refresh_token_expires_at'): string {
  return `
update cafe24.oauth_tokens t
   set refresh_queued_at = now()
 where t.mall_id in (
         select mall_id
           from cafe24.oauth_tokens
          where status = 'active' and ${column} <= now() + $1 * interval '1 millisecond'
            and (refresh_queued_at is null or refresh_queued_at < now() - $2 * interval '1 millisecond')
          order by ${column}
          limit $3
            for update skip locked)
   and (t.refresh_queued_at is null or t.refresh_queued_at < now() - $2 * interval '1 millisecond')
returning t.mall_id`;
}

/** REFRESH_MODE=ahead: access tokens expiring within $1 ms. */
export const CLAIM_DUE_FOR_QUEUE = claimDueSql('expires_at');

/** REFRESH_MODE=on-demand: refresh tokens expiring within $1 ms (access tokens are refreshed when needed). */
export const CLAIM_KEEPALIVE_FOR_QUEUE = claimDueSql('refresh_token_expires_at');

/** Rows no refresh can serve (a mall_id that is not one): recorded invalid, out of the due index. */
const MARK_UNUSABLE = `
with marked as (
  update cafe24.oauth_tokens
     set status = 'invalid', invalid_reason = $2, last_refresh_error = $2, updated_at = now()
   where mall_id = any($1::text[]) and status = 'active'
  returning mall_id
), ${INVALID_EVENT('$2')}
select count(*)::int as marked from marked`;

/** Gives back the round of malls whose message SQS did not take: the next run publishes them. */
const UNCLAIM_QUEUED = `
update cafe24.oauth_tokens set refresh_queued_at = null where mall_id = any($1::text[])`;

/**
 * Stores a mall's pair inside the caller's transaction, unless the row holds a newer issue.
 * `codeId` names the code a pair came from (null for a refresh, which keeps the row's code id).
 */
export async function upsertTokens(
  client: pg.ClientBase,
  mallId: string,
  tokens: TokenSet,
  codeId: string | null,
  codec: TokenCodec = PLAINTEXT,
): Promise<StoreOutcome> {
  const upserted = await client.query(UPSERT_TOKENS, await upsertTokensValues(codec, mallId, tokens, codeId));
  return upserted.rowCount === 1 ? 'stored' : 'newer-token-kept';
}

/** Tokens as they are, where no key is configured. */
export const PLAINTEXT = new TokenCodec(undefined);

/** The foreign keys of migration 015: a value sealed under a data key that is no longer there. */
const RETIRED_KEY_CONSTRAINTS = new Set([
  'oauth_tokens_access_key_id_fkey',
  'oauth_tokens_refresh_key_id_fkey',
]);

/**
 * Runs `write` (which seals as it goes); when the database refuses it because the data key it sealed
 * under was deleted by `rotate-key` meanwhile, the codec looks which key is current and `write` runs once
 * more, sealed under that one.
 */
export async function writeSealed<T>(codec: TokenCodec, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    const { code, constraint } = error as { code?: string; constraint?: string };
    if (code !== '23503' || !RETIRED_KEY_CONSTRAINTS.has(constraint ?? '')) throw error;
    codec.keyRetired();
    return write();
  }
}

/**
 * UPSERT_TOKENS's parameters, $1 … $12 (a statement that embeds it takes its own from $13), the two
 * tokens in their stored form (sealed by `codec` when it has a key).
 */
export async function upsertTokensValues(
  codec: TokenCodec,
  mallId: string,
  tokens: TokenSet,
  codeId: string | null,
): Promise<unknown[]> {
  return [
    mallId,
    await codec.seal(tokens.accessToken, { mallId, column: 'access_token' }),
    tokens.expiresAt,
    await codec.seal(tokens.refreshToken, { mallId, column: 'refresh_token' }),
    tokens.refreshTokenExpiresAt,
    tokens.clientId ?? null,
    tokens.userId ?? null,
    tokens.scopes ?? null,
    tokens.tokenType ?? null,
    tokens.issuedAt,
    tokens.shopNo ?? null,
    codeId,
  ];
}

/** Who holds a lease: readable in the table (host and pid), unique per claim (the nonce). */
function leaseOwner(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

type Row = Record<string, unknown>;

/** A row's tokens opened; `stored` remembers the refresh token's stored form, for guards that compare it. */
async function tokenRow(row: Row, codec: TokenCodec, stored: WeakMap<Secret, string>): Promise<TokenRow> {
  const mallId = row.mall_id as string;
  const refreshToken = await codec.open(row.refresh_token as string, { mallId, column: 'refresh_token' });
  stored.set(refreshToken, row.refresh_token as string);
  return {
    mallId,
    status: row.status as TokenRow['status'],
    accessToken: await codec.open(row.access_token as string, { mallId, column: 'access_token' }),
    refreshToken,
    issuedAt: row.issued_at as Date,
    expiresAt: row.expires_at as Date,
    refreshTokenExpiresAt: row.refresh_token_expires_at as Date,
    expiresInMs: Number(row.expires_in_ms),
    refreshExpiresInMs: Number(row.refresh_expires_in_ms),
    invalidReason: (row.invalid_reason as string | null) ?? undefined,
    unrecordedSend:
      row.refresh_unrecorded_by === null || row.refresh_unrecorded_by === undefined
        ? undefined
        : { by: row.refresh_unrecorded_by as string, ageMs: Number(row.unrecorded_age_ms) },
  };
}

/** The refresh's view of `cafe24.oauth_tokens`. No connection is held between calls. */
export class PostgresTokenStore implements TokenStore {
  readonly #pool: Pool;
  readonly #codec: TokenCodec;
  /** Each refresh token this store opened, and the form it is stored in (sealed values differ per IV). */
  readonly #stored = new WeakMap<Secret, string>();
  constructor(pool: Pool, codec: TokenCodec = PLAINTEXT) {
    this.#pool = pool;
    this.#codec = codec;
  }

  /** The data key at hand (fetched from KMS once per container), or DataKeyUnavailable. */
  ready(): Promise<void> {
    return this.#codec.ready();
  }

  async claimRefresh(mallId: string, leaseMs: number): Promise<RefreshClaim> {
    const owner = leaseOwner();
    const found = (await this.#pool.query(CLAIM_REFRESH, [mallId, owner, leaseMs])).rows[0];
    if (!found) return { status: 'missing' };
    let seenRefreshToken: Secret;
    let row: TokenRow | undefined;
    try {
      seenRefreshToken = await this.#codec.open(found.seen_refresh_token as string, {
        mallId,
        column: 'refresh_token',
      });
      if (found.mall_id !== null) row = await tokenRow(found, this.#codec, this.#stored);
    } catch (error) {
      // Tokens that do not open: the lease is given back now, not at its expiry.
      if (found.mall_id !== null) await this.release(mallId, owner).catch(() => {});
      throw error;
    }
    if (row) return { status: 'claimed', owner, row, seenRefreshToken };
    return {
      status: 'locked',
      owner: (found.seen_locked_by as string | null) ?? '',
      leaseLeftMs: Math.max(0, Number(found.lease_left_ms ?? 0)),
      seenRefreshToken,
    };
  }

  async markSending(mallId: string, owner: string): Promise<void> {
    await this.#pool.query(MARK_SENDING, [mallId, owner]);
  }

  async release(mallId: string, owner: string): Promise<void> {
    await this.#pool.query(RELEASE, [mallId, owner]);
  }

  async read(mallId: string): Promise<TokenRow | undefined> {
    const row = (await this.#pool.query(READ, [mallId])).rows[0];
    return row ? tokenRow(row, this.#codec, this.#stored) : undefined;
  }

  async storeRefreshed(mallId: string, tokens: TokenSet, owner: string | undefined): Promise<StoreOutcome> {
    return writeSealed(this.#codec, () =>
      withTransaction(this.#pool, async (client) => {
        const values = (await upsertTokensValues(this.#codec, mallId, tokens, null)).slice(0, 11);
        const { rows } = await client.query(STORE_REFRESHED, values);
        if (owner !== undefined) await client.query(RELEASE, [mallId, owner]);
        if (rows[0].stored === true) return 'stored';
        return rows[0].present === true ? 'newer-token-kept' : 'removed';
      }),
    );
  }

  async markInvalid(mallId: string, owner: string, refused: Secret, reason: string): Promise<boolean> {
    // The guard compares the stored form: the one read with this token, or the token itself (plaintext).
    const guard = this.#stored.get(refused) ?? refused.reveal();
    const marked = await this.#pool.query(MARK_INVALID, [mallId, owner, guard, reason]);
    if (marked.rows[0].marked === 1) return true;
    await this.release(mallId, owner);
    return false;
  }

  async recordRefreshFailure(mallId: string, owner: string, reason: string): Promise<void> {
    await this.#pool.query(RECORD_FAILURE, [mallId, owner, reason]);
  }

  /** Due malls for this round of the schedule, stamped as published; each is returned once per round. */
  async claimDueForQueue(window: DueWindow, roundMs: number, limit: number): Promise<string[]> {
    const { rows } =
      'keepaliveMs' in window
        ? await this.#pool.query(CLAIM_KEEPALIVE_FOR_QUEUE, [window.keepaliveMs, roundMs, limit])
        : await this.#pool.query(CLAIM_DUE_FOR_QUEUE, [window.aheadMs, roundMs, limit]);
    return rows.map((row) => row.mall_id as string);
  }

  /** Malls whose message was not sent: published again by the next run, not after the round. */
  async unclaimQueued(mallIds: string[]): Promise<void> {
    if (mallIds.length > 0) await this.#pool.query(UNCLAIM_QUEUED, [mallIds]);
  }

  async markUnusable(mallIds: string[], reason: string): Promise<void> {
    if (mallIds.length > 0) await this.#pool.query(MARK_UNUSABLE, [mallIds, reason]);
  }

  /** Malls to refresh now, soonest expiry first. */
  async dueMalls(aheadMs: number, limit: number): Promise<string[]> {
    return (await this.#pool.query(DUE_MALLS, [aheadMs, limit])).rows.map((row) => row.mall_id as string);
  }
}
