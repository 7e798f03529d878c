import { isIP, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { mallApiBase } from './api-base.ts';
import { Agent, mediaType, parseJson, readLimited, request, undiciErrorCode } from './http.ts';
import { isOAuthErrorAnswer, tokenEndpointUrl } from './token-client.ts';
import { oauthErrorSchema } from './token-response.ts';

/** `timeout` and `unreachable` are what a missing NAT gateway looks like from a private subnet. */
export type ConnectFailureKind = 'timeout' | 'unreachable' | 'dns' | 'refused' | 'tls' | 'other';

export type RouteProbe =
  | { ok: true; host: string; port: number; ms: number; tls: boolean }
  | { ok: false; host: string; port: number; kind: ConnectFailureKind; message: string };

/**
 * Opens a TCP connection (and a TLS handshake for https) to the Cafe24 API host, within the token
 * client's connect timeout, and closes it: the route a token request would take, without a request.
 */
export function probeRoute(apiBaseUrl: string, mallId: string, timeoutMs: number): Promise<RouteProbe> {
  const url = new URL(mallApiBase(apiBaseUrl, mallId));
  const tls = url.protocol === 'https:';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (tls ? 443 : 80));
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = tls
      ? tlsConnect({ host, port, timeout: timeoutMs, ...(isIP(host) ? {} : { servername: host }) })
      : tcpConnect({ host, port, timeout: timeoutMs });
    const done = (result: RouteProbe) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // The socket's `timeout` is for idleness; this bounds the connect (and handshake) itself.
    const timer = setTimeout(
      () =>
        done({
          ok: false,
          host,
          port,
          kind: 'timeout',
          message: `no connection to ${host}:${port} within ${timeoutMs} ms`,
        }),
      timeoutMs,
    );
    socket.once(tls ? 'secureConnect' : 'connect', () =>
      done({ ok: true, host, port, ms: Date.now() - started, tls }),
    );
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done({ ok: false, host, port, kind: connectFailureKind(error), message: errorMessage(error) }),
    );
  });
}

export type TokenEndpointProbe =
  /** `error` is the OAuth error code when it reads as one (it is the server's text), else undefined. */
  | { ok: true; url: string; status: number; error: string | undefined; ms: number }
  /** An HTTP answer that is not a 4xx OAuth error; only its status and media type are kept, never its body. */
  | { ok: false; url: string; kind: 'answer'; status: number; contentType: string }
  /** `no-answer`: connected, but no complete answer within the request timeout. */
  | { ok: false; url: string; kind: ConnectFailureKind | 'no-answer'; message: string };

/** A 4xx OAuth error is a few hundred bytes; anything much larger is not one. */
const MAX_PROBE_BODY_BYTES = 16 * 1024;

/**
 * POSTs a deliberately invalid token request (a refresh grant with no refresh token and no client
 * credentials, so nothing secret travels and nothing can be spent) to the token endpoint, with the token
 * client's timeouts. Cafe24 refuses it with an OAuth error; an open port that is not Cafe24 does not.
 */
export async function probeTokenEndpoint(
  apiBaseUrl: string,
  mallId: string,
  timeouts: { connectTimeoutMs: number; requestTimeoutMs: number },
): Promise<TokenEndpointProbe> {
  // Built as the token client builds it, so the probe asks exactly where a token request goes.
  const url = tokenEndpointUrl(apiBaseUrl, mallId);
  // origin + pathname: never userinfo a base URL might carry.
  const shown = `${url.origin}${url.pathname}`;
  const dispatcher = new Agent({ connect: { timeout: timeouts.connectTimeoutMs } });
  const started = Date.now();
  try {
    const response = await request(url, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: 'grant_type=refresh_token',
      signal: AbortSignal.timeout(timeouts.requestTimeoutMs),
    });
    const text = await readLimited(response, MAX_PROBE_BODY_BYTES);
    const ms = Date.now() - started;
    const status = response.statusCode;
    if (isOAuthErrorAnswer(status, text)) {
      // A standard OAuth code (isOAuthErrorAnswer checked it), so safe to show.
      const error = oauthErrorSchema.parse(parseJson(text ?? '')).error;
      return { ok: true, url: shown, status, error, ms };
    }
    return { ok: false, url: shown, kind: 'answer', status, contentType: mediaType(response.headers) };
  } catch (error) {
    const code = undiciErrorCode(error) ?? '';
    const name = (error as { name?: string } | null)?.name;
    if (
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT' ||
      name === 'TimeoutError' ||
      name === 'AbortError'
    ) {
      return {
        ok: false,
        url: shown,
        kind: 'no-answer',
        message: `no answer within ${timeouts.requestTimeoutMs} ms`,
      };
    }
    const kind =
      code === 'UND_ERR_CONNECT_TIMEOUT' ? 'timeout' : connectFailureKind(error as NodeJS.ErrnoException);
    return { ok: false, url: shown, kind, message: errorMessage(error as Error) };
  } finally {
    await dispatcher.destroy().catch(() => {});
  }
}

function connectFailureKind(error: NodeJS.ErrnoException): ConnectFailureKind {
  const code = error.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return 'unreachable';
  if (code === 'ETIMEDOUT') return 'timeout';
  if (/TLS|SSL|CERT/.test(code) || /certificate|SSL/i.test(error.message)) return 'tls';
  return 'other';
}

function errorMessage(error: NodeJS.ErrnoException): string {
  return `${error.code || 'error'}: ${error.message}`;
}
