import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../local/postgres.ts';
import { migrate } from '../src/store/migrate.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

/**
 * One PostgreSQL 17 for the whole run. A `template_migrated` database holds the migrated schema; each test
 * file clones it (test/support/db.ts), so files run in parallel without seeing each other's rows.
 */
export default async function setup(project: TestProject) {
  const postgres = await startEmbeddedPostgres({ dataDir: await mkdtemp(join(tmpdir(), 'cafe24-test-pg-')) });
  const admin = new pg.Client({ connectionString: postgres.url() });
  await admin.connect();
  await admin.query('create database template_migrated');
  await admin.end();
  await migrate({ connectionString: postgres.url('template_migrated') });
  project.provide('postgresUrl', postgres.url());
  return () => postgres.stop();
}
