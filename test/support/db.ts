import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export type TestDatabase = { name: string; url: string; pool: pg.Pool; drop(): Promise<void> };

/**
 * pg-pool's end() can resolve while a client's socket is still closing; the forced drop below then
 * terminates that backend, and an 'error' with no listener would crash the test file. Queries still
 * fail with their errors.
 */
class TestClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => {});
  }
}

/** A fresh, migrated database cloned from the run's template. */
export async function createTestDatabase(options: { template?: string } = {}): Promise<TestDatabase> {
  const serverUrl = inject('postgresUrl');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${options.template ?? 'template_migrated'}`);
  } finally {
    await admin.end();
  }
  const url = serverUrl.replace(/\/[^/]*$/, `/${name}`);
  const pool = new pg.Pool({ connectionString: url, max: 20, Client: TestClient });
  // The pool re-emits an idle client's error (the forced drop terminating it): heard, not a crash.
  pool.on('error', () => {});
  return {
    name,
    url,
    pool,
    async drop() {
      await pool.end();
      const cleanup = new pg.Client({ connectionString: serverUrl });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}

/** Environment for the exchange runtime, pointing at a test database and a sandbox. */
export function pgEnv(url: string): Record<string, string> {
  return { DATABASE_URL: url };
}

/** The PG* variables naming a test database, as a function's environment names it. */
export function pgVariables(url: string): Record<string, string> {
  const parsed = new URL(url);
  return {
    PGHOST: parsed.hostname,
    PGPORT: parsed.port,
    PGUSER: decodeURIComponent(parsed.username),
    PGPASSWORD: decodeURIComponent(parsed.password),
    PGDATABASE: parsed.pathname.slice(1),
  };
}
