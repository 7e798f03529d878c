import { describeError } from '../commons/errors.ts';
import type { Log } from '../commons/log.ts';
import { STRANDED_REASONS } from '../domain/exchange-code.ts';
import { recordStrandedCodes } from '../store/codes.ts';
import { deleteExpiredStates } from '../store/install-states.ts';
import type { Pool } from '../store/pool.ts';

/** A `pending` code this long past its life was never claimed: no message for it is coming. */
export const PENDING_GRACE_MS = 2 * 60_000;
/**
 * An `exchanging` claim this long past the code's life has no worker left. Longer than the pending grace:
 * a redelivery that stores stashed tokens (a database outage of minutes) must find the claim first.
 */
export const CLAIM_GRACE_MS = 15 * 60_000;

export type SweepResult = { expiredStatesDeleted: number; strandedCodes: number };

/**
 * The sweep's housekeeping beside the drain, on the relay's sweep timer and the relay Lambda's schedule,
 * never per NOTIFY: install states past their expiry are deleted, and codes nobody will exchange any more
 * are recorded with their reason, as the exchange would record them (issue 10.4). It never throws: a
 * failed step is logged and the next sweep tries again.
 */
export async function sweep(pool: Pool, log: Log, options: { codeLifetimeMs: number }): Promise<SweepResult> {
  // One after the other: the sweep takes one connection of the relay's pool, never two.
  const expiredStatesDeleted = await sweepExpiredStates(pool, log);
  const strandedCodes = await sweepStrandedCodes(pool, log, options);
  return { expiredStatesDeleted, strandedCodes };
}

export async function sweepExpiredStates(pool: Pool, log: Log): Promise<number> {
  try {
    const deleted = await deleteExpiredStates(pool);
    if (deleted > 0) log.info('expired install states deleted', { deleted });
    return deleted;
  } catch (error) {
    log.warn('could not delete expired install states; the next sweep retries', {
      error: describeError(error),
    });
    return 0;
  }
}

/**
 * `pending` past its life and a grace (its message was lost: a purged queue, retention ran out) →
 * `expired`; `exchanging` whose worker is gone → `expired` if nothing was sent, else `failed`.
 */
export async function sweepStrandedCodes(
  pool: Pool,
  log: Log,
  options: { codeLifetimeMs: number },
): Promise<number> {
  try {
    const recorded = await recordStrandedCodes(pool, {
      pendingAfterMs: options.codeLifetimeMs + PENDING_GRACE_MS,
      claimedAfterMs: options.codeLifetimeMs + CLAIM_GRACE_MS,
      reasons: STRANDED_REASONS,
    });
    for (const code of recorded) {
      log.warn(`code ${code.status}`, { codeId: code.id, mallId: code.mallId, reason: code.reason });
    }
    return recorded.length;
  } catch (error) {
    log.warn('could not record stranded codes; the next sweep retries', { error: describeError(error) });
    return 0;
  }
}
