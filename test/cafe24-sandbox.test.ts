import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Cafe24Sandbox, formatKst } from '../local/cafe24-sandbox.ts';
import { basicAuth, CLIENT_ID, REDIRECT_URI, sandboxRunner } from './support/sandbox.ts';

const MALL = 'testmall';
const START = Date.parse('2025-03-01T03:00:00.000Z');
const HOUR = 60 * 60 * 1000;

let clock: number;
let sandbox: Cafe24Sandbox;

const sandboxes = sandboxRunner(() => ({ now: () => clock }));
const start = async (extra?: Parameters<typeof sandboxes.start>[0]) => {
  sandbox = await sandboxes.start(extra);
  return sandbox;
};

beforeEach(async () => {
  clock = START;
  await start();
});

afterEach(async () => {
  await sandboxes.stop();
});

type PostOptions = { secret?: string; contentType?: string; mallId?: string; signal?: AbortSignal };

function post(path: 'token' | 'revoke', form: Record<string, string>, options: PostOptions = {}) {
  const base = sandbox.baseUrl.replace('{mall_id}', options.mallId ?? MALL);
  return fetch(`${base}/api/v2/oauth/${path}`, {
    method: 'POST',
    headers: {
      authorization: basicAuth(CLIENT_ID, options.secret),
      'content-type': options.contentType ?? 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(form).toString(),
    signal: options.signal ?? null,
  });
}

function exchange(code: string, options: PostOptions & { redirectUri?: string } = {}) {
  const form = { grant_type: 'authorization_code', code, redirect_uri: options.redirectUri ?? REDIRECT_URI };
  return post('token', form, options);
}

function refresh(refreshToken: string, options: PostOptions = {}) {
  return post('token', { grant_type: 'refresh_token', refresh_token: refreshToken }, options);
}

type TokenBody = Record<string, unknown> & { access_token: string; refresh_token: string };

async function expectTokens(response: Response): Promise<TokenBody> {
  expect(response.status).toBe(200);
  return (await response.json()) as TokenBody;
}

async function expectOAuthError(response: Response, status: number, error: string, description?: string) {
  expect(response.status).toBe(status);
  const body = (await response.json()) as { error: string; error_description: string };
  expect(body.error).toBe(error);
  if (description !== undefined) expect(body.error_description).toBe(description);
}

const readAsKst = (timestamp: unknown) => Date.parse(`${String(timestamp)}+09:00`);

describe('code exchange', () => {
  it('answers the documented shape with offset-less Korea-time timestamps', async () => {
    const code = sandbox.issueCode(MALL);
    const body = await expectTokens(await exchange(code));

    expect(Object.keys(body).sort()).toEqual(
      [
        'access_token',
        'client_id',
        'expires_at',
        'issued_at',
        'mall_id',
        'refresh_token',
        'refresh_token_expires_at',
        'scopes',
        'shop_no',
        'token_type',
        'user_id',
      ].sort(),
    );
    expect(body).toMatchObject({ client_id: CLIENT_ID, mall_id: MALL, shop_no: '1', token_type: 'Bearer' });
    expect(Array.isArray(body.scopes)).toBe(true);
    expect(body.access_token).toMatch(/^[\w-]{22}$/);
    expect(body.refresh_token).toMatch(/^[\w-]{22}$/);
    expect(body.issued_at).toBe('2025-03-01T12:00:00.000'); // 03:00 UTC is noon in Seoul
    expect(body.issued_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
    expect(readAsKst(body.issued_at)).toBe(clock);
    expect(readAsKst(body.expires_at)).toBe(clock + 2 * HOUR);
    expect(readAsKst(body.refresh_token_expires_at)).toBe(clock + 14 * 24 * HOUR);
    expect(sandbox.issuedTokens(MALL)).toEqual({
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      issuedAt: body.issued_at,
    });
  });

  it('formats any instant as Korea time without an offset', () => {
    expect(formatKst(Date.parse('2025-12-31T15:30:00.123Z'))).toBe('2026-01-01T00:30:00.123');
  });

  it('omits shop_no and token_type when asked, as 2021 responses did', async () => {
    await start({ omitOptionalFields: true });
    const body = await expectTokens(await exchange(sandbox.issueCode(MALL)));
    expect(body).not.toHaveProperty('shop_no');
    expect(body).not.toHaveProperty('token_type');
  });

  it('rejects a wrong client secret with 401 invalid_client and keeps the code usable', async () => {
    const code = sandbox.issueCode(MALL);
    await expectOAuthError(
      await exchange(code, { secret: 'wrong' }),
      401,
      'invalid_client',
      'Invalid client_secret',
    );
    await expectTokens(await exchange(code));
  });

  it('rejects a missing Authorization header with invalid_client', async () => {
    const response = await fetch(`${sandbox.baseUrl.replace('{mall_id}', MALL)}/api/v2/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=authorization_code&code=x',
    });
    await expectOAuthError(response, 401, 'invalid_client');
  });

  it('rejects a JSON body with 400 invalid_request', async () => {
    const code = sandbox.issueCode(MALL);
    await expectOAuthError(await exchange(code, { contentType: 'application/json' }), 400, 'invalid_request');
  });

  it('requires the redirect_uri character for character', async () => {
    const code = sandbox.issueCode(MALL);
    await expectOAuthError(
      await exchange(code, { redirectUri: `${REDIRECT_URI}/` }),
      400,
      'invalid_request',
      'The redirect_uri added by Cafe24 Developers is invalid.',
    );
  });

  it('rejects a code issued for another mall', async () => {
    const code = sandbox.issueCode('othermall');
    await expectOAuthError(await exchange(code), 400, 'invalid_grant', 'Invalid code');
  });

  it('denies a reused code and revokes the tokens issued for it', async () => {
    const code = sandbox.issueCode(MALL);
    const first = await expectTokens(await exchange(code));

    await expectOAuthError(await exchange(code), 400, 'invalid_grant', 'Code has already been used');
    await expectOAuthError(await refresh(first.refresh_token), 401, 'invalid_grant', 'Invalid refresh_token');
  });

  it('expires a code after a minute', async () => {
    const code = sandbox.issueCode(MALL);
    clock += 61_000;
    await expectOAuthError(await exchange(code), 400, 'invalid_grant', 'Code time expired');
  });

  it('honours issuedAt when issuing a code', async () => {
    const code = sandbox.issueCode(MALL, { issuedAt: clock - 59_000 });
    await expectTokens(await exchange(code));
    const stale = sandbox.issueCode(MALL, { issuedAt: clock - 60_000 });
    await expectOAuthError(await exchange(stale), 400, 'invalid_grant', 'Code time expired');
  });

  it('rejects unknown codes unless acceptUnknownCodes is on', async () => {
    await expectOAuthError(await exchange('never-issued'), 400, 'invalid_grant', 'Invalid code');

    await start({ acceptUnknownCodes: true });
    await expectTokens(await exchange('made-up-by-the-callback'));
    await expectOAuthError(await exchange('made-up-by-the-callback'), 400, 'invalid_grant');
    clock += 30_000;
    const late = 'seen-now-used-later';
    sandbox.failNext({ type: 'status', status: 503 });
    expect((await exchange(late)).status).toBe(503);
    clock += 61_000;
    // Its age counts from the first sighting, as a real code's would from its issue.
    await expectOAuthError(await exchange(late), 400, 'invalid_grant', 'Code time expired');
  });
});

describe('refresh', () => {
  it('rotates refresh tokens: the old one stops working', async () => {
    const first = await expectTokens(await exchange(sandbox.issueCode(MALL)));
    clock += 3 * HOUR; // access token expired; refresh still allowed
    const second = await expectTokens(await refresh(first.refresh_token));

    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect(readAsKst(second.issued_at)).toBe(clock);
    expect(sandbox.issuedTokens(MALL)?.refreshToken).toBe(second.refresh_token);
    await expectOAuthError(await refresh(first.refresh_token), 401, 'invalid_grant', 'Invalid refresh_token');
    await expectTokens(await refresh(second.refresh_token));
  });

  it('refuses a refresh token older than 14 days', async () => {
    const first = await expectTokens(await exchange(sandbox.issueCode(MALL)));
    clock += 14 * 24 * HOUR;
    await expectOAuthError(await refresh(first.refresh_token), 401, 'invalid_grant');
  });

  it('refuses a refresh token revoked through /oauth/revoke', async () => {
    const first = await expectTokens(await exchange(sandbox.issueCode(MALL)));
    const revoked = await post('revoke', { token: first.refresh_token, token_hint: 'refresh_token' });
    expect(revoked.status).toBe(200);
    await expectOAuthError(await refresh(first.refresh_token), 401, 'invalid_grant');
  });
});

describe('refresh faults', () => {
  it('rotates, then never answers: the old refresh token is dead and the new one was never delivered', async () => {
    const first = await expectTokens(await exchange(sandbox.issueCode(MALL)));
    sandbox.failNext({ type: 'hang-after-processing' });
    const client = new AbortController();
    const lost = refresh(first.refresh_token, { signal: client.signal }).catch(() => 'no answer');
    await vi.waitFor(() => expect(sandbox.issuedTokens(MALL)?.refreshToken).not.toBe(first.refresh_token));
    client.abort();
    expect(await lost).toBe('no answer');
    await expectOAuthError(await refresh(first.refresh_token), 401, 'invalid_grant', 'Invalid refresh_token');
    await expectTokens(await refresh(sandbox.issuedTokens(MALL)!.refreshToken));
  });

  it('answers invalid_grant to a refresh with 401 Invalid refresh_token, and the token stays dead', async () => {
    const first = await expectTokens(await exchange(sandbox.issueCode(MALL)));
    sandbox.failNext({ type: 'invalid-grant' });
    await expectOAuthError(await refresh(first.refresh_token), 401, 'invalid_grant', 'Invalid refresh_token');
    await expectOAuthError(await refresh(first.refresh_token), 401, 'invalid_grant', 'Invalid refresh_token');
  });

  it('refuses the client credentials without touching the refresh token, in both of Cafe24s shapes', async () => {
    const first = await expectTokens(await exchange(sandbox.issueCode(MALL)));
    sandbox.failNext({ type: 'invalid-client' });
    await expectOAuthError(
      await refresh(first.refresh_token),
      401,
      'invalid_client',
      'Invalid client_secret',
    );
    sandbox.failNext({ type: 'invalid-client', error: 'invalid_grant' });
    await expectOAuthError(await refresh(first.refresh_token), 400, 'invalid_grant', 'Invalid client_secret');
    await expectOAuthError(
      await refresh(first.refresh_token, { secret: 'wrong' }),
      401,
      'invalid_client',
      'Invalid client_secret',
    );
    await expectTokens(await refresh(first.refresh_token));
  });
});

describe('faults', () => {
  it('answers 503 once, then normally, without spending the code', async () => {
    const code = sandbox.issueCode(MALL);
    sandbox.failNext({ type: 'status', status: 503 });
    const failed = await exchange(code);
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as { error: string }).error).toBe('server_error');
    await expectTokens(await exchange(code));
  });

  it('serves a given body and content type for a status fault', async () => {
    sandbox.failNext({ type: 'status', status: 500, body: 'oops' });
    const response = await exchange(sandbox.issueCode(MALL));
    expect(response.status).toBe(500);
    expect(response.headers.get('content-type')).toBe('text/plain');
    expect(await response.text()).toBe('oops');
  });

  it('applies one-shot faults FIFO, each N times, before a persistent fault', async () => {
    const code = sandbox.issueCode(MALL);
    sandbox.setFault({ type: 'status', status: 500 });
    sandbox.failNext({ type: 'status', status: 503 }, 2);
    sandbox.failNext({ type: 'html' });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await exchange(code)).status);
    expect(statuses).toEqual([503, 503, 502, 500, 500]);
    sandbox.setFault(undefined);
    await expectTokens(await exchange(code));
  });

  it('rate-limits with Retry-After and call-limit headers', async () => {
    sandbox.failNext({ type: 'rate-limit', retryAfterSeconds: 7 });
    const response = await exchange(sandbox.issueCode(MALL));
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(response.headers.get('x-api-call-limit')).toBe('40/40');
    await response.arrayBuffer();
  });

  it('serves an HTML error page', async () => {
    sandbox.failNext({ type: 'html' });
    const response = await exchange(sandbox.issueCode(MALL));
    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toBe('text/html');
    expect(await response.text()).toContain('<html>');
  });

  it('serves malformed JSON and spends the code', async () => {
    const code = sandbox.issueCode(MALL);
    sandbox.failNext({ type: 'malformed-json' });
    const response = await exchange(code);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const text = await response.text();
    expect(() => JSON.parse(text)).toThrow();
    expect(sandbox.issuedTokens(MALL)).toBeDefined();
    await expectOAuthError(await exchange(code), 400, 'invalid_grant', 'Code has already been used');
  });

  it('answers invalid_grant without spending the code', async () => {
    const code = sandbox.issueCode(MALL);
    sandbox.failNext({ type: 'invalid-grant' });
    await expectOAuthError(await exchange(code), 400, 'invalid_grant', 'Code time expired');
    await expectTokens(await exchange(code));
  });

  it('drops refresh_token and expires_at but issues the tokens', async () => {
    sandbox.failNext({ type: 'missing-fields' });
    const body = await expectTokens(await exchange(sandbox.issueCode(MALL)));
    expect(body).not.toHaveProperty('refresh_token');
    expect(body).not.toHaveProperty('expires_at');
    expect(body.access_token).toBe(sandbox.issuedTokens(MALL)?.accessToken);
  });

  it('serves a huge body of the requested size', async () => {
    sandbox.failNext({ type: 'huge-body' });
    const response = await exchange(sandbox.issueCode(MALL));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe('1048576');
    expect((await response.arrayBuffer()).byteLength).toBe(1_048_576);

    sandbox.failNext({ type: 'huge-body', bytes: 2048 });
    expect((await (await exchange(sandbox.issueCode(MALL))).arrayBuffer()).byteLength).toBe(2048);
  });

  it('delays the answer but spends the code even if the client gives up', async () => {
    const code = sandbox.issueCode(MALL);
    sandbox.failNext({ type: 'delay', ms: 150 });
    const started = performance.now();
    await expectTokens(await exchange(code));
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);

    const second = sandbox.issueCode(MALL);
    sandbox.failNext({ type: 'delay', ms: 10_000 });
    await expect(exchange(second, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
    await expectOAuthError(await exchange(second), 400, 'invalid_grant', 'Code has already been used');
  });

  it('hangs until stop(), which returns promptly', async () => {
    const code = sandbox.issueCode(MALL);
    sandbox.failNext({ type: 'hang' });
    const client = new AbortController();
    const settled = exchange(code, { signal: client.signal }).then(
      () => 'answered',
      () => 'rejected',
    );
    await vi.waitFor(() => expect(sandbox.tokenRequests({ code })).toHaveLength(1));

    // Should stop() wait on the hung socket, give up after a second so the failure is reported.
    const giveUp = setTimeout(() => client.abort(), 1000);
    const started = performance.now();
    await sandbox.stop();
    clearTimeout(giveUp);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await settled).toBe('rejected');
    expect(sandbox.tokenRequests({ code })[0]).toMatchObject({ status: 0, fault: 'hang' });
  });

  it('processes a held request at once and answers when the test lets it', async () => {
    let release = () => {};
    sandbox.failNext({ type: 'hold', until: new Promise<void>((resolve) => (release = resolve)) });
    const code = sandbox.issueCode(MALL);
    const answered = exchange(code);
    await vi.waitFor(() => expect(sandbox.issuedTokens(MALL)).toBeDefined());
    expect(sandbox.tokenRequests({ code })[0]).toMatchObject({ status: 0, fault: 'hold' });
    release();
    const body = await expectTokens(await answered);
    expect(body.access_token).toBe(sandbox.issuedTokens(MALL)?.accessToken);
    expect(sandbox.tokenRequests({ code })[0]?.status).toBe(200);
  });

  it('echoes the request, credentials and all, as a verbose proxy would', async () => {
    sandbox.failNext({ type: 'echo' });
    const response = await exchange('echoed-code');
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; error_description: string };
    expect(body.error).toBe(`invalid_request ${basicAuth()}`);
    expect(body.error_description).toContain('code=echoed-code');
  });

  it('resets the connection without answering or spending the code', async () => {
    const code = sandbox.issueCode(MALL);
    sandbox.failNext({ type: 'reset' });
    await expect(exchange(code)).rejects.toThrow();
    expect(sandbox.tokenRequests({ code })[0]).toMatchObject({ status: 0, fault: 'reset' });
    await expectTokens(await exchange(code));
  });
});

describe('recording and bookkeeping', () => {
  it('records every request in order, with code, grant type, status and fault', async () => {
    const code = sandbox.issueCode(MALL);
    sandbox.failNext({ type: 'status', status: 503 });
    await (await exchange(code)).arrayBuffer();
    const tokens = await expectTokens(await exchange(code));
    await (await refresh(tokens.refresh_token, { mallId: 'othermall' })).arrayBuffer();
    await (await fetch(`${sandbox.origin}/nowhere`)).arrayBuffer();

    expect(sandbox.requests.map((r) => [r.method, r.mallId, r.grantType, r.code, r.status, r.fault])).toEqual(
      [
        ['POST', MALL, 'authorization_code', code, 503, 'status'],
        ['POST', MALL, 'authorization_code', code, 200, undefined],
        ['POST', 'othermall', 'refresh_token', undefined, 401, undefined],
        ['GET', '', undefined, undefined, 404, undefined],
      ],
    );
    expect(sandbox.requests[0]?.at).toBe(START);
    expect(sandbox.tokenRequests({ code })).toHaveLength(2);
    expect(sandbox.tokenRequests({ mallId: 'othermall' })).toHaveLength(1);
    expect(sandbox.knownSecrets()).toEqual(
      expect.arrayContaining([code, tokens.access_token, tokens.refresh_token]),
    );

    sandbox.reset();
    expect(sandbox.requests).toHaveLength(0);
    expect(sandbox.issuedTokens(MALL)?.accessToken).toBe(tokens.access_token);
  });

  it("answers an unknown path in the resource APIs' error shape, not an OAuth error", async () => {
    const response = await fetch(`${sandbox.origin}/api/v2/oauth/token`, { method: 'POST' });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: { code: 404, message: 'No such endpoint', more_info: {} },
    });
  });

  it('refuses a token request without client credentials with an OAuth invalid_client', async () => {
    const base = sandbox.baseUrl.replace('{mall_id}', MALL);
    const response = await fetch(`${base}/api/v2/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token',
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({
      error: 'invalid_client',
      error_description: 'Client authentication required',
    });
  });

  it('answers 405 for a wrong method on a known path', async () => {
    const response = await fetch(`${sandbox.baseUrl.replace('{mall_id}', MALL)}/api/v2/oauth/token`);
    expect(response.status).toBe(405);
    await response.arrayBuffer();
  });

  it('names the allowed method in a 405 and never lets an answer be cached', async () => {
    const response = await fetch(`${sandbox.baseUrl.replace('{mall_id}', MALL)}/api/v2/oauth/authorize`, {
      method: 'POST',
    });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET');
    expect(response.headers.get('cache-control')).toBe('no-store');
    await response.arrayBuffer();
  });

  it('serves the app store to GET only, and other methods the 404 of any unknown path', async () => {
    for (const method of ['HEAD', 'POST']) {
      const response = await fetch(`${sandbox.origin}/appstore`, { method });
      expect(response.status, method).toBe(404);
      await response.arrayBuffer();
    }
  });

  it('refuses a body over 64 KiB with 413 once it has read it all', async () => {
    const response = await post('token', { grant_type: 'authorization_code', code: 'x'.repeat(70_000) });
    await expectOAuthError(response, 413, 'invalid_request', 'Request body too large');
  });

  it('keeps up with concurrent exchanges, each code used once', async () => {
    const codes = Array.from({ length: 200 }, () => sandbox.issueCode(MALL));
    const responses = await Promise.all(codes.map((code) => exchange(code)));
    const bodies = await Promise.all(responses.map((r) => expectTokens(r)));
    expect(new Set(bodies.map((b) => b.access_token)).size).toBe(200);
    expect(sandbox.tokenRequests()).toHaveLength(200);
  });
});

describe('authorize', () => {
  const authorizeUrl = (params: Record<string, string>) =>
    `${sandbox.baseUrl.replace('{mall_id}', MALL)}/api/v2/oauth/authorize?${new URLSearchParams(params)}`;
  const valid = {
    response_type: 'code',
    client_id: CLIENT_ID,
    state: 'csrf-123',
    redirect_uri: REDIRECT_URI,
    scope: 'mall.read_application,mall.write_application',
  };

  it('redirects with a fresh code and the state, and the code exchanges', async () => {
    const response = await fetch(authorizeUrl(valid), { redirect: 'manual' });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get('state')).toBe('csrf-123');
    const code = location.searchParams.get('code') ?? '';
    expect(code).toMatch(/^[\w-]{22}$/);

    const body = await expectTokens(await exchange(code));
    expect(body.scopes).toEqual(['mall.read_application', 'mall.write_application']);
  });

  it.each([
    ['a wrong client_id', { client_id: 'other' }, 'invalid_request'],
    ['a wrong redirect_uri', { redirect_uri: 'https://evil.example.com/cb' }, 'invalid_request'],
    ['no state', { state: '' }, 'invalid_request'],
    ['a bad scope', { scope: 'admin' }, 'invalid_scope'],
  ])('redirects %s to the registered redirect_uri with an error', async (_name, override, error) => {
    const response = await fetch(authorizeUrl({ ...valid, ...override }), { redirect: 'manual' });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get('error')).toBe(error);
    expect(location.searchParams.get('error_description')).toBeTruthy();
    expect(location.searchParams.has('code')).toBe(false);
  });
});
