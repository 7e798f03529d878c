import type { Dispatcher } from 'undici';
import dispatchRequest from 'undici/lib/api/api-request.js';
import UndiciAgent from 'undici/lib/dispatcher/agent.js';

// undici's index also loads fetch, WebSocket, caches and mocks: about 250 KB more in the Lambda bundle
// and in its start-up. The token client needs an Agent and request(), so it imports those two modules;
// test/bundle.test.ts runs the built bundle against the sandbox to keep this honest across upgrades.

export const Agent = UndiciAgent;

/** undici's `request(url, options)`, on the given dispatcher. */
export function request(
  url: URL,
  options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Dispatcher },
): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = options;
  return dispatchRequest.call(dispatcher, {
    ...rest,
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
  });
}

/** undici's error codes, checked by value so any copy of its error classes is recognised. */
export function undiciErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The body as text, or undefined when it exceeds `maxBytes` (declared or read; the rest is discarded). */
export async function readLimited(
  response: Dispatcher.ResponseData,
  maxBytes: number,
): Promise<string | undefined> {
  if (Number(response.headers['content-length']) > maxBytes) {
    response.body.destroy();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      response.body.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** JSON, or undefined for text that is not. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The media type alone, and only when it reads as one: a header is as much the server's text as a body. */
export function mediaType(headers: Dispatcher.ResponseData['headers']): string {
  const header = headers['content-type'];
  const value = (Array.isArray(header) ? header[0] : header)?.split(';')[0]?.trim().toLowerCase();
  if (value === undefined || value === '') return 'no content type';
  return /^[a-z0-9!#$&^_.+-]{1,50}\/[a-z0-9!#$&^_.+-]{1,50}$/.test(value)
    ? value
    : 'an unreadable content type';
}
