import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { withTransaction } from './transaction.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../db/migrations', import.meta.url));

/**
 * Applies the numbered SQL files in db/migrations that have not run yet, under node-pg-migrate's
 * advisory lock; re-running is a no-op. Returns the names applied.
 */
export async function migrate(
  connection: pg.ClientConfig,
  options: { log?: (line: string) => void; dir?: string } = {},
): Promise<string[]> {
  const applied = await runner({
    // No migration waits long behind a running exchange's or refresh's lock: one that times out is run
    // again, the pipeline never stalls behind it.
    databaseUrl: { ...connection, options: `${connection.options ?? ''} -c lock_timeout=10s`.trim() },
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

const SET_RELAY_LAMBDA = `
insert into cafe24.relay_lambda (function_name, region) values ($1, $2)
    on conflict (singleton) do update set function_name = excluded.function_name, region = excluded.region`;

export const AWS_LAMBDA_RELAY_SQL = fileURLToPath(
  new URL('../../db/optional/aws-lambda-relay.sql', import.meta.url),
);

/**
 * The RDS path: makes the codes trigger also call `aws_lambda.invoke(<relay>, …, 'Event')`. Needs the
 * `aws_lambda` extension (RDS) at INSERT time only; without it the trigger warns and the INSERT succeeds.
 */
export async function enableAwsLambdaRelay(
  connection: pg.ClientConfig,
  target: { functionName: string; region?: string },
): Promise<void> {
  // One connection, one transaction: the trigger and its target change together or not at all.
  const pool = new pg.Pool({ ...connection, max: 1 });
  try {
    await withTransaction(pool, async (client) => {
      await client.query(await readFile(AWS_LAMBDA_RELAY_SQL, 'utf8'));
      await client.query(SET_RELAY_LAMBDA, [target.functionName, target.region ?? null]);
    });
  } finally {
    await pool.end();
  }
}

const APPLIED_MIGRATIONS = `select name from cafe24.migrations order by run_on, id`;
const SERVER_VERSION = `show server_version`;
/** Who this connection is: a superuser, or a member of the role that owns the schema (and may drop it). */
const CONNECTED_ROLE = `
select current_user as name, r.rolsuper as superuser,
       coalesce((select pg_has_role(current_user, n.nspowner, 'USAGE')
                   from pg_namespace n where n.nspname = 'cafe24'), false) as owner
  from pg_roles r where r.rolname = current_user`;

export type MigrationState = {
  serverVersion: string;
  /** Applied, as node-pg-migrate recorded them in cafe24.migrations. */
  applied: string[];
  /** Files of db/migrations not applied yet. */
  pending: string[];
  /** The role connected: a superuser, or one that owns the `cafe24` schema, may run DDL. */
  role: { name: string; superuser: boolean; owner: boolean };
};

/** Reaches the database (one session, bounded by `connectTimeoutMs`) and compares its migrations with db/migrations. */
export async function migrationState(
  connection: pg.ClientConfig,
  options: { connectTimeoutMs?: number; dir?: string } = {},
): Promise<MigrationState> {
  const files = (await readdir(options.dir ?? MIGRATIONS_DIR))
    .filter((file) => /\.(sql|js|ts|mjs|cjs)$/.test(file))
    .map((file) => file.replace(/\.[^.]+$/, ''))
    .sort();
  const client = new pg.Client({
    ...connection,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    statement_timeout: 5_000,
  });
  await client.connect();
  try {
    const version = await client.query<{ server_version: string }>(SERVER_VERSION);
    const role = (await client.query<MigrationState['role']>(CONNECTED_ROLE)).rows[0] ?? {
      name: 'unknown',
      superuser: false,
      owner: false,
    };
    let applied: string[] = [];
    try {
      applied = (await client.query<{ name: string }>(APPLIED_MIGRATIONS)).rows.map((row) => row.name);
    } catch (error) {
      // No migrations table: nothing applied yet.
      if ((error as { code?: string }).code !== '42P01') throw error;
    }
    return {
      serverVersion: version.rows[0]?.server_version ?? 'unknown',
      applied,
      pending: files.filter((file) => !applied.includes(file)),
      role,
    };
  } finally {
    await client.end().catch(() => {});
  }
}
