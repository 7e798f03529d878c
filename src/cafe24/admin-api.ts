import type { Dispatcher } from 'undici';
import type { AdminAnswer, AdminRequest, AdminSend } from '../domain/admin-ports.ts';
import { mallApiBase } from './api-base.ts';
import { Agent, mediaType, parseJson, readLimited, request } from './http.ts';

/** Far above any Admin API page; a larger body is refused rather than held in memory. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Cafe24's Admin API over undici: one request, JSON in and out, the rate-limit headers read. The caller
 * (src/domain/admin-call.ts) has checked the path; this only builds `{api base}{path}?{query}` on the
 * mall's origin and sends it. `apiVersion` goes out as `X-Cafe24-Api-Version` (unset: the version set
 * for the app in Cafe24 Developers).
 */
export function adminApiSender(options: {
  apiBaseUrl: string;
  apiVersion?: string | undefined;
  connectTimeoutMs: number;
  dispatcher?: Dispatcher;
}): AdminSend {
  const dispatcher =
    options.dispatcher ??
    new Agent({ connect: { timeout: options.connectTimeoutMs }, keepAliveTimeout: 10_000 });
  return async (mallId, call, accessToken, signal) => {
    const url = adminUrl(options.apiBaseUrl, mallId, call);
    const headers: Record<string, string> = {
      authorization: `Bearer ${accessToken}`,
      accept: 'application/json',
    };
    if (options.apiVersion) headers['x-cafe24-api-version'] = options.apiVersion;
    let body: string | undefined;
    if (call.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.body);
    }
    const response = await request(url, { method: call.method, headers, body, signal, dispatcher });
    const text = await readLimited(response, MAX_BODY_BYTES);
    const json = text === undefined || text === '' ? undefined : parseJson(text);
    return {
      status: response.statusCode,
      json,
      bodyKind: text === undefined ? 'over 10 MB' : text === '' ? 'empty' : mediaType(response.headers),
      callLimit: callLimitOf(header(response.headers, 'x-api-call-limit')),
      retryAfterSeconds: retryAfterOf(response.headers),
    } satisfies AdminAnswer;
  };
}

/** The request's URL on the mall's origin; the path was checked to stay under /api/v2/admin/. */
export function adminUrl(apiBaseUrl: string, mallId: string, call: AdminRequest): URL {
  const url = new URL(`${mallApiBase(apiBaseUrl, mallId)}${call.path}`);
  for (const [name, value] of Object.entries(call.query ?? {})) {
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  return url;
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `12/40` → { used: 12, size: 40 }; anything else, nothing. */
export function callLimitOf(value: string | undefined): { used: number; size: number } | undefined {
  const match = /^\s*(\d{1,6})\s*\/\s*(\d{1,6})\s*$/.exec(value ?? '');
  if (!match) return undefined;
  return { used: Number(match[1]), size: Number(match[2]) };
}

/** The larger of `X-Cafe24-Call-Remain` and `Retry-After` (seconds; an HTTP date is read too). */
function retryAfterOf(headers: Dispatcher.ResponseData['headers']): number | undefined {
  const seconds = [header(headers, 'x-cafe24-call-remain'), header(headers, 'retry-after')]
    .map((value) => {
      if (value === undefined) return undefined;
      if (/^\s*\d+(\.\d+)?\s*$/.test(value)) return Number(value);
      const at = Date.parse(value);
      return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
    })
    .filter((value): value is number => value !== undefined);
  return seconds.length === 0 ? undefined : Math.max(...seconds);
}
