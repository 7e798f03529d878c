import pg from 'pg';
import { logger } from '../commons/logger.ts';
import type { DatabaseConfig } from '../config.ts';

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

/**
 * Connection settings for pg from the configuration (a pool, a migration, the relay's listener).
 * `readPassword` serves PGPASSWORD_SECRET_ARN: pg calls it for each new connection.
 */
export function clientConfig(
  database: DatabaseConfig,
  readPassword?: () => Promise<string>,
): pg.ClientConfig {
  if (database.passwordSecretArn !== undefined && readPassword === undefined) {
    throw new Error('PGPASSWORD_SECRET_ARN is set but no Secrets Manager reader was wired');
  }
  return {
    connectionString: database.connectionString,
    host: database.host,
    port: database.port,
    user: database.user,
    password: database.password?.reveal() ?? readPassword,
    database: database.database,
    ...(database.sslMode === undefined ? {} : { ssl: sslFor(database.sslMode) }),
  };
}

/**
 * PGSSLMODE as libpq reads it: `require` encrypts without checking the server's certificate, `verify-ca`
 * and `verify-full` check it against Node's trust store (on Lambda, NODE_EXTRA_CA_CERTS adds the RDS
 * certificate authorities: /var/runtime/ca-cert.pem), `verify-full` the host name too.
 */
export function sslFor(mode: NonNullable<DatabaseConfig['sslMode']>): pg.ClientConfig['ssl'] {
  switch (mode) {
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case 'verify-full':
      return { rejectUnauthorized: true };
  }
}

/**
 * No statement waits unboundedly, on any pool: a lock held by a frozen process, a runaway query or a
 * transaction left open by a paused client all end in an error the caller retries or reports.
 */
export const WAITS = {
  /** A row lock is normally held for milliseconds; longer means a stuck holder. */
  lock_timeout: 3_000,
  statement_timeout: 15_000,
  /** A relay frozen mid-send loses its claim after this and another relay publishes its codes. */
  idle_in_transaction_session_timeout: 15_000,
};

/** bigint ids arrive as strings and stay so: ids are opaque, never arithmetic. */
export function createPool(
  connection: pg.ClientConfig,
  options: { max?: number; applicationName?: string; waits?: Partial<typeof WAITS> } = {},
) {
  const pool = new pg.Pool({
    Client: SteadyClient,
    ...connection,
    ...WAITS,
    ...options.waits,
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
