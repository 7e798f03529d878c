/**
 * The launch token on its own: the keys `LAUNCH_SIGNING_KEY` may hold, the token the front signs, and
 * `verifyLaunchToken` refusing every token an app must not believe.
 */
import { createHmac, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateLaunchKey,
  type LaunchClaims,
  LaunchTokenError,
  loadLaunchKeys,
  signLaunchToken,
  verifyLaunchToken,
} from '../src/launch/launch-token.ts';

const ISSUER = 'https://install.example.com';
const AUDIENCE = 'app-client-id';
const CLAIMS: LaunchClaims = {
  mall_id: 'mymall',
  shop_no: '1',
  user_id: 'owner',
  user_type: 'P',
  user_name: '홍길동',
  lang: 'ko_KR',
  nation: 'KR',
  is_multi_shop: 'T',
  outcome: 'launched',
};
const signing = JSON.stringify(generateLaunchKey());
const keys = loadLaunchKeys(signing);
const options = { publicKey: keys.jwks.keys[0]!, audience: AUDIENCE, issuer: ISSUER };
const sign = (claims: LaunchClaims = CLAIMS, extra: { nowMs?: number; lifetimeSeconds?: number } = {}) =>
  signLaunchToken(keys, claims, { issuer: ISSUER, audience: AUDIENCE, ...extra });

async function refusal(token: string, given: Parameters<typeof verifyLaunchToken>[1] = options) {
  try {
    await verifyLaunchToken(token, given);
  } catch (error) {
    expect(error).toBeInstanceOf(LaunchTokenError);
    // Whatever went wrong, the message never carries the token or a piece of it.
    for (const part of token.split('.'))
      if (part.length > 8) expect((error as Error).message).not.toContain(part);
    return (error as LaunchTokenError).code;
  }
  throw new Error('the token was accepted');
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('the signing key', () => {
  it('reads a private JWK, a PKCS#8 PEM and a JWK Set; serves only public parts with a kid', () => {
    const jwk = generateLaunchKey();
    expect(loadLaunchKeys(JSON.stringify(jwk)).kid).toBe(jwk.kid);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const fromPem = loadLaunchKeys(pem);
    expect(fromPem.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    for (const served of fromPem.jwks.keys) expect(served).not.toHaveProperty('d');
    expect(fromPem.jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
  });

  it('rotates: the first private key of a set signs, and every key of the set is served', async () => {
    const next = generateLaunchKey();
    const { d: _private, ...retiring } = generateLaunchKey();
    const rotated = loadLaunchKeys(JSON.stringify({ keys: [next, retiring] }));
    expect(rotated.kid).toBe(next.kid);
    expect(rotated.jwks.keys.map((key) => key.kid)).toEqual([next.kid, retiring.kid]);
    const token = await signLaunchToken(rotated, CLAIMS, { issuer: ISSUER, audience: AUDIENCE });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'ES256', kid: next.kid });
  });

  it('refuses what is not an EC P-256 private key, naming the problem and never the value', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const secp384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    const { d: _d, ...publicOnly } = generateLaunchKey();
    const cases: Array<[string, RegExp]> = [
      ['not a key at all', /neither a PKCS#8 PEM nor JSON/],
      [rsa.export({ format: 'pem', type: 'pkcs1' }) as string, /not PKCS#8/],
      [rsa.export({ format: 'pem', type: 'pkcs8' }) as string, /EC P-256/],
      [JSON.stringify(secp384.export({ format: 'jwk' })), /EC P-256/],
      [JSON.stringify(publicOnly), /no private key/],
      [JSON.stringify({ keys: [] }), /no keys/],
      [JSON.stringify({ ...generateLaunchKey(), x: 'AAAA' }), /could not be read/],
      [JSON.stringify({ ...generateLaunchKey(), d: generateLaunchKey().d }), /does not belong/],
    ];
    for (const [text, problem] of cases) {
      expect(() => loadLaunchKeys(text)).toThrow(problem);
      try {
        loadLaunchKeys(text);
      } catch (error) {
        expect((error as Error).message).not.toContain(text.slice(0, 40));
      }
    }
  });
});

describe('a launch token', () => {
  it('carries the claims, iss, aud, sub, a jti, and lives at most 120 s', async () => {
    const token = await sign(CLAIMS, { lifetimeSeconds: 600 });
    const verified = await verifyLaunchToken(token, options);
    expect(verified).toMatchObject({ ...CLAIMS, iss: ISSUER, aud: AUDIENCE, sub: 'mymall' });
    expect(verified.exp - verified.iat).toBe(120);
    expect(verified.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect((await verifyLaunchToken(await sign(), options)).jti).not.toBe(verified.jti);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: keys.kid, typ: 'JWT' });
  });

  it('leaves out the claims a launch did not carry', async () => {
    const verified = await verifyLaunchToken(await sign({ mall_id: 'm2', outcome: 'installed' }), options);
    expect(verified).not.toHaveProperty('user_name');
    expect(verified.outcome).toBe('installed');
  });
});

describe('verifyLaunchToken refuses', () => {
  it('a token signed by another key', async () => {
    const other = loadLaunchKeys(JSON.stringify(generateLaunchKey()));
    const token = await signLaunchToken(other, CLAIMS, { issuer: ISSUER, audience: AUDIENCE });
    expect(await refusal(token)).toBe('bad-signature');
  });

  it('another audience, another issuer', async () => {
    expect(await refusal(await sign(), { ...options, audience: 'another-app' })).toBe('wrong-audience');
    expect(await refusal(await sign(), { ...options, issuer: 'https://evil.example.com' })).toBe(
      'wrong-issuer',
    );
  });

  it('an expired token, and one from the future', async () => {
    expect(await refusal(await sign(CLAIMS, { nowMs: Date.now() - 10 * 60_000 }))).toBe('expired');
    expect(await refusal(await sign(CLAIMS, { nowMs: Date.now() + 10 * 60_000 }))).toBe('not-yet-valid');
  });

  it('alg none, and HS256 keyed with the public key', async () => {
    const payload = {
      ...CLAIMS,
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'mymall',
      iat: now(),
      exp: now() + 60,
      jti: 'x',
    };
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`;
    expect(await refusal(unsigned)).toBe('bad-signature');
    const publicPem = createPrivateKey({ key: JSON.parse(signing), format: 'jwk' })
      .export({ format: 'pem', type: 'pkcs8' })
      .toString();
    const input = `${base64url({ alg: 'HS256', typ: 'JWT', kid: keys.kid })}.${base64url(payload)}`;
    for (const secret of [JSON.stringify(keys.jwks.keys[0]), publicPem]) {
      const forged = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      expect(await refusal(forged)).toBe('bad-signature');
    }
  });

  it('a payload changed after signing, and claims that are not a launch', async () => {
    const [header, , signature] = (await sign()).split('.');
    const changed = {
      ...CLAIMS,
      mall_id: 'someone-elses-mall',
      iss: ISSUER,
      aud: AUDIENCE,
      sub: 'someone-elses-mall',
    };
    expect(
      await refusal(
        `${header}.${base64url({ ...changed, iat: now(), exp: now() + 60, jti: 'j' })}.${signature}`,
      ),
    ).toBe('bad-signature');
    expect(await refusal(await sign({ ...CLAIMS, outcome: 'owned' as never }))).toBe('bad-claims');
    expect(await refusal('not-a-jwt')).toBe('malformed');
  });
});

describe('verifyLaunchToken with the front’s JWKS URL', () => {
  let url: string;
  const server = createServer((request, response) => {
    if (request.url === '/.well-known/jwks.json')
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(keys.jwks));
    else response.writeHead(404).end();
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('fetches the keys and verifies; an unknown kid and an unreachable JWKS are refused', async () => {
    const given = { jwksUrl: `${url}/.well-known/jwks.json`, audience: AUDIENCE, issuer: ISSUER };
    expect((await verifyLaunchToken(await sign(), given)).mall_id).toBe('mymall');
    const stranger = loadLaunchKeys(JSON.stringify(generateLaunchKey()));
    const unknown = await signLaunchToken(stranger, CLAIMS, { issuer: ISSUER, audience: AUDIENCE });
    expect(await refusal(unknown, given)).toBe('unknown-key');
    expect(await refusal(await sign(), { ...given, jwksUrl: `${url}/missing.json` })).toBe(
      'jwks-unavailable',
    );
  });
});

function now(): number {
  return Math.floor(Date.now() / 1000);
}
