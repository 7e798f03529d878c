import { asFailure, describeError } from '../commons/errors.ts';
import { isMallId, MALL_ID_RULE } from '../commons/ids.ts';
import type { Log } from '../commons/log.ts';
import type { TokenSet } from '../domain/ports.ts';
import { REMOVAL_REASONS } from './lifecycle.ts';
import type { ClaimedCode, CodeStore, ExchangeStoreOutcome, TokenIssuer, TokenStash } from './ports.ts';
import { backoffMs, retryUntil, sleepFor } from './retry.ts';

export type ExchangeDeps = {
  codes: CodeStore;
  cafe24: TokenIssuer;
  stash: TokenStash;
  log: Log;
  /** The app's registered redirect URI, for codes stored without one (CAFE24_REDIRECT_URI). */
  redirectUri: string | undefined;
  policy: ExchangePolicy;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
};

export type ExchangePolicy = {
  /** A Cafe24 code lives 60 s. */
  codeLifetimeMs: number;
  /** Not sent when less than this is left: the request itself takes time to arrive. */
  expiryMarginMs: number;
  /** Storing issued tokens is retried this long before they are stashed. */
  storeRetryMs?: number;
  /** A claim older than this with no result is taken as a worker that died mid-exchange. */
  abandonedAfterMs?: number;
};

/** What happened to one code. Everything but `retry` is final: the message is done. */
export type ExchangeResult =
  | {
      status: 'exchanged';
      codeId: string;
      mallId: string;
      token: ExchangeStoreOutcome;
      expiresAt: string;
      attempts: number;
      /** From the code's INSERT (its age at claim, on the database's clock) to its tokens committed. */
      latencyMs?: number;
    }
  | { status: 'already-done'; codeId: string; state: 'exchanged' | 'failed' | 'expired'; reason?: string }
  | { status: 'failed' | 'expired'; codeId: string; mallId: string; reason: string; attempts: number }
  | {
      status: 'retry';
      codeId: string;
      reason: string;
      /** Bring the message back this soon (a database outage, the invocation's time ran out). */
      retryAfterMs?: number;
      /** Issued tokens were put in the stash: the database refused them. */
      stashed?: true;
      /** No code row has this id. */
      missing?: true;
      /** Another delivery holds the code (an expected duplicate: the front and the relay both publish). */
      elsewhere?: true;
    };

export type ExchangeOptions = {
  /**
   * When this invocation must be done with the code (Lambda: its remaining time minus a margin): no
   * request, backoff or store retry runs past it. No bound by default.
   */
  budgetEndsAt?: number;
};

/** How soon a record handed back to the queue should return: the code is still alive. */
const HAND_BACK_MS = 2_000;
/** A request is not started with less than this left of the invocation. */
const MIN_REQUEST_MS = 1_000;

/**
 * Exchanges one authorization code, at most once (design rules 1–6):
 * claim the row before calling Cafe24, retry transient failures only while the code lives, record final
 * answers, store the tokens and the code's state in one transaction, and stash tokens that could not be
 * stored so a later delivery stores them.
 */
export async function exchangeCode(
  deps: ExchangeDeps,
  codeId: string,
  options: ExchangeOptions = {},
): Promise<ExchangeResult> {
  const now = deps.now ?? Date.now;
  const budgetEnd = options.budgetEndsAt ?? Number.POSITIVE_INFINITY;
  // Before the claim the code's age is unknown; it cannot live longer than a lifetime from now.
  const claimUntil = Math.min(now() + deps.policy.codeLifetimeMs, budgetEnd);
  let claim: Awaited<ReturnType<CodeStore['claim']>>;
  try {
    claim = await retryDatabase(deps, 'claim', claimUntil, () =>
      deps.codes.claim(codeId, deps.policy.codeLifetimeMs),
    );
  } catch (error) {
    const reason = `database unavailable at claim (${describeError(error)}); nothing sent`;
    return { status: 'retry', codeId, reason, retryAfterMs: HAND_BACK_MS };
  }
  if (!claim.claimed) {
    if (claim.status === 'missing') {
      // A message may run ahead of a row not yet committed (the aws_lambda path): retried, then the DLQ.
      return { status: 'retry', codeId, reason: `no authorization code with id ${codeId}`, missing: true };
    }
    if (claim.status === 'exchanging')
      return resumeOrWait(deps, codeId, claim.claimedAgoMs ?? 0, claim.attempts);
    if (claim.status === 'pending' && claim.removed === true) {
      const reason = REMOVAL_REASONS.code();
      await deps.codes.recordFailure(codeId, 'failed', reason);
      deps.log.warn('code failed', { codeId, reason });
      return { status: 'already-done', codeId, state: 'failed', reason };
    }
    if (claim.status === 'pending') return { status: 'retry', codeId, reason: 'the code is still pending' };
    // Recorded interrupted (by a redelivery or the sweep) while its tokens waited in the stash, the
    // database down for longer than the claim's grace: a later delivery or a redrive still stores them.
    if (claim.status === 'failed' && claim.interrupted === true && claim.removed !== true) {
      const stashed = await deps.stash.take('authorization_code', codeId);
      if (stashed) return storeIssued(deps, { id: codeId, mallId: stashed.mallId }, stashed.tokens, 0);
    }
    return { status: 'already-done', codeId, state: claim.status, reason: claim.lastError };
  }
  return exchangeClaimed(deps, claim.code, budgetEnd);
}

async function exchangeClaimed(
  deps: ExchangeDeps,
  code: ClaimedCode,
  budgetEnd: number,
): Promise<ExchangeResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? sleepFor;
  // Counted in `attempts` (by the claim) and not sent yet: given back if this code is not sent after all.
  let unsentAttempt = code.attemptRecorded === true;
  const finish = async (
    status: 'failed' | 'expired',
    reason: string,
    attempts: number,
  ): Promise<ExchangeResult> => {
    const options = unsentAttempt ? { unsentAttempt } : undefined;
    await retryDatabase(deps, 'record the outcome', budgetEnd, () =>
      deps.codes.recordFailure(code.id, status, reason, options),
    );
    deps.log.warn(`code ${status}`, { codeId: code.id, mallId: code.mallId, reason, attempts });
    return { status, codeId: code.id, mallId: code.mallId, reason, attempts };
  };

  if (code.code.reveal().trim() === '') return finish('failed', 'the code row holds an empty code', 0);
  const redirectUri = code.redirectUri ?? deps.redirectUri;
  if (redirectUri === undefined) {
    return finish(
      'failed',
      'no redirect URI to send: the code row has none and CAFE24_REDIRECT_URI is unset (set it to the one registered in Cafe24 Developers)',
      0,
    );
  }
  if (!isMallId(code.mallId)) return finish('failed', `mall_id ${MALL_ID_RULE}`, 0);
  const claimedAt = now();
  const ageS = ((deps.policy.codeLifetimeMs - code.remainingMs) / 1000).toFixed(1);
  // Absolute deadline on this process's clock, from the database's view of the code's age.
  const deadline = now() + code.remainingMs - deps.policy.expiryMarginMs;
  if (now() >= deadline) {
    return finish(
      'expired',
      `not sent: the code was ${ageS} s old and codes live ${deps.policy.codeLifetimeMs / 1000} s`,
      0,
    );
  }

  // The code outlives this invocation: give it back, unsent since the last answer, for a redelivery.
  const handBack = async (why: string): Promise<ExchangeResult> => {
    await deps.codes.release(code.id, unsentAttempt ? { unsentAttempt } : undefined).catch(() => {});
    const reason = `${why}; handed back while the code lives`;
    deps.log.warn('code handed back', { codeId: code.id, mallId: code.mallId, reason });
    return { status: 'retry', codeId: code.id, reason, retryAfterMs: HAND_BACK_MS };
  };

  // Tokens that could not be stored sealed would wait in memory only: the code is not spent for them.
  try {
    await deps.codes.ready();
  } catch (error) {
    return handBack(`the issued tokens could not be sealed (${describeError(error)}); nothing sent`);
  }

  let attempts = 0;
  for (;;) {
    if (budgetEnd - now() < MIN_REQUEST_MS) return handBack("the invocation's time ran out");
    // Rule 2: counted before the request. The first attempt was counted by the claim itself, when it was.
    if (!unsentAttempt) {
      try {
        await retryDatabase(deps, 'record the attempt', Math.min(deadline, budgetEnd), () =>
          deps.codes.recordAttempt(code.id),
        );
      } catch (error) {
        return handBack(`database unavailable before sending (${describeError(error)})`);
      }
    }
    unsentAttempt = false;
    attempts += 1;
    let tokens: TokenSet;
    try {
      tokens = await deps.cafe24.exchangeCode({
        mallId: code.mallId,
        code: code.code,
        redirectUri,
        // The request never outlasts the invocation (it may outlast the code: sent in time, answered late).
        timeoutMs: budgetEnd - now(),
      });
    } catch (error) {
      const failure = asFailure(error);
      // A configuration error (credentials, the request) fails every code alike; the code's failure names it.
      if (failure.kind === 'final' || failure.kind === 'configuration') {
        return finish('failed', failure.message, attempts);
      }
      const delay = Math.max(backoffMs(attempts), failure.retryAfterMs ?? 0);
      if (now() + delay >= deadline) {
        return finish(
          'expired',
          `code expired after ${attempts} attempt(s); last: ${failure.message}`,
          attempts,
        );
      }
      if (now() + delay + MIN_REQUEST_MS >= budgetEnd) {
        return handBack(
          `the invocation's time ran out after ${attempts} attempt(s); last: ${failure.message}`,
        );
      }
      deps.log.info('transient failure, retrying', {
        codeId: code.id,
        attempt: attempts,
        delayMs: delay,
        reason: failure.message,
      });
      await sleep(delay);
      continue;
    }
    // The code's age at claim (database clock) plus the time since, on this process's clock.
    const insertedAt = claimedAt - (deps.policy.codeLifetimeMs - code.remainingMs);
    return storeIssued(deps, code, tokens, attempts, budgetEnd, insertedAt);
  }
}

/** Rule 6: issued tokens are stored, or kept where the next delivery of this code finds them. */
async function storeIssued(
  deps: ExchangeDeps,
  code: { id: string; mallId: string },
  tokens: TokenSet,
  attempts: number,
  budgetEnd = Number.POSITIVE_INFINITY,
  insertedAt?: number,
) {
  const now = deps.now ?? Date.now;
  let token: ExchangeStoreOutcome;
  try {
    token = await retryUntil(() => deps.codes.recordSuccess(code, tokens), {
      until: Math.min(now() + (deps.policy.storeRetryMs ?? 10_000), budgetEnd),
      now: deps.now,
      sleep: deps.sleep,
      onRetry: (attempt, _delayMs, error) =>
        deps.log.warn('storing tokens failed, retrying', {
          codeId: code.id,
          attempt,
          error: describeError(error),
        }),
    });
  } catch (error) {
    await deps.stash.put({ grant: 'authorization_code', key: code.id, mallId: code.mallId, tokens });
    const reason = `tokens issued but not stored yet (${describeError(error)}); kept for the next delivery`;
    deps.log.error('storing tokens failed', { codeId: code.id, mallId: code.mallId, reason });
    return { status: 'retry', codeId: code.id, reason, stashed: true } satisfies ExchangeResult;
  }
  if (token === 'removed') {
    // Rule 11: the mall was removed while the code was in flight; Cafe24's tokens are not stored.
    const reason = REMOVAL_REASONS.code();
    deps.log.warn('code failed', { codeId: code.id, mallId: code.mallId, reason, attempts });
    return { status: 'already-done', codeId: code.id, state: 'failed', reason } satisfies ExchangeResult;
  }
  deps.log.info('code exchanged', { codeId: code.id, mallId: code.mallId, token, attempts });
  return {
    status: 'exchanged',
    codeId: code.id,
    mallId: code.mallId,
    token,
    expiresAt: tokens.expiresAt.toISOString(),
    attempts,
    ...(insertedAt === undefined ? {} : { latencyMs: now() - insertedAt }),
  } satisfies ExchangeResult;
}

/**
 * The reasons recorded for codes nobody will exchange any more, worded once: by a redelivery that finds a
 * dead claim (resumeOrWait) and by the relay's sweep (store/codes.ts fills `{ago}`, whole seconds since
 * the claim, in SQL).
 */
export const STRANDED_REASONS = {
  /** `pending` past its life with no exchange ever claiming it: its message was lost (purged, expired). */
  lostMessage: 'not sent: no exchange claimed it within its life; its message was lost',
  /** `exchanging`, no request recorded, the worker gone: expired, never sent. */
  claimedNeverSent:
    'not sent: claimed {ago} s ago by a worker that stopped before sending; the code has expired',
  /** `exchanging` after a request, the worker gone: the code may be consumed, never sent again. */
  interrupted: 'exchange interrupted {ago} s ago with no result recorded; the code cannot be sent again',
} as const;

/** One of STRANDED_REASONS with its `{ago}` filled in. */
export function strandedReason(template: string, agoSeconds: number): string {
  return template.replaceAll('{ago}', String(agoSeconds));
}

/** Another delivery owns the code, or owned it and died. */
async function resumeOrWait(
  deps: ExchangeDeps,
  codeId: string,
  claimedAgoMs: number,
  attempts: number,
): Promise<ExchangeResult> {
  const stashed = await deps.stash.take('authorization_code', codeId);
  if (stashed) return storeIssued(deps, { id: codeId, mallId: stashed.mallId }, stashed.tokens, 0);
  const abandonedAfterMs = deps.policy.abandonedAfterMs ?? deps.policy.codeLifetimeMs + 120_000;
  if (claimedAgoMs < abandonedAfterMs) {
    return {
      status: 'retry',
      codeId,
      reason: 'being exchanged by another delivery; will check again',
      elsewhere: true,
    };
  }
  const ago = Math.round(claimedAgoMs / 1000);
  if (attempts === 0) {
    // Claimed, never sent (the worker stopped first), and dead by now: expired, not consumed.
    const reason = strandedReason(STRANDED_REASONS.claimedNeverSent, ago);
    await deps.codes.recordFailure(codeId, 'expired', reason);
    deps.log.warn('code expired', { codeId, reason });
    return { status: 'already-done', codeId, state: 'expired', reason };
  }
  // Never resend: the code may have been consumed. Cafe24 needs a new install for this mall.
  const reason = strandedReason(STRANDED_REASONS.interrupted, ago);
  await deps.codes.recordFailure(codeId, 'failed', reason, { interrupted: true });
  deps.log.warn('code failed', { codeId, reason });
  return { status: 'already-done', codeId, state: 'failed', reason };
}

/** Stores the codes' tokens this process stashed earlier; called at the start of each invocation. */
export async function flushStash(deps: ExchangeDeps): Promise<number> {
  let stored = 0;
  for (const { grant, key } of await deps.stash.entries()) {
    if (grant !== 'authorization_code') continue;
    const entry = await deps.stash.take(grant, key);
    if (!entry) continue;
    try {
      const token = await deps.codes.recordSuccess({ id: key, mallId: entry.mallId }, entry.tokens);
      // A removed mall's pair is dropped, never stored (rule 11): it leaves the stash all the same.
      if (token === 'removed')
        deps.log.info("dropped a removed mall's stashed tokens", { codeId: key, mallId: entry.mallId });
      else stored += 1;
    } catch {
      await deps.stash.put(entry);
    }
  }
  return stored;
}

/**
 * A database call retried with backoff until `until`, for outages of seconds (a failover, a restart):
 * the code's one minute would not survive the queue's visibility timeout. Throws the last error after.
 */
async function retryDatabase<T>(
  deps: ExchangeDeps,
  what: string,
  until: number,
  work: () => Promise<T>,
): Promise<T> {
  return retryUntil(work, {
    until,
    now: deps.now,
    sleep: deps.sleep,
    onRetry: (attempt, delayMs, error) =>
      deps.log.warn('database call failed, retrying', {
        what,
        attempt,
        delayMs,
        error: describeError(error),
      }),
  });
}

export type ManualRequest = { codeId?: string; mallId?: string };
export type ManualResult = ExchangeResult | { status: 'nothing-pending'; mallId: string };

/** The seed's console run: a given code, or the newest pending code of a mall. */
export async function exchangeRequested(
  deps: ExchangeDeps,
  request: ManualRequest,
  options: ExchangeOptions = {},
): Promise<ManualResult> {
  if (request.codeId !== undefined) return exchangeCode(deps, request.codeId, options);
  if (request.mallId === undefined) throw new Error('name a code id or a mall id');
  const codeId = await deps.codes.newestPending(request.mallId);
  if (codeId === undefined) return { status: 'nothing-pending', mallId: request.mallId };
  return exchangeCode(deps, codeId, options);
}
