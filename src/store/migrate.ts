import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type pg from 'pg';
import type { Config } from '../config.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../db/migrations', import.meta.url));

/** Connection settings for a one-off client (migrations, the relay's listener). */
export function clientConfig(database: Config['database']): pg.ClientConfig {
  return {
    connectionString: database.connectionString,
    host: database.host,
    port: database.port,
    user: database.user,
    password: database.password?.reveal(),
    database: database.database,
  };
}

/**
 * Applies the numbered SQL files in db/migrations that have not run yet, under node-pg-migrate's
 * advisory lock; re-running is a no-op. Returns the names applied.
 */
export async function migrate(
  connection: pg.ClientConfig,
  options: { log?: (line: string) => void; dir?: string } = {},
): Promise<string[]> {
  const applied = await runner({
    databaseUrl: connection,
    dir: options.dir ?? MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'migrations',
    migrationsSchema: 'cafe24',
    createMigrationsSchema: true,
    checkOrder: true,
    log: options.log ?? (() => {}),
  });
  return applied.map((migration) => migration.name);
}
