import { readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate } from '../src/store/migrate.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

const SEED_TABLE = `
create schema cafe24;
create table cafe24.oauth_tokens
(
    id                       bigserial primary key,
    access_token             text                                            not null,
    expires_at               timestamp with time zone                        not null,
    refresh_token            text                                            not null,
    refresh_token_expires_at timestamp with time zone default now()          not null,
    client_id                text,
    mall_id                  text                                            not null,
    user_id                  text,
    scopes                   text[],
    token_type               text                     default 'bearer'::text not null,
    issued_at                timestamp with time zone default now()          not null,
    updated_at               timestamp with time zone default now()          not null,
    status                   text                     default 'active'::text not null
);
create unique index ux_oauth_tokens_mall_id on cafe24.oauth_tokens (mall_id);
insert into cafe24.oauth_tokens (access_token, expires_at, refresh_token, mall_id, scopes)
values ('seed-access', '2030-01-01T00:00:00Z', 'seed-refresh', 'seedmall', '{mall.read_order}');`;

const columns = async (pool: pg.Pool, table: string) =>
  (
    await pool.query(
      `select column_name, data_type, is_nullable from information_schema.columns
        where table_schema = 'cafe24' and table_name = $1 order by ordinal_position`,
      [table],
    )
  ).rows;

describe('migrations', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ template: 'template0' });
  });
  afterAll(() => db.drop());

  it('adopt a database holding the seed table with rows, and re-running is a no-op', async () => {
    await db.pool.query(SEED_TABLE);
    const seedColumns = await columns(db.pool, 'oauth_tokens');

    const applied = await migrate({ connectionString: db.url });
    const every = readdirSync(MIGRATIONS_DIR).map((file) => file.replace(/\.sql$/, ''));
    expect(applied).toEqual(every.sort());
    expect(await migrate({ connectionString: db.url })).toEqual([]);

    const { rows } = await db.pool.query('select mall_id, access_token, scopes from cafe24.oauth_tokens');
    expect(rows).toEqual([{ mall_id: 'seedmall', access_token: 'seed-access', scopes: ['mall.read_order'] }]);
    const after = await columns(db.pool, 'oauth_tokens');
    // Every seed column is still there with its type and nullability; only additions follow.
    expect(after.slice(0, seedColumns.length)).toEqual(seedColumns);
    expect(after.slice(seedColumns.length).map((c) => c.column_name)).toEqual([
      'shop_no',
      'code_id',
      'refresh_locked_at',
      'refresh_locked_by',
      'invalid_reason',
      'last_refreshed_at',
      'refresh_failures',
      'last_refresh_error',
      'refresh_queued_at',
      'refresh_sending_by',
      'refresh_sending_at',
      'refresh_unrecorded_by',
      'refresh_unrecorded_at',
      'access_key_id',
      'refresh_key_id',
    ]);
  });

  it('a callback needs nothing but (mall_id, code), and the insert notifies the relay channel at commit', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const notified = new Promise<pg.Notification>((resolve) => listener.once('notification', resolve));
    await listener.query('listen cafe24_authorization_code');
    const { rows } = await db.pool.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2)
       returning id::text, status, attempts, created_at`,
      ['seedmall', 'a-code'],
    );
    expect(rows[0]).toMatchObject({ status: 'pending', attempts: 0 });
    const outbox = await db.pool.query('select code_id::text from cafe24.exchange_outbox');
    expect(outbox.rows).toEqual([{ code_id: rows[0].id }]);
    expect((await notified).payload).toBe(rows[0].id);
    await listener.end();
  });

  it('rejects a status outside the contract', async () => {
    await expect(
      db.pool.query(
        `insert into cafe24.oauth_authorization_codes (mall_id, code, status) values ('m', 'c', 'done')`,
      ),
    ).rejects.toThrow(/oauth_authorization_codes_status_check/);
  });

  it('rejects a token status other than active or invalid', async () => {
    await expect(
      db.pool.query(`update cafe24.oauth_tokens set status = 'revoked' where mall_id = 'seedmall'`),
    ).rejects.toThrow(/oauth_tokens_status_check/);
  });

  it('finds due malls with an index scan at 100,000 rows, not a table scan', async () => {
    await db.pool.query(`
      insert into cafe24.oauth_tokens (access_token, expires_at, refresh_token, mall_id)
      select 'a', now() + (i % 7200) * interval '1 second', 'r', 'bulk' || i from generate_series(1, 100000) i;
      analyze cafe24.oauth_tokens;`);
    const { rows } = await db.pool.query(`explain
      select mall_id from cafe24.oauth_tokens
       where status = 'active' and expires_at <= now() + interval '1200 seconds'
       order by expires_at limit 1000`);
    const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
    expect(plan).toContain('ix_oauth_tokens_refresh_due');
    expect(plan).not.toContain('Seq Scan');
  });
});
