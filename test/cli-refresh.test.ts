import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
let stack: ExchangeStack;

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(() => stack.stop());

/** The CLI as a person runs it: no log level chosen. */
async function cli(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, ['src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...stack.env, ...env },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

describe('the CLI for people', () => {
  it('refresh --force prints its line of text on stdout and no JSON log lines', async () => {
    const { id } = await stack.newCode('quietmall');
    expect(await exchangeCode(stack.runtime.deps, id)).toMatchObject({ status: 'exchanged' });

    const forced = await cli(['refresh', '--mall', 'quietmall', '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^✓ quietmall refreshed \(1 request\); expires \S+\n$/);
    expect(forced.stderr).toBe('');

    // A level asked for is honoured: the logs are there for whoever wants them.
    const verbose = await cli(['refresh', '--mall', 'quietmall', '--force'], {
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    expect(verbose.code).toBe(0);
    expect(`${verbose.stdout}${verbose.stderr}`).toContain('"level":"INFO"');
  });
});
