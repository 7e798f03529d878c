import { describeError } from '../commons/errors.ts';
import type { Log } from '../commons/log.ts';
import { deleteExpiredStates } from '../store/install-states.ts';
import type { Pool } from '../store/pool.ts';

/**
 * The sweep's housekeeping beside the drain: install states past their expiry (used or not) are deleted.
 * Runs on the sweep's timer and the relay Lambda's schedule, never per NOTIFY. It never throws: a failed
 * clean-up is logged and the next sweep tries again.
 */
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
