/**
 * db/roles.sql on PostgreSQL 17: the migrator applies every migration; the whole pipeline (the relay's
 * LISTEN and sweep, the exchange, the refresh, the schedule, status, a removal, sealing under KMS) runs as
 * the runtime role; and the runtime role can run no DDL: it cannot create, alter, drop or truncate a
 * table, nor turn off a trigger. `doctor` says which kind of role it connects as.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../local/stack.ts';
import { runDoctor } from '../src/cli/doctor.ts';
import { migrate } from '../src/store/migrate.ts';
import { captureOutput } from './support/capture.ts';
import { runCli } from './support/cli.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

captureOutput();
const ROLES_SQL = readFileSync(new URL('../db/roles.sql', import.meta.url), 'utf8');
let db: TestDatabase;
let stack: LocalStack;
let migratorUrl: string;
let runtimeUrl: string;

/** `url` with another login. */
const as = (url: string, user: string, password: string) => {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password;
  return parsed.toString();
};

beforeAll(async () => {
  // An empty database, as RDS makes one: nothing migrated yet.
  db = await createTestDatabase({ template: 'template0' });
  await db.pool.query(ROLES_SQL);
  await db.pool.query("alter role cafe24_migrator password 'migrator-pw-3e1'");
  await db.pool.query("alter role cafe24_runtime password 'runtime-pw-9c4'");
  migratorUrl = as(db.url, 'cafe24_migrator', 'migrator-pw-3e1');
  runtimeUrl = as(db.url, 'cafe24_runtime', 'runtime-pw-9c4');
  await migrate({ connectionString: migratorUrl });
  stack = await startLocalStack({ databaseUrl: runtimeUrl, sweepIntervalMs: 1_000, migrate: false });
});
afterAll(async () => {
  await stack?.stop();
  await db?.drop();
});

const tokenStatus = async (mallId: string) =>
  (await db.pool.query('select status from cafe24.oauth_tokens where mall_id = $1', [mallId])).rows[0]
    ?.status;

describe('db/roles.sql', () => {
  it('runs again without a change, and the migrator owns every table', async () => {
    await db.pool.query(ROLES_SQL);
    const { rows } = await db.pool.query(
      "select distinct tableowner from pg_tables where schemaname = 'cafe24'",
    );
    expect(rows).toEqual([{ tableowner: 'cafe24_migrator' }]);
  });

  it('the pipeline runs as the runtime role: a code exchanged, a mall refreshed, listed and removed', async () => {
    const code = stack.sandbox.issueCode('rolesmall');
    // The app's callback, as the runtime role.
    await stack.pool.query('insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2)', [
      'rolesmall',
      code,
    ]);
    await expect.poll(() => tokenStatus('rolesmall'), { timeout: 15_000 }).toBe('active');
    const env = { ...stack.env, DATABASE_URL: runtimeUrl };
    const refreshed = await runCli(['refresh', '--mall', 'rolesmall', '--force'], env);
    expect(refreshed.stderr).toBe('');
    expect(refreshed.code).toBe(0);
    expect((await runCli(['refresh', '--due', '--queue'], env)).code).toBe(0);
    expect((await runCli(['status'], env)).stdout).toContain('rolesmall');
    const forgotten = await runCli(['forget', '--mall', 'rolesmall'], env);
    expect(forgotten.code).toBe(0);
    expect(await tokenStatus('rolesmall')).toBeUndefined();
  });

  it('the runtime role can run no DDL', async () => {
    const statements = [
      'create table cafe24.intruder (id int)',
      'create table public.intruder (id int)',
      'alter table cafe24.oauth_tokens add column intruder text',
      'alter table cafe24.oauth_authorization_codes disable trigger all',
      'drop table cafe24.oauth_tokens',
      'truncate cafe24.oauth_tokens',
      'create schema intruder',
      'create or replace function cafe24.notify_authorization_code() returns trigger language plpgsql as $$ begin return new; end $$',
      // Nor rewrite which migrations ran (it may read them: doctor does).
      'delete from cafe24.migrations',
      "update cafe24.migrations set name = 'x'",
    ];
    for (const statement of statements) {
      await expect(stack.pool.query(statement), statement).rejects.toMatchObject({ code: '42501' });
    }
    expect(
      (await stack.pool.query('select count(*)::int as n from cafe24.migrations')).rows[0].n,
    ).toBeGreaterThan(10);
  });

  it('runs as an RDS master would: no superuser, CREATEROLE, the owner of the database', async () => {
    // RDS's master (rds_superuser) is no superuser; PostgreSQL 16+ gives the creator of a role ADMIN on
    // it, so the master that made the two roles may hand them on: as a role of that kind would be here.
    const name = `rdsmaster_${db.name.slice(-6)}`;
    await db.pool.query(`create role ${name} login createrole createdb password 'rds-master-pw'`);
    await db.pool.query(`grant cafe24_migrator, cafe24_runtime to ${name} with admin option`);
    await db.pool.query(`create database ${name} owner ${name} template template0`);
    const masterUrl = as(db.url, name, 'rds-master-pw').replace(/\/[^/]*$/, `/${name}`);
    const master = new pg.Client({ connectionString: masterUrl });
    await master.connect();
    try {
      expect((await master.query('select rolsuper from pg_roles where rolname = current_user')).rows).toEqual(
        [{ rolsuper: false }],
      );
      await master.query(ROLES_SQL);
      await migrate({ connectionString: as(masterUrl, 'cafe24_migrator', 'migrator-pw-3e1') });
      const owners = await master.query(
        "select distinct tableowner from pg_tables where schemaname = 'cafe24'",
      );
      expect(owners.rows).toEqual([{ tableowner: 'cafe24_migrator' }]);
    } finally {
      await master.end();
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.query(`drop owned by ${name}`).catch(() => {});
      await admin.end();
    }
  });

  it('doctor says the runtime role is least privilege, and warns of the migrator and a superuser', async () => {
    const role = async (url: string) =>
      (await runDoctor({ source: { DATABASE_URL: url }, commands: ['status'] })).checks.find(
        (check) => check.check === 'database role',
      );
    expect(await role(runtimeUrl)).toEqual({
      check: 'database role',
      ok: true,
      detail: 'cafe24_runtime: no DDL, the data only (least privilege)',
    });
    expect(await role(migratorUrl)).toMatchObject({
      ok: true,
      warning: true,
      detail: expect.stringMatching(/^cafe24_migrator owns the cafe24 schema/),
      fix: expect.stringContaining('cafe24_runtime'),
    });
    expect(await role(db.url)).toMatchObject({
      warning: true,
      detail: expect.stringMatching(/is a superuser/),
    });
  });
});
