import type { TokenSet } from '../cafe24/token-response.ts';
import { describeError, ExchangeFailure } from '../commons/errors.ts';
import { isMallId, MALL_ID_RULE } from '../commons/ids.ts';
import type { Log } from '../commons/log.ts';
import type { ClaimedCode, CodeStore, StoreOutcome, TokenIssuer, TokenStash } from './ports.ts';

export type ExchangeDeps = {
  codes: CodeStore;
  cafe24: TokenIssuer;
  stash: TokenStash;
  log: Log;
  /** The app's registered redirect URI, for codes stored without one. */
  redirectUri: string;
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
      token: StoreOutcome;
      expiresAt: string;
      attempts: number;
    }
  | { status: 'already-done'; codeId: string; state: 'exchanged' | 'failed' | 'expired'; reason?: string }
  | { status: 'failed' | 'expired'; codeId: string; mallId: string; reason: string; attempts: number }
  | { status: 'retry'; codeId: string; reason: string };

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Exchanges one authorization code, at most once (design rules 1–6):
 * claim the row before calling Cafe24, retry transient failures only while the code lives, record final
 * answers, store the tokens and the code's state in one transaction, and stash tokens that could not be
 * stored so a later delivery stores them.
 */
export async function exchangeCode(deps: ExchangeDeps, codeId: string): Promise<ExchangeResult> {
  const claim = await deps.codes.claim(codeId, deps.policy.codeLifetimeMs);
  if (!claim.claimed) {
    if (claim.status === 'missing') {
      return { status: 'retry', codeId, reason: `no authorization code with id ${codeId}` };
    }
    if (claim.status === 'exchanging')
      return resumeOrWait(deps, codeId, claim.claimedAgoMs ?? 0, claim.attempts);
    if (claim.status === 'pending') return { status: 'retry', codeId, reason: 'the code is still pending' };
    return { status: 'already-done', codeId, state: claim.status, reason: claim.lastError };
  }
  return exchangeClaimed(deps, claim.code);
}

async function exchangeClaimed(deps: ExchangeDeps, code: ClaimedCode): Promise<ExchangeResult> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? sleepFor;
  const finish = async (
    status: 'failed' | 'expired',
    reason: string,
    attempts: number,
  ): Promise<ExchangeResult> => {
    await deps.codes.recordFailure(code.id, status, reason);
    deps.log.warn(`code ${status}`, { codeId: code.id, mallId: code.mallId, reason, attempts });
    return { status, codeId: code.id, mallId: code.mallId, reason, attempts };
  };

  if (code.code.reveal().trim() === '') return finish('failed', 'the code row holds an empty code', 0);
  if (!isMallId(code.mallId)) return finish('failed', `mall_id ${MALL_ID_RULE}`, 0);
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

  let attempts = 0;
  for (;;) {
    attempts += 1;
    await deps.codes.recordAttempt(code.id);
    let tokens: TokenSet;
    try {
      tokens = await deps.cafe24.exchangeCode({
        mallId: code.mallId,
        code: code.code,
        redirectUri: code.redirectUri ?? deps.redirectUri,
      });
    } catch (error) {
      const failure =
        error instanceof ExchangeFailure ? error : new ExchangeFailure('transient', describeError(error));
      if (failure.kind === 'final') return finish('failed', failure.message, attempts);
      const delay = Math.max(backoffMs(attempts), failure.retryAfterMs ?? 0);
      if (now() + delay >= deadline) {
        return finish(
          'expired',
          `code expired after ${attempts} attempt(s); last: ${failure.message}`,
          attempts,
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
    return storeIssued(deps, code, tokens, attempts);
  }
}

/** Rule 6: issued tokens are stored, or kept where the next delivery of this code finds them. */
async function storeIssued(
  deps: ExchangeDeps,
  code: { id: string; mallId: string },
  tokens: TokenSet,
  attempts: number,
) {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? sleepFor;
  const giveUpAt = now() + (deps.policy.storeRetryMs ?? 10_000);
  for (let attempt = 1; ; attempt += 1) {
    try {
      const token = await deps.codes.recordSuccess(code, tokens);
      deps.log.info('code exchanged', { codeId: code.id, mallId: code.mallId, token, attempts });
      return {
        status: 'exchanged',
        codeId: code.id,
        mallId: code.mallId,
        token,
        expiresAt: tokens.expiresAt.toISOString(),
        attempts,
      } satisfies ExchangeResult;
    } catch (error) {
      const delay = backoffMs(attempt);
      if (now() + delay >= giveUpAt) {
        await deps.stash.put(code.id, code.mallId, tokens);
        const reason = `tokens issued but not stored yet (${describeError(error)}); kept for the next delivery`;
        deps.log.error('storing tokens failed', { codeId: code.id, mallId: code.mallId, reason });
        return { status: 'retry', codeId: code.id, reason } satisfies ExchangeResult;
      }
      deps.log.warn('storing tokens failed, retrying', {
        codeId: code.id,
        attempt,
        error: describeError(error),
      });
      await sleep(delay);
    }
  }
}

/** Another delivery owns the code, or owned it and died. */
async function resumeOrWait(
  deps: ExchangeDeps,
  codeId: string,
  claimedAgoMs: number,
  attempts: number,
): Promise<ExchangeResult> {
  const stashed = await deps.stash.take(codeId);
  if (stashed) return storeIssued(deps, { id: codeId, mallId: stashed.mallId }, stashed.tokens, 0);
  const abandonedAfterMs = deps.policy.abandonedAfterMs ?? deps.policy.codeLifetimeMs + 120_000;
  if (claimedAgoMs < abandonedAfterMs) {
    return { status: 'retry', codeId, reason: 'being exchanged by another delivery; will check again' };
  }
  const ago = Math.round(claimedAgoMs / 1000);
  if (attempts === 0) {
    // Claimed, never sent (the worker stopped first), and dead by now: expired, not consumed.
    const reason = `not sent: claimed ${ago} s ago by a worker that stopped before sending; the code has expired`;
    await deps.codes.recordFailure(codeId, 'expired', reason);
    deps.log.warn('code expired', { codeId, reason });
    return { status: 'already-done', codeId, state: 'expired', reason };
  }
  // Never resend: the code may have been consumed. Cafe24 needs a new install for this mall.
  const reason = `exchange interrupted ${ago} s ago with no result recorded; the code cannot be sent again`;
  await deps.codes.recordFailure(codeId, 'failed', reason);
  deps.log.warn('code failed', { codeId, reason });
  return { status: 'already-done', codeId, state: 'failed', reason };
}

/** Stores whatever this process stashed earlier; called at the start of each invocation. */
export async function flushStash(deps: ExchangeDeps): Promise<number> {
  let stored = 0;
  for (const codeId of await deps.stash.codeIds()) {
    const entry = await deps.stash.take(codeId);
    if (!entry) continue;
    try {
      await deps.codes.recordSuccess({ id: codeId, mallId: entry.mallId }, entry.tokens);
      stored += 1;
    } catch {
      await deps.stash.put(codeId, entry.mallId, entry.tokens);
    }
  }
  return stored;
}

/** 200 ms, 400 ms, 800 ms … capped at 5 s, with ±20 % jitter so concurrent retries spread out. */
export function backoffMs(attempt: number): number {
  const base = Math.min(5_000, 200 * 2 ** (attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export type ManualRequest = { codeId?: string; mallId?: string };
export type ManualResult = ExchangeResult | { status: 'nothing-pending'; mallId: string };

/** The seed's console run: a given code, or the newest pending code of a mall. */
export async function exchangeRequested(deps: ExchangeDeps, request: ManualRequest): Promise<ManualResult> {
  if (request.codeId !== undefined) return exchangeCode(deps, request.codeId);
  if (request.mallId === undefined) throw new Error('name a code id or a mall id');
  const codeId = await deps.codes.newestPending(request.mallId);
  if (codeId === undefined) return { status: 'nothing-pending', mallId: request.mallId };
  return exchangeCode(deps, codeId);
}
