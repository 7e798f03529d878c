import pgListen, { type Subscriber } from 'pg-listen';
import { describeError } from '../commons/errors.ts';
import { abortableDelay, backoffMs } from '../domain/retry.ts';
import { CODES_CHANNEL, type Listener, type ListenerOptions } from './listener-types.ts';

// pg-listen is CommonJS with `exports.default`: Node hands over the exports object, bundlers the function.
type CreateSubscriber = typeof pgListen.default;
const createSubscriber: CreateSubscriber =
  (pgListen as unknown as { default?: CreateSubscriber }).default ??
  (pgListen as unknown as CreateSubscriber);

export { CODES_CHANNEL, type Listener } from './listener-types.ts';

/**
 * LISTEN through pg-listen, made to survive a Postgres restart and to stop on demand.
 *
 * pg-listen gives up reconnecting after `retryTimeout` (3 s by default) and ignores `close()` while it
 * retries (its issue #61). Here it retries forever, and its `retryInterval` callback throws once we are
 * stopping, which is the one way to end its reconnect loop. Its first connect does not retry at all, so
 * that loop is ours. `onWake` runs once LISTEN is in place, after every (re)connect and on each NOTIFY.
 */
export function startListener(options: ListenerOptions): Listener {
  const { log, onWake } = options;
  const channel = options.channel ?? CODES_CHANNEL;
  const maxRetryMs = options.maxRetryMs ?? 2_000;
  const retryDelay = (attempt: number) => backoffMs(attempt + 1, { firstMs: 100, capMs: maxRetryMs });
  const stopping = new AbortController();
  let current: Subscriber | undefined;

  const subscribe = async () => {
    for (let attempt = 0; !stopping.signal.aborted; attempt++) {
      const subscriber = createSubscriber(
        { ...options.connection, connectionTimeoutMillis: maxRetryMs },
        {
          paranoidChecking: 5_000,
          retryLimit: Number.POSITIVE_INFINITY,
          retryTimeout: Number.POSITIVE_INFINITY,
          retryInterval: (retry) => {
            if (stopping.signal.aborted) throw new Error('listener closed');
            return retryDelay(retry);
          },
          parse: (payload) => payload,
        },
      );
      let listening = false;
      subscriber.events.on('notification', () => onWake('notification'));
      subscriber.events.on('reconnect', (retry) =>
        log.warn('database connection lost, reconnecting', { attempt: retry }),
      );
      subscriber.events.on('connected', () => {
        // A reconnect that finished after close() would otherwise keep the process alive.
        if (stopping.signal.aborted) return void subscriber.close().catch(() => {});
        if (listening) {
          log.info('listening again after reconnect', { channel });
          onWake('connected');
        }
      });
      subscriber.events.on('error', (error) => {
        if (!stopping.signal.aborted) log.error('listener error', { error: describeError(error) });
      });
      try {
        await subscriber.connect();
        await subscriber.listenTo(channel);
        listening = true;
        current = subscriber;
        log.info('listening', { channel });
        onWake('connected');
        return;
      } catch (error) {
        await subscriber.close().catch(() => {});
        log.warn('cannot listen yet, retrying', { error: describeError(error), attempt });
        await abortableDelay(retryDelay(attempt), stopping.signal);
      }
    }
  };
  const subscribed = subscribe();

  return {
    async close() {
      stopping.abort();
      await subscribed;
      // `close()` ends the current client; if pg-listen is mid-reconnect, the throwing retryInterval ends it.
      // The bound's timer is cleared once close() is done: left running, it kept the process alive 2 s.
      const bound = new AbortController();
      await Promise.race([current?.close().catch(() => {}), abortableDelay(maxRetryMs, bound.signal)]);
      bound.abort();
    },
  };
}
