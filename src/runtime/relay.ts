import type pg from 'pg';
import { eventBridgePublisher } from '../aws/eventbridge.ts';
import { createSqsClient, sqsPublisher } from '../aws/sqs.ts';
import type { ConfigFor } from '../config.ts';
import type { MallEventPublisher } from '../domain/lifecycle.ts';
import type { Publisher } from '../queue/publisher.ts';
import { createPool, type Pool } from '../store/pool.ts';
import { databaseConnection } from './database.ts';

/** What every relay shares, however it runs (the CLI, the local stack, the Lambda): `startRelay({ ...relay })`. */
export type RelaySettings = {
  pool: Pool;
  /** A direct session for LISTEN (not RDS Proxy, not PgBouncer in transaction mode). */
  connection: pg.ClientConfig;
  publish: Publisher;
  /** A code's life: the sweep records codes past it. */
  codeLifetimeMs: number;
  /** The exchange's margin: the sweep publishes again no lost code with less life left. */
  codeExpiryMarginMs: number;
  /** With EVENT_BUS_NAME: the app's events to EventBridge, from the table, by the sweep. */
  publishEvents?: MallEventPublisher;
};

export type RelayRuntime = RelaySettings & {
  /** The same settings as one value, to spread into `startRelay`. */
  relay: RelaySettings;
  close(): Promise<void>;
};

/** The relay's pool and its SQS publisher. */
export function createRelayRuntime(config: ConfigFor<'relay'>, options: { poolSize: number }): RelayRuntime {
  const connection = databaseConnection(config);
  const pool = createPool(connection, { max: options.poolSize, applicationName: 'cafe24-token-relay' });
  // Sends only, while a transaction holds the claimed outbox rows: fail fast rather than hold them.
  const client = createSqsClient(config.aws, { requestTimeoutMs: 5_000 });
  const relay: RelaySettings = {
    pool,
    connection,
    publish: sqsPublisher(client, config.queue.url),
    codeLifetimeMs: config.codes.lifetimeMs,
    codeExpiryMarginMs: config.codes.expiryMarginMs,
    ...(config.events.busName
      ? { publishEvents: eventBridgePublisher(config.aws, config.events.busName) }
      : {}),
  };
  return {
    ...relay,
    relay,
    async close() {
      await pool.end();
      client.destroy();
    },
  };
}
