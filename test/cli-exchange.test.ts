import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
let stack: ExchangeStack;

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(() => stack.stop());

async function cli(args: string[], env: Record<string, string> = stack.env) {
  const result = await run(process.execPath, ['src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', POWERTOOLS_LOG_LEVEL: 'ERROR', ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  return result;
}

describe('cafe24-tokens exchange', () => {
  it('exchanges --code-id N and prints a summary without secrets', async () => {
    const { id, code } = await stack.newCode('climall');
    const { code: exit, stdout } = await cli(['exchange', '--code-id', id]);
    expect(exit).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ status: 'exchanged', codeId: id, mallId: 'climall' });
    expect(stdout).not.toContain(code);
    expect(stdout).not.toContain(stack.sandbox.issuedTokens('climall')!.accessToken);
  });

  it('takes the newest pending code of --mall, and exits 1 on a final failure', async () => {
    await stack.newCode('climall2');
    stack.sandbox.failNext({ type: 'invalid-grant' });
    const { code: exit, stdout } = await cli(['exchange', '--mall', 'climall2']);
    expect(exit).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/invalid_grant/),
    });
    expect((await cli(['exchange', '--mall', 'climall2'])).stdout).toContain('nothing-pending');
  });

  it('rejects a malformed --code-id, and names every configuration problem with exit 2', async () => {
    const bad = await cli(['exchange', '--code-id', 'abc']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('must be a positive whole number');
    const unconfigured = await cli(['exchange', '--code-id', '1'], {});
    expect(unconfigured.code).toBe(2);
    for (const name of ['PGHOST', 'CAFE24_CLIENT_ID', 'CAFE24_CLIENT_SECRET', 'CAFE24_REDIRECT_URI']) {
      expect(unconfigured.stderr).toContain(name);
    }
  });

  it('says there is no such code for an unknown --code-id, and exits 1', async () => {
    const missing = await cli(['exchange', '--code-id', '999999']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toMatch(/no authorization code with id 999999/);
  });
});
