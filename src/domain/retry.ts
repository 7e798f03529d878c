/** 200 ms, 400 ms, 800 ms … capped at 5 s, with ±20 % jitter so concurrent retries spread out. */
export function backoffMs(attempt: number): number {
  const base = Math.min(5_000, 200 * 2 ** (attempt - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
