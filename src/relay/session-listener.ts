import pg from 'pg';
import { describeError } from '../commons/errors.ts';
import { abortableDelay, backoffMs } from '../domain/retry.ts';
import { CODES_CHANNEL, type Listener, type ListenerOptions } from './listener-types.ts';

/**
 * LISTEN on one plain `pg` session, for the relay Lambda's bounded run (65 s).
 *
 * The long-running relay uses pg-listen (listener.ts); it cannot go into a Lambda bundle (pg-listen's
 * pg-format requires `__dirname + '/reserved.js'`, a path esbuild cannot follow). A run this short needs
 * only this: connect, LISTEN, wake on every NOTIFY and after every (re)connect (the catch-up), and if
 * the session drops, connect again with backoff until closed. The sweep covers any gap meanwhile.
 */
export function startSessionListener(options: ListenerOptions): Listener {
  const { log, onWake } = options;
  const channel = options.channel ?? CODES_CHANNEL;
  const maxRetryMs = options.maxRetryMs ?? 2_000;
  const stopping = new AbortController();
  let client: pg.Client | undefined;
  let lost: (() => void) | undefined;

  const run = async () => {
    for (let attempt = 0; !stopping.signal.aborted; ) {
      const session = new pg.Client({ ...options.connection, connectionTimeoutMillis: maxRetryMs });
      const ended = new Promise<void>((resolve) => {
        lost = resolve;
      });
      session.on('notification', (message) => {
        if (message.channel === channel) onWake('notification');
      });
      session.on('error', (error) => {
        if (!stopping.signal.aborted) log.warn('listen session failed', { error: describeError(error) });
        lost?.();
      });
      session.on('end', () => lost?.());
      try {
        await session.connect();
        // The channel is a fixed identifier of ours, quoted as one.
        await session.query(`LISTEN "${channel.replaceAll('"', '""')}"`);
        client = session;
        attempt = 0;
        log.info('listening', { channel });
        onWake('connected');
        await Promise.race([ended, aborted(stopping.signal)]);
      } catch (error) {
        if (!stopping.signal.aborted)
          log.warn('cannot listen yet, retrying', { error: describeError(error) });
      }
      client = undefined;
      await session.end().catch(() => {});
      if (stopping.signal.aborted) return;
      attempt += 1;
      await abortableDelay(backoffMs(attempt + 1, { firstMs: 100, capMs: maxRetryMs }), stopping.signal);
    }
  };
  const running = run();

  return {
    async close() {
      stopping.abort();
      // Bounded: ending a session whose connection went silent could otherwise wait on TCP for minutes.
      const bound = new AbortController();
      await Promise.race([
        Promise.all([client?.end().catch(() => {}), running]),
        abortableDelay(maxRetryMs, bound.signal),
      ]);
      bound.abort();
    },
  };
}

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
