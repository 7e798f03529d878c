import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../local/postgres.ts';
import { runCli, startNode } from './support/cli.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { waitFor } from './support/wait.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

const env = (port: number, extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '',
  POWERTOOLS_LOG_LEVEL: 'ERROR',
  DATABASE_URL: db.url,
  CAFE24_CLIENT_ID: 'serve-client',
  CAFE24_CLIENT_SECRET: 'serve-secret-0c4d',
  CAFE24_REDIRECT_URI: `http://localhost:${port}/cafe24/callback`,
  CAFE24_SCOPES: 'mall.read_order',
  ...extra,
});

describe('cafe24-tokens serve', () => {
  it('serves the install front on --port/--host until SIGTERM', async () => {
    const port = await freePort();
    const { child, exited, output } = startNode(
      ['src/cli/main.ts', 'serve', '--port', String(port), '--host', '127.0.0.1'],
      env(port),
    );
    try {
      await waitFor(() => output().includes('install front on'), 15_000, 'the banner');
      expect(output()).toContain(`App URL       http://127.0.0.1:${port}/install`);
      expect(output()).toContain('/cafe24/callback');
      expect(output()).not.toContain('serve-secret-0c4d');
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(await health.json()).toEqual({ status: 'ok' });
      const unsigned = await fetch(`http://127.0.0.1:${port}/install?mall_id=x`);
      expect(unsigned.status).toBe(400);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses to start with a redirect URI it cannot serve, naming the problem', async () => {
    const result = await runCli(
      ['serve'],
      env(3000, { CAFE24_REDIRECT_URI: 'https://app.example.com/install', CAFE24_SCOPES: '' }),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("CAFE24_REDIRECT_URI's path /install is the install server's own");
    expect(result.stderr).toContain('CAFE24_SCOPES is required');
  });
});
