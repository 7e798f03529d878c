import pg from 'pg';
import { logger } from '../commons/logger.ts';
import type { Config } from '../config.ts';

/** bigint ids and counts arrive as strings; keep them so (ids are opaque, never arithmetic). */
export function createPool(
  database: Config['database'],
  options: { max?: number; applicationName?: string } = {},
) {
  const pool = new pg.Pool({
    connectionString: database.connectionString,
    host: database.host,
    port: database.port,
    user: database.user,
    password: database.password?.reveal(),
    database: database.database,
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
