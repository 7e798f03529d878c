import type { Log } from '../commons/log.ts';
import { refreshMessage } from '../queue/messages.ts';
import type { Publisher } from '../queue/publisher.ts';

/** The store's side of the schedule (`PostgresTokenStore`): claim a round's due malls, give some back. */
export type DueMallClaims = {
  claimDueForQueue(aheadMs: number, roundMs: number, limit: number): Promise<string[]>;
  unclaimQueued(mallIds: string[]): Promise<void>;
};

export type RefreshScheduleDeps = {
  tokens: DueMallClaims;
  publish: Publisher;
  log: Log;
  policy: { aheadMs: number; roundMs: number };
};

export type RefreshScheduleSummary = { published: number; failed: number };

/** Malls claimed per statement; the claims go on while a whole batch came back. */
const CLAIM_BATCH = 500;

/**
 * One run of the schedule: every due mall not published this round goes to the refresh queue once,
 * keyed by its mall id. The claim stamps the round in the database before sending, so two runs at once
 * (EventBridge delivers at least once) publish each mall once; a mall whose message SQS did not take is
 * given back for the next run. Stops claiming at `deadline` (epoch ms).
 */
export async function publishDueMalls(
  deps: RefreshScheduleDeps,
  options: { deadline?: number } = {},
): Promise<RefreshScheduleSummary> {
  const summary: RefreshScheduleSummary = { published: 0, failed: 0 };
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  for (;;) {
    const malls = await deps.tokens.claimDueForQueue(deps.policy.aheadMs, deps.policy.roundMs, CLAIM_BATCH);
    if (malls.length === 0) break;
    let result: Awaited<ReturnType<Publisher>>;
    try {
      result = await deps.publish(malls.map((mallId) => ({ id: mallId, body: refreshMessage(mallId) })));
    } catch (error) {
      await deps.tokens.unclaimQueued(malls);
      throw error;
    }
    summary.published += result.published.length;
    summary.failed += result.failed.length;
    if (result.failed.length > 0) {
      deps.log.warn('SQS refused some refresh messages; the next run publishes them', {
        malls: result.failed.map(({ id }) => id),
        reasons: [...new Set(result.failed.map(({ reason }) => reason))],
      });
      await deps.tokens.unclaimQueued(result.failed.map(({ id }) => id));
      break;
    }
    if (malls.length < CLAIM_BATCH || Date.now() >= deadline) break;
  }
  return summary;
}
