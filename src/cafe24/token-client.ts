import type { Dispatcher } from 'undici';
import { describeError, TokenFailure } from '../commons/errors.ts';
import { isMallId, MALL_ID_RULE } from '../commons/ids.ts';
import { Secret, scrub } from '../commons/secret.ts';
import { Agent, request, undiciErrorCode } from './http.ts';
import {
  describeSchemaIssues,
  oauthErrorSchema,
  type TokenSet,
  tokenResponseSchema,
} from './token-response.ts';

/** Anything larger is not a token response; reading it whole would only cost memory. */
const MAX_BODY_BYTES = 64 * 1024;

export type TokenClientOptions = {
  /** `https://{mall_id}.cafe24api.com` or a sandbox; `{mall_id}` is substituted. */
  apiBaseUrl: string;
  clientId: string;
  /** Resolved lazily and once per container (it may come from Secrets Manager). */
  clientSecret: () => Promise<Secret>;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  dispatcher?: Dispatcher;
};

/** `timeoutMs` shortens the configured request timeout for this request (never lengthens it). */
export type CodeExchangeRequest = { mallId: string; code: Secret; redirectUri: string; timeoutMs?: number };
export type RefreshRequest = { mallId: string; refreshToken: Secret; timeoutMs?: number };

/** Cafe24's OAuth token endpoint over undici. Every failure is an TokenFailure with its kind. */
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
    const base = this.#options.apiBaseUrl.replaceAll('{mall_id}', mallId).replace(/\/+$/, '');
    return new URL(`${base}/api/v2/oauth/token`);
  }

  async exchangeCode(exchange: CodeExchangeRequest): Promise<TokenSet> {
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code: exchange.code.reveal(),
      redirect_uri: exchange.redirectUri,
    });
    return this.#post(this.tokenUrl(exchange.mallId), body, [exchange.code], exchange.timeoutMs);
  }

  /** The refresh_token grant: same endpoint, same answer, same classification as the exchange. */
  async refreshToken(refresh: RefreshRequest): Promise<TokenSet> {
    const body = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refresh.refreshToken.reveal(),
    });
    return this.#post(this.tokenUrl(refresh.mallId), body, [refresh.refreshToken], refresh.timeoutMs);
  }

  async #post(url: URL, form: URLSearchParams, secrets: Secret[], timeoutMs?: number): Promise<TokenSet> {
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
    const text = await readLimited(response).catch((error: unknown) => {
      throw classifyNetworkError(error, url, this.#options);
    });
    return classifyResponse(response.statusCode, response.headers, text, redact);
  }
}

/** The one place an HTTP answer becomes tokens or a failure of a kind. */
export function classifyResponse(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  text: string | undefined,
  redact: (text: string) => string,
): TokenSet {
  if (status === 200) {
    if (text === undefined) {
      throw new TokenFailure('final', `Cafe24 answered 200 with a body over ${MAX_BODY_BYTES} bytes`);
    }
    const json = parseJson(text);
    if (json === undefined) {
      // The code was most likely consumed: sending it again could only be refused (or revoke the tokens).
      throw new TokenFailure('final', 'Cafe24 answered 200 with a body that is not JSON');
    }
    const parsed = tokenResponseSchema.safeParse(json);
    if (!parsed.success) {
      throw new TokenFailure(
        'final',
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
  const detail = oauth
    ? `${oauth.error}${oauth.description ? `: ${oauth.description}` : ''}`
    : describeNonJson(headers, text);
  const message = `Cafe24 answered HTTP ${status} (${detail})`;
  if (blamesClientCredentials(status, oauth)) {
    return failWith(
      new TokenFailure(
        'configuration',
        `${message}: Cafe24 refused the app's client credentials; check CAFE24_CLIENT_ID and CAFE24_CLIENT_SECRET`,
      ),
    );
  }
  if (status === 429) {
    return failWith(
      new TokenFailure('transient', message, { retryAfterMs: retryAfterMs(headers['retry-after']) }),
    );
  }
  if (status === 408 || status >= 500) return failWith(new TokenFailure('transient', message));
  return failWith(new TokenFailure('final', message));
}

/**
 * An answer about the app, not the code or the mall: `invalid_client`, a description naming the client id
 * or secret (Cafe24 has answered `invalid_grant: Invalid client_secret`), or a 401 that does not name the
 * grant (401 answers the Authorization header, which carries only the app's Basic credentials).
 */
function blamesClientCredentials(
  status: number,
  oauth: { error: string; description: string | undefined } | undefined,
): boolean {
  if (oauth?.error === 'invalid_client') return true;
  if (/client[_ -]?(secret|id)\b|client authentication/i.test(oauth?.description ?? '')) return true;
  // A 401 that names the grant (a dead refresh token, a spent code) blames the mall, whatever its code.
  if (/refresh[_ ]?token|\bcode\b|\bgrant\b/i.test(`${oauth?.error ?? ''} ${oauth?.description ?? ''}`)) {
    return false;
  }
  return status === 401 && oauth?.error !== 'invalid_grant';
}

function failWith(failure: TokenFailure): never {
  throw failure;
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

/** The body as text, or undefined when it exceeds MAX_BODY_BYTES (the rest is discarded). */
async function readLimited(response: Dispatcher.ResponseData): Promise<string | undefined> {
  const declared = Number(response.headers['content-length']);
  if (declared > MAX_BODY_BYTES) {
    response.body.destroy();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      response.body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describeNonJson(
  headers: Record<string, string | string[] | undefined>,
  text: string | undefined,
): string {
  if (text === undefined) return 'body too large';
  const type = String(headers['content-type'] ?? 'no content type').split(';')[0];
  return text.trim() === '' ? 'empty body' : `${type} body, not an OAuth error`;
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
