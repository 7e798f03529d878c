import type { Dispatcher } from 'undici';
import { describeError, type FailureKind, TokenFailure } from '../commons/errors.ts';
import { isMallId, MALL_ID_RULE } from '../commons/ids.ts';
import { Secret, scrub } from '../commons/secret.ts';
import type { TokenSet } from '../domain/ports.ts';
import { mallApiBase } from './api-base.ts';
import { Agent, mediaType, parseJson, readLimited, request, undiciErrorCode } from './http.ts';
import { describeSchemaIssues, oauthErrorSchema, tokenResponseSchema } from './token-response.ts';

/** Anything larger is not a token response; reading it whole would only cost memory. */
const MAX_BODY_BYTES = 64 * 1024;

const CLIENT_CREDENTIALS_HINT =
  "Cafe24 refused the app's client credentials; check CAFE24_CLIENT_ID and CAFE24_CLIENT_SECRET";
const NOT_CAFE24_HINT =
  "not an answer of Cafe24's token endpoint: check CAFE24_API_BASE_URL (https://{mall_id}.cafe24api.com, " +
  'or a sandbox that answers as Cafe24 does) and any proxy in between';

export type TokenClientOptions = {
  /** `https://{mall_id}.cafe24api.com` or a sandbox; `{mall_id}` is substituted. */
  apiBaseUrl: string;
  clientId: string;
  /** Resolved lazily and once per container (it may come from Secrets Manager). */
  clientSecret: () => Promise<Secret>;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  dispatcher?: Dispatcher;
  /** Told of every answer Cafe24's token endpoint is not expected to give (the runtime counts them). */
  onUnexpectedAnswer?: (answer: Answer, grant: TokenGrant) => void;
};

/** `timeoutMs` shortens the configured request timeout for this request (never lengthens it). */
export type CodeExchangeRequest = { mallId: string; code: Secret; redirectUri: string; timeoutMs?: number };
export type RefreshRequest = { mallId: string; refreshToken: Secret; timeoutMs?: number };

/** Cafe24's OAuth token endpoint over undici. Every failure is a TokenFailure with its kind. */
export class Cafe24TokenClient {
  readonly #options: TokenClientOptions;
  readonly #dispatcher: Dispatcher;

  constructor(options: TokenClientOptions) {
    this.#options = options;
    this.#dispatcher =
      options.dispatcher ??
      new Agent({ connect: { timeout: options.connectTimeoutMs }, keepAliveTimeout: 10_000 });
  }

  tokenUrl(mallId: string): URL {
    if (!isMallId(mallId)) throw new TokenFailure('final', `mall_id ${MALL_ID_RULE}`);
    return tokenEndpointUrl(this.#options.apiBaseUrl, mallId);
  }

  async exchangeCode(exchange: CodeExchangeRequest): Promise<TokenSet> {
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code: exchange.code.reveal(),
      redirect_uri: exchange.redirectUri,
    });
    return this.#post(
      'authorization_code',
      this.tokenUrl(exchange.mallId),
      body,
      [exchange.code],
      exchange.timeoutMs,
    );
  }

  /** The refresh_token grant: same endpoint, same answer, same classification as the exchange. */
  async refreshToken(refresh: RefreshRequest): Promise<TokenSet> {
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refresh.refreshToken.reveal(),
    });
    return this.#post(
      'refresh_token',
      this.tokenUrl(refresh.mallId),
      body,
      [refresh.refreshToken],
      refresh.timeoutMs,
    );
  }

  async #post(
    grant: TokenGrant,
    url: URL,
    form: URLSearchParams,
    secrets: Secret[],
    timeoutMs?: number,
  ): Promise<TokenSet> {
    const requestTimeoutMs = Math.max(0, Math.min(this.#options.requestTimeoutMs, timeoutMs ?? Infinity));
    const clientSecret = await this.#options.clientSecret();
    const basic = Buffer.from(`${this.#options.clientId}:${clientSecret.reveal()}`).toString('base64');
    const redact = (text: string) => scrub(text, [...secrets, clientSecret, new Secret(basic)]);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method: 'POST',
        dispatcher: this.#dispatcher,
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
    } catch (error) {
      throw classifyNetworkError(error, url, { ...this.#options, requestTimeoutMs });
    }
    const text = await readLimited(response, MAX_BODY_BYTES).catch((error: unknown) => {
      throw classifyNetworkError(error, url, this.#options);
    });
    return classifyResponse(
      grant,
      response.statusCode,
      response.headers,
      text,
      redact,
      this.#options.onUnexpectedAnswer,
    );
  }
}

/** Which grant a token request used: the same answer can mean different things for each. */
export type TokenGrant = 'authorization_code' | 'refresh_token';

/**
 * What an answer of the token endpoint says, read once (`readAnswer`), before it is given a kind:
 * - `refused-grant`: Cafe24 refused this code or this refresh token (`invalid_grant`, or a 400/401 whose
 *   description says the refresh token is invalid, as seen in the field).
 * - `client-credentials`: Cafe24 refused the app's Basic credentials (`invalid_client`, a description
 *   naming the client id or secret, or a 401 that does not name the grant).
 * - `bad-request`: an OAuth error that blames the request or the app's registration, not the mall
 *   (`invalid_request`, `unsupported_grant_type`, `unauthorized_client`, `invalid_scope`).
 * - `rate-limited` (429) and `server` (408, 5xx, `server_error`, `temporarily_unavailable`).
 * - `other-oauth-error`: an OAuth error body with a code outside these.
 * - `not-oauth`: a 4xx whose body is no OAuth error: an HTML page, other JSON, empty, too large (a wrong
 *   path in CAFE24_API_BASE_URL, a proxy, a WAF). Nothing says Cafe24 even saw the request.
 * - `unusable-success`: a 200 without a usable token.
 */
export type Answer =
  | 'refused-grant'
  | 'client-credentials'
  | 'bad-request'
  | 'rate-limited'
  | 'server'
  | 'other-oauth-error'
  | 'not-oauth'
  | 'unusable-success';

/**
 * The one table from each answer to its outcome, for both grants (design rules 3, 4 and 9). Only
 * `refused-grant` is `final` for a refresh (the mall is marked invalid); for a code, `final` and
 * `configuration` both record it `failed`, and the reason says whether Cafe24 refused the code or the
 * request was ours to fix. An answer Cafe24's token endpoint would not give is never final for a mall.
 */
export const ANSWER_OUTCOMES: Readonly<Record<Answer, Readonly<Record<TokenGrant, FailureKind>>>> = {
  'refused-grant': { authorization_code: 'final', refresh_token: 'final' },
  'client-credentials': { authorization_code: 'configuration', refresh_token: 'configuration' },
  'bad-request': { authorization_code: 'configuration', refresh_token: 'configuration' },
  'rate-limited': { authorization_code: 'transient', refresh_token: 'transient' },
  server: { authorization_code: 'transient', refresh_token: 'transient' },
  // A code answered so may have been consumed: sending it again could only be refused (or revoke).
  'other-oauth-error': { authorization_code: 'final', refresh_token: 'transient' },
  'not-oauth': { authorization_code: 'final', refresh_token: 'transient' },
  'unusable-success': { authorization_code: 'final', refresh_token: 'transient' },
};

/** Answers that Cafe24's own token endpoint is not expected to give: counted, and alarmed on. */
export const UNEXPECTED_ANSWERS: ReadonlySet<Answer> = new Set<Answer>([
  'other-oauth-error',
  'not-oauth',
  'unusable-success',
]);

/** The token endpoint for a mall: `{mall_id}` substituted in the API base URL (doctor probes the same). */
export function tokenEndpointUrl(apiBaseUrl: string, mallId: string): URL {
  return new URL(`${mallApiBase(apiBaseUrl, mallId)}/api/v2/oauth/token`);
}

/** The one place an HTTP answer becomes tokens or a failure of a kind (ANSWER_OUTCOMES). */
export function classifyResponse(
  grant: TokenGrant,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string | undefined,
  redact: (text: string) => string,
  onUnexpectedAnswer?: (answer: Answer, grant: TokenGrant) => void,
): TokenSet {
  const fail = (answer: Answer, message: string, options: { retryAfterMs?: number } = {}): never => {
    if (UNEXPECTED_ANSWERS.has(answer)) onUnexpectedAnswer?.(answer, grant);
    const hint = HINTS[answer][grant];
    throw new TokenFailure(ANSWER_OUTCOMES[answer][grant], hint ? `${message}: ${hint}` : message, options);
  };
  if (status === 200) {
    if (text === undefined)
      return fail('unusable-success', `Cafe24 answered 200 with a body over ${MAX_BODY_BYTES} bytes`);
    const json = parseJson(text);
    if (json === undefined)
      return fail('unusable-success', 'Cafe24 answered 200 with a body that is not JSON');
    const parsed = tokenResponseSchema.safeParse(json);
    if (!parsed.success) {
      return fail(
        'unusable-success',
        `Cafe24 answered 200 without a usable token: ${describeSchemaIssues(parsed.error)}`,
      );
    }
    return parsed.data;
  }
  const parsedError = oauthErrorSchema.safeParse(text === undefined ? undefined : parseJson(text));
  // Classified on the scrubbed text: a secret's own characters must not decide what kind an answer is.
  const oauth = parsedError.success
    ? {
        error: redact(parsedError.data.error),
        description: parsedError.data.error_description && redact(parsedError.data.error_description),
      }
    : undefined;
  const answer = readAnswer(grant, status, oauth);
  const detail = oauth ? describeOAuthError(oauth, redact) : describeNonJson(headers, text);
  const message = `Cafe24 answered HTTP ${status} (${detail})`;
  if (answer === 'rate-limited')
    return fail(answer, message, { retryAfterMs: retryAfterMs(headers['retry-after']) });
  return fail(answer, message);
}

/** The OAuth errors of RFC 6749 and RFC 6750: the only `error` values shown as they came. */
const KNOWN_OAUTH_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'unsupported_response_type',
  'server_error',
  'temporarily_unavailable',
  'invalid_token',
  'insufficient_scope',
]);
const BAD_REQUEST_ERRORS = new Set([
  'invalid_request',
  'unsupported_grant_type',
  'unauthorized_client',
  'invalid_scope',
]);
const SERVER_ERRORS = new Set(['server_error', 'temporarily_unavailable']);
/** How much of Cafe24's description is kept: enough for a sentence, too little to carry much else. */
const MAX_DESCRIPTION_CHARS = 200;

/** Descriptions that refuse the grant itself, whatever error code comes with them (the field's 401). */
const REFUSES_GRANT: Record<TokenGrant, RegExp> = {
  refresh_token:
    /\binvalid[ _-]?refresh[ _-]?token\b|\brefresh[ _-]?token\b.*\b(expired|invalid|revoked|used)\b/i,
  authorization_code: /\binvalid[ _-]?(authorization[ _-]?)?code\b|\bcode\b.*\b(expired|invalid|used)\b/i,
};

function readAnswer(
  grant: TokenGrant,
  status: number,
  oauth: { error: string; description: string | undefined } | undefined,
): Answer {
  if (status === 429) return 'rate-limited';
  if (status === 408 || status >= 500) return 'server';
  if (oauth === undefined) return status === 401 ? 'client-credentials' : 'not-oauth';
  if (blamesClientCredentials(status, oauth)) return 'client-credentials';
  if (oauth.error === 'invalid_grant') return 'refused-grant';
  if ((status === 400 || status === 401) && REFUSES_GRANT[grant].test(oauth.description ?? '')) {
    return 'refused-grant';
  }
  if (BAD_REQUEST_ERRORS.has(oauth.error)) return 'bad-request';
  if (SERVER_ERRORS.has(oauth.error)) return 'server';
  return 'other-oauth-error';
}

/** What each answer asks of whoever reads the failure, per grant; none where the answer says it all. */
const HINTS: Record<Answer, Record<TokenGrant, string | undefined>> = {
  'refused-grant': { authorization_code: 'Cafe24 refused the code', refresh_token: undefined },
  'client-credentials': {
    authorization_code: CLIENT_CREDENTIALS_HINT,
    refresh_token: CLIENT_CREDENTIALS_HINT,
  },
  'bad-request': {
    authorization_code:
      'Cafe24 refused the request, not the code: ours to fix (invalid_request: CAFE24_REDIRECT_URI must match ' +
      'the redirect URI registered in Cafe24 Developers character for character; invalid_scope: CAFE24_SCOPES)',
    refresh_token:
      "Cafe24 refused the request, not the mall's refresh token: ours to fix (a bug, or the app's settings " +
      'in Cafe24 Developers); no mall is marked invalid',
  },
  'rate-limited': { authorization_code: undefined, refresh_token: undefined },
  server: { authorization_code: undefined, refresh_token: undefined },
  'other-oauth-error': {
    authorization_code: 'an OAuth error Cafe24 is not known to give; the code is not sent again',
    refresh_token: 'an OAuth error Cafe24 is not known to give; the mall stays active and is tried again',
  },
  'not-oauth': {
    authorization_code: NOT_CAFE24_HINT,
    refresh_token: `${NOT_CAFE24_HINT}; the mall stays active and is tried again`,
  },
  'unusable-success': {
    authorization_code: 'the code was most likely consumed and is not sent again',
    refresh_token:
      'Cafe24 may have rotated the refresh token; the mall stays active, and a refusal of the stored token ' +
      'will say so',
  },
};

/**
 * An answer about the app, not the code or the mall: `invalid_client`, a description naming the client id
 * or secret (Cafe24 has answered `invalid_grant: Invalid client_secret`), or a 401 that does not name the
 * grant (401 answers the Authorization header, which carries only the app's Basic credentials).
 */
function blamesClientCredentials(
  status: number,
  oauth: { error: string; description: string | undefined },
): boolean {
  if (oauth.error === 'invalid_client') return true;
  if (/client[_ -]?(secret|id)\b|client authentication/i.test(oauth.description ?? '')) return true;
  // A 401 that names the grant (a dead refresh token, a spent code) blames the mall, whatever its code.
  if (/refresh[_ ]?token|\bcode\b|\bgrant\b/i.test(`${oauth.error} ${oauth.description ?? ''}`)) {
    return false;
  }
  return status === 401 && oauth.error !== 'invalid_grant';
}

/**
 * Only a short, known-safe shape of what Cafe24 said is kept: the error code when it is a standard one,
 * and the description scrubbed, on one line and bounded.
 */
function describeOAuthError(
  oauth: { error: string; description: string | undefined },
  redact: (text: string) => string,
): string {
  const error = KNOWN_OAUTH_ERRORS.has(oauth.error)
    ? oauth.error
    : 'an error code outside the OAuth standard';
  const oneLine = (oauth.description ?? '').replace(/\p{Cc}+/gu, ' ').trim();
  if (oneLine === '') return error;
  const bounded =
    oneLine.length > MAX_DESCRIPTION_CHARS ? `${oneLine.slice(0, MAX_DESCRIPTION_CHARS)}…` : oneLine;
  // Scrubbed again after cutting: a cut can leave a secret's encoded form readable on its own.
  return `${error}: ${redact(bounded)}`;
}

function classifyNetworkError(error: unknown, url: URL, options: TokenClientOptions): TokenFailure {
  if (error instanceof TokenFailure) return error;
  if (undiciErrorCode(error) === 'UND_ERR_CONNECT_TIMEOUT') {
    return new TokenFailure(
      'transient',
      `could not connect to ${url.host} within ${options.connectTimeoutMs} ms: if this runs in a private subnet, ` +
        'check its route 0.0.0.0/0 to a NAT gateway and the security group allows outbound HTTPS',
    );
  }
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new TokenFailure('transient', `no answer from ${url.host} within ${options.requestTimeoutMs} ms`);
  }
  return new TokenFailure('transient', `request to ${url.host} failed: ${describeError(error)}`);
}

function describeNonJson(headers: Dispatcher.ResponseData['headers'], text: string | undefined): string {
  if (text === undefined) return 'body too large';
  return text.trim() === '' ? 'empty body' : `${mediaType(headers)} body, not an OAuth error`;
}

/** Retry-After as seconds or an HTTP date, in ms; undefined when absent or unreadable. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
