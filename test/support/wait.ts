import { vi } from 'vitest';

/**
 * Polls `predicate` until it holds; fails with `message` after `timeoutMs`. A thin wrapper over vitest's
 * `vi.waitUntil` (a predicate that throws fails at once, as before); new tests use `vi.waitFor` or
 * `expect.poll` directly.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  message = 'condition',
): Promise<void> {
  await vi.waitUntil(predicate, {
    timeout: timeoutMs,
    interval: 20,
    message: `timed out after ${timeoutMs} ms waiting for ${message}`,
  });
}
