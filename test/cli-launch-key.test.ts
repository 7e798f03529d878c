/** `cafe24-tokens launch-key`: a new signing key written to a file, never printed; `--keep` rotates. */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadLaunchKeys } from '../src/launch/launch-token.ts';
import { runCli } from './support/cli.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cafe24-launch-key-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

it('writes a key only its owner can read, prints its kid and not the key, and never overwrites', async () => {
  const out = join(dir, 'launch-key.json');
  const made = await runCli(['launch-key', '--out', out], {});
  expect(made.code).toBe(0);
  const text = await readFile(out, 'utf8');
  const keys = loadLaunchKeys(text);
  expect(made.stdout).toContain(`kid ${keys.kid}`);
  expect(made.stdout).toContain('LAUNCH_SIGNING_KEY');
  const { d } = JSON.parse(text) as { d: string };
  expect(made.stdout + made.stderr).not.toContain(d);
  expect((await stat(out)).mode & 0o777).toBe(0o600);

  const again = await runCli(['launch-key', '--out', out], {});
  expect(again.code).toBe(1);
  expect(again.stderr).toContain('exists');
  expect(await readFile(out, 'utf8')).toBe(text);
});

it('rotates in three steps, so an app never meets a token signed by a key it was not yet served', async () => {
  const current = join(dir, 'current.json');
  const next = join(dir, 'next.json');
  const promoted = join(dir, 'promoted.json');
  const alone = join(dir, 'alone.json');
  expect((await runCli(['launch-key', '--out', current], {})).code).toBe(0);
  const old = loadLaunchKeys(await readFile(current, 'utf8'));

  // 1. The current key still signs; the new one is served beside it.
  const kept = await runCli(['launch-key', '--keep', current, '--out', next], {});
  expect(kept.code).toBe(0);
  const step1 = loadLaunchKeys(await readFile(next, 'utf8'));
  expect(step1.kid).toBe(old.kid);
  expect(step1.jwks.keys).toHaveLength(2);
  const fresh = step1.jwks.keys[1]!.kid;
  expect(kept.stdout).toContain(`the new kid ${fresh} is served`);

  // 2. The new key signs; the old one is still served, its private part gone.
  expect((await runCli(['launch-key', '--promote', next, '--out', promoted], {})).code).toBe(0);
  const step2 = loadLaunchKeys(await readFile(promoted, 'utf8'));
  expect(step2.kid).toBe(fresh);
  expect(step2.jwks.keys.map((key) => key.kid)).toEqual([fresh, old.kid]);
  const set = JSON.parse(await readFile(promoted, 'utf8')) as { keys: Array<Record<string, string>> };
  expect(set.keys[1]).not.toHaveProperty('d');

  // 3. The signing key alone.
  expect((await runCli(['launch-key', '--drop-retired', promoted, '--out', alone], {})).code).toBe(0);
  const step3 = loadLaunchKeys(await readFile(alone, 'utf8'));
  expect(step3.jwks.keys.map((key) => key.kid)).toEqual([fresh]);
  for (const output of [kept.stdout, kept.stderr]) expect(output).not.toContain(set.keys[0]!.d!);

  // Promoting a file with nothing to promote says what to do.
  const nothing = await runCli(['launch-key', '--promote', alone, '--out', join(dir, 'x.json')], {});
  expect(nothing.code).toBe(1);
  expect(nothing.stderr).toContain('--keep first');
});

it('asks for --out', async () => {
  const missing = await runCli(['launch-key'], {});
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('--out');
});
