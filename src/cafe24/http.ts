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
