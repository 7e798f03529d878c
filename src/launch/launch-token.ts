import { createPublicKey, type KeyObject, randomUUID } from 'node:crypto';
import {
  createRemoteJWKSet,
  errors,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
  SignJWT,
} from 'jose';
import { LaunchTokenError } from './errors.ts';
import type { LaunchKeys } from './keys.ts';

export { LaunchTokenError, type LaunchTokenErrorCode } from './errors.ts';
export { generateLaunchKey, type LaunchKeys, loadLaunchKeys, type PublicJwk } from './keys.ts';

/**
 * The launch token: the install front's signed word to the app behind it that a verified Cafe24 launch
 * came for this mall, by this operator, with this outcome (docs/design.md, "The app's entry"). An ES256
 * JWT, `kid` in its header, at most 120 s long; the app verifies it with `verifyLaunchToken` against the
 * front's JWKS (`GET /.well-known/jwks.json`).
 *
 * This module imports nothing of the project's but `node:crypto` and `jose`, so that an app can import
 * `cafe24-token-issuer/launch` without pulling in pg, AWS or undici.
 */

export const LAUNCH_OUTCOMES = ['launched', 'installed', 'pending', 'failed', 'declined'] as const;
export type LaunchOutcome = (typeof LAUNCH_OUTCOMES)[number];

/** The claims about the mall and the operator, from the verified launch (Cafe24's own names). */
export type LaunchClaims = {
  mall_id: string;
  shop_no?: string;
  user_id?: string;
  user_type?: string;
  user_name?: string;
  lang?: string;
  nation?: string;
  is_multi_shop?: string;
  outcome: LaunchOutcome;
};

/** A verified launch token's payload: the claims, and the JWT's own (`sub` is the mall id). */
export type LaunchToken = LaunchClaims & {
  iss: string;
  aud: string;
  sub: string;
  iat: number;
  exp: number;
  /** Unique per token: an app that must refuse a replayed link remembers it until `exp`. */
  jti: string;
};

/** The longest a launch token may live (the design's bound), and how long the front's tokens live. */
export const MAX_LAUNCH_TOKEN_SECONDS = 120;
const ALGORITHM = 'ES256';

/** Signs `claims` for `audience` (the app's client id) as `issuer` (the front's origin), `lifetimeSeconds` long. */
export async function signLaunchToken(
  keys: LaunchKeys,
  claims: LaunchClaims,
  options: { issuer: string; audience: string; nowMs?: number; lifetimeSeconds?: number },
): Promise<string> {
  const lifetime = Math.min(options.lifetimeSeconds ?? MAX_LAUNCH_TOKEN_SECONDS, MAX_LAUNCH_TOKEN_SECONDS);
  const iat = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const defined = Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined));
  return new SignJWT(defined)
    .setProtectedHeader({ alg: ALGORITHM, kid: keys.kid, typ: 'JWT' })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(claims.mall_id)
    .setIssuedAt(iat)
    .setExpirationTime(iat + lifetime)
    .setJti(randomUUID())
    .sign(keys.privateKey);
}

export type VerifyLaunchOptions = {
  /** The front's audience: the app's Cafe24 client id. */
  audience: string;
  /** The front's origin, as its tokens' `iss` (`https://install.example.com`). */
  issuer: string;
  /** Seconds of clock difference tolerated on `iat`/`exp` (default 5). */
  clockToleranceSeconds?: number;
  /** For tests: the current time. */
  currentDate?: Date;
} & (
  | {
      /** The front's JWKS, normally `${issuer}/.well-known/jwks.json`; fetched and cached. */ jwksUrl:
        | string
        | URL;
      publicKey?: never;
    }
  | {
      /** One public key: a JWK, an SPKI PEM, or a KeyObject. */ publicKey: JWK | string | KeyObject;
      jwksUrl?: never;
    }
);

const remoteSets = new Map<string, JWTVerifyGetKey>();

/**
 * Verifies a launch token for the app's own code: the ES256 signature (no other algorithm is accepted),
 * `aud`, `iss`, `exp` (at most 120 s after `iat`), and the claims' shape. Resolves to its payload, or
 * rejects with a `LaunchTokenError` whose `code` says why and whose message never holds the token.
 * Replays are the app's to refuse: remember each `jti` until its `exp`, and refuse one seen before.
 */
export async function verifyLaunchToken(token: string, options: VerifyLaunchOptions): Promise<LaunchToken> {
  if (
    typeof token !== 'string' ||
    token.length === 0 ||
    token.length > 8_192 ||
    token.split('.').length !== 3
  ) {
    throw new LaunchTokenError('malformed', 'the launch token is not a compact JWT');
  }
  const key = keyResolver(options);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, key as JWTVerifyGetKey, {
      algorithms: [ALGORITHM],
      typ: 'JWT',
      audience: options.audience,
      issuer: options.issuer,
      requiredClaims: ['iat', 'exp', 'jti', 'sub'],
      clockTolerance: options.clockToleranceSeconds ?? 5,
      ...(options.currentDate ? { currentDate: options.currentDate } : {}),
    }));
  } catch (error) {
    throw translate(error);
  }
  // jose checks `iat` only against a maximum age: a token from the future is refused here.
  const nowSeconds = Math.floor((options.currentDate ?? new Date()).getTime() / 1000);
  if ((payload.iat as number) > nowSeconds + (options.clockToleranceSeconds ?? 5)) {
    throw new LaunchTokenError('not-yet-valid', 'the launch token is from the future: check the clocks');
  }
  return checkedClaims(payload);
}

function keyResolver(options: VerifyLaunchOptions): JWTVerifyGetKey | KeyObject {
  if (options.jwksUrl !== undefined) {
    const url = String(options.jwksUrl);
    let set = remoteSets.get(url);
    if (!set) {
      // Cached as long as the front says (max-age 300): a key dropped after a compromise is trusted no longer.
      const remote = createRemoteJWKSet(checkedJwksUrl(url), {
        timeoutDuration: 5_000,
        cooldownDuration: 30_000,
        cacheMaxAge: 300_000,
      });
      // A JWKS that cannot be fetched or read is the front's (or the network's) fault, not the token's.
      set = async (header, token) => {
        try {
          return await remote(header, token);
        } catch (error) {
          if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
            throw error;
          throw new LaunchTokenError(
            'jwks-unavailable',
            `the front's JWKS at ${url} could not be fetched or read`,
          );
        }
      };
      remoteSets.set(url, set);
    }
    return set;
  }
  const given = options.publicKey;
  try {
    if (typeof given === 'string') return createPublicKey({ key: given, format: 'pem' });
    if (isKeyObject(given)) return given.type === 'private' ? createPublicKey(given) : given;
    return createPublicKey({ key: given as never, format: 'jwk' });
  } catch {
    throw new LaunchTokenError(
      'bad-key',
      'publicKey could not be read as a public key (a JWK, an SPKI PEM or a KeyObject)',
    );
  }
}

/** The JWKS is the trust anchor: https only (http on this machine, for the local stack). */
function checkedJwksUrl(url: string): URL {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  const loopback = parsed !== undefined && ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname);
  if (!parsed || !(parsed.protocol === 'https:' || (parsed.protocol === 'http:' && loopback))) {
    throw new LaunchTokenError('bad-key', 'jwksUrl must be an https URL (http only on localhost)');
  }
  return parsed;
}

function translate(error: unknown): LaunchTokenError {
  if (error instanceof LaunchTokenError) return error;
  if (error instanceof errors.JWTExpired)
    return new LaunchTokenError('expired', 'the launch token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud')
      return new LaunchTokenError('wrong-audience', 'the launch token is for another app (aud)');
    if (error.claim === 'iss')
      return new LaunchTokenError('wrong-issuer', 'the launch token was issued by another front (iss)');
    if (error.claim === 'iat' || error.claim === 'nbf') {
      return new LaunchTokenError('not-yet-valid', 'the launch token is from the future: check the clocks');
    }
    return new LaunchTokenError('bad-claims', `the launch token's ${error.claim} claim is missing or wrong`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new LaunchTokenError('bad-signature', 'the launch token was not signed by the install front');
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new LaunchTokenError('unknown-key', "the launch token's kid is not among the front's keys");
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new LaunchTokenError(
      'bad-signature',
      'the launch token is not ES256 (the only algorithm accepted)',
    );
  }
  if (error instanceof errors.JOSEError) {
    return new LaunchTokenError('malformed', 'the launch token could not be read as a signed JWT');
  }
  return new LaunchTokenError('malformed', 'the launch token could not be verified');
}

function checkedClaims(payload: JWTPayload): LaunchToken {
  const text = (name: string) => typeof payload[name] === 'string';
  const optional = ['shop_no', 'user_id', 'user_type', 'user_name', 'lang', 'nation', 'is_multi_shop'];
  const outcome = payload.outcome as LaunchOutcome;
  if (
    !text('mall_id') ||
    payload.sub !== payload.mall_id ||
    !LAUNCH_OUTCOMES.includes(outcome) ||
    optional.some((name) => payload[name] !== undefined && !text(name)) ||
    (payload.exp as number) - (payload.iat as number) > MAX_LAUNCH_TOKEN_SECONDS
  ) {
    throw new LaunchTokenError(
      'bad-claims',
      "the launch token's claims are not a launch's (mall_id, outcome, exp)",
    );
  }
  return payload as LaunchToken;
}

function isKeyObject(value: unknown): value is KeyObject {
  return typeof value === 'object' && value !== null && 'asymmetricKeyType' in value && 'export' in value;
}
