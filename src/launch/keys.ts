import {
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { LaunchTokenError } from './errors.ts';

/**
 * The launch token's keys, read with `node:crypto` alone (synchronous, so the configuration can refuse a
 * bad key at start-up): `LAUNCH_SIGNING_KEY` is a PKCS#8 PEM, a private JWK, or a JWK Set whose first
 * private key signs and whose other keys are served too, for rotation.
 */

/** A public JWK as served in the JWKS. */
export type PublicJwk = {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: 'ES256';
  use: 'sig';
};

/** One signing key and the public keys to serve: the signer's first, then any retiring ones. */
export type LaunchKeys = {
  kid: string;
  privateKey: KeyObject;
  /** The JWKS served at `/.well-known/jwks.json` (public parts only). */
  jwks: { keys: PublicJwk[] };
};

/**
 * Reads `text` (the variable's value): every key must be EC P-256; a JWK without `kid` gets its RFC 7638
 * thumbprint. Rotation: put the new private key first in a JWK Set and the old one after it; both are
 * served, the new one signs; once the old one's tokens have expired (120 s), drop it. Throws
 * `LaunchTokenError('bad-key')` naming the problem and `variable`, never the text.
 */
export function loadLaunchKeys(text: string, variable = 'LAUNCH_SIGNING_KEY'): LaunchKeys {
  // A PEM pasted into a JSON env file or a SAM parameter often arrives with its newlines as "\n".
  const trimmed = text.trim();
  const keys = readKeys(
    trimmed.startsWith('-----BEGIN') ? trimmed.replaceAll('\\n', '\n') : trimmed,
    variable,
  );
  const signer = keys.find((key) => key.private);
  if (!signer) {
    throw new LaunchTokenError(
      'bad-key',
      `${variable} holds no private key: the key that signs must be private (a PKCS#8 PEM or a JWK with "d")`,
    );
  }
  const served: PublicJwk[] = [];
  for (const key of [signer, ...keys.filter((key) => key !== signer)]) {
    const publicKey = key.private ? createPublicKey(key.object) : key.object;
    const { x, y } = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
    const kid = key.kid ?? thumbprint(x, y);
    if (served.some((jwk) => jwk.kid === kid)) {
      throw new LaunchTokenError(
        'bad-key',
        `${variable} holds two keys with the kid "${kid}": give each its own`,
      );
    }
    served.push({ kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' });
  }
  return { kid: served[0]!.kid, privateKey: signer.object, jwks: { keys: served } };
}

/** A new EC P-256 private JWK with its thumbprint as `kid`: what `cafe24-tokens launch-key` prints. */
export function generateLaunchKey(): Record<string, string> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, string>;
  return { ...jwk, kid: thumbprint(jwk.x!, jwk.y!), alg: 'ES256', use: 'sig' };
}

/** RFC 7638: SHA-256 of the required members in lexicographic order, base64url. */
function thumbprint(x: string, y: string): string {
  const canonical = JSON.stringify({ crv: 'P-256', kty: 'EC', x, y });
  return createHash('sha256').update(canonical).digest('base64url');
}

type ReadKey = { object: KeyObject; private: boolean; kid: string | undefined };

function readKeys(text: string, variable: string): ReadKey[] {
  if (text.startsWith('-----BEGIN')) {
    if (!text.startsWith('-----BEGIN PRIVATE KEY-----')) {
      throw new LaunchTokenError(
        'bad-key',
        `${variable} is a PEM but not PKCS#8 ("BEGIN PRIVATE KEY"); convert it with: openssl pkcs8 -topk8 -nocrypt -in key.pem`,
      );
    }
    return [checked(() => createPrivateKey({ key: text, format: 'pem' }), true, undefined, variable)];
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new LaunchTokenError(
      'bad-key',
      `${variable} is neither a PKCS#8 PEM nor JSON (a private JWK or a JWK Set); make one with: cafe24-tokens launch-key`,
    );
  }
  const jwks = isObject(json) && Array.isArray(json.keys) ? (json.keys as unknown[]) : [json];
  if (jwks.length === 0) throw new LaunchTokenError('bad-key', `${variable} is a JWK Set with no keys`);
  return jwks.map((jwk, index) => {
    const where = jwks.length > 1 ? `${variable}'s key ${index + 1}` : variable;
    if (!isObject(jwk) || jwk.kty !== 'EC' || jwk.crv !== 'P-256') {
      throw new LaunchTokenError(
        'bad-key',
        `${where} must be an EC P-256 key (kty "EC", crv "P-256") for ES256`,
      );
    }
    const kid = typeof jwk.kid === 'string' && jwk.kid !== '' ? jwk.kid : undefined;
    const isPrivate = typeof jwk.d === 'string';
    const key = jwk as Parameters<typeof createPublicKey>[0] & object;
    const read = checked(
      () =>
        isPrivate
          ? createPrivateKey({ key, format: 'jwk' } as never)
          : createPublicKey({ key, format: 'jwk' } as never),
      isPrivate,
      kid,
      where,
    );
    // A `d` copied short or from another key reads as a key, but its tokens would not verify.
    if (isPrivate && !pointOf(jwk.d as string, jwk.x, jwk.y)) {
      throw new LaunchTokenError(
        'bad-key',
        `${where}'s private part ("d") does not belong to its public part (x, y)`,
      );
    }
    return read;
  });
}

function checked(make: () => KeyObject, isPrivate: boolean, kid: string | undefined, where: string): ReadKey {
  let object: KeyObject;
  try {
    object = make();
  } catch {
    throw new LaunchTokenError(
      'bad-key',
      `${where} could not be read as a key: check that it was copied whole`,
    );
  }
  if (object.asymmetricKeyType !== 'ec' || object.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new LaunchTokenError('bad-key', `${where} must be an EC P-256 key for ES256`);
  }
  return { object, private: isPrivate, kid };
}

/** Whether the private scalar `d` yields the public point (x, y): computed from `d` alone. */
function pointOf(d: string, x: unknown, y: unknown): boolean {
  const ecdh = createECDH('prime256v1');
  try {
    ecdh.setPrivateKey(Buffer.from(d, 'base64url'));
  } catch {
    return false;
  }
  const point = ecdh.getPublicKey(); // 0x04 ‖ X ‖ Y
  return point.subarray(1, 33).toString('base64url') === x && point.subarray(33).toString('base64url') === y;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
