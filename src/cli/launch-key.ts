import { readFile, writeFile } from 'node:fs/promises';
import { generateLaunchKey, loadLaunchKeys } from '../launch/launch-token.ts';

/**
 * `cafe24-tokens launch-key --out FILE [--keep OLD]`: a new ES256 signing key for the launch token, written
 * to FILE (mode 600; never to the terminal: it is a secret). With `--keep`, FILE is a JWK Set: the new key
 * first (it signs), then OLD's keys as public keys only, still served while their tokens expire (120 s):
 * the rotation. Prints the kid and what to do next.
 */
export async function launchKeyCommand(options: { out?: string; keep?: string }): Promise<void> {
  if (options.out === undefined)
    throw new Error('give --out FILE: where to write the new key (it is a secret)');
  const key = generateLaunchKey();
  let text = JSON.stringify(key);
  let kept = 0;
  if (options.keep !== undefined) {
    const old = loadLaunchKeys(await readFile(options.keep, 'utf8'), options.keep);
    kept = old.jwks.keys.length;
    text = JSON.stringify({ keys: [key, ...old.jwks.keys] });
  }
  try {
    await writeFile(options.out, `${text}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Error(`${options.out} exists: give another --out (a key is never overwritten)`);
    }
    throw error;
  }
  const served = kept > 0 ? `; ${kept} older key(s) kept as public keys, still served` : '';
  process.stdout.write(
    `wrote a new launch signing key to ${options.out} (kid ${key.kid}${served})\n` +
      `set LAUNCH_SIGNING_KEY to its contents, or store it in Secrets Manager and set LAUNCH_SIGNING_KEY_ARN:\n` +
      `  aws secretsmanager create-secret --name cafe24-launch-signing-key --secret-string file://${options.out}\n`,
  );
}
