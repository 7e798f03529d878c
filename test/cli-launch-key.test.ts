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

it('rotates: the new key signs, the old one is kept as a public key and still served', async () => {
  const old = join(dir, 'old.json');
  const next = join(dir, 'next.json');
  expect((await runCli(['launch-key', '--out', old], {})).code).toBe(0);
  const rotated = await runCli(['launch-key', '--out', next, '--keep', old], {});
  expect(rotated.code).toBe(0);
  const before = loadLaunchKeys(await readFile(old, 'utf8'));
  const after = loadLaunchKeys(await readFile(next, 'utf8'));
  expect(after.kid).not.toBe(before.kid);
  expect(after.jwks.keys.map((key) => key.kid)).toEqual([after.kid, before.kid]);
  const set = JSON.parse(await readFile(next, 'utf8')) as { keys: Array<Record<string, string>> };
  expect(set.keys[1]).not.toHaveProperty('d');
  expect(rotated.stdout).toContain('1 older key(s) kept');
});

it('asks for --out', async () => {
  const missing = await runCli(['launch-key'], {});
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('--out');
});
