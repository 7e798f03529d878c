import pg from 'pg';
import { logger } from '../commons/logger.ts';
import { databasePasswordSource } from '../commons/secrets.ts';
import type { Config } from '../config.ts';

/**
 * A client that never crashes the process with an unhandled 'error': when the server goes away (a restart,
 * a failover) at a moment no query or pool listener is attached, such as mid-handshake, pg would throw.
 * Queries still fail with the error, and the pool still drops the client.
 */
class SteadyClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => {});
  }
}

/** Connection settings for pg from the configuration (a pool, a migration, the relay's listener). */
export function clientConfig(database: Config['database']): pg.ClientConfig {
  return {
    connectionString: database.connectionString,
    host: database.host,
    port: database.port,
    user: database.user,
    password:
      database.password?.reveal() ??
      (database.passwordSecretArn ? databasePasswordSource(database.passwordSecretArn) : undefined),
    database: database.database,
  };
}

/** bigint ids arrive as strings and stay so: ids are opaque, never arithmetic. */
export function createPool(
  database: Config['database'],
  options: { max?: number; applicationName?: string } = {},
) {
  const pool = new pg.Pool({
    Client: SteadyClient,
    ...clientConfig(database),
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'cafe24-token-issuer',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // A Lambda container may freeze for minutes; let TCP notice dead peers.
    keepAlive: true,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (error) => logger.warn('idle database connection lost', { error: error.message }));
  return pool;
}

export type Pool = pg.Pool;
