import { createSqsClient } from '../aws/sqs.ts';
import { logger } from '../commons/logger.ts';
import { loadRelayConfig } from '../config.ts';
import { startRelay } from '../relay/relay.ts';
import { sqsPublisher } from '../relay/sqs-publisher.ts';
import { clientConfig, createPool } from '../store/pool.ts';

/** `cafe24-tokens relay`: runs until SIGINT or SIGTERM. */
export async function relayCommand(options: { sweepSeconds: number }): Promise<void> {
  const { database, sqs } = loadRelayConfig();
  const pool = createPool(database, { max: 6, applicationName: 'cafe24-token-relay' });
  const sqsClient = createSqsClient(sqs);
  const relay = startRelay({
    pool,
    connection: clientConfig(database),
    publish: sqsPublisher(sqsClient, sqs.queueUrl),
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
  await pool.end();
  sqsClient.destroy();
  logger.info('relay stopped', { published: relay.stats.published });
}
