/**
 * PGSSLMODE as libpq means it, on the connection the whole project opens (src/store/pool.ts): `disable`
 * connects in the clear; every other mode asks for TLS, which this test's PostgreSQL (like none but a
 * server set up for it) refuses, so the connection fails instead of falling back to plaintext.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { clientConfig, sslFor } from '../src/store/pool.ts';
import { createTestDatabase } from './support/db.ts';

const connect = async (url: string, mode: string) => {
  const config = loadConfig('status', { DATABASE_URL: url, PGSSLMODE: mode });
  const client = new pg.Client(clientConfig(config.database));
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.query('select 1 as one')).rows[0].one as number;
  } finally {
    await client.end().catch(() => {});
  }
};

describe('PGSSLMODE', () => {
  it('disable connects in the clear; require, verify-ca and verify-full never fall back to it', async () => {
    const db = await createTestDatabase();
    try {
      expect(await connect(db.url, 'disable')).toBe(1);
      for (const mode of ['require', 'verify-ca', 'verify-full']) {
        await expect(connect(db.url, mode), mode).rejects.toThrow(/does not support SSL/);
      }
    } finally {
      await db.drop();
    }
  });

  it('maps each mode as libpq does: require unchecked, verify-ca the chain, verify-full the host too', () => {
    expect(sslFor('disable')).toBe(false);
    expect(sslFor('require')).toEqual({ rejectUnauthorized: false });
    const ca = sslFor('verify-ca') as { rejectUnauthorized: boolean; checkServerIdentity: () => unknown };
    expect(ca.rejectUnauthorized).toBe(true);
    expect(ca.checkServerIdentity()).toBeUndefined();
    expect(sslFor('verify-full')).toEqual({ rejectUnauthorized: true });
  });

  it('refuses a mode libpq does not have, saying which it takes', () => {
    expect(() => loadConfig('status', { DATABASE_URL: 'postgres://h/db', PGSSLMODE: 'on' })).toThrow(
      /PGSSLMODE must be disable, require .*verify-full/,
    );
  });
});
