/**
 * The ports of a call to Cafe24's Admin API (src/domain/admin-call.ts): the mall's shared bucket and the
 * HTTP request. Adapters: src/store/api-buckets.ts (PostgreSQL), src/cafe24/admin-api.ts (undici).
 */

/** Our view of Cafe24's per-mall bucket: `size` calls, draining `drainPerSecond`; `reserve` left unused. */
export type BucketSettings = { size: number; drainPerSecond: number; reserve: number };

/** A take: granted (the call may go), or how long until it would be. */
export type BucketTake = { granted: boolean; level: number; waitMs: number };

/** One leaky bucket per mall, shared by every process that calls the mall. */
export interface CallBucket {
  take(mallId: string, settings: BucketSettings): Promise<BucketTake>;
  /** Cafe24's own count (`X-Api-Call-Limit`): the bucket is at least this full. */
  observe(mallId: string, used: number, settings: BucketSettings): Promise<void>;
  /** Cafe24 answered 429: nobody calls the mall for `forMs`. */
  block(mallId: string, forMs: number): Promise<void>;
}

export type AdminMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export type AdminRequest = {
  method: AdminMethod;
  /** Starts with `/api/v2/admin/`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined> | undefined;
  body?: unknown;
};

/** What Cafe24 answered, as the call needs it. */
export type AdminAnswer = {
  status: number;
  /** The parsed JSON body, or undefined when it was not JSON. */
  json: unknown;
  /** What the body was when it was not JSON ("text/html", "empty"): for the error, never the body. */
  bodyKind: string;
  /** `X-Api-Call-Limit: used/size`. */
  callLimit: { used: number; size: number } | undefined;
  /** Seconds until calls resume: the larger of `X-Cafe24-Call-Remain` and `Retry-After`. */
  retryAfterSeconds: number | undefined;
};

/** Sends one request with `accessToken`; rejects only for a network failure or the signal. */
export type AdminSend = (
  mallId: string,
  request: AdminRequest,
  accessToken: string,
  signal: AbortSignal,
) => Promise<AdminAnswer>;
