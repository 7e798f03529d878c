import type { Dispatcher } from 'undici';
import { describeError, type FailureKind, TokenFailure } from '../commons/errors.ts';
import { isMallId, MALL_ID_RULE, normaliseMallId } from '../commons/ids.ts';
import { Secret, scrub } from '../commons/secret.ts';
import type { TokenSet } from '../domain/ports.ts';
import { mallApiBase } from './api-base.ts';
import { Agent, mediaType, parseJson, readLimited, request, undiciErrorCode } from './http.ts';
import { describeSchemaIssues, oauthErrorSchema, tokenResponseSchema } from './token-response.ts';

/** Anything larger is not a token response; reading it whole would only cost memory. */
const MAX_BODY_BYTES = 64 * 1024;

const CLIENT_CREDENTIALS_HINT =
  "Cafe24 refused the app's client credentials; check CAFE24_CLIENT_ID and CAFE24_CLIENT_SECRET";
const OTHER_MALL_HINT =
  "CAFE24_API_BASE_URL must name the mall as {mall_id} (https://{mall_id}.cafe24api.com): one mall's URL " +
  'would send every mall to that one';
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
    return this.#post('authorization_code', exchange.mallId, body, [exchange.code], exchange.timeoutMs);
  }

  /** The refresh_token grant: same endpoint, same answer, same classification as the exchange. */
  async refreshToken(refresh: RefreshRequest): Promise<TokenSet> {
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refresh.refreshToken.reveal(),
    });
    return this.#post('refresh_token', refresh.mallId, body, [refresh.refreshToken], refresh.timeoutMs);
  }

  /**
   * `POST /api/v2/oauth/revoke` (best effort, for `forget`): says what Cafe24 answered, never throws, and
   * never gives back the token or the answer's body.
   */
  async revoke(
    mallId: string,
    token: Secret,
    hint: 'access_token' | 'refresh_token',
    timeoutMs = this.#options.requestTimeoutMs,
  ): Promise<{ ok: boolean; detail: string }> {
    try {
      const url = new URL('revoke', this.tokenUrl(mallId));
      const clientSecret = await this.#options.clientSecret();
      const basic = Buffer.from(`${this.#options.clientId}:${clientSecret.reveal()}`).toString('base64');
      const response = await request(url, {
        method: 'POST',
        dispatcher: this.#dispatcher,
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: token.reveal(), token_type_hint: hint }).toString(),
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body.dump();
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      return { ok, detail: `HTTP ${response.statusCode}` };
    } catch (error) {
      return { ok: false, detail: error instanceof Error ? error.name : 'request failed' };
    }
  }

  async #post(
    grant: TokenGrant,
    mallId: string,
    form: URLSearchParams,
    secrets: Secret[],
    timeoutMs?: number,
  ): Promise<TokenSet> {
    const url = this.tokenUrl(mallId);
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
      mallId,
    );
  }
}

/** Which grant a token request used: the same answer can mean different things for each. */
export type TokenGrant = 'authorization_code' | 'refresh_token';

/**
 * What an answer of the token endpoint says, read once (`readAnswer`), before it is given a kind:
 * - `refused-grant`: Cafe24 refused this code or this refresh token: `invalid_grant`, or the field's 401
 *   whose description is only that the refresh token (the code) is invalid.
 * - `client-credentials`: Cafe24 refused the app's Basic credentials: `invalid_client`, a description
 *   naming the client secret or client authentication, or a 401 with another OAuth code that does not
 *   name the grant (a 401 answers the Authorization header).
 * - `bad-request`: an OAuth error that blames the request or the app's registration, not the mall
 *   (`invalid_request`, `unsupported_grant_type`, `unauthorized_client`, `invalid_scope`).
 * - `rate-limited` (429) and `server` (408, 5xx, `server_error`, `temporarily_unavailable`).
 * - `other-oauth-error`: an OAuth error body with a code outside these.
 * - `not-oauth`: a 4xx whose body is no OAuth error: an HTML page, other JSON, empty, too large (a wrong
 *   path in CAFE24_API_BASE_URL, a proxy, a WAF). Nothing says Cafe24 even saw the request.
 * - `unusable-success`: a 200 without a token this client can read.
 * - `other-mall`: a 200 whose tokens are another mall's (a base URL without `{mall_id}`).
 */
export type Answer =
  | 'refused-grant'
  | 'client-credentials'
  | 'bad-request'
  | 'rate-limited'
  | 'server'
  | 'other-oauth-error'
  | 'not-oauth'
  | 'unusable-success'
  | 'other-mall';

/** One answer's meaning for one grant: the failure's kind, what to tell the reader, whether to alarm. */
export type AnswerMeaning = { kind: FailureKind; hint?: string; unexpected?: true };

/**
 * The one table from each answer to its outcome, for both grants (design rules 3, 4 and 9). Only
 * `refused-grant` is `final` for a refresh (the mall is marked invalid); for a code, `final` and
 * `configuration` both record it `failed`, and the hint says whether Cafe24 refused the code or the request
 * was ours to fix. An answer Cafe24's token endpoint would not give is never final for a mall, and a 200
 * this client cannot read stops a refresh run (`configuration`): retrying it would send a refresh token
 * Cafe24 may just have rotated, mall after mall. `unexpected` answers are counted and alarmed on.
 */
export const ANSWER_OUTCOMES: Readonly<Record<Answer, Readonly<Record<TokenGrant, AnswerMeaning>>>> = {
  'refused-grant': {
    authorization_code: { kind: 'final', hint: 'Cafe24 refused the code' },
    refresh_token: { kind: 'final' },
  },
  'client-credentials': {
    authorization_code: { kind: 'configuration', hint: CLIENT_CREDENTIALS_HINT },
    refresh_token: { kind: 'configuration', hint: CLIENT_CREDENTIALS_HINT },
  },
  'bad-request': {
    authorization_code: {
      kind: 'configuration',
      hint:
        'Cafe24 refused the request, not the code: ours to fix (invalid_request: CAFE24_REDIRECT_URI must ' +
        'match the redirect URI registered in Cafe24 Developers character for character; invalid_scope: ' +
        'CAFE24_SCOPES)',
    },
    refresh_token: {
      kind: 'configuration',
      hint:
        "Cafe24 refused the request, not the mall's refresh token: ours to fix (a bug, or the app's " +
        'settings in Cafe24 Developers); no mall is marked invalid',
    },
  },
  'rate-limited': { authorization_code: { kind: 'transient' }, refresh_token: { kind: 'transient' } },
  server: { authorization_code: { kind: 'transient' }, refresh_token: { kind: 'transient' } },
  // A code answered so may have been consumed: sending it again could only be refused (or revoke).
  'other-oauth-error': {
    authorization_code: {
      kind: 'final',
      hint: 'an OAuth error Cafe24 is not known to give; the code is not sent again',
      unexpected: true,
    },
    refresh_token: {
      kind: 'transient',
      hint: 'an OAuth error Cafe24 is not known to give; the mall stays active and is tried again',
      unexpected: true,
    },
  },
  'not-oauth': {
    authorization_code: { kind: 'final', hint: NOT_CAFE24_HINT, unexpected: true },
    refresh_token: {
      kind: 'transient',
      hint: `${NOT_CAFE24_HINT}; the mall stays active and is tried again`,
      unexpected: true,
    },
  },
  'unusable-success': {
    authorization_code: {
      kind: 'final',
      hint: 'the code was most likely consumed and is not sent again',
      unexpected: true,
    },
    refresh_token: {
      kind: 'configuration',
      hint:
        'Cafe24 may have rotated the refresh token; no other mall is refreshed until this client can ' +
        'read the answer (no mall is marked invalid)',
      unexpected: true,
    },
  },
  'other-mall': {
    authorization_code: { kind: 'configuration', hint: OTHER_MALL_HINT, unexpected: true },
    refresh_token: { kind: 'configuration', hint: OTHER_MALL_HINT, unexpected: true },
  },
};

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

/**
 * Whether an answer reads as an OAuth token endpoint's error: a 400 or 401 whose body is `{"error": …}`
 * with a standard code. Doctor's probe asks the same of the configured URL.
 */
export function isOAuthErrorAnswer(status: number, text: string | undefined): boolean {
  const parsed = oauthErrorSchema.safeParse(text === undefined ? undefined : parseJson(text));
  return (status === 400 || status === 401) && parsed.success && KNOWN_OAUTH_ERRORS.has(parsed.data.error);
}

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
  mallId?: string,
): TokenSet {
  const fail = (answer: Answer, message: string, options: { retryAfterMs?: number } = {}): never => {
    const { kind, hint, unexpected } = ANSWER_OUTCOMES[answer][grant];
    if (unexpected) onUnexpectedAnswer?.(answer, grant);
    throw new TokenFailure(kind, hint ? `${message}: ${hint}` : message, options);
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
    if (mallId !== undefined && normaliseMallId(parsed.data.mallId) !== normaliseMallId(mallId)) {
      // Mall ids are shown: they name a shop, never a secret; another mall's tokens are never stored here.
      return fail(
        'other-mall',
        `Cafe24 answered 200 with the tokens of mall ${parsed.data.mallId}, not ${mallId}`,
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

const BAD_REQUEST_ERRORS = new Set([
  'invalid_request',
  'unsupported_grant_type',
  'unauthorized_client',
  'invalid_scope',
]);
const SERVER_ERRORS = new Set(['server_error', 'temporarily_unavailable']);
/** How much of Cafe24's description is kept: enough for a sentence, too little to carry much else. */
const MAX_DESCRIPTION_CHARS = 200;

/** The field's 401: a description that is only a refusal of the grant itself, whatever the error code. */
const REFUSES_GRANT: Record<TokenGrant, RegExp> = {
  refresh_token: /^\s*(invalid|expired|revoked) refresh[ _-]?token\.?\s*$/i,
  authorization_code: /^\s*((invalid|expired|used) (authorization[ _-]?)?code|code (time )?expired)\.?\s*$/i,
};

/** The error code decides first; a description only where Cafe24 is known to put the answer there. */
function readAnswer(
  grant: TokenGrant,
  status: number,
  oauth: { error: string; description: string | undefined } | undefined,
): Answer {
  if (status === 429) return 'rate-limited';
  if (status === 408 || status >= 500) return 'server';
  if (oauth === undefined) return 'not-oauth';
  const description = oauth.description ?? '';
  // Cafe24 has answered `invalid_grant: Invalid client_secret`: the app's, whatever the code says.
  if (oauth.error === 'invalid_client' || /client[_ -]?secret\b|client authentication/i.test(description)) {
    return 'client-credentials';
  }
  if (oauth.error === 'invalid_grant') return 'refused-grant';
  if (status === 401 && REFUSES_GRANT[grant].test(description)) return 'refused-grant';
  if (BAD_REQUEST_ERRORS.has(oauth.error)) return 'bad-request';
  if (SERVER_ERRORS.has(oauth.error)) return 'server';
  // Any other OAuth code with a 401 answers the Authorization header, which holds only the app's credentials.
  if (status === 401) return 'client-credentials';
  return 'other-oauth-error';
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
