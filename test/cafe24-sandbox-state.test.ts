/** The sandbox's grants outlive a restart when it is given a state file (npm start keeps one in .local/). */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Cafe24Sandbox } from '../local/cafe24-sandbox.ts';
import { basicAuth, REDIRECT_URI, sandboxRunner } from './support/sandbox.ts';

const MALL = 'statemall';

let dir: string;
let stateFile: string;
let logged: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cafe24-sandbox-state-'));
  stateFile = join(dir, 'sandbox.json');
  logged = [];
});

afterEach(async () => {
  await sandboxes.stop();
  await rm(dir, { recursive: true, force: true });
});

const sandboxes = sandboxRunner(() => ({ stateFile, log: (line: string) => logged.push(line) }));
const start = sandboxes.start;

function token(sandbox: Cafe24Sandbox, form: Record<string, string>): Promise<Response> {
  return fetch(`${sandbox.baseUrl.replace('{mall_id}', MALL)}/api/v2/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: basicAuth(),
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(form).toString(),
  });
}

const exchange = (sandbox: Cafe24Sandbox, code: string) =>
  token(sandbox, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
const refresh = (sandbox: Cafe24Sandbox, refreshToken: string) =>
  token(sandbox, { grant_type: 'refresh_token', refresh_token: refreshToken });

async function answer(response: Response): Promise<{ status: number; body: Record<string, string> }> {
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

describe('state file', () => {
  it('keeps issued tokens across a restart: the refresh token still refreshes, once', async () => {
    const first = await start();
    const issued = await answer(await exchange(first, first.issueCode(MALL)));
    expect(issued.status).toBe(200);
    await first.stop();

    const second = await start();
    const refreshed = await answer(await refresh(second, issued.body.refresh_token as string));
    expect(refreshed).toMatchObject({ status: 200, body: { mall_id: MALL } });
    expect(second.issuedTokens(MALL)?.refreshToken).toBe(refreshed.body.refresh_token);
    // Rotation survives a restart too: the refresh token just used is dead in the next sandbox.
    const third = await start();
    expect(await answer(await refresh(third, issued.body.refresh_token as string))).toMatchObject({
      status: 401,
      body: { error: 'invalid_grant', error_description: 'Invalid refresh_token' },
    });
    expect(await answer(await refresh(third, refreshed.body.refresh_token as string))).toMatchObject({
      status: 200,
    });
    expect(logged).toEqual([]);
  });

  it('keeps a spent code spent across a restart, even when it accepts codes it has not seen', async () => {
    const first = await start({ acceptUnknownCodes: true });
    expect((await exchange(first, 'from-the-callback')).status).toBe(200);
    const second = await start({ acceptUnknownCodes: true });
    expect(await answer(await exchange(second, 'from-the-callback'))).toMatchObject({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'Code has already been used' },
    });
  });

  it('holds the tokens in a file only its owner reads, replaced whole (no temporary file left beside it)', async () => {
    const sandbox = await start();
    for (let i = 0; i < 3; i++) expect((await exchange(sandbox, sandbox.issueCode(MALL))).status).toBe(200);
    expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['sandbox.json']);
  });

  it.each([
    ['not JSON', '{"grants": [{"code": "secret-code-1'],
    ['JSON of another shape', '{"codes": {"secret-code-1": true}}'],
  ])('starts fresh on a state file that is %s, saying so in a line without its content', async (_, text) => {
    await writeFile(stateFile, text);
    const sandbox = await start();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain(stateFile);
    expect(logged[0]).toMatch(/starting fresh/);
    expect(logged[0]).not.toContain('secret-code-1');
    // Fresh, and it works: a new grant replaces the unreadable file, which the next start reads quietly.
    const issued = await answer(await exchange(sandbox, sandbox.issueCode(MALL)));
    expect(issued.status).toBe(200);
    const again = await start();
    expect(again.issuedTokens(MALL)?.refreshToken).toBe(issued.body.refresh_token);
    expect(logged).toHaveLength(1);
  });

  it('keeps serving when it cannot save, and says so once', async () => {
    const notADirectory = join(dir, 'a-file');
    await writeFile(notADirectory, '');
    stateFile = join(notADirectory, 'sandbox.json');
    const sandbox = await start();
    for (let i = 0; i < 2; i++) expect((await exchange(sandbox, sandbox.issueCode(MALL))).status).toBe(200);
    expect(logged).toEqual([
      expect.stringMatching(/could not be read \(ENOTDIR\); starting fresh$/),
      expect.stringMatching(/could not save its state to .*sandbox\.json \((ENOTDIR|EEXIST)\)/),
    ]);
  });

  it('keeps nothing on disk without a state file, as tests run it', async () => {
    const sandbox = await start({ stateFile: undefined });
    expect((await exchange(sandbox, sandbox.issueCode(MALL))).status).toBe(200);
    expect(await readdir(dir)).toEqual([]);
  });
});
