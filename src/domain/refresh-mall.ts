import { asFailure, describeError } from '../commons/errors.ts';
import { isMallId, MALL_ID_RULE } from '../commons/ids.ts';
import type { Log } from '../commons/log.ts';
import type { Secret } from '../commons/secret.ts';
import { DataKeyUnavailable, TokenSealError } from '../commons/token-codec.ts';
import type { TokenSet } from '../domain/ports.ts';
import type { StoreOutcome, TokenRefresher, TokenRow, TokenStash, TokenStore } from './ports.ts';
import { backoffMs, retryUntil, sleepFor } from './retry.ts';

export type RefreshPolicy = {
  /** Due when the access token expires within this (REFRESH_AHEAD_SECONDS). */
  aheadMs: number;
  /** REFRESH_MODE=on-demand: also due when the refresh token (14 days) expires within this. */
  keepaliveMs?: number;
  /** The per-mall lease: one Cafe24 request's timeout plus a margin. A dead holder blocks no longer. */
  leaseMs: number;
  /** Token requests per call, transient failures included; each under a lease of its own. */
  maxAttempts?: number;
  /** How long to wait for another process's refresh of the same mall (default: one lease). */
  waitMs?: number;
  /**
   * How long after a send whose answer was never recorded a refusal of the stored token is taken for the
   * rotated pair still being on its way (in another process's stash), not for a dead mall (default 1 h).
   */
  inDoubtMs?: number;
};

export type RefreshDeps = {
  tokens: TokenStore;
  cafe24: TokenRefresher;
  stash: TokenStash;
  log: Log;
  policy: RefreshPolicy;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
};

export type RefreshOptions = {
  /** Refresh even when not due (still skipped if another process refreshed it meanwhile). */
  force?: boolean;
  /** Overrides the policy's window (a reader that needs more validity than the schedule keeps). */
  aheadMs?: number;
  /**
   * No lease is taken, and so no request sent, unless a whole lease fits before this instant (a Lambda
   * killed after Cafe24 rotated the pair would lose the mall). No bound by default.
   */
  deadline?: number;
};

/**
 * What happened to one mall. `refreshed` and `skipped-fresh` leave a valid access token in the table;
 * `configuration-error` blames the app, not the mall, and should stop a run.
 */
export type RefreshResult =
  | {
      status: 'refreshed';
      mallId: string;
      token: StoreOutcome;
      expiresAt: string;
      attempts: number;
    }
  | { status: 'skipped-fresh'; mallId: string; expiresAt: string }
  | {
      status: 'invalid';
      mallId: string;
      reason: string;
      attempts: number;
      /** This call marked the mall invalid (it was active): counted once as a mall turned invalid. */
      turnedInvalid?: true;
    }
  | { status: 'transient-failure'; mallId: string; reason: string; attempts: number }
  | { status: 'configuration-error'; mallId: string; reason: string }
  /** Refreshed at Cafe24 but not stored yet: the pair waits in the stash (rule 8). */
  | { status: 'stashed'; mallId: string; reason: string; attempts: number }
  | { status: 'locked-by-another'; mallId: string; owner: string }
  | { status: 'missing'; mallId: string }
  /**
   * A stored token did not open (changed, moved to another mall or column, or sealed under a key this
   * deployment lacks): our data or our configuration, not Cafe24's answer. Nothing was sent and the mall
   * is not marked invalid; alarmed (TokensUnreadable).
   */
  | { status: 'unreadable'; mallId: string; reason: string };

const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_IN_DOUBT_MS = 60 * 60_000;
/** How often a waiter looks whether another process's lease is gone. */
const LEASE_POLL_MS = 100;

/**
 * Refreshes one mall's tokens (design rules 7–10): take the mall's lease, re-read the row, skip it when
 * it is not due, send its refresh token unless it has expired, and store the rotated pair in the
 * transaction that releases the lease. One lease covers one Cafe24 request: a transient failure gives
 * it back before the backoff. A final answer marks the row `invalid` only if it still holds the refused
 * token; an answer that blames the app (credentials, the request) or is not Cafe24's marks nothing.
 */
export async function refreshMall(
  deps: RefreshDeps,
  mallId: string,
  options: RefreshOptions = {},
): Promise<RefreshResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? sleepFor;
  const { policy } = deps;
  const state: CallState = { attempts: 0, refused: [] };
  let waitingSince: number | undefined;
  for (;;) {
    if (options.deadline !== undefined && now() + policy.leaseMs > options.deadline) {
      const reason = 'too little time left for another token request; nothing more was sent';
      return { status: 'transient-failure', mallId, reason, attempts: state.attempts };
    }
    let claim: Awaited<ReturnType<TokenStore['claimRefresh']>>;
    try {
      claim = await deps.tokens.claimRefresh(mallId, policy.leaseMs);
    } catch (error) {
      const unopened = unopenedRow(deps, mallId, error, state.attempts);
      if (unopened) return unopened;
      throw error;
    }
    if (claim.status === 'missing') return { status: 'missing', mallId };
    // The row as this call first found it, before waiting for anyone: a later token is someone's refresh.
    state.seenRefreshToken ??= claim.seenRefreshToken;
    if (claim.status === 'locked') {
      waitingSince ??= now();
      if (now() - waitingSince >= (policy.waitMs ?? policy.leaseMs)) {
        return { status: 'locked-by-another', mallId, owner: claim.owner };
      }
      // Another process is refreshing this mall: let it finish (its lease bounds the wait), then re-read.
      await sleep(Math.max(10, Math.min(LEASE_POLL_MS, claim.leaseLeftMs)));
      continue;
    }
    waitingSince = undefined;
    let outcome: RefreshResult | 'again';
    try {
      outcome = await underLease(deps, mallId, options, claim, state);
    } catch (error) {
      // The database or the stash failed: give the lease back now rather than at its expiry.
      await deps.tokens.release(mallId, claim.owner).catch(() => {});
      throw error;
    }
    if (outcome !== 'again') return outcome;
  }
}

/**
 * A row whose tokens did not open: `unreadable` (logged at error, never marked invalid: the data or the
 * key is ours to fix), or a transient failure while the data key cannot be had. Undefined: another error.
 */
function unopenedRow(
  deps: RefreshDeps,
  mallId: string,
  error: unknown,
  attempts: number,
): RefreshResult | undefined {
  if (error instanceof TokenSealError) {
    deps.log.error('a stored token could not be opened; nothing sent, the mall not marked invalid', {
      mallId,
      column: error.column,
      reason: error.message,
    });
    return { status: 'unreadable', mallId, reason: error.message };
  }
  if (error instanceof DataKeyUnavailable) {
    return { status: 'transient-failure', mallId, reason: `not sent: ${error.message}`, attempts };
  }
  return undefined;
}

/** What one refreshMall call remembers across its leases. */
type CallState = {
  attempts: number;
  /** Refresh tokens Cafe24 refused in this call: never sent again. */
  refused: Secret[];
  lastRefusal?: string;
  lastTransient?: string;
  /**
   * The refresh token when this call first asked for the lease (before any wait): another means a refresh
   * (or a new install) finished after this call began, which satisfies even --force.
   */
  seenRefreshToken?: Secret;
};

/** One lease: at most one Cafe24 request, and the lease is released (or ends the refresh) before return. */
async function underLease(
  deps: RefreshDeps,
  mallId: string,
  options: RefreshOptions,
  claim: { owner: string; row: TokenRow },
  state: CallState,
): Promise<RefreshResult | 'again'> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? sleepFor;
  const { policy, log } = deps;
  const { owner, row } = claim;
  const leaseEndsAt = now() + policy.leaseMs;

  // A pair this process refreshed but could not store holds the mall's only live refresh token.
  const fromStash = await storeStashedPair(deps, mallId, owner, state.attempts, leaseEndsAt);
  if (fromStash !== undefined) return fromStash;

  if (row.status === 'invalid') {
    await deps.tokens.release(mallId, owner);
    return {
      status: 'invalid',
      mallId,
      reason: row.invalidReason ?? 'marked invalid',
      attempts: state.attempts,
    };
  }

  // A row no refresh can serve (written by hand, an old version, another tool) is recorded, never sent.
  const unusable = unusableRow(row);
  if (unusable !== undefined) {
    return markInvalid(deps, mallId, owner, row.refreshToken, unusable, state.attempts);
  }

  const seenRefused = state.refused.some((secret) => secret.reveal() === row.refreshToken.reveal());
  if (row.refreshExpiresInMs <= 0 || seenRefused) {
    const reason = seenRefused
      ? (state.lastRefusal ?? 'Cafe24 refused the refresh token')
      : `the refresh token expired at ${row.refreshTokenExpiresAt.toISOString()} and was not sent; ` +
        'the mall must install the app again';
    return markInvalid(deps, mallId, owner, row.refreshToken, reason, state.attempts);
  }

  // Changed since this call first asked: a refresh finished after it began, so even --force is done.
  const changed =
    state.seenRefreshToken !== undefined && row.refreshToken.reveal() !== state.seenRefreshToken.reveal();
  const keptAlive = policy.keepaliveMs !== undefined && row.refreshExpiresInMs <= policy.keepaliveMs;
  if ((!options.force || changed) && row.expiresInMs > (options.aheadMs ?? policy.aheadMs) && !keptAlive) {
    await deps.tokens.release(mallId, owner);
    return { status: 'skipped-fresh', mallId, expiresAt: row.expiresAt.toISOString() };
  }

  // Rule 8: the rotated pair must be storable (sealed) before the only live refresh token is spent.
  try {
    await deps.tokens.ready();
  } catch (error) {
    await deps.tokens.release(mallId, owner);
    const reason = `not sent: a rotated pair could not be sealed (${describeError(error)})`;
    return { status: 'transient-failure', mallId, reason, attempts: state.attempts };
  }
  state.attempts += 1;
  await deps.tokens.markSending(mallId, owner);
  let tokens: TokenSet;
  try {
    tokens = await deps.cafe24.refreshToken({ mallId, refreshToken: row.refreshToken });
  } catch (error) {
    const failure = asFailure(error);
    if (failure.kind === 'configuration') {
      await deps.tokens.release(mallId, owner);
      log.error('Cafe24 refused the request for a reason that blames the app; no mall is marked invalid', {
        mallId,
        reason: failure.message,
      });
      return { status: 'configuration-error', mallId, reason: failure.message };
    }
    if (failure.kind === 'final') {
      // Rule 9: before the mall is called dead, every stash this process reaches may hold its live pair.
      const rescued = await storeStashedPair(deps, mallId, owner, state.attempts, leaseEndsAt);
      if (rescued !== undefined) return rescued;
      const doubt = row.unrecordedSend;
      if (doubt !== undefined && doubt.ageMs < (policy.inDoubtMs ?? DEFAULT_IN_DOUBT_MS)) {
        // An earlier holder may have rotated the token and kept the new pair in its own memory.
        const reason =
          `Cafe24 refused the refresh token, but ${doubt.by} sent it ${Math.round(doubt.ageMs / 1000)} s ago ` +
          'and never recorded the answer: its rotated pair may still wait in that process, so the mall is ' +
          'not marked invalid yet (every process that refreshes needs TOKEN_STASH_BUCKET); ' +
          `Cafe24 said: ${failure.message}`;
        await deps.tokens.recordRefreshFailure(mallId, owner, reason);
        log.warn('refresh token refused after an unfinished refresh; the mall stays active', {
          mallId,
          reason,
        });
        return { status: 'transient-failure', mallId, reason, attempts: state.attempts };
      }
      state.refused.push(row.refreshToken);
      state.lastRefusal =
        `Cafe24 refused the refresh token: ${failure.message}` +
        (state.lastTransient
          ? `; an earlier attempt got no answer (${state.lastTransient}), so Cafe24 may have rotated the token then`
          : '') +
        '; the mall must install the app again';
      return markInvalid(deps, mallId, owner, row.refreshToken, state.lastRefusal, state.attempts);
    }
    state.lastTransient = failure.message;
    await deps.tokens.recordRefreshFailure(mallId, owner, failure.message);
    if (state.attempts >= (policy.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)) {
      log.warn('refresh failed transiently; the mall stays active', {
        mallId,
        attempts: state.attempts,
        reason: failure.message,
      });
      return { status: 'transient-failure', mallId, reason: failure.message, attempts: state.attempts };
    }
    // Backoff without the lease: a refresh by another process meanwhile is seen at the next re-read.
    const delay = Math.max(backoffMs(state.attempts), failure.retryAfterMs ?? 0);
    log.info('transient refresh failure, retrying', {
      mallId,
      attempt: state.attempts,
      delayMs: delay,
      reason: failure.message,
    });
    await sleep(delay);
    return 'again';
  }
  return storePair(deps, mallId, tokens, owner, state.attempts, leaseEndsAt);
}

/**
 * Stores this mall's pair from the stash under the lease, if one waits there: `'again'` to re-read the
 * row after storing it, a result when storing it failed, undefined when the stash holds none.
 */
async function storeStashedPair(
  deps: RefreshDeps,
  mallId: string,
  owner: string,
  attempts: number,
  leaseEndsAt: number,
): Promise<RefreshResult | 'again' | undefined> {
  const stashed = await deps.stash.take('refresh_token', mallId);
  if (!stashed) return undefined;
  const stored = await storePair(deps, mallId, stashed.tokens, owner, attempts, leaseEndsAt);
  if (stored.status !== 'refreshed') return stored;
  deps.log.info('stored a refreshed pair from the stash', { mallId, token: stored.token });
  return 'again';
}

const UNUSABLE_ROW_FIX = 'it was not sent to Cafe24; correct or delete the row, or install the app again';

/** Why a row whose mall_id is no mall id is recorded invalid (the refresh and the schedule alike). */
export const UNUSABLE_MALL_ID_REASON = `the row's mall_id ${MALL_ID_RULE}; ${UNUSABLE_ROW_FIX}`;

/** Why a row cannot be refreshed at all, before anything is sent; undefined for a row that can. */
function unusableRow(row: TokenRow): string | undefined {
  if (!isMallId(row.mallId)) return UNUSABLE_MALL_ID_REASON;
  if (row.refreshToken.reveal().trim() === '') return `the row holds no refresh token; ${UNUSABLE_ROW_FIX}`;
  const times = [row.issuedAt, row.expiresAt, row.refreshTokenExpiresAt];
  if (times.some((time) => !(time instanceof Date) || Number.isNaN(time.getTime()))) {
    return `the row's issued_at, expires_at or refresh_token_expires_at is not a time; ${UNUSABLE_ROW_FIX}`;
  }
  return undefined;
}

/** Rule 9: `invalid` only while the row still holds the refused token; otherwise re-read (a race). */
async function markInvalid(
  deps: RefreshDeps,
  mallId: string,
  owner: string,
  refused: Secret,
  reason: string,
  attempts: number,
): Promise<RefreshResult | 'again'> {
  if (await deps.tokens.markInvalid(mallId, owner, refused, reason)) {
    deps.log.warn('mall invalid', { mallId, reason, attempts });
    return { status: 'invalid', mallId, reason, attempts, turnedInvalid: true };
  }
  deps.log.info('refresh token refused, but the row changed meanwhile; re-reading', { mallId });
  return 'again';
}

/**
 * Rule 8: the rotated pair is stored in the transaction that releases the lease, retried while the lease
 * lasts; then it is stashed, where the next refresh of this mall (or the next invocation) finds it.
 */
async function storePair(
  deps: RefreshDeps,
  mallId: string,
  tokens: TokenSet,
  owner: string,
  attempts: number,
  leaseEndsAt: number,
): Promise<RefreshResult> {
  let token: StoreOutcome;
  try {
    token = await retryUntil(() => deps.tokens.storeRefreshed(mallId, tokens, owner), {
      until: leaseEndsAt,
      now: deps.now,
      sleep: deps.sleep,
      onRetry: (attempt, _delayMs, error) =>
        deps.log.warn('storing refreshed tokens failed, retrying', {
          mallId,
          attempt,
          error: describeError(error),
        }),
    });
  } catch (error) {
    await deps.stash.put({ grant: 'refresh_token', key: mallId, mallId, tokens });
    const reason =
      `refreshed, but not stored yet (${describeError(error)}); the new pair is kept for the next ` +
      'refresh of this mall';
    deps.log.error('storing refreshed tokens failed', { mallId, reason });
    return { status: 'stashed', mallId, reason, attempts };
  }
  if (token === 'removed') {
    // Rule 11: the mall was removed while this refresh was in flight; its row is not written back.
    deps.log.info('mall removed while refreshing; the new pair is dropped', { mallId, attempts });
    return { status: 'missing', mallId };
  }
  const expiresAt = tokens.expiresAt.toISOString();
  deps.log.info('mall refreshed', { mallId, token, expiresAt, attempts });
  return { status: 'refreshed', mallId, token, expiresAt, attempts };
}

/** Stores the refreshed pairs this process stashed earlier; called at the start of each invocation. */
export async function flushRefreshStash(
  deps: Pick<RefreshDeps, 'tokens' | 'stash' | 'log'>,
): Promise<number> {
  let stored = 0;
  for (const { grant, key } of await deps.stash.entries()) {
    if (grant !== 'refresh_token') continue;
    const entry = await deps.stash.take(grant, key);
    if (!entry) continue;
    try {
      // No lease needed: the update never replaces a newer pair, nor brings back a removed mall.
      const token = await deps.tokens.storeRefreshed(entry.mallId, entry.tokens, undefined);
      if (token === 'removed') {
        // A removed mall's pair is dropped (rule 11): it leaves the stash all the same.
        deps.log.info("dropped a removed mall's stashed pair", { mallId: entry.mallId });
        continue;
      }
      deps.log.info('stored a refreshed pair from the stash', { mallId: entry.mallId, token });
      stored += 1;
    } catch {
      await deps.stash.put(entry);
    }
  }
  return stored;
}

/** Why no valid access token could be had; never holds a token. */
export class NoAccessToken extends Error {
  override name = 'NoAccessToken';
  readonly result: RefreshResult;
  constructor(result: RefreshResult) {
    super(
      `no valid access token for mall ${result.mallId}: ${result.status}` +
        ('reason' in result ? ` (${result.reason})` : ''),
    );
    this.result = result;
  }
}

/**
 * A valid access token for readers that cannot wait for the schedule: the stored one if it lives longer
 * than `minValidityMs`, else refreshed under the same lease as everyone else (waiting for another
 * process's refresh instead of racing it).
 */
export async function accessTokenFor(
  deps: RefreshDeps,
  mallId: string,
  minValidityMs: number,
): Promise<Secret> {
  const row = await deps.tokens.read(mallId);
  if (row?.status === 'active' && row.expiresInMs > minValidityMs) return row.accessToken;
  const result = await refreshMall(deps, mallId, { aheadMs: minValidityMs });
  if (result.status !== 'refreshed' && result.status !== 'skipped-fresh') throw new NoAccessToken(result);
  const fresh = await deps.tokens.read(mallId);
  if (fresh?.status !== 'active' || fresh.expiresInMs <= 0) throw new NoAccessToken(result);
  return fresh.accessToken;
}
