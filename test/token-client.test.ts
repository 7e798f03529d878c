import { MockAgent, errors as undiciErrors } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cafe24TokenClient, retryAfterMs } from '../src/cafe24/token-client.ts';
import { parseCafe24Timestamp } from '../src/cafe24/token-response.ts';
import { TokenFailure } from '../src/commons/errors.ts';
import { Secret } from '../src/commons/secret.ts';

const ORIGIN = 'https://myshop.cafe24api.com';
const CODE = 'the-authorization-code-xyz';
const SECRET = 'client-secret-abc123';
const body = {
  access_token: 'access-token-value',
  expires_at: '2021-03-01T14:00:00.000',
  refresh_token: 'refresh-token-value',
  refresh_token_expires_at: '2021-03-15T12:00:00.000',
  client_id: 'client',
  mall_id: 'myshop',
  user_id: 'test',
  scopes: ['mall.read_order'],
  issued_at: '2021-03-01T12:00:00.000',
  shop_no: '1',
  token_type: 'Bearer',
};

let agent: MockAgent;
let client: Cafe24TokenClient;
beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  client = new Cafe24TokenClient({
    apiBaseUrl: 'https://{mall_id}.cafe24api.com',
    clientId: 'client',
    clientSecret: async () => new Secret(SECRET),
    connectTimeoutMs: 1_000,
    requestTimeoutMs: 2_000,
    dispatcher: agent,
  });
});
afterEach(() => agent.close());

const exchange = () =>
  client.exchangeCode({ mallId: 'myshop', code: new Secret(CODE), redirectUri: 'https://app/cb' });

async function failure(): Promise<TokenFailure> {
  const error = await exchange().catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TokenFailure);
  const text = `${(error as Error).message} ${JSON.stringify(error)}`;
  expect(text).not.toContain(CODE);
  expect(text).not.toContain(SECRET);
  return error as TokenFailure;
}

describe('Cafe24 token client', () => {
  it('posts Basic auth and a form body, and parses offset-less timestamps as Korea time', async () => {
    let seen: { headers: Record<string, string>; body: string } | undefined;
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .reply(200, (options) => {
        seen = { headers: options.headers as Record<string, string>, body: String(options.body) };
        return body;
      });
    const tokens = await exchange();
    expect(seen!.headers.authorization).toBe(`Basic ${Buffer.from(`client:${SECRET}`).toString('base64')}`);
    expect(seen!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(seen!.body))).toEqual({
      grant_type: 'authorization_code',
      code: CODE,
      redirect_uri: 'https://app/cb',
    });
    expect(tokens.expiresAt.toISOString()).toBe('2021-03-01T05:00:00.000Z');
    expect(tokens.issuedAt.toISOString()).toBe('2021-03-01T03:00:00.000Z');
    expect(tokens.accessToken.reveal()).toBe('access-token-value');
    expect(JSON.stringify(tokens)).not.toContain('access-token-value');
  });

  it('accepts a response without shop_no and token_type, and honours an explicit offset', async () => {
    const { shop_no: _, token_type: __, ...minimal } = body;
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .reply(200, { ...minimal, expires_at: '2021-03-01T14:00:00.000Z' });
    const tokens = await exchange();
    expect(tokens.shopNo).toBeUndefined();
    expect(tokens.tokenType).toBeUndefined();
    expect(tokens.expiresAt.toISOString()).toBe('2021-03-01T14:00:00.000Z');
  });

  it.each([
    [
      400,
      { error: 'invalid_grant', error_description: `Code ${CODE} time expired` },
      'final',
      /invalid_grant: Code \[redacted\] time expired/,
    ],
    [
      401,
      { error: 'invalid_client', error_description: 'Invalid client_secret' },
      'configuration',
      /HTTP 401/,
    ],
    [
      400,
      { error: 'invalid_grant', error_description: 'Invalid client_secret' },
      'configuration',
      /CLIENT_SECRET/,
    ],
    [401, 'Unauthorized', 'configuration', /client credentials/],
    [401, { error: 'invalid_grant', error_description: 'Invalid refresh_token' }, 'final', /invalid_grant/],
    // Whatever code Cafe24 gives a dead refresh token, naming the grant makes it the mall's, not the app's.
    [401, { error: 'invalid_request', error_description: 'Invalid refresh_token' }, 'final', /HTTP 401/],
    [401, { error: 'invalid_token' }, 'configuration', /client credentials/],
    [403, 'forbidden', 'final', /HTTP 403/],
    [500, { error: 'server_error' }, 'transient', /HTTP 500/],
    [503, '<html><body>Service Unavailable</body></html>', 'transient', /HTTP 503 \(.*not an OAuth error\)/],
  ] as const)('classifies HTTP %i as %s', async (status, reply, kind, message) => {
    agent.get(ORIGIN).intercept({ path: '/api/v2/oauth/token', method: 'POST' }).reply(status, reply);
    const error = await failure();
    expect(error.kind).toBe(kind);
    expect(error.message).toMatch(message);
  });

  it('honours Retry-After on 429', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .reply(429, { error: 'too_many_requests' }, { headers: { 'retry-after': '2' } });
    const error = await failure();
    expect(error).toMatchObject({ kind: 'transient', retryAfterMs: 2_000 });
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:02 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(
      2_000,
    );
  });

  it('treats a 200 that is not a token as final: the code was probably consumed', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .reply(200, '{"access_token": "abc"');
    expect(await failure()).toMatchObject({ kind: 'final', message: expect.stringMatching(/not JSON/) });
    const { refresh_token: _, ...partial } = body;
    agent.get(ORIGIN).intercept({ path: '/api/v2/oauth/token', method: 'POST' }).reply(200, partial);
    const missing = await failure();
    expect(missing).toMatchObject({ kind: 'final', message: expect.stringMatching(/refresh_token/) });
    expect(missing.message).not.toContain('access-token-value');
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .reply(200, 'x'.repeat(1_048_576));
    expect(await failure()).toMatchObject({
      kind: 'final',
      message: expect.stringMatching(/over 65536 bytes/),
    });
  });

  it('treats connection errors as transient and explains a connect timeout', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .replyWithError(new Error('socket hang up'));
    expect(await failure()).toMatchObject({
      kind: 'transient',
      message: expect.stringMatching(/socket hang up/),
    });

    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .replyWithError(new undiciErrors.ConnectTimeoutError());
    const error = await failure();
    expect(error).toMatchObject({ kind: 'transient', message: expect.stringMatching(/NAT gateway/) });
    expect(error.message).toContain('myshop.cafe24api.com within 1000 ms');
  });

  it('refuses a mall id that is not a host label before any request', async () => {
    const error = await client
      .exchangeCode({ mallId: 'evil.com/x?', code: new Secret(CODE), redirectUri: 'https://app/cb' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      kind: 'final',
      message: expect.stringMatching(/mall_id must be a Cafe24 mall id/),
    });
  });

  it('parses Cafe24 timestamps', () => {
    expect(parseCafe24Timestamp('2021-03-01T12:00:00.000')?.toISOString()).toBe('2021-03-01T03:00:00.000Z');
    expect(parseCafe24Timestamp('2021-03-01T12:00:00+00:00')?.toISOString()).toBe('2021-03-01T12:00:00.000Z');
    expect(parseCafe24Timestamp('yesterday')).toBeUndefined();
    expect(parseCafe24Timestamp('2021-13-45T12:00:00.000')).toBeUndefined();
  });

  it('refreshes with the same POST and parsing, and scrubs the refresh token from descriptions', async () => {
    const REFRESH = 'the-refresh-token-value-123';
    let seen: string | undefined;
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .reply(200, (options) => {
        seen = String(options.body);
        return body;
      });
    const refresh = () => client.refreshToken({ mallId: 'myshop', refreshToken: new Secret(REFRESH) });
    const tokens = await refresh();
    expect(Object.fromEntries(new URLSearchParams(seen))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: REFRESH,
    });
    expect(tokens.issuedAt.toISOString()).toBe('2021-03-01T03:00:00.000Z');

    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .reply(401, {
        error: 'invalid_grant',
        error_description: `Invalid refresh_token ${REFRESH} (${SECRET})`,
      });
    const error = (await refresh().catch((e: unknown) => e)) as TokenFailure;
    expect(error.kind).toBe('final');
    expect(error.message).toContain('Invalid refresh_token [redacted] ([redacted])');
    expect(error.message).not.toContain(REFRESH);
  });
});
