/**
 * How a failure is handled, decided in one place (`classify*` in src/cafe24/token-client.ts; `asFailure`
 * below only names what the client did not classify):
 * - `final`: the answer will not change; record it and never send the code again.
 * - `transient`: may succeed if tried again while the code is alive.
 * - `expired`: the code outlived its one minute; recorded, never sent.
 * - `configuration`: Cafe24 refused the app's own client credentials, or the request itself (a bug or a
 *   setting of the app: `invalid_request`, `invalid_scope`, …); no code or mall is to blame, every
 *   request will fail alike until someone fixes them.
 */
export type FailureKind = 'final' | 'transient' | 'expired' | 'configuration';

export class TokenFailure extends Error {
  override name = 'TokenFailure';
  readonly kind: FailureKind;
  /** Delay the server asked for (429 Retry-After), in ms. */
  readonly retryAfterMs: number | undefined;
  constructor(kind: FailureKind, message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * The failure kind of anything a token request threw. The token client classifies every failure it
 * produces; anything else means a port broke that contract, and counts as transient: retried while
 * there is time, never recorded as final.
 */
export function asFailure(error: unknown): TokenFailure {
  return error instanceof TokenFailure ? error : new TokenFailure('transient', describeError(error));
}

/** A message safe to log or store: Error messages only, never a stack holding request data. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.includes(code)
      ? `${error.message} (${code})`
      : error.message;
  }
  return String(error);
}
