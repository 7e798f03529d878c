import { type BurstResult, measureBurst } from './burst.ts';
import type { BenchEnvironment } from './environment.ts';

export type CapacityResult = Pick<
  BurstResult,
  | 'codes'
  | 'sandboxDelayMs'
  | 'tokenRequests'
  | 'batchSize'
  | 'maximumConcurrency'
  | 'codesRequestedTwice'
  | 'notExchanged'
> & {
  /** Commit → the last code finished (exchanged, or recorded otherwise); must be none twice (tokenRequests = codes). */
  seconds: number;
  /** Codes that died waiting (issue 10.7: must be 0). */
  expired: number;
};

/**
 * Issue 10.7: `codes` codes inserted at once, Cafe24 answering each after `sandboxDelayMs`, on the default
 * configuration (the local stack with the template's settings). None may expire.
 */
export async function measureCapacity(
  env: BenchEnvironment,
  codes = 5_000,
  sandboxDelayMs = 1_000,
): Promise<CapacityResult> {
  const burst = await measureBurst(env, codes, sandboxDelayMs);
  return {
    codes,
    sandboxDelayMs,
    seconds: burst.finishedSeconds,
    expired: burst.notExchanged.expired ?? 0,
    tokenRequests: burst.tokenRequests,
    batchSize: burst.batchSize,
    maximumConcurrency: burst.maximumConcurrency,
    codesRequestedTwice: burst.codesRequestedTwice,
    notExchanged: burst.notExchanged,
  };
}
