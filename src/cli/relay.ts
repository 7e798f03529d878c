import { logger } from '../commons/logger.ts';
import { loadConfig } from '../config.ts';
import { startRelay } from '../relay/relay.ts';
import { createRelayRuntime } from '../runtime/relay.ts';

/** `cafe24-tokens relay`: runs until SIGINT or SIGTERM. */
export async function relayCommand(options: { sweepSeconds: number }): Promise<void> {
  const runtime = createRelayRuntime(loadConfig('relay'), { poolSize: 6 });
  const relay = startRelay({
    ...runtime.relay,
    log: logger,
    sweepIntervalMs: options.sweepSeconds * 1000,
    onPublished: (count) => logger.info('published', { count }),
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info('stopping relay', { signal });
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await relay.stop();
  await runtime.close();
  logger.info('relay stopped', { published: relay.stats.published });
}
