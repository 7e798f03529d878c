import type pg from 'pg';
import { describeError } from '../commons/errors.ts';
import type { Log } from '../commons/log.ts';
import type { MallEventPublisher } from '../domain/lifecycle.ts';
import { backoffMs } from '../domain/retry.ts';
import { exchangeMessage } from '../queue/messages.ts';
import type { Publisher } from '../queue/publisher.ts';
import type { Pool } from '../store/pool.ts';
import type { Listener, StartListener } from './listener-types.ts';
import { CLAIM_SIZE, drainOutbox } from './outbox.ts';
import { sweep as housekeeping } from './sweep.ts';

export type RelayOptions = {
  pool: Pool;
  /** A direct session for LISTEN (not RDS Proxy, not PgBouncer in transaction mode). */
  connection: pg.ClientConfig;
  publish: Publisher;
  log: Log;
  /**
   * The catch-all poll for anything a NOTIFY did not announce; it also republishes live codes whose message
   * was lost, deletes expired install states and records codes past their life that no exchange will
   * finish (src/relay/sweep.ts).
   */
  sweepIntervalMs?: number;
  /** A code's life (CODE_LIFETIME_SECONDS): the sweep's measure of a stranded code, and of a live one. */
  codeLifetimeMs: number;
  /** The exchange's margin (CODE_EXPIRY_MARGIN_SECONDS): the sweep republishes no code with less left. */
  codeExpiryMarginMs?: number;
  /** With EVENT_BUS_NAME: the sweep also publishes the app's events (cafe24.mall_events). */
  publishEvents?: MallEventPublisher;
  /** Parallel drains; SKIP LOCKED keeps them off each other's rows. */
  concurrency?: number;
  /** Starts the LISTEN session: pg-listen for the long-running relay, a plain session for the Lambda. */
  listen: StartListener;
  /** After each drain that published: how many, and each code's INSERT → SQS lag in ms. */
  onPublished?: (count: number, lagsMs: number[]) => void;
};

/** Drains in parallel by default. */
export const RELAY_CONCURRENCY = 4;

export type Relay = {
  /** Drain now (also what NOTIFY, reconnects and the sweep do). */
  wake(): void;
  readonly stats: { published: number; failed: number; errors: number };
  stop(): Promise<void>;
};

/**
 * The relay: NOTIFY wakes it, every (re)connect catches up, a periodic sweep covers the rest (and
 * republishes codes whose message was lost, deletes expired install states, and records stranded codes),
 * and each drain publishes unpublished codes to SQS. SQS or database errors back off and retry.
 */
export function startRelayWith(options: RelayOptions): Relay {
  const { pool, publish, log } = options;
  const concurrency = options.concurrency ?? RELAY_CONCURRENCY;
  const stats = { published: 0, failed: 0, errors: 0 };
  let stopped = false;
  let draining: Promise<void> | undefined;
  let again = false;
  let consecutiveErrors = 0;
  let retryTimer: NodeJS.Timeout | undefined;

  const drainOnce = async () => {
    // One claim first: at an install's pace a wake-up finds a code or two, and one transaction does.
    // A full claim means a backlog: then `concurrency` drains take it in parallel.
    const first = await drainOutbox(pool, publish, exchangeMessage, { maxBatches: 1 });
    const results = [first];
    if (first.failed === 0 && first.published >= CLAIM_SIZE) {
      results.push(
        ...(await Promise.all(
          Array.from({ length: concurrency }, () => drainOutbox(pool, publish, exchangeMessage)),
        )),
      );
    }
    const published = results.reduce((sum, r) => sum + r.published, 0);
    const failed = results.reduce((sum, r) => sum + r.failed, 0);
    stats.published += published;
    stats.failed += failed;
    if (published > 0)
      options.onPublished?.(
        published,
        results.flatMap((r) => r.lagsMs),
      );
    if (failed > 0) throw new Error(`SQS refused ${failed} message(s)`);
  };

  const loop = async () => {
    do {
      again = false;
      try {
        await drainOnce();
        consecutiveErrors = 0;
      } catch (error) {
        stats.errors += 1;
        consecutiveErrors += 1;
        const delay = backoffMs(consecutiveErrors, { firstMs: 250, capMs: 30_000 });
        log.warn('publishing failed, will retry', { error: describeError(error), retryInMs: delay });
        clearTimeout(retryTimer);
        if (!stopped) retryTimer = setTimeout(wake, delay);
        return;
      }
    } while (again && !stopped);
  };

  function wake() {
    if (stopped) return;
    if (draining) {
      again = true;
      return;
    }
    draining = loop().finally(() => {
      draining = undefined;
    });
  }

  // One clean-up at a time: a slow database must not pile them up.
  let cleaning: Promise<unknown> | undefined;
  const sweepOnce = () => {
    wake();
    cleaning ??= housekeeping(pool, log, {
      codeLifetimeMs: options.codeLifetimeMs,
      codeExpiryMarginMs: options.codeExpiryMarginMs,
      ...(options.publishEvents ? { publishEvents: options.publishEvents } : {}),
    })
      // The codes it put back in the outbox announce themselves to no one: drain them now.
      .then((swept) => {
        if (swept.republishedCodes > 0) wake();
      })
      .finally(() => {
        cleaning = undefined;
      });
  };

  const listener: Listener = options.listen({ connection: options.connection, log, onWake: wake });
  const sweep = setInterval(sweepOnce, options.sweepIntervalMs ?? 30_000);

  return {
    wake,
    stats,
    async stop() {
      stopped = true;
      clearInterval(sweep);
      clearTimeout(retryTimer);
      await Promise.all([listener.close(), draining, cleaning]);
    },
  };
}
