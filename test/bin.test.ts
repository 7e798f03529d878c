import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/cafe24-tokens.js', import.meta.url));
// The machine's own Node (20 here), found on PATH after the project's node_modules/.bin.
const systemNode = ['/usr/local/bin/node', '/usr/bin/node'].find(
  (path) => existsSync(path) && !path.includes('node_modules'),
);

describe('the cafe24-tokens bin', () => {
  it.skipIf(systemNode === undefined)(
    "runs on the machine's own Node by handing itself to the project's Node 24; stdout stays clean",
    async () => {
      const { stdout } = await run(systemNode as string, [bin, '--version'], {
        env: { PATH: '/usr/bin:/bin' },
      });
      expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
      // A configuration mistake exits 2 with the problems on stderr, nothing on stdout.
      const failed = await run(systemNode as string, [bin, 'status', '--json'], {
        env: { PATH: '/usr/bin:/bin' },
      }).catch((error: { code: number; stdout: string; stderr: string }) => error);
      expect(failed).toMatchObject({ code: 2, stdout: '' });
      expect((failed as { stderr: string }).stderr).toMatch(/PGHOST is required/);
    },
  );
});
