import { readFile, writeFile } from 'node:fs/promises';
import { generateLaunchKey, loadLaunchKeys } from '../launch/launch-token.ts';

/**
 * `cafe24-tokens launch-key`: the launch token's ES256 signing keys, written to a file (mode 600; never to
 * the terminal: they are secrets), and their rotation in three deploys, so that no app ever meets a token
 * signed by a key its cached JWKS lacks:
 *
 *   launch-key --out key.json                        a new key
 *   launch-key --keep key.json --out next.json       1. the new key served beside the current one, which still signs
 *   launch-key --promote next.json --out final.json  2. the new key signs; the old one is served, public only
 *   launch-key --drop-retired final.json --out k.json 3. the signing key alone
 *
 * Deploy each step, and wait 10 minutes (containers re-read the secret within 5, apps cache the JWKS for
 * 5) before the next.
 */
export async function launchKeyCommand(options: {
  out?: string;
  keep?: string;
  promote?: string;
  dropRetired?: string;
}): Promise<void> {
  if (options.out === undefined) throw new Error('give --out FILE: where to write the key (it is a secret)');
  const given = [options.keep, options.promote, options.dropRetired].filter((value) => value !== undefined);
  if (given.length > 1) throw new Error('give one of --keep, --promote and --drop-retired');
  const { text, said } = await nextKeys(options);
  try {
    await writeFile(options.out, `${text}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new Error(`${options.out} exists: give another --out (a key is never overwritten)`);
    }
    throw error;
  }
  process.stdout.write(
    `wrote ${options.out}: ${said}\n` +
      'set LAUNCH_SIGNING_KEY to its contents, or store it in Secrets Manager for LAUNCH_SIGNING_KEY_ARN:\n' +
      `  aws secretsmanager put-secret-value --secret-id cafe24-token-issuer/launch-signing-key --secret-string file://${options.out}\n`,
  );
}

async function nextKeys(options: {
  keep?: string;
  promote?: string;
  dropRetired?: string;
}): Promise<{ text: string; said: string }> {
  if (options.keep !== undefined) {
    const current = await keysOf(options.keep);
    const fresh = generateLaunchKey();
    const [signer, ...others] = current;
    return {
      text: JSON.stringify({ keys: [signer, fresh, ...others.map(publicPart)] }),
      said: `kid ${signerKid(signer)} still signs; the new kid ${fresh.kid} is served beside it (step 1 of a rotation; then --promote)`,
    };
  }
  if (options.promote !== undefined) {
    const [old, fresh] = await keysOf(options.promote);
    if (fresh === undefined || typeof fresh.d !== 'string') {
      throw new Error(`${options.promote} holds no second private key to promote: make it with --keep first`);
    }
    return {
      text: JSON.stringify({ keys: [fresh, publicPart(old!)] }),
      said: `kid ${fresh.kid} signs now; kid ${signerKid(old!)} is still served, public only (step 2; then --drop-retired)`,
    };
  }
  if (options.dropRetired !== undefined) {
    const [signer] = await keysOf(options.dropRetired);
    return { text: JSON.stringify(signer), said: `kid ${signerKid(signer!)} alone (the rotation is done)` };
  }
  const key = generateLaunchKey();
  return { text: JSON.stringify(key), said: `a new launch signing key, kid ${key.kid}` };
}

type Jwk = Record<string, unknown>;

/** The file's keys as JWKs, checked as LAUNCH_SIGNING_KEY would be (the signer first, each with its kid). */
async function keysOf(file: string): Promise<Jwk[]> {
  const text = await readFile(file, 'utf8');
  const loaded = loadLaunchKeys(text, file);
  const parsed = JSON.parse(text.trim().startsWith('{') ? text : '{}') as { keys?: Jwk[] } & Jwk;
  const jwks: Jwk[] = Array.isArray(parsed.keys) ? parsed.keys : parsed.kty ? [parsed] : [];
  if (jwks.length === 0) {
    // A PEM: its one key, as a JWK with the kid the JWKS serves.
    const jwk = loaded.privateKey.export({ format: 'jwk' }) as Jwk;
    return [{ ...jwk, kid: loaded.kid, alg: 'ES256', use: 'sig' }];
  }
  // The signer first, every key with the kid it is served under.
  const kids = loaded.jwks.keys.map((key) => key.kid);
  const byPoint = (point: Jwk) => loaded.jwks.keys.find((key) => key.x === point.x && key.y === point.y)?.kid;
  const withKids = jwks.map((jwk) => ({ ...jwk, kid: jwk.kid ?? byPoint(jwk), alg: 'ES256', use: 'sig' }));
  return kids.map((kid) => withKids.find((jwk) => jwk.kid === kid)!).filter(Boolean);
}

function publicPart(jwk: Jwk): Jwk {
  const { d: _private, ...rest } = jwk;
  return rest;
}

function signerKid(jwk: Jwk | undefined): string {
  return String(jwk?.kid ?? '');
}
