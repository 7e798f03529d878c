import { MockAgent, errors as undiciErrors } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Cafe24TokenClient,
  retryAfterMs,
  type TokenClientOptions,
  type TokenGrant,
} from '../src/cafe24/token-client.ts';
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
let options: TokenClientOptions;
beforeEach(() => {
  agent = new MockAgent();
  agent.disableNetConnect();
  options = {
    apiBaseUrl: 'https://{mall_id}.cafe24api.com',
    clientId: 'client',
    clientSecret: async () => new Secret(SECRET),
    connectTimeoutMs: 1_000,
    requestTimeoutMs: 2_000,
    dispatcher: agent,
  };
  client = new Cafe24TokenClient(options);
});
afterEach(() => agent.close());

const exchange = () =>
  client.exchangeCode({ mallId: 'myshop', code: new Secret(CODE), redirectUri: 'https://app/cb' });

const REFRESH_TOKEN = 'the-refresh-token-value-123';

async function failure(grant: TokenGrant = 'authorization_code'): Promise<TokenFailure> {
  const error = await (grant === 'authorization_code'
    ? exchange()
    : client.refreshToken({ mallId: 'myshop', refreshToken: new Secret(REFRESH_TOKEN) })
  ).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TokenFailure);
  const text = `${(error as Error).message} ${JSON.stringify(error)}`;
  // Each request's own secrets: a refresh knows nothing of a code.
  expect(text).not.toContain(grant === 'authorization_code' ? CODE : REFRESH_TOKEN);
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

  // The answer table (ANSWER_OUTCOMES), row by row, for both grants: [status, body, code, refresh, message].
  const html = '<html><body><h1>404 Not Found</h1></body></html>';
  it.each([
    [
      400,
      { error: 'invalid_grant', error_description: `Code ${CODE} time expired` },
      'final',
      'final',
      /invalid_grant: Code \S+ time expired/,
    ],
    [
      401,
      { error: 'invalid_grant', error_description: 'Invalid refresh_token' },
      'final',
      'final',
      /invalid_grant/,
    ],
    // The field's 401 "Invalid refresh_token", whatever code comes with it, refuses the refresh token.
    [
      401,
      { error: 'invalid_request', error_description: 'Invalid refresh_token' },
      'configuration',
      'final',
      /HTTP 401/,
    ],
    [
      401,
      { error: 'invalid_client', error_description: 'Invalid client_secret' },
      'configuration',
      'configuration',
      /CAFE24_CLIENT_SECRET/,
    ],
    [
      400,
      { error: 'invalid_grant', error_description: 'Invalid client_secret' },
      'configuration',
      'configuration',
      /CAFE24_CLIENT_SECRET/,
    ],
    // A 401 page that is no OAuth error (a proxy's login wall, Cafe24's resource-API shape): not Cafe24's OAuth.
    [
      401,
      'Unauthorized',
      'final',
      'transient',
      /not an OAuth error\): not an answer of Cafe24's token endpoint/,
    ],
    [
      401,
      { error: { code: 401, message: 'Invalid refresh_token' } },
      'final',
      'transient',
      /CAFE24_API_BASE_URL/,
    ],
    // The error code decides before the description: these blame the request or the app, for every mall alike.
    [
      400,
      { error: 'invalid_request', error_description: 'The refresh_token parameter is missing or invalid' },
      'configuration',
      'configuration',
      /ours to fix/,
    ],
    [
      400,
      {
        error: 'unsupported_grant_type',
        error_description: 'grant_type refresh_token is invalid for this app',
      },
      'configuration',
      'configuration',
      /ours to fix/,
    ],
    [
      401,
      { error: 'unauthorized_client', error_description: 'may not use the refresh_token grant: expired app' },
      'configuration',
      'configuration',
      /ours to fix/,
    ],
    // A refusal of the grant that mentions the client id is still the grant's.
    [
      400,
      { error: 'invalid_grant', error_description: 'refresh token does not belong to client_id abc' },
      'final',
      'final',
      /invalid_grant/,
    ],
    [401, { error: 'invalid_token' }, 'configuration', 'configuration', /client credentials/],
    [
      400,
      {
        error: 'invalid_request',
        error_description: 'The redirect_uri added by Cafe24 Developers is invalid.',
      },
      'configuration',
      'configuration',
      /ours to fix/,
    ],
    [400, { error: 'unsupported_grant_type' }, 'configuration', 'configuration', /ours to fix/],
    [400, { error: 'unauthorized_client' }, 'configuration', 'configuration', /ours to fix/],
    [
      400,
      { error: 'invalid_scope', error_description: 'The scope added by Cafe24 Developers is invalid' },
      'configuration',
      'configuration',
      /ours to fix/,
    ],
    [
      404,
      html,
      'final',
      'transient',
      /HTTP 404 \(text\/html body, not an OAuth error\): not an answer of Cafe24's token endpoint: check CAFE24_API_BASE_URL/,
    ],
    [
      404,
      { error: { code: 404, message: 'Not Found' } },
      'final',
      'transient',
      /HTTP 404 .*CAFE24_API_BASE_URL/,
    ],
    [
      403,
      '<html><body>Request blocked by the firewall</body></html>',
      'final',
      'transient',
      /HTTP 403 .*not an OAuth error/,
    ],
    [
      403,
      { message: 'Forbidden' },
      'final',
      'transient',
      /HTTP 403 \(application\/json body, not an OAuth error\)/,
    ],
    [400, '', 'final', 'transient', /HTTP 400 \(empty body\)/],
    [400, { error: 'something_else' }, 'final', 'transient', /an error code outside the OAuth standard/],
    [500, { error: 'server_error' }, 'transient', 'transient', /HTTP 500/],
    [
      503,
      '<html><body>Service Unavailable</body></html>',
      'transient',
      'transient',
      /HTTP 503 \(.*not an OAuth error\)/,
    ],
    [400, { error: 'temporarily_unavailable' }, 'transient', 'transient', /temporarily_unavailable/],
    [429, { error: 'too_many_requests' }, 'transient', 'transient', /HTTP 429/],
  ] as const)('classifies HTTP %i %j: %s for a code, %s for a refresh', async (status, reply, codeKind, refreshKind, message) => {
    for (const [grant, kind] of [
      ['authorization_code', codeKind],
      ['refresh_token', refreshKind],
    ] as const) {
      const type =
        typeof reply === 'string' ? (reply.startsWith('<') ? 'text/html' : 'text/plain') : 'application/json';
      agent
        .get(ORIGIN)
        .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
        .reply(status, reply, { headers: { 'content-type': type } });
      const error = await failure(grant);
      expect({ grant, kind: error.kind }).toEqual({ grant, kind });
      expect(error.message).toMatch(message);
    }
  });

  it("a 200 a refresh cannot read stops the run (configuration), and another mall's tokens are never taken", async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .reply(200, '{"access_token": "abc"');
    // Retried, it would send a refresh token Cafe24 may just have rotated: mall after mall in a run.
    expect(await failure('refresh_token')).toMatchObject({
      kind: 'configuration',
      message: expect.stringMatching(/no mall is marked invalid/),
    });
    for (const grant of ['authorization_code', 'refresh_token'] as const) {
      agent
        .get(ORIGIN)
        .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
        .reply(200, { ...body, mall_id: 'seedmall' });
      expect(await failure(grant)).toMatchObject({
        kind: 'configuration',
        message: expect.stringMatching(/tokens of mall seedmall, not myshop.*\{mall_id\}/),
      });
    }
  });

  it('counts every answer Cafe24 is not expected to give, and no other', async () => {
    const seen: string[] = [];
    client = new Cafe24TokenClient({
      ...options,
      onUnexpectedAnswer: (answer, grant) => seen.push(`${grant} ${answer}`),
    });
    const replies = [
      [404, html],
      [400, { error: 'something_else' }],
      [200, 'not json'],
      [400, { error: 'invalid_grant' }],
      [401, { error: 'invalid_client' }],
      [500, { error: 'server_error' }],
    ] as const;
    for (const [status, reply] of replies) {
      agent.get(ORIGIN).intercept({ path: '/api/v2/oauth/token', method: 'POST' }).reply(status, reply);
      await failure('refresh_token');
    }
    expect(seen).toEqual([
      'refresh_token not-oauth',
      'refresh_token other-oauth-error',
      'refresh_token unusable-success',
    ]);
  });

  it('keeps only a known-safe shape of what Cafe24 said: a standard error code, a bounded one-line description', async () => {
    agent
      .get(ORIGIN)
      .intercept({ path: '/api/v2/oauth/token', method: 'POST' })
      .reply(400, { error: CODE.slice(0, 11), error_description: `${CODE.slice(11)}\n${'x'.repeat(900)}` });
    const error = await failure('authorization_code');
    expect(error.message).toContain('an error code outside the OAuth standard');
    expect(error.message).not.toContain(CODE.slice(0, 11));
    expect(error.message).not.toContain('\n');
    expect(error.message.length).toBeLessThan(600);
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

  it('treats a 200 that is not a token as final for a code: it was probably consumed', async () => {
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
