import { MemoryTokenStash } from '../../src/domain/memory-stash.ts';
import type { TokenStash } from '../../src/domain/ports.ts';

/**
 * Another container's durable stash (S3, as the exchange sees it): what was put there is found by a
 * delivery's take(), but this container's own listing never shows it, so no flush stores it first.
 */
export function anotherContainersStash(): TokenStash {
  const held = new MemoryTokenStash();
  return {
    put: (entry) => held.put(entry),
    take: (grant, key) => held.take(grant, key),
    entries: async () => [],
    durable: async () => true,
  };
}
