import { Secret } from '../../src/commons/secret.ts';
import type { TokenSet } from '../../src/domain/ports.ts';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/** 2030-01-01T00:00:00.000Z: when a pair is issued unless a test says otherwise. */
export const ISSUED_AT = Date.parse('2030-01-01T00:00:00.000Z');

/**
 * A token pair as Cafe24 issues one: `access` and `refresh` its secrets, issued at `issuedAt` (ms), the
 * access token good for 2 hours and the refresh token for 14 days. The fields Cafe24 may leave out are
 * unset unless `extra` sets them.
 */
export function tokenSet(
  pair: { access: string; refresh: string; mallId: string; issuedAt?: number },
  extra: Partial<Pick<TokenSet, 'clientId' | 'userId' | 'scopes' | 'shopNo' | 'tokenType'>> = {},
): TokenSet {
  const issuedAt = pair.issuedAt ?? ISSUED_AT;
  return {
    accessToken: new Secret(pair.access),
    refreshToken: new Secret(pair.refresh),
    expiresAt: new Date(issuedAt + 2 * HOUR),
    refreshTokenExpiresAt: new Date(issuedAt + 14 * DAY),
    issuedAt: new Date(issuedAt),
    mallId: pair.mallId,
    clientId: undefined,
    userId: undefined,
    scopes: undefined,
    shopNo: undefined,
    tokenType: undefined,
    ...extra,
  };
}

/**
 * The token a row stores, opened as the project opens it (sealed under the stack's key, or plaintext):
 * what a test compares with what Cafe24 issued.
 */
export async function openedToken(
  stack: { env: Record<string, string>; pool: import('pg').Pool },
  mallId: string,
  stored: string,
  column: 'access_token' | 'refresh_token' = 'access_token',
): Promise<string> {
  const { loadConfig } = await import('../../src/config.ts');
  const { tokenCodecFor } = await import('../../src/runtime/sealing.ts');
  const codec = tokenCodecFor(loadConfig('encrypt', stack.env), stack.pool);
  return (await codec.open(stored, { mallId, column })).reveal();
}
