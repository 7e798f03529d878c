import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.ts';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

let stack: ExchangeStack;

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(() => stack.stop());

const cli = (args: string[], env: Record<string, string> = stack.env) =>
  runCli(args, { POWERTOOLS_LOG_LEVEL: 'ERROR', ...env });

describe('cafe24-tokens exchange', () => {
  it('exchanges --code-id N and says so in a line of text (--json: the summary), without secrets', async () => {
    const { id, code } = await stack.newCode('climall');
    const { code: exit, stdout } = await cli(['exchange', '--code-id', id]);
    expect(exit).toBe(0);
    expect(stdout).toMatch(
      new RegExp(`^✓ code ${id} \\(climall\\) exchanged \\(1 request\\); access token expires \\S+\n$`),
    );
    const again = await cli(['exchange', '--code-id', id, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      status: 'already-done',
      codeId: id,
      state: 'exchanged',
    });
    for (const output of [stdout, again.stdout]) {
      expect(output).not.toContain(code);
      expect(output).not.toContain(stack.sandbox.issuedTokens('climall')!.accessToken);
    }
  });

  it('takes the newest pending code of --mall, and exits 1 on a final failure', async () => {
    await stack.newCode('climall2');
    stack.sandbox.failNext({ type: 'invalid-grant' });
    const { code: exit, stdout } = await cli(['exchange', '--mall', 'climall2', '--json']);
    expect(exit).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/invalid_grant/),
    });
    const nothing = await cli(['exchange', '--mall', 'climall2']);
    expect(nothing).toMatchObject({ code: 1, stdout: '· no pending code for mall climall2\n' });
  });

  it('insert-code stores a code as a callback does and prints its id, never the code', async () => {
    const inserted = await cli(['insert-code', '--mall', 'CliMall3', '--code', 'given-code-3f9a1c']);
    expect(inserted.code).toBe(0);
    const id = inserted.stdout.match(/^inserted code (\d+) \(climall3\), pending\n$/)?.[1];
    expect(id, inserted.stdout).toBeDefined();
    expect(`${inserted.stdout}${inserted.stderr}`).not.toContain('given-code-3f9a1c');
    expect(await stack.codeRow(id as string)).toMatchObject({
      mall_id: 'climall3',
      code: 'given-code-3f9a1c',
      status: 'pending',
    });
    // Without --code, a random one: two inserts, two codes, neither printed.
    const [first, second] = [
      await cli(['insert-code', '--mall', 'climall3', '--json']),
      await cli(['insert-code', '--mall', 'climall3', '--json']),
    ].map((result) => JSON.parse(result.stdout) as { codeId: string; mallId: string });
    expect(first).toEqual({ codeId: expect.stringMatching(/^\d+$/), mallId: 'climall3' });
    const codes = await Promise.all(
      [first!, second!].map(async ({ codeId }) => (await stack.codeRow(codeId)).code),
    );
    expect(codes[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(codes[0]).not.toBe(codes[1]);
    expect((await cli(['insert-code'])).stderr).toMatch(/--mall/);
  });

  it('rejects a malformed --code-id, and names every configuration problem with exit 2', async () => {
    const bad = await cli(['exchange', '--code-id', 'abc']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('must be a positive whole number');
    const unconfigured = await cli(['exchange', '--code-id', '1'], {});
    expect(unconfigured.code).toBe(2);
    // (CAFE24_REDIRECT_URI is optional: a code carries the one its install sent.)
    for (const name of ['PGHOST', 'CAFE24_CLIENT_ID', 'CAFE24_CLIENT_SECRET']) {
      expect(unconfigured.stderr).toContain(name);
    }
  });

  it('says there is no such code for an unknown --code-id, and exits 1', async () => {
    const missing = await cli(['exchange', '--code-id', '999999']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toMatch(/no authorization code with id 999999/);
  });
});
