import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientSecretSource, secretFromText } from '../src/aws/secrets-manager.ts';
import { loadConfig } from '../src/config.ts';
import { openPool } from '../src/runtime/database.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from './support/secrets-manager.ts';

const DB_SECRET = 'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:rds-master-AbCdEf';
const APP_SECRET = 'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cafe24-client-AbCdEf';
let secrets: FakeSecretsManager;
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  // As RDS stores a managed master password: JSON with username and password.
  secrets = await startFakeSecretsManager({
    [DB_SECRET]: JSON.stringify({ username: 'postgres', password: 'postgres' }),
    [APP_SECRET]: 'plain-client-secret',
  });
});
afterAll(async () => {
  await secrets.stop();
  await db.drop();
});

/** The fake's endpoint; no credentials in this environment, so the one AWS rule supplies local ones. */
const awsEnv = () => ({ AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint, AWS_REGION: 'ap-northeast-2' });

describe('secrets from Secrets Manager', () => {
  it('connects with the database password behind PGPASSWORD_SECRET_ARN, read once for many connections', async () => {
    const url = new URL(db.url);
    const config = loadConfig('migrate', {
      ...awsEnv(),
      PGHOST: url.hostname,
      PGPORT: url.port,
      PGUSER: 'postgres',
      PGDATABASE: url.pathname.slice(1),
      PGPASSWORD_SECRET_ARN: DB_SECRET,
    });
    const pool = openPool(config, { max: 3, applicationName: 'secrets test' });
    try {
      const results = await Promise.all([1, 2, 3].map(() => pool.query('select 1 as ok')));
      expect(results.map((r) => r.rows[0].ok)).toEqual([1, 1, 1]);
      expect(secrets.requests.filter((id) => id === DB_SECRET)).toHaveLength(1);
    } finally {
      await pool.end();
    }
  });

  it('reads the client secret by ARN once per container, as a plain string or JSON', async () => {
    const read = clientSecretSource(
      { arn: APP_SECRET },
      loadConfig('migrate', { PGHOST: 'db', ...awsEnv() }).aws,
    );
    expect((await read()).reveal()).toBe('plain-client-secret');
    expect(String(await read())).toBe('[redacted]');
    expect(secrets.requests.filter((id) => id === APP_SECRET)).toHaveLength(1);
    expect(secretFromText('{"client_secret":"s"}', APP_SECRET, ['client_secret'])).toBe('s');
    expect(() => secretFromText('{"other":"s"}', APP_SECRET, ['client_secret'])).toThrow(
      /without a "client_secret"/,
    );
  });

  it('refuses PGPASSWORD and PGPASSWORD_SECRET_ARN together, and an ARN that is not one', () => {
    expect(() =>
      loadConfig('migrate', { PGHOST: 'db', PGPASSWORD: 'x', PGPASSWORD_SECRET_ARN: DB_SECRET }),
    ).toThrow(/PGPASSWORD and PGPASSWORD_SECRET_ARN are both set/);
    expect(() => loadConfig('migrate', { PGHOST: 'db', PGPASSWORD_SECRET_ARN: 'my-secret' })).toThrow(
      /PGPASSWORD_SECRET_ARN must be a Secrets Manager secret ARN/,
    );
  });
});
