import { describeError } from '../commons/errors.ts';
import type { Log } from '../commons/log.ts';
import { count, METRIC } from '../commons/metrics.ts';
import { STRANDED_REASONS } from '../domain/exchange-code.ts';
import type { MallEventPublisher } from '../domain/lifecycle.ts';
import { recordStrandedCodes } from '../store/codes.ts';
import { deleteExpiredStates } from '../store/install-states.ts';
import { publishMallEvents } from '../store/mall-events.ts';
import { republishLost } from '../store/outbox.ts';
import type { Pool } from '../store/pool.ts';

/** A `pending` code this long past its life was never claimed: no message for it is coming. */
export const PENDING_GRACE_MS = 2 * 60_000;
/**
 * An `exchanging` claim this long past the code's life has no worker left. Longer than the pending grace:
 * a redelivery that stores stashed tokens (a database outage of minutes) must find the claim first.
 */
export const CLAIM_GRACE_MS = 15 * 60_000;
/**
 * A live `pending` code with no outbox row and nothing done to it for this long lost its message: a
 * published code is claimed within a second or two (a 1,000-code burst is exchanged in 1.08 s, a hand-back
 * returns in 2 s), and 10 s still leaves the code most of its minute to be published again.
 */
export const REPUBLISH_AFTER_MS = 10_000;

export type SweepOptions = {
  /** A code's life (CODE_LIFETIME_SECONDS). */
  codeLifetimeMs: number;
  /** The exchange's margin (CODE_EXPIRY_MARGIN_SECONDS): a code with less left is not sent, so not republished. */
  codeExpiryMarginMs?: number;
  /** With EVENT_BUS_NAME: the app's events (cafe24.mall_events) go to EventBridge from the table. */
  publishEvents?: MallEventPublisher;
};

export type SweepResult = {
  expiredStatesDeleted: number;
  strandedCodes: number;
  republishedCodes: number;
  eventsPublished?: number;
};

/** Batches of mall events per sweep (100 each): a backlog drains over a few sweeps, never all at once. */
const EVENT_BATCHES_PER_SWEEP = 10;

/**
 * The sweep's housekeeping beside the drain, on the relay's sweep timer and the relay Lambda's schedule,
 * never per NOTIFY: live codes whose message was lost go back into the outbox (issue 15.7; the caller
 * drains after), install states past their expiry are deleted, and codes nobody will exchange any more
 * are recorded with their reason, as the exchange would record them (issue 10.4). It never throws: a
 * failed step is logged and the next sweep tries again.
 */
export async function sweep(pool: Pool, log: Log, options: SweepOptions): Promise<SweepResult> {
  // One after the other: the sweep takes one connection of the relay's pool, never two.
  const republishedCodes = await sweepLostMessages(pool, log, options);
  const expiredStatesDeleted = await sweepExpiredStates(pool, log);
  const strandedCodes = await sweepStrandedCodes(pool, log, options);
  if (options.publishEvents === undefined) return { expiredStatesDeleted, strandedCodes, republishedCodes };
  const eventsPublished = await sweepMallEvents(pool, log, options.publishEvents);
  return { expiredStatesDeleted, strandedCodes, republishedCodes, eventsPublished };
}

/**
 * The app's events to EventBridge, oldest first, at least once: a row is marked published only after
 * PutEvents accepted it, so an outage of EventBridge or of the relay loses nothing (the next sweep sends it).
 */
export async function sweepMallEvents(pool: Pool, log: Log, publish: MallEventPublisher): Promise<number> {
  let published = 0;
  try {
    for (let batch = 0; batch < EVENT_BATCHES_PER_SWEEP; batch += 1) {
      const sent = await publishMallEvents(pool, publish);
      published += sent.published;
      if (sent.failed > 0)
        log.warn('EventBridge refused mall events; the next sweep retries', { failed: sent.failed });
      if (sent.published + sent.failed < 100 || sent.failed > 0) break;
    }
  } catch (error) {
    log.warn('could not publish mall events; the next sweep retries', { error: describeError(error) });
  }
  if (published > 0) {
    count(METRIC.MallEventsPublished, published);
    log.info('mall events published', { events: published });
  }
  return published;
}

/** Live `pending` codes whose message was lost after their outbox row was deleted → the outbox again. */
export async function sweepLostMessages(pool: Pool, log: Log, options: SweepOptions): Promise<number> {
  try {
    const republished = await republishLost(pool, {
      aliveForMs: options.codeLifetimeMs - (options.codeExpiryMarginMs ?? 0),
      untouchedForMs: REPUBLISH_AFTER_MS,
    });
    if (republished > 0) log.warn('lost messages published again', { codes: republished });
    return republished;
  } catch (error) {
    log.warn('could not publish lost messages again; the next sweep retries', {
      error: describeError(error),
    });
    return 0;
  }
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
export async function sweepStrandedCodes(pool: Pool, log: Log, options: SweepOptions): Promise<number> {
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
