import { describe, expect, it } from 'vitest';
import {
  type Command,
  ConfigError,
  configurationReport,
  loadConfig,
  misspeltVariables,
} from '../src/config.ts';

const valid = {
  PGHOST: 'db.internal',
  PGDATABASE: 'shop',
  PGUSER: 'app',
  PGPASSWORD: 'pg-password-value',
  CAFE24_CLIENT_ID: 'client',
  CAFE24_CLIENT_SECRET: 'secret-value-123',
  CAFE24_REDIRECT_URI: 'https://app.example.com/callback',
  CAFE24_MALL_ID: 'myshop',
};

function problems(env: Record<string, string | undefined>, command: Command = 'exchange'): string[] {
  try {
    loadConfig(command, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('reads a valid environment with defaults', () => {
    const config = loadConfig('exchange', valid);
    expect(config.database).toMatchObject({ host: 'db.internal', port: 5432, database: 'shop', user: 'app' });
    expect(config.cafe24.apiBaseUrl).toBe('https://{mall_id}.cafe24api.com');
    expect(config.exchange).toMatchObject({ codeLifetimeMs: 60_000, expiryMarginMs: 3_000 });
    expect(String((config.clientSecret as { value: unknown }).value)).toBe('[redacted]');
    expect(JSON.stringify(config)).not.toContain('secret-value-123');
    expect(JSON.stringify(config)).not.toContain('pg-password-value');
  });

  it('names every problem at once, without echoing values', () => {
    const found = problems({
      PGPORT: 'abc',
      CAFE24_MALL_ID: "x'; drop table",
      CAFE24_CLIENT_SECRET: 'secret-value-123',
      CAFE24_CLIENT_SECRET_ARN: 'arn:aws:secretsmanager:ap-northeast-2:1:secret:x',
      CAFE24_REDIRECT_URI: 'not a url',
      CAFE24_API_BASE_URL: 'nope {mall_id}',
      EXCHANGE_CONCURRENCY: '0',
    });
    const text = found.join('\n');
    for (const name of [
      'PGPORT',
      'CAFE24_MALL_ID',
      'CAFE24_CLIENT_ID is required',
      'CAFE24_CLIENT_SECRET and CAFE24_CLIENT_SECRET_ARN are both set',
      'CAFE24_REDIRECT_URI must be a URL',
      'CAFE24_API_BASE_URL',
      'EXCHANGE_CONCURRENCY must be at least 1',
      'PGHOST is required (or set DATABASE_URL)',
    ]) {
      expect(text).toContain(name);
    }
    expect(text).not.toContain('secret-value-123');
    expect(text).not.toContain('drop table');
  });

  it('asks for a secret when neither form is set, and accepts DATABASE_URL instead of PG*', () => {
    const { CAFE24_CLIENT_SECRET: _, PGHOST: __, ...rest } = valid;
    expect(problems(rest)).toEqual(expect.arrayContaining([expect.stringMatching(/^PGHOST is required/)]));
    expect(problems(rest).join()).toContain(
      'CAFE24_CLIENT_SECRET is required (or set CAFE24_CLIENT_SECRET_ARN',
    );
    const config = loadConfig('exchange', {
      ...rest,
      DATABASE_URL: 'postgres://u:p@localhost:5432/db',
      CAFE24_CLIENT_SECRET_ARN: 'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cafe24-AbCd',
    });
    expect(config.clientSecret).toEqual({ arn: expect.stringContaining(':secret:cafe24') });
  });

  it('the start-up message lists the problems one per line', () => {
    expect(() => loadConfig('exchange', {})).toThrow(
      /Invalid configuration; fix these environment variables:\n {2}- /,
    );
  });

  it('asks each command for what it uses and nothing more', () => {
    const database = { DATABASE_URL: 'postgres://u:p@localhost:5432/db' };
    // status, migrate and the relay never talk to Cafe24: no client id or secret needed.
    expect(loadConfig('status', database).database.connectionString).toBe(database.DATABASE_URL);
    expect(loadConfig('migrate', database).database.port).toBe(5432);
    expect(problems(database, 'relay')).toEqual([expect.stringMatching(/^SQS_QUEUE_URL is required/)]);
    const relay = loadConfig('relay', { ...database, SQS_QUEUE_URL: 'http://localhost:4566/000/q' });
    expect(relay.queue.url).toBe('http://localhost:4566/000/q');
    // redrive moves messages between queues: both queues, no database.
    expect(problems({}, 'redrive').join('\n')).toMatch(
      /SQS_QUEUE_URL is required[\s\S]*SQS_DLQ_URL is required/,
    );
    expect(problems({}, 'redrive').join('\n')).not.toMatch(/PGHOST|CAFE24/);
  });

  it('gives every AWS client one rule: a local endpoint gets placeholder credentials unless real ones are set', () => {
    const local = loadConfig('redrive', {
      SQS_QUEUE_URL: 'http://localhost:4566/000/q',
      SQS_DLQ_URL: 'http://localhost:4566/000/dlq',
      AWS_ENDPOINT_URL_SQS: 'http://localhost:4566',
      AWS_REGION: 'ap-northeast-2',
    }).aws;
    expect(local).toEqual({
      region: 'ap-northeast-2',
      endpoints: { sqs: 'http://localhost:4566' },
      credentialsInEnvironment: false,
    });
    const withKeys = loadConfig('status', { PGHOST: 'db', AWS_PROFILE: 'ops' }).aws;
    expect(withKeys.credentialsInEnvironment).toBe(true);
  });

  it('takes TOKEN_KMS_KEY_ID as a key id, key ARN, alias or alias ARN; refuses anything else, and both keys', () => {
    for (const keyId of [
      '1234abcd-12ab-34cd-56ef-1234567890ab',
      'arn:aws:kms:ap-northeast-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      'alias/cafe24-tokens',
      'arn:aws:kms:ap-northeast-2:111122223333:alias/cafe24-tokens',
    ]) {
      expect(loadConfig('refresh', { ...valid, TOKEN_KMS_KEY_ID: keyId }).sealing).toEqual({
        kmsKeyId: keyId,
      });
    }
    expect(problems({ ...valid, TOKEN_KMS_KEY_ID: 'my key!' }, 'refresh')).toEqual([
      'TOKEN_KMS_KEY_ID must be a KMS key id, key ARN, alias name (alias/…) or alias ARN',
    ]);
    const key = Buffer.alloc(32, 7).toString('base64');
    const both = problems({ ...valid, TOKEN_KMS_KEY_ID: 'alias/x', TOKEN_ENCRYPTION_KEY: key }, 'refresh');
    expect(both).toEqual([
      'set TOKEN_KMS_KEY_ID or TOKEN_ENCRYPTION_KEY, not both (TOKEN_ENCRYPTION_KEY is for local runs without KMS)',
    ]);
    expect(both.join()).not.toContain(key);
    expect(loadConfig('refresh', valid).sealing).toEqual({});
  });

  it('names a likely misspelling once, and says each problem once', () => {
    const { PGHOST: _, ...rest } = valid;
    const found = problems({ ...rest, DATABSE_URL: 'postgres://u:p@localhost:5432/db' });
    expect(found).toEqual([
      'PGHOST is required (or set DATABASE_URL)',
      'DATABSE_URL is not a known variable: did you mean DATABASE_URL?',
    ]);
    expect(found.join('\n')).not.toContain('postgres://');
    // A shell's own variables are no typos, nor the SDK's endpoints, nor a name whose variable is set too.
    expect(
      misspeltVariables({
        USER: 'root',
        HOST: 'box',
        AWS_ENDPOINT_URL_SNS: 'http://localhost:4566',
        DATABSE_URL: 'x',
        DATABASE_URL: 'postgres://u:p@localhost:5432/db',
      }),
    ).toEqual([]);
    // doctor reports every command: the misspelling is not repeated in each of them.
    for (const { problems: each } of configurationReport({ DATABSE_URL: 'x' }))
      expect(each.join('\n')).not.toContain('DATABSE_URL');
  });
});
