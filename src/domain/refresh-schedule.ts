import { isMallId } from '../commons/ids.ts';
import type { Log } from '../commons/log.ts';
import { refreshMessage } from '../queue/messages.ts';
import type { Publisher } from '../queue/publisher.ts';
import { UNUSABLE_MALL_ID_REASON } from './refresh-mall.ts';

/** The store's side of the schedule (`PostgresTokenStore`): claim a round's due malls, give some back. */
/** Which malls a round publishes: access tokens expiring within `aheadMs`, or refresh tokens within `keepaliveMs`. */
export type DueWindow = { aheadMs: number } | { keepaliveMs: number };

export type DueMallClaims = {
  claimDueForQueue(window: DueWindow, roundMs: number, limit: number): Promise<string[]>;
  unclaimQueued(mallIds: string[]): Promise<void>;
  /** Rows no refresh can serve: `invalid` with the reason, out of every later round. */
  markUnusable(mallIds: string[], reason: string): Promise<void>;
};

export type RefreshScheduleDeps = {
  tokens: DueMallClaims;
  publish: Publisher;
  log: Log;
  /** With `keepaliveMs` (REFRESH_MODE=on-demand) only refresh tokens are kept alive. */
  policy: { aheadMs: number; roundMs: number; keepaliveMs?: number | undefined };
};

/** `unusable`: rows recorded invalid because their mall_id is not a mall id (never published). */
export type RefreshScheduleSummary = { published: number; failed: number; unusable: number };

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
  const summary: RefreshScheduleSummary = { published: 0, failed: 0, unusable: 0 };
  const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
  const { keepaliveMs } = deps.policy;
  const window: DueWindow = keepaliveMs === undefined ? { aheadMs: deps.policy.aheadMs } : { keepaliveMs };
  for (;;) {
    const claimed = await deps.tokens.claimDueForQueue(window, deps.policy.roundMs, CLAIM_BATCH);
    if (claimed.length === 0) break;
    // One bad row never stops the others: recorded, and left out of every later round.
    const unusable = claimed.filter((mallId) => !isMallId(mallId));
    if (unusable.length > 0) {
      await deps.tokens.markUnusable(unusable, UNUSABLE_MALL_ID_REASON);
      summary.unusable += unusable.length;
      deps.log.error('token rows whose mall_id is not a mall id were marked invalid', {
        rows: unusable.length,
        reason: UNUSABLE_MALL_ID_REASON,
      });
    }
    const malls = claimed.filter(isMallId);
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
    if (claimed.length < CLAIM_BATCH || Date.now() >= deadline) break;
  }
  return summary;
}
