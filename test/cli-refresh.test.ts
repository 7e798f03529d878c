import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import { runCli } from './support/cli.ts';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

let stack: ExchangeStack;

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(() => stack.stop());

/** The CLI as a person runs it: no log level chosen. */
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { ...stack.env, ...env });

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
