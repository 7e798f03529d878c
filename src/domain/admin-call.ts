import { mallIdSchema } from '../commons/ids.ts';
import type { Log } from '../commons/log.ts';
import { type Secret, scrub } from '../commons/secret.ts';
import { DataKeyUnavailable, TokenSealError } from '../commons/token-codec.ts';
import type {
  AdminAnswer,
  AdminMethod,
  AdminRequest,
  AdminSend,
  BucketSettings,
  CallBucket,
} from './admin-ports.ts';
import {
  accessTokenFor,
  NoAccessToken,
  type RefreshDeps,
  type RefreshResult,
  refreshMall,
} from './refresh-mall.ts';
import { abortableDelay, backoffMs } from './retry.ts';

/**
 * One call to Cafe24's Admin API for a mall (docs/design.md, "Calling Cafe24 with the tokens"):
 *
 * 1. the request is checked before anything is sent (a path under /api/v2/admin/, a mall id, a body JSON
 *    can carry);
 * 2. the token is the mall's from the table, refreshed first through the refresh's lease (rule 7) when it
 *    is expired or about to be; an `invalid` or removed mall fails at once;
 * 3. a slot is taken from the mall's bucket, shared by every process through the database, waiting while
 *    it is full (never past the call's deadline);
 * 4. Cafe24's `X-Api-Call-Limit` corrects the bucket; a 429 blocks the mall for every process for what
 *    `X-Cafe24-Call-Remain`/`Retry-After` say and is retried at most twice; a 401 refreshes once and
 *    retries once; only a GET is retried after a 5xx or a network failure (twice).
 */

export type AdminCallSettings = {
  bucket: BucketSettings;
  /** A call's deadline when the caller gives none. */
  timeoutMs: number;
  /** A stored token that expires sooner than this is refreshed before the call. */
  minValidityMs: number;
};

export type AdminCallDeps = {
  bucket: CallBucket;
  send: AdminSend;
  refresh: RefreshDeps;
  settings: AdminCallSettings;
  log: Log;
  now?: () => number;
  /** Waits `ms` or until `signal` aborts (then rejects). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
};

export type CallOptions = {
  /** The call's deadline, from now (default: the client's, 30 s). Waits for the bucket count against it. */
  timeoutMs?: number;
  /** Aborts the call (and any wait) when it fires. */
  signal?: AbortSignal;
};

const MAX_RATE_LIMIT_RETRIES = 2;
const MAX_SERVER_RETRIES = 2;
/** A 429 that says nothing of when to come back: wait this (a bucket of 40 drains one call in 0.5 s). */
const DEFAULT_RATE_LIMIT_WAIT_MS = 1_000;

/** Cafe24 answered the call with an error; `status`, Cafe24's `error.code` and `message`. Never a token. */
export class Cafe24ApiError extends Error {
  override name = 'Cafe24ApiError';
  readonly status: number;
  readonly code: string | undefined;
  readonly cafe24Message: string | undefined;
  readonly mallId: string;
  readonly method: AdminMethod;
  readonly path: string;
  constructor(
    call: { mallId: string; method: AdminMethod; path: string },
    status: number,
    detail: { code?: string | undefined; message?: string | undefined; why?: string },
  ) {
    const said = detail.message ? `: ${detail.message}` : '';
    const code = detail.code ? ` (${detail.code})` : '';
    super(
      `Cafe24 answered ${call.method} ${call.path} for mall ${call.mallId} with HTTP ${status}${code}${said}${detail.why ? `; ${detail.why}` : ''}`,
    );
    this.status = status;
    this.code = detail.code;
    this.cafe24Message = detail.message;
    this.mallId = call.mallId;
    this.method = call.method;
    this.path = call.path;
  }
}

/** Over Cafe24's limit longer than the call may wait: `retryAfterMs` says when the mall can be called. */
export class Cafe24RateLimited extends Cafe24ApiError {
  override name = 'Cafe24RateLimited';
  readonly retryAfterMs: number;
  constructor(
    call: { mallId: string; method: AdminMethod; path: string },
    retryAfterMs: number,
    why: string,
  ) {
    super(call, 429, { why });
    this.retryAfterMs = retryAfterMs;
  }
}

/** The mall cannot be called: `invalid` (Cafe24 refused its refresh token), `missing` (removed, or never installed). */
export class Cafe24MallUnavailable extends Error {
  override name = 'Cafe24MallUnavailable';
  readonly mallId: string;
  /** `unreadable`: its stored tokens do not open with this deployment's key (ours to fix, not the mall's). */
  readonly reason: 'invalid' | 'missing' | 'unreadable' | 'unreachable';
  readonly result: RefreshResult;
  constructor(result: RefreshResult) {
    const reason =
      result.status === 'invalid' || result.status === 'missing' || result.status === 'unreadable'
        ? result.status
        : 'unreachable';
    const why =
      reason === 'invalid'
        ? `is invalid: Cafe24 refused its refresh token${'reason' in result ? ` (${result.reason})` : ''}; only a new install brings it back`
        : reason === 'missing'
          ? 'has no tokens: it removed the app, or never installed it'
          : reason === 'unreadable'
            ? `has tokens this process cannot open (${'reason' in result ? result.reason : 'unreadable'}); check TOKEN_KMS_KEY_ID, the mall is not marked invalid`
            : `has no valid access token just now (${result.status}${'reason' in result ? `: ${result.reason}` : ''})`;
    super(`mall ${result.mallId} ${why}`);
    this.mallId = result.mallId;
    this.reason = reason;
    this.result = result;
  }
}

/** The call was refused before anything was sent: it says what to fix. */
export class Cafe24RequestError extends Error {
  override name = 'Cafe24RequestError';
}

/** The database (the token, the bucket) could not be reached: nothing was sent to Cafe24. */
export class Cafe24ClientDatabaseError extends Error {
  override name = 'Cafe24ClientDatabaseError';
}

/** Cafe24 could not be reached, or did not answer before the call's deadline. */
export class Cafe24NetworkError extends Error {
  override name = 'Cafe24NetworkError';
}

/** The path, checked: under /api/v2/admin/, no other host, no way out (`..`, `//`, `\`, encoded or not). */
export function checkedPath(path: unknown): string {
  if (typeof path !== 'string' || !path.startsWith('/api/v2/admin/')) {
    throw new Cafe24RequestError('the path must start with /api/v2/admin/ (e.g. /api/v2/admin/products)');
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw new Cafe24RequestError('the path is not valid percent-encoding');
  }
  if (
    /[?#\s\\]/.test(path) ||
    /(^|\/)\.\.?(\/|$)/.test(decoded) ||
    decoded.includes('//') ||
    hasControlCharacter(decoded) ||
    path.length > 1_000
  ) {
    throw new Cafe24RequestError(
      'the path must be a plain path under /api/v2/admin/: no "..", "//", backslash, query or fragment (give the query as { query })',
    );
  }
  return path;
}

function checkedBody(method: AdminMethod, body: unknown): unknown {
  if (body === undefined) return undefined;
  if (method === 'GET' || method === 'DELETE') {
    throw new Cafe24RequestError(`${method} takes no body: give the parameters as { query }`);
  }
  try {
    if (JSON.stringify(body) === undefined) throw new Error('not JSON');
  } catch {
    throw new Cafe24RequestError('the body cannot be sent as JSON (a function, a BigInt or a cycle in it?)');
  }
  return body;
}

export async function callAdminApi(
  deps: AdminCallDeps,
  mallIdGiven: string,
  given: AdminRequest,
  options: CallOptions = {},
): Promise<unknown> {
  const parsedMall = mallIdSchema.safeParse(mallIdGiven);
  if (!parsedMall.success)
    throw new Cafe24RequestError(
      `the mall id ${JSON.stringify(String(mallIdGiven).slice(0, 64))} is not one: letters, digits, "-" or "_"`,
    );
  const mallId = parsedMall.data;
  const request: AdminRequest = {
    method: given.method,
    path: checkedPath(given.path),
    query: given.query,
    body: checkedBody(given.method, given.body),
  };
  const call = { mallId, method: request.method, path: request.path };
  const now = deps.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? deps.settings.timeoutMs;
  const deadline = now() + timeoutMs;
  const signal = options.signal
    ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)])
    : AbortSignal.timeout(timeoutMs);
  const sleep = deps.sleep ?? abortableSleep;

  let token = await fromDatabase(() => tokenFor(deps, mallId));
  let refreshedAfter401 = false;
  let rateLimited = 0;
  let serverFailures = 0;
  for (;;) {
    await fromDatabase(() => takeSlot(deps, call, deadline, signal, sleep));
    let answer: AdminAnswer;
    try {
      answer = await deps.send(mallId, request, token.reveal(), signal);
    } catch (error) {
      if (signal.aborted)
        throw new Cafe24NetworkError(
          `${call.method} ${call.path} for mall ${mallId}: no answer before the call's deadline or its signal`,
        );
      serverFailures += 1;
      const delay = backoffMs(serverFailures);
      if (request.method === 'GET' && serverFailures <= MAX_SERVER_RETRIES && now() + delay < deadline) {
        await sleep(delay, signal);
        continue;
      }
      throw new Cafe24NetworkError(
        `${call.method} ${call.path} for mall ${mallId}: Cafe24 could not be reached (${scrub(networkReason(error), [token])})`,
      );
    }
    if (answer.callLimit) await deps.bucket.observe(mallId, answer.callLimit.used, deps.settings.bucket);
    if (answer.status >= 200 && answer.status < 300) return answer.json;

    if (answer.status === 401 && !refreshedAfter401) {
      // The token was refused though the table holds it: refresh once (skipped if another process already
      // did), and try once more. A second 401 is an error, never a refresh loop.
      refreshedAfter401 = true;
      const result = await refreshMall(deps.refresh, mallId, { force: true });
      if (result.status !== 'refreshed' && result.status !== 'skipped-fresh')
        throw new Cafe24MallUnavailable(result);
      token = await tokenFor(deps, mallId);
      continue;
    }
    if (answer.status === 429) {
      const waitMs =
        answer.retryAfterSeconds !== undefined
          ? Math.ceil(answer.retryAfterSeconds * 1000)
          : DEFAULT_RATE_LIMIT_WAIT_MS;
      // Every process holds off: calling while blocked lengthens the block.
      await deps.bucket.block(mallId, waitMs);
      rateLimited += 1;
      if (rateLimited > MAX_RATE_LIMIT_RETRIES) {
        throw new Cafe24RateLimited(
          call,
          waitMs,
          `still over the limit after ${MAX_RATE_LIMIT_RETRIES} waits`,
        );
      }
      if (now() + waitMs > deadline) {
        throw new Cafe24RateLimited(
          call,
          waitMs,
          `Cafe24 asks to wait ${Math.ceil(waitMs / 1000)} s, past the call's deadline`,
        );
      }
      deps.log.warn('cafe24 rate-limited a call; waiting', { mallId, waitMs });
      await sleep(waitMs, signal);
      continue;
    }
    if (answer.status >= 500 && request.method === 'GET') {
      serverFailures += 1;
      const delay = backoffMs(serverFailures);
      if (serverFailures <= MAX_SERVER_RETRIES && now() + delay < deadline) {
        await sleep(delay, signal);
        continue;
      }
    }
    throw apiError(call, answer, token);
  }
}

/** The database's own failures, said as such; the call's typed errors pass as they are. */
async function fromDatabase<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (
      error instanceof Cafe24ApiError ||
      error instanceof Cafe24MallUnavailable ||
      error instanceof Cafe24NetworkError ||
      error instanceof Cafe24RequestError ||
      // KMS unavailable or denying: said as such, not as the database.
      error instanceof DataKeyUnavailable
    ) {
      throw error;
    }
    throw new Cafe24ClientDatabaseError(
      `the database holding the tokens could not be used (${networkReason(error)}); nothing was sent to Cafe24`,
    );
  }
}

async function tokenFor(deps: AdminCallDeps, mallId: string): Promise<Secret> {
  try {
    return await accessTokenFor(deps.refresh, mallId, deps.settings.minValidityMs);
  } catch (error) {
    if (error instanceof NoAccessToken) throw new Cafe24MallUnavailable(error.result);
    if (error instanceof TokenSealError) {
      throw new Cafe24MallUnavailable({ status: 'unreadable', mallId, reason: error.message });
    }
    throw error;
  }
}

async function takeSlot(
  deps: AdminCallDeps,
  call: { mallId: string; method: AdminMethod; path: string },
  deadline: number,
  signal: AbortSignal,
  sleep: (ms: number, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const now = deps.now ?? Date.now;
  for (;;) {
    const taken = await deps.bucket.take(call.mallId, deps.settings.bucket);
    if (taken.granted) return;
    if (now() + taken.waitMs > deadline) {
      throw new Cafe24RateLimited(
        call,
        taken.waitMs,
        `the mall's bucket is full for ${Math.ceil(taken.waitMs / 1000)} s more than the call may wait`,
      );
    }
    await sleep(Math.max(taken.waitMs, 5), signal);
  }
}

function apiError(
  call: { mallId: string; method: AdminMethod; path: string },
  answer: AdminAnswer,
  token: Secret,
): Cafe24ApiError {
  const error = (answer.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = error?.code === undefined ? undefined : String(error.code).slice(0, 40);
  const message =
    typeof error?.message === 'string' ? scrub(error.message.slice(0, 300), [token]) : undefined;
  const why = answer.json === undefined ? `the answer was not JSON (${answer.bodyKind})` : undefined;
  return new Cafe24ApiError(call, answer.status, { code, message, ...(why ? { why } : {}) });
}

function networkReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : error instanceof Error ? error.name : 'unknown error';
}

/** The project's one abortable delay; a wait the signal ended is the call's end, said as such. */
async function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  await abortableDelay(ms, signal);
  if (signal.aborted) throw new Cafe24NetworkError("the call's deadline or its signal ended the wait");
}

function hasControlCharacter(text: string): boolean {
  for (const char of text) if (char.charCodeAt(0) < 0x20 || char === '\\') return true;
  return false;
}
