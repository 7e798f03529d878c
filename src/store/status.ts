import { CODE_STATUSES, type CodeStatus } from '../domain/ports.ts';
import type { Pool } from './pool.ts';
import { withTransaction } from './transaction.ts';

export type MallTokenStatus = {
  mallId: string;
  status: string;
  issuedAt: Date;
  expiresAt: Date;
  refreshTokenExpiresAt: Date;
  /** Seconds until the access token expires; negative once it has. */
  expiresInSeconds: number;
  /** Seconds until the refresh token expires; negative once it has. */
  refreshExpiresInSeconds: number;
  /** When a refreshed pair was last stored; null if never refreshed. */
  lastRefreshedAt: Date | null;
  /** Why the mall is `invalid` (it needs a new install); null while active. */
  invalidReason: string | null;
  /** Transient refresh failures since the last success, and the latest one's text. */
  refreshFailures: number;
  lastRefreshError: string | null;
  /** Both tokens sealed at rest (TOKEN_ENCRYPTION_KEY / TOKEN_KMS_KEY_ID); false: plaintext in the row. */
  sealed: boolean;
};

export type FailedCode = {
  id: string;
  mallId: string;
  status: 'failed' | 'expired';
  attempts: number;
  createdAt: Date;
  finishedAt: Date | null;
  lastError: string | null;
};

export type StatusReport = {
  /** The instant every duration is measured from. */
  now: Date;
  tokens: MallTokenStatus[];
  codes: {
    byStatus: Record<CodeStatus, number>;
    /** Pending codes the relay has not handed to SQS yet. */
    unpublishedPending: number;
    /** Age of the oldest pending code; null when none is pending. */
    oldestPendingAgeSeconds: number | null;
  };
  /** Failed and expired codes, newest first. */
  recentFailures: FailedCode[];
  /** Malls removed (webhook or `forget`) and not installed again since, newest removal first. */
  removed: RemovedMall[];
  /** The app's latest events (cafe24.mall_events), newest first. */
  recentEvents: RecentMallEvent[];
};

export type RemovedMall = { mallId: string; removedAt: Date; cause: string };

export type RecentMallEvent = {
  id: string;
  mallId: string;
  kind: string;
  occurredAt: Date;
  /** When EventBridge took it; null while unpublished (or no bus is configured). */
  publishedAt: Date | null;
};

/** A mall's latest event is its removal: it has no token row and is not served. */
const REMOVED = `
select distinct on (mall_id) mall_id, kind, occurred_at, detail->>'cause' as cause
  from cafe24.mall_events
 where kind in ('removed', 'installed', 'reinstalled')
 order by mall_id, id desc`;

const RECENT_EVENTS = `
select id::text, mall_id, kind, occurred_at, published_at
  from cafe24.mall_events
 -- The table's bigint, not the text column of the same name (which would put 9 after 22).
 order by mall_events.id desc
 limit $1`;

// The token columns themselves are never selected: a status view has no use for them.
const TOKENS = `
select mall_id, status, issued_at, expires_at, refresh_token_expires_at, last_refreshed_at, invalid_reason,
       refresh_failures, last_refresh_error,
       -- Whether both tokens are sealed at rest (the codec's stored form), never the values.
       (access_token like 'enc:v1:%' and refresh_token like 'enc:v1:%') as sealed
  from cafe24.oauth_tokens
 order by mall_id`;

const CODES_SUMMARY = `
select now() as now,
       (select count(*)::int
          from cafe24.exchange_outbox o join cafe24.oauth_authorization_codes p on p.id = o.code_id
         where p.status = 'pending')                      as unpublished_pending,
       min(created_at) filter (where status = 'pending') as oldest_pending_at
  from cafe24.oauth_authorization_codes`;

const CODES_BY_STATUS = `
select status, count(*)::int as count
  from cafe24.oauth_authorization_codes
 group by status`;

const FINISHED_SINCE = `
select id::text, mall_id, status, attempts, last_error, finished_at::text,
       round(extract(epoch from finished_at - created_at) * 1000)::int as ms
  from cafe24.oauth_authorization_codes
 where finished_at > $1::timestamptz
 order by finished_at`;

const DATABASE_NOW = `select now()::text as now`;

/** Refreshes stored (last_refreshed_at) and malls turned invalid (updated_at) after $1; never a token. */
const REFRESHES_SINCE = `
select mall_id, status, invalid_reason, at::text,
       extract(epoch from expires_at - now())::int as expires_in_seconds
  from (select mall_id, status, invalid_reason, expires_at,
               case when status = 'invalid' then updated_at else last_refreshed_at end as at
          from cafe24.oauth_tokens) t
 where at > $1::timestamptz
 order by at`;

const RECENT_FAILURES = `
select id::text, mall_id, status, attempts, created_at, finished_at, last_error
  from cafe24.oauth_authorization_codes
 where status in ('failed', 'expired')
 order by coalesce(finished_at, created_at) desc, oauth_authorization_codes.id desc
 limit $1`;

const secondsBetween = (from: Date, to: Date) => (to.getTime() - from.getTime()) / 1000;

/**
 * Every mall's token expiry, the codes table's counts and its latest failures, read in one read-only
 * snapshot so the numbers agree with each other. Durations are measured from `now` (default: the
 * database's clock, which stamped the rows).
 */
export async function readStatus(
  pool: Pool,
  options: { now?: Date; recentLimit?: number } = {},
): Promise<StatusReport> {
  const recentLimit = options.recentLimit ?? 20;
  if (!Number.isInteger(recentLimit) || recentLimit < 0) {
    throw new RangeError('recentLimit must be a whole number, 0 or more');
  }
  return withTransaction(
    pool,
    async (client) => {
      const summary = (await client.query(CODES_SUMMARY)).rows[0];
      const counts = (await client.query(CODES_BY_STATUS)).rows;
      const tokens = (await client.query(TOKENS)).rows;
      const failures = (await client.query(RECENT_FAILURES, [recentLimit])).rows;
      const latest = (await client.query(REMOVED)).rows;
      const events = (await client.query(RECENT_EVENTS, [recentLimit])).rows;
      const now: Date = options.now ?? summary.now;
      const byStatus = Object.fromEntries(CODE_STATUSES.map((status) => [status, 0])) as Record<
        CodeStatus,
        number
      >;
      for (const row of counts) byStatus[row.status as CodeStatus] = row.count;
      return {
        now,
        tokens: tokens.map((row) => ({
          mallId: row.mall_id,
          status: row.status,
          issuedAt: row.issued_at,
          expiresAt: row.expires_at,
          refreshTokenExpiresAt: row.refresh_token_expires_at,
          expiresInSeconds: secondsBetween(now, row.expires_at),
          refreshExpiresInSeconds: secondsBetween(now, row.refresh_token_expires_at),
          lastRefreshedAt: row.last_refreshed_at,
          invalidReason: row.invalid_reason,
          refreshFailures: row.refresh_failures,
          lastRefreshError: row.last_refresh_error,
          sealed: row.sealed === true,
        })),
        codes: {
          byStatus,
          unpublishedPending: summary.unpublished_pending,
          oldestPendingAgeSeconds:
            summary.oldest_pending_at === null ? null : secondsBetween(summary.oldest_pending_at, now),
        },
        recentFailures: failures.map((row) => ({
          id: row.id,
          mallId: row.mall_id,
          status: row.status,
          attempts: row.attempts,
          createdAt: row.created_at,
          finishedAt: row.finished_at,
          lastError: row.last_error,
        })),
        removed: latest
          .filter((row) => row.kind === 'removed')
          .map((row) => ({ mallId: row.mall_id, removedAt: row.occurred_at, cause: row.cause ?? 'unknown' }))
          .sort((a, b) => b.removedAt.getTime() - a.removedAt.getTime()),
        recentEvents: events.map((row) => ({
          id: row.id,
          mallId: row.mall_id,
          kind: row.kind,
          occurredAt: row.occurred_at,
          publishedAt: row.published_at,
        })),
      };
    },
    { readOnlySnapshot: true },
  );
}

export type FinishedCode = {
  id: string;
  mallId: string;
  status: CodeStatus;
  attempts: number;
  lastError: string | null;
  /** The database's own text for the instant, to resume from without rounding. */
  finishedAt: string;
  /** From INSERT to the final state. */
  ms: number;
};

/** The database's clock, as text a later `finishedSince` takes back without rounding. */
export async function databaseNow(pool: Pool): Promise<string> {
  return (await pool.query(DATABASE_NOW)).rows[0].now;
}

/** Codes that reached a final state after `since` (a `databaseNow` or `finishedAt` text), oldest first. */
export async function finishedSince(pool: Pool, since: string): Promise<FinishedCode[]> {
  const { rows } = await pool.query(FINISHED_SINCE, [since]);
  return rows.map((row) => ({
    id: row.id,
    mallId: row.mall_id,
    status: row.status,
    attempts: row.attempts,
    lastError: row.last_error,
    finishedAt: row.finished_at,
    ms: row.ms,
  }));
}

export type RefreshEvent = {
  mallId: string;
  status: 'active' | 'invalid';
  /** Why it turned invalid. */
  invalidReason: string | null;
  /** The database's own text for the instant, to resume from. */
  at: string;
  expiresInSeconds: number;
};

/** Malls refreshed, or turned invalid, after `since` (a `databaseNow` or `at` text), oldest first. */
export async function refreshesSince(pool: Pool, since: string): Promise<RefreshEvent[]> {
  const { rows } = await pool.query(REFRESHES_SINCE, [since]);
  return rows.map((row) => ({
    mallId: row.mall_id,
    status: row.status,
    invalidReason: row.invalid_reason,
    at: row.at,
    expiresInSeconds: row.expires_in_seconds,
  }));
}
