import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The one backoff: `firstMs`, doubling per attempt (1, 2, 3 …) up to `capMs`, with ±20 % jitter so
 * concurrent retries spread out. By default 200 ms, 400 ms, 800 ms … capped at 5 s (token requests and
 * database calls); the relay's reconnects and publishing retries pass their own bounds.
 */
export function backoffMs(attempt: number, bounds: { firstMs?: number; capMs?: number } = {}): number {
  const base = Math.min(bounds.capMs ?? 5_000, (bounds.firstMs ?? 200) * 2 ** (attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export const sleepFor = (ms: number): Promise<void> => sleep(ms);

/** Resolves after `ms`, or at once when `signal` aborts (a relay stopping does not wait out a backoff). */
export function abortableDelay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return sleep(ms, undefined, signal ? { signal } : {}).catch(() => {});
}

/**
 * `work` retried with `backoffMs` while the next try would still start before `until`; the last error is
 * thrown after. `onRetry` hears each failure that is retried (to log it). The exchange's database calls,
 * its store of issued tokens and the refresh's store of a rotated pair all retry this way.
 */
export async function retryUntil<T>(
  work: () => Promise<T>,
  options: {
    until: number;
    now?: () => number;
    sleep?: (ms: number) => Promise<void>;
    onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  },
): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? sleepFor;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      const delay = backoffMs(attempt);
      if (now() + delay >= options.until) throw error;
      options.onRetry?.(attempt, delay, error);
      await sleep(delay);
    }
  }
}
