import { randomBytes } from 'node:crypto';
import { consentPage } from './pages.ts';
import { jsonReply, oauthError, type Reply, redirect } from './reply.ts';
import type { SandboxSettings } from './types.ts';

/** Cafe24's OAuth as docs/cafe24-oauth.md describes it: codes, token rotation, revocation, authorize. */

export const ACCESS_TOKEN_LIFETIME_MS = 2 * 60 * 60 * 1000;
const REFRESH_TOKEN_LIFETIME_MS = 14 * 24 * 60 * 60 * 1000;
const KST_OFFSET_MS = 9 * 60 * 60 * 1000;
const DEFAULT_SCOPES = ['mall.read_order', 'mall.read_product', 'mall.read_store'];
const REDIRECT_URI_INVALID = 'The redirect_uri added by Cafe24 Developers is invalid.';

/** One authorization: a code and every token descended from it, revoked together on code reuse. */
export type Grant = {
  mallId: string;
  issuedAtMs: number;
  scopes: string[];
  used: boolean;
  revoked: boolean;
  /** The shop deleted (or let expire) the app: its Admin API calls answer 403 from then on. */
  removed?: boolean;
};

/** An access token: valid 2 h from its issue, on the sandbox's clock, while its grant stands. */
export type AccessToken = { grant: Grant; expiresAtMs: number };

export type RefreshToken = { grant: Grant; expiresAtMs: number; active: boolean };

export type IssuedTokens = { accessToken: string; refreshToken: string; issuedAt: string };

/** Everything the sandbox has issued: what a restart must keep (local/cafe24-sandbox/state-file.ts). */
export type Ledger = {
  codes: Map<string, Grant>;
  seenCodes: Set<string>;
  accessTokens: Map<string, AccessToken>;
  refreshTokens: Map<string, RefreshToken>;
  latest: Map<string, IssuedTokens>;
};

export type Issuer = { settings: SandboxSettings; ledger: Ledger };

/** A request to /oauth/token or /oauth/revoke, its body read. */
export type TokenRequest = {
  mallId: string;
  form: URLSearchParams;
  authorization: string | undefined;
  contentType: string | undefined;
};

export function emptyLedger(): Ledger {
  return {
    codes: new Map(),
    seenCodes: new Set(),
    accessTokens: new Map(),
    refreshTokens: new Map(),
    latest: new Map(),
  };
}

/** Cafe24's token timestamp format: Korea time (UTC+9) without an offset. */
export function formatKst(ms: number): string {
  return new Date(ms + KST_OFFSET_MS).toISOString().slice(0, 23);
}

export function randomToken(): string {
  return randomBytes(16).toString('base64url');
}

export function registerCode(
  issuer: Issuer,
  code: string,
  mallId: string,
  options: { issuedAt?: number; scopes?: string[] } = {},
): string {
  issuer.ledger.codes.set(code, {
    mallId,
    issuedAtMs: options.issuedAt ?? issuer.settings.now(),
    scopes: options.scopes ?? DEFAULT_SCOPES,
    used: false,
    revoked: false,
  });
  return code;
}

/** Registers codes for leak scans and, in dev mode, adopts an unknown code as freshly issued. */
export function noteCodeSighting(issuer: Issuer, mallId: string, code: string | undefined): void {
  if (!code) return;
  issuer.ledger.seenCodes.add(code);
  if (issuer.settings.acceptUnknownCodes && !issuer.ledger.codes.has(code)) {
    registerCode(issuer, code, mallId);
  }
}

export function tokenEndpoint(issuer: Issuer, request: TokenRequest): Reply {
  const clientError = checkClient(issuer.settings, request);
  if (clientError) return clientError;
  const grantType = request.form.get('grant_type');
  if (grantType === 'authorization_code') return exchangeCode(issuer, request.mallId, request.form);
  if (grantType === 'refresh_token') return refreshTokens(issuer, request.mallId, request.form);
  if (grantType === null) return oauthError(400, 'invalid_request', 'grant_type is required');
  return oauthError(400, 'unsupported_grant_type', 'Unsupported grant_type');
}

/** What an `invalid-grant` fault does to a refresh token: it dies, as Cafe24's refusal says. */
export function killRefreshToken(issuer: Issuer, token: string | null): void {
  const entry = issuer.ledger.refreshTokens.get(token ?? '');
  if (entry) entry.active = false;
}

export function revoke(issuer: Issuer, request: TokenRequest): Reply {
  const clientError = checkClient(issuer.settings, request);
  if (clientError) return clientError;
  const token = request.form.get('token');
  if (!token) return oauthError(400, 'invalid_request', 'token is required');
  killRefreshToken(issuer, token);
  issuer.ledger.accessTokens.delete(token);
  return jsonReply(200, {});
}

function checkClient(settings: SandboxSettings, request: TokenRequest): Reply | undefined {
  const credentials = parseBasicAuth(request.authorization);
  if (!credentials) return oauthError(401, 'invalid_client', 'Client authentication required');
  if (credentials.clientId !== settings.clientId) {
    return oauthError(401, 'invalid_client', 'Invalid client_id');
  }
  if (credentials.clientSecret !== settings.clientSecret) {
    return oauthError(401, 'invalid_client', 'Invalid client_secret');
  }
  if (!isFormContentType(request.contentType)) {
    return oauthError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
  }
  return undefined;
}

function parseBasicAuth(header: string | undefined): { clientId: string; clientSecret: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { clientId: decoded.slice(0, colon), clientSecret: decoded.slice(colon + 1) };
}

function isFormContentType(header: string | undefined): boolean {
  return header?.split(';')[0]?.trim().toLowerCase() === 'application/x-www-form-urlencoded';
}

function exchangeCode(issuer: Issuer, mallId: string, form: URLSearchParams): Reply {
  const { settings, ledger } = issuer;
  if (form.get('redirect_uri') !== settings.redirectUri) {
    return oauthError(400, 'invalid_request', REDIRECT_URI_INVALID);
  }
  const code = form.get('code');
  if (!code) return oauthError(400, 'invalid_request', 'code is required');
  const grant = ledger.codes.get(code);
  if (!grant || grant.mallId !== mallId) return oauthError(400, 'invalid_grant', 'Invalid code');
  // The app was deleted at this mall after the code was issued (the exact wording is not known).
  if (grant.revoked && !grant.used) return oauthError(400, 'invalid_grant', 'Invalid code');
  if (grant.used) {
    // RFC 6749 §4.1.2: a replayed code may mean it leaked, so its tokens go too.
    grant.revoked = true;
    return oauthError(400, 'invalid_grant', 'Code has already been used');
  }
  if (settings.now() - grant.issuedAtMs >= settings.codeLifetimeMs) {
    return oauthError(400, 'invalid_grant', 'Code time expired');
  }
  grant.used = true;
  return jsonReply(200, issueTokens(issuer, grant));
}

function refreshTokens(issuer: Issuer, mallId: string, form: URLSearchParams): Reply {
  const token = form.get('refresh_token');
  if (!token) return oauthError(400, 'invalid_request', 'refresh_token is required');
  const entry = issuer.ledger.refreshTokens.get(token);
  const usable =
    entry?.active &&
    !entry.grant.revoked &&
    entry.grant.mallId === mallId &&
    issuer.settings.now() < entry.expiresAtMs;
  if (!entry || !usable) return oauthError(401, 'invalid_grant', 'Invalid refresh_token');
  entry.active = false; // rotation: the old refresh token dies the moment a new one is issued
  return jsonReply(200, issueTokens(issuer, entry.grant));
}

function issueTokens({ settings, ledger }: Issuer, grant: Grant): Record<string, unknown> {
  const nowMs = settings.now();
  const accessToken = randomToken();
  const refreshToken = randomToken();
  // The access tokens issued before stay valid until their own expiry: a refresh rotates the refresh token only.
  ledger.accessTokens.set(accessToken, { grant, expiresAtMs: nowMs + ACCESS_TOKEN_LIFETIME_MS });
  ledger.refreshTokens.set(refreshToken, {
    grant,
    expiresAtMs: nowMs + REFRESH_TOKEN_LIFETIME_MS,
    active: true,
  });
  const issuedAt = formatKst(nowMs);
  ledger.latest.set(grant.mallId, { accessToken, refreshToken, issuedAt });
  const body: Record<string, unknown> = {
    access_token: accessToken,
    expires_at: formatKst(nowMs + ACCESS_TOKEN_LIFETIME_MS),
    refresh_token: refreshToken,
    refresh_token_expires_at: formatKst(nowMs + REFRESH_TOKEN_LIFETIME_MS),
    client_id: settings.clientId,
    mall_id: grant.mallId,
    user_id: grant.mallId,
    scopes: grant.scopes,
    issued_at: issuedAt,
  };
  if (!settings.omitOptionalFields) {
    body.shop_no = '1';
    body.token_type = 'Bearer';
  }
  return body;
}

// ---- authorize (the browser step of an install) -------------------------------------------------

/** The consent page, or a redirect to the registered redirect URI with a new code or an error. */
export function authorize(
  issuer: Issuer,
  mallId: string,
  query: URLSearchParams,
): { reply: Reply; code?: string } {
  const { settings } = issuer;
  const state = query.get('state');
  const problem = authorizeProblem(settings, query);
  // Errors go to the registered redirect_uri, never the requested one, so the sandbox is no open redirect.
  if (problem) return { reply: redirect(settings.redirectUri, { ...problem, state }) };
  if (settings.consent) {
    const decision = query.get('consent');
    if (decision === null) return { reply: consentPage(mallId, query, parseScopes(query.get('scope'))) };
    if (decision !== 'install') {
      return {
        reply: redirect(settings.redirectUri, {
          error: 'access_denied',
          error_description: 'The shop operator declined to install the app.',
          state,
        }),
      };
    }
  }
  const code = registerCode(issuer, randomToken(), mallId, { scopes: parseScopes(query.get('scope')) });
  return { reply: redirect(settings.redirectUri, { code, state }), code };
}

function authorizeProblem(
  settings: SandboxSettings,
  query: URLSearchParams,
): { error: string; error_description: string } | undefined {
  if (query.get('response_type') !== 'code') {
    return { error: 'unsupported_response_type', error_description: 'response_type must be code' };
  }
  if (query.get('client_id') !== settings.clientId) {
    return { error: 'invalid_request', error_description: 'Invalid client_id' };
  }
  if (query.get('redirect_uri') !== settings.redirectUri) {
    return { error: 'invalid_request', error_description: REDIRECT_URI_INVALID };
  }
  if (!query.get('state')) return { error: 'invalid_request', error_description: 'state is required' };
  const scopes = parseScopes(query.get('scope'));
  if (scopes.length === 0 || !scopes.every((s) => /^mall\.(read|write)_[a-z]+$/.test(s))) {
    return { error: 'invalid_scope', error_description: 'Invalid scope' };
  }
  return undefined;
}

/** The docs say space-separated; much working code uses commas. Accept both. */
function parseScopes(scope: string | null): string[] {
  return (scope ?? '').split(/[\s,]+/).filter(Boolean);
}
