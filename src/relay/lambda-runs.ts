import type pg from 'pg';
import { logger } from '../commons/logger.ts';
import { flushMetrics, recordRelayPublished } from '../commons/metrics.ts';
import type { MallEventPublisher } from '../domain/lifecycle.ts';
import { sleepFor } from '../domain/retry.ts';
import { exchangeMessage } from '../queue/messages.ts';
import type { Publisher } from '../queue/publisher.ts';
import { codeVisible } from '../store/outbox.ts';
import type { Pool } from '../store/pool.ts';
import { drainOutbox } from './outbox.ts';
import { startRelayWith } from './relay-core.ts';
import { startSessionListener } from './session-listener.ts';
import { sweep } from './sweep.ts';

/**
 * The relay as a Lambda runs it (src/handlers/relay.ts enters here).
 *
 * Scheduled (every minute, timeout 70 s): it is the relay process for the rest of its time budget —
 * LISTEN, catch up on connect, sweep — and returns just before the budget ends. Invocations overlap by a
 * few seconds, so one is always listening and a committed code is on the queue within a NOTIFY round trip.
 *
 * Invoked by the RDS trigger inside the inserting transaction, it may run before that transaction
 * commits, so it waits (briefly) for the announced row, drains and returns.
 */

export type RelayDeps = {
  pool: Pool;
  publish: Publisher;
  /** A code's life: the sweep records codes past it (and a grace) that no exchange will finish. */
  codeLifetimeMs: number;
  /** The exchange's margin: the sweep republishes no lost code with less of its life left. */
  codeExpiryMarginMs?: number;
  /** With EVENT_BUS_NAME: the sweep publishes the app's events. */
  publishEvents?: MallEventPublisher;
  /** A direct session for LISTEN; without one a scheduled run drains once and returns. */
  connection?: pg.ClientConfig;
};
export type RelaySummary = {
  published: number;
  failed: number;
  waitedFor?: { codeId: string; seen: boolean };
  /** The scheduled run's housekeeping: expired install states deleted. */
  expiredStatesDeleted?: number;
  /** The scheduled run's housekeeping: codes past their life recorded `expired` or `failed`. */
  strandedCodes?: number;
  /** The scheduled run's housekeeping: live codes whose message was lost, put back in the outbox. */
  republishedCodes?: number;
  /** How long a scheduled run listened, in ms (0: it only drained). */
  listenedMs?: number;
};

export type RelayHandlerOptions = {
  /** How long a trigger run waits for its (maybe uncommitted) row. */
  waitForRowMs?: number;
  /**
   * What a scheduled run leaves of its time budget for stopping (closing the LISTEN session, finishing a
   * drain in flight, flushing metrics). It listens for the remaining time minus this.
   */
  listenMarginMs?: number;
  /** How often a listening run sweeps for codes no NOTIFY announced (and flushes its metrics). */
  sweepIntervalMs?: number;
};

const VISIBILITY_POLL_MS = 100;
/** Closing LISTEN takes ≤ 2 s, a drain in flight ≤ an SQS request (5 s): 5 s of a 70 s timeout. */
export const LISTEN_MARGIN_MS = 5_000;
export const LAMBDA_SWEEP_INTERVAL_MS = 10_000;
/** Less than this to listen is not worth a session: drain once instead. */
const MIN_LISTEN_MS = 1_000;

/** A trigger run: drain, wait (briefly) for the announced row to commit, drain again. */
export async function relayTriggered(
  deps: RelayDeps,
  codeId: string,
  remainingMs: number | undefined,
  options: RelayHandlerOptions = {},
): Promise<RelaySummary> {
  const { pool, publish } = deps;
  const summary: RelaySummary = await drain(pool, publish);
  const budget = Math.min(options.waitForRowMs ?? 10_000, (remainingMs ?? 30_000) - 2_000);
  const deadline = Date.now() + budget;
  let seen = await codeVisible(pool, codeId);
  while (!seen && Date.now() < deadline) {
    await sleepFor(VISIBILITY_POLL_MS);
    seen = await codeVisible(pool, codeId);
  }
  if (seen) {
    const more = await drain(pool, publish);
    summary.published += more.published;
    summary.failed += more.failed;
  }
  // Not seen: rolled back, or still uncommitted; the listening scheduled run publishes it if it commits.
  summary.waitedFor = { codeId, seen };
  return summary;
}

/** A scheduled run: sweep, then be the relay (LISTEN, catch-up, sweep) until just before the budget ends. */
export async function relayScheduled(
  deps: RelayDeps,
  remainingMs: number | undefined,
  options: RelayHandlerOptions = {},
): Promise<RelaySummary> {
  const { pool, publish, connection, codeLifetimeMs, codeExpiryMarginMs } = deps;
  const invoked = Date.now();
  // Before the drain or the listening relay's first catch-up, which publish what it put back.
  const swept = await sweep(pool, logger, {
    codeLifetimeMs,
    codeExpiryMarginMs,
    ...(deps.publishEvents ? { publishEvents: deps.publishEvents } : {}),
  });
  // What is left after the sweep: a slow sweep must not push the run past Lambda's end.
  const remaining = Math.max(0, (remainingMs ?? 0) - (Date.now() - invoked));
  // A third of a short budget (tests, a shortened timeout), 5 s of the template's 70 s.
  const listenMs = remaining - (options.listenMarginMs ?? Math.min(LISTEN_MARGIN_MS, remaining / 3));
  if (connection === undefined || listenMs < MIN_LISTEN_MS) {
    return { ...(await drain(pool, publish)), ...swept, listenedMs: 0 };
  }
  const started = Date.now();
  // Whatever happens while stopping, the run returns a second before Lambda would end it.
  const returnBy = started + remaining - 1_000;
  const relay = startRelayWith({
    ...deps,
    connection,
    listen: startSessionListener,
    log: logger,
    // The Lambda's pool is small; two drains at once use it fully.
    concurrency: 2,
    sweepIntervalMs: options.sweepIntervalMs ?? LAMBDA_SWEEP_INTERVAL_MS,
    onPublished: (count, lagsMs) => recordRelayPublished(count, lagsMs),
  });
  // Metrics leave every sweep interval, not only at the end: the dashboard stays current.
  const flusher = setInterval(flushMetrics, options.sweepIntervalMs ?? LAMBDA_SWEEP_INTERVAL_MS);
  try {
    await sleepFor(listenMs);
  } finally {
    clearInterval(flusher);
    // A drain stuck on SQS is left to its transaction's timeout: its rows stay claimed only as long as
    // its session lives (idle_in_transaction_session_timeout), then another run publishes them.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      relay.stop(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, Math.max(0, returnBy - Date.now()));
      }),
    ]);
    clearTimeout(timer);
  }
  return {
    published: relay.stats.published,
    failed: relay.stats.failed,
    ...swept,
    listenedMs: Date.now() - started,
  };
}

async function drain(pool: Pool, publish: Publisher): Promise<RelaySummary> {
  const { published, failed, lagsMs } = await drainOutbox(pool, publish, exchangeMessage);
  recordRelayPublished(published, lagsMs);
  return { published, failed };
}
