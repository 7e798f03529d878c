import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An in-process stand-in for Cafe24's OAuth endpoints (docs/cafe24-oauth.md): codes live a minute and
 * are single use, refresh tokens rotate, and faults can be injected. It never logs: requests carry
 * codes, tokens and the client secret.
 */

export type SandboxFault =
  | { type: 'status'; status: number; body?: string; contentType?: string }
  | { type: 'rate-limit'; retryAfterSeconds?: number }
  | { type: 'html'; status?: number }
  | { type: 'malformed-json' }
  /** 400 "Code time expired" to a code; to a refresh token, 401 "Invalid refresh_token" (and it dies). */
  | { type: 'invalid-grant' }
  /** The app's credentials refused: 401 invalid_client, or Cafe24's variant 400 invalid_grant. */
  | { type: 'invalid-client'; error?: 'invalid_client' | 'invalid_grant' }
  /** Processed (a code spent, a refresh token rotated) but never answered: the answer is lost. */
  | { type: 'hang-after-processing' }
  | { type: 'missing-fields' }
  | { type: 'huge-body'; bytes?: number }
  | { type: 'delay'; ms: number }
  /** Processed now, answered once `until` settles: a test decides when the answer arrives. */
  | { type: 'hold'; until: Promise<unknown> }
  | { type: 'hang' }
  | { type: 'reset' }
  /** A 400 whose `error` and `error_description` repeat the request: its Basic credential and its body. */
  | { type: 'echo' };

export type SandboxOptions = {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  host?: string;
  port?: number;
  /** Dev mode: a code never seen before counts as issued at its first sighting. */
  acceptUnknownCodes?: boolean;
  codeLifetimeMs?: number;
  /** Answer without `shop_no` and `token_type`, as real responses did in 2021. */
  omitOptionalFields?: boolean;
  now?: () => number;
  /** Show a consent page (Install / Decline) at authorize, as Cafe24 does; otherwise approve at once. */
  consent?: boolean;
  /** The app URL the app store launches (default: /install beside the redirect URI). */
  appUrl?: string;
  /** The mall the app store launches the app for. */
  appStoreMallId?: string;
};

export type SandboxRequest = {
  at: number;
  method: string;
  path: string;
  mallId: string;
  grantType: string | undefined;
  /** Kept in memory only, so tests can assert which code was sent. */
  code: string | undefined;
  /** What the sandbox answered; 0 while unanswered, or if it hung or reset. */
  status: number;
  fault: SandboxFault['type'] | undefined;
};

export type Cafe24Sandbox = {
  readonly origin: string;
  /** `${origin}/{mall_id}`, placeholder included, ready for CAFE24_API_BASE_URL. */
  readonly baseUrl: string;
  readonly requests: readonly SandboxRequest[];
  tokenRequests(filter?: { code?: string; mallId?: string }): SandboxRequest[];
  issueCode(mallId: string, options?: { issuedAt?: number; scopes?: string[] }): string;
  failNext(fault: SandboxFault, times?: number): void;
  setFault(fault: SandboxFault | undefined): void;
  issuedTokens(mallId: string): { accessToken: string; refreshToken: string; issuedAt: string } | undefined;
  knownSecrets(): string[];
  reset(): void;
  stop(): Promise<void>;
};

const ACCESS_TOKEN_LIFETIME_MS = 2 * 60 * 60 * 1000;
const REFRESH_TOKEN_LIFETIME_MS = 14 * 24 * 60 * 60 * 1000;
const KST_OFFSET_MS = 9 * 60 * 60 * 1000;
const MAX_REQUEST_BODY_BYTES = 64 * 1024;
const DEFAULT_SCOPES = ['mall.read_order', 'mall.read_product', 'mall.read_store'];
const REDIRECT_URI_INVALID = 'The redirect_uri added by Cafe24 Developers is invalid.';
const ROUTE = /^\/([^/]+)\/api\/v2\/oauth\/(token|revoke|authorize)$/;
const ROUTE_METHODS = { token: 'POST', revoke: 'POST', authorize: 'GET' } as const;

/** Cafe24's token timestamp format: Korea time (UTC+9) without an offset. */
export function formatKst(ms: number): string {
  return new Date(ms + KST_OFFSET_MS).toISOString().slice(0, 23);
}

/** One authorization: a code and every token descended from it, revoked together on code reuse. */
type Grant = {
  mallId: string;
  issuedAtMs: number;
  scopes: string[];
  used: boolean;
  revoked: boolean;
};

type RefreshToken = { grant: Grant; expiresAtMs: number; active: boolean };

type Reply = { status: number; body: string; contentType?: string; headers?: Record<string, string> };

type State = {
  options: Required<Omit<SandboxOptions, 'host' | 'port'>>;
  codes: Map<string, Grant>;
  seenCodes: Set<string>;
  accessTokens: Map<string, Grant>;
  refreshTokens: Map<string, RefreshToken>;
  latest: Map<string, { accessToken: string; refreshToken: string; issuedAt: string }>;
  requests: SandboxRequest[];
  oneShotFaults: SandboxFault[];
  persistentFault: SandboxFault | undefined;
  timers: Set<NodeJS.Timeout>;
};

export async function startCafe24Sandbox(options: SandboxOptions): Promise<Cafe24Sandbox> {
  const sandbox: State = {
    options: {
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      redirectUri: options.redirectUri,
      acceptUnknownCodes: options.acceptUnknownCodes ?? false,
      codeLifetimeMs: options.codeLifetimeMs ?? 60_000,
      omitOptionalFields: options.omitOptionalFields ?? false,
      now: options.now ?? Date.now,
      consent: options.consent ?? false,
      appUrl: options.appUrl ?? new URL('/install', options.redirectUri).toString(),
      appStoreMallId: options.appStoreMallId ?? 'sandboxmall',
    },
    codes: new Map(),
    seenCodes: new Set(),
    accessTokens: new Map(),
    refreshTokens: new Map(),
    latest: new Map(),
    requests: [],
    oneShotFaults: [],
    persistentFault: undefined,
    timers: new Set(),
  };

  const server = createServer((req, res) => {
    handle(sandbox, req, res).catch(() => {
      if (!res.headersSent) send(res, oauthError(500, 'server_error', 'Sandbox failure'));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });

  const { address, port } = server.address() as AddressInfo;
  const origin = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  let stopped: Promise<void> | undefined;

  return {
    origin,
    baseUrl: `${origin}/{mall_id}`,
    get requests() {
      return sandbox.requests;
    },
    tokenRequests: (filter = {}) =>
      sandbox.requests.filter(
        (r) =>
          r.path.endsWith('/oauth/token') &&
          (filter.code === undefined || r.code === filter.code) &&
          (filter.mallId === undefined || r.mallId === filter.mallId),
      ),
    issueCode: (mallId, issue = {}) => registerCode(sandbox, randomToken(), mallId, issue),
    failNext: (fault, times = 1) => {
      for (let i = 0; i < times; i++) sandbox.oneShotFaults.push(fault);
    },
    setFault: (fault) => {
      sandbox.persistentFault = fault;
    },
    issuedTokens: (mallId) => sandbox.latest.get(mallId),
    knownSecrets: () => [
      ...new Set([
        ...sandbox.codes.keys(),
        ...sandbox.seenCodes,
        ...sandbox.accessTokens.keys(),
        ...sandbox.refreshTokens.keys(),
      ]),
    ],
    reset: () => {
      sandbox.requests.length = 0;
      sandbox.oneShotFaults.length = 0;
      sandbox.persistentFault = undefined;
    },
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        for (const timer of sandbox.timers) clearTimeout(timer);
        sandbox.timers.clear();
        server.close(() => resolve());
        // Hung and keep-alive connections would otherwise hold close() open indefinitely.
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}

function registerCode(
  sandbox: State,
  code: string,
  mallId: string,
  options: { issuedAt?: number; scopes?: string[] } = {},
): string {
  sandbox.codes.set(code, {
    mallId,
    issuedAtMs: options.issuedAt ?? sandbox.options.now(),
    scopes: options.scopes ?? DEFAULT_SCOPES,
    used: false,
    revoked: false,
  });
  return code;
}

function randomToken(): string {
  return randomBytes(16).toString('base64url');
}

// ---- request handling -------------------------------------------------------------------------

async function handle(sandbox: State, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sandbox');
  const match = ROUTE.exec(url.pathname);
  const record: SandboxRequest = {
    at: sandbox.options.now(),
    method: req.method ?? '',
    path: url.pathname,
    mallId: match?.[1] ? decodeURIComponent(match[1]) : '',
    grantType: undefined,
    code: undefined,
    status: 0,
    fault: undefined,
  };
  sandbox.requests.push(record);
  const reply = (r: Reply) => {
    record.status = r.status;
    send(res, r);
  };

  const route = match?.[2] as keyof typeof ROUTE_METHODS | undefined;
  const store = !route && req.method === 'GET' ? appStore(sandbox, url) : undefined;
  if (store) {
    req.resume();
    return reply(store);
  }
  if (!route) {
    req.resume();
    // The resource APIs' error shape, not OAuth's: a base URL off by a path segment must not pass for Cafe24's.
    return reply(jsonReply(404, { error: { code: 404, message: 'No such endpoint', more_info: {} } }));
  }
  if (req.method !== ROUTE_METHODS[route]) {
    req.resume();
    const r = jsonReply(405, { error: 'method_not_allowed', error_description: 'Method not allowed' });
    return reply({ ...r, headers: { allow: ROUTE_METHODS[route] } });
  }
  if (route === 'authorize') {
    req.resume();
    return reply(authorize(sandbox, record, url.searchParams));
  }

  const body = await readBody(req);
  if (body === undefined) return reply(oauthError(413, 'invalid_request', 'Request body too large'));
  const form = new URLSearchParams(body);
  record.grantType = form.get('grant_type') ?? undefined;
  record.code = form.get('code') ?? undefined;

  if (route === 'revoke') return reply(revoke(sandbox, req, form));
  noteCodeSighting(sandbox, record.mallId, record.code);
  const fault = sandbox.oneShotFaults.shift() ?? sandbox.persistentFault;
  record.fault = fault?.type;
  const outcome = tokenOutcome(sandbox, record.mallId, req, form, fault);
  if (outcome === 'hang') return;
  if (outcome === 'reset') {
    res.socket?.resetAndDestroy();
    return;
  }
  if (outcome.until) {
    const answer = () => reply(outcome.reply);
    outcome.until.then(answer, answer);
    return;
  }
  if (outcome.delayMs === 0) return reply(outcome.reply);
  const timer = setTimeout(() => {
    sandbox.timers.delete(timer);
    reply(outcome.reply);
  }, outcome.delayMs);
  sandbox.timers.add(timer);
}

/** A token request's fate: a reply (possibly late), or none at all. */
type Outcome = { reply: Reply; delayMs: number; until?: Promise<unknown> } | 'hang' | 'reset';

function tokenOutcome(
  sandbox: State,
  mallId: string,
  req: IncomingMessage,
  form: URLSearchParams,
  fault: SandboxFault | undefined,
): Outcome {
  const process = () => tokenEndpoint(sandbox, mallId, req, form);
  if (!fault) return { reply: process(), delayMs: 0 };
  switch (fault.type) {
    case 'hang':
    case 'reset':
      return fault.type;
    case 'echo':
      // What a misconfigured proxy or a verbose error page does: the request, credentials and all.
      return {
        reply: jsonReply(400, {
          error: `invalid_request ${req.headers.authorization ?? ''}`,
          error_description: `could not process ${form.toString()} with Authorization: ${req.headers.authorization ?? ''}`,
        }),
        delayMs: 0,
      };
    case 'hang-after-processing':
      process();
      return 'hang';
    case 'invalid-grant':
      if (form.get('grant_type') === 'refresh_token') {
        const entry = sandbox.refreshTokens.get(form.get('refresh_token') ?? '');
        if (entry) entry.active = false;
        return { reply: oauthError(401, 'invalid_grant', 'Invalid refresh_token'), delayMs: 0 };
      }
      return { reply: faultReply(fault), delayMs: 0 };
    case 'delay':
      // Processed now, answered later: a client that gives up meanwhile has still spent the code.
      return { reply: process(), delayMs: fault.ms };
    case 'hold':
      return { reply: process(), delayMs: 0, until: fault.until };
    case 'missing-fields':
    case 'huge-body':
    case 'malformed-json':
      // Cafe24 issued tokens (the code is spent) but the client cannot read them; errors pass through.
      return { reply: corruptSuccess(process(), fault), delayMs: 0 };
    default:
      return { reply: faultReply(fault), delayMs: 0 };
  }
}

/** Registers codes for leak scans and, in dev mode, adopts an unknown code as freshly issued. */
function noteCodeSighting(sandbox: State, mallId: string, code: string | undefined): void {
  if (!code) return;
  sandbox.seenCodes.add(code);
  if (sandbox.options.acceptUnknownCodes && !sandbox.codes.has(code)) {
    registerCode(sandbox, code, mallId);
  }
}

function tokenEndpoint(sandbox: State, mallId: string, req: IncomingMessage, form: URLSearchParams): Reply {
  const clientError = checkClient(sandbox, req);
  if (clientError) return clientError;
  const grantType = form.get('grant_type');
  if (grantType === 'authorization_code') return exchangeCode(sandbox, mallId, form);
  if (grantType === 'refresh_token') return refreshTokens(sandbox, mallId, form);
  if (grantType === null) return oauthError(400, 'invalid_request', 'grant_type is required');
  return oauthError(400, 'unsupported_grant_type', 'Unsupported grant_type');
}

function checkClient(sandbox: State, req: IncomingMessage): Reply | undefined {
  const credentials = parseBasicAuth(req.headers.authorization);
  if (!credentials) return oauthError(401, 'invalid_client', 'Client authentication required');
  if (credentials.clientId !== sandbox.options.clientId) {
    return oauthError(401, 'invalid_client', 'Invalid client_id');
  }
  if (credentials.clientSecret !== sandbox.options.clientSecret) {
    return oauthError(401, 'invalid_client', 'Invalid client_secret');
  }
  if (!isFormContentType(req.headers['content-type'])) {
    return oauthError(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
  }
  return undefined;
}

function parseBasicAuth(header: string | undefined): { clientId: string; clientSecret: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { clientId: decoded.slice(0, colon), clientSecret: decoded.slice(colon + 1) };
}

function isFormContentType(header: string | undefined): boolean {
  return header?.split(';')[0]?.trim().toLowerCase() === 'application/x-www-form-urlencoded';
}

function exchangeCode(sandbox: State, mallId: string, form: URLSearchParams): Reply {
  if (form.get('redirect_uri') !== sandbox.options.redirectUri) {
    return oauthError(400, 'invalid_request', REDIRECT_URI_INVALID);
  }
  const code = form.get('code');
  if (!code) return oauthError(400, 'invalid_request', 'code is required');
  const grant = sandbox.codes.get(code);
  if (!grant || grant.mallId !== mallId) return oauthError(400, 'invalid_grant', 'Invalid code');
  if (grant.used) {
    // RFC 6749 §4.1.2: a replayed code may mean it leaked, so its tokens go too.
    grant.revoked = true;
    return oauthError(400, 'invalid_grant', 'Code has already been used');
  }
  if (sandbox.options.now() - grant.issuedAtMs >= sandbox.options.codeLifetimeMs) {
    return oauthError(400, 'invalid_grant', 'Code time expired');
  }
  grant.used = true;
  return jsonReply(200, issueTokens(sandbox, grant));
}

function refreshTokens(sandbox: State, mallId: string, form: URLSearchParams): Reply {
  const token = form.get('refresh_token');
  if (!token) return oauthError(400, 'invalid_request', 'refresh_token is required');
  const entry = sandbox.refreshTokens.get(token);
  const usable =
    entry?.active &&
    !entry.grant.revoked &&
    entry.grant.mallId === mallId &&
    sandbox.options.now() < entry.expiresAtMs;
  if (!entry || !usable) return oauthError(401, 'invalid_grant', 'Invalid refresh_token');
  entry.active = false; // rotation: the old refresh token dies the moment a new one is issued
  return jsonReply(200, issueTokens(sandbox, entry.grant));
}

function issueTokens(sandbox: State, grant: Grant): Record<string, unknown> {
  const nowMs = sandbox.options.now();
  const accessToken = randomToken();
  const refreshToken = randomToken();
  sandbox.accessTokens.set(accessToken, grant);
  sandbox.refreshTokens.set(refreshToken, {
    grant,
    expiresAtMs: nowMs + REFRESH_TOKEN_LIFETIME_MS,
    active: true,
  });
  const issuedAt = formatKst(nowMs);
  sandbox.latest.set(grant.mallId, { accessToken, refreshToken, issuedAt });
  const body: Record<string, unknown> = {
    access_token: accessToken,
    expires_at: formatKst(nowMs + ACCESS_TOKEN_LIFETIME_MS),
    refresh_token: refreshToken,
    refresh_token_expires_at: formatKst(nowMs + REFRESH_TOKEN_LIFETIME_MS),
    client_id: sandbox.options.clientId,
    mall_id: grant.mallId,
    user_id: grant.mallId,
    scopes: grant.scopes,
    issued_at: issuedAt,
  };
  if (!sandbox.options.omitOptionalFields) {
    body.shop_no = '1';
    body.token_type = 'Bearer';
  }
  return body;
}

function revoke(sandbox: State, req: IncomingMessage, form: URLSearchParams): Reply {
  const clientError = checkClient(sandbox, req);
  if (clientError) return clientError;
  const token = form.get('token');
  if (!token) return oauthError(400, 'invalid_request', 'token is required');
  const refresh = sandbox.refreshTokens.get(token);
  if (refresh) refresh.active = false;
  sandbox.accessTokens.delete(token);
  return jsonReply(200, {});
}

// ---- authorize (the browser step of an install) -------------------------------------------------

function authorize(sandbox: State, record: SandboxRequest, query: URLSearchParams): Reply {
  const state = query.get('state');
  const problem = authorizeProblem(sandbox, query);
  // Errors go to the registered redirect_uri, never the requested one, so the sandbox is no open redirect.
  if (problem) return redirect(sandbox.options.redirectUri, { ...problem, state });
  if (sandbox.options.consent) {
    const decision = query.get('consent');
    if (decision === null) return consentPage(record.mallId, query);
    if (decision !== 'install') {
      return redirect(sandbox.options.redirectUri, {
        error: 'access_denied',
        error_description: 'The shop operator declined to install the app.',
        state,
      });
    }
  }
  const code = registerCode(sandbox, randomToken(), record.mallId, {
    scopes: parseScopes(query.get('scope')),
  });
  record.code = code;
  return redirect(sandbox.options.redirectUri, { code, state });
}

function authorizeProblem(
  sandbox: State,
  query: URLSearchParams,
): { error: string; error_description: string } | undefined {
  if (query.get('response_type') !== 'code') {
    return { error: 'unsupported_response_type', error_description: 'response_type must be code' };
  }
  if (query.get('client_id') !== sandbox.options.clientId) {
    return { error: 'invalid_request', error_description: 'Invalid client_id' };
  }
  if (query.get('redirect_uri') !== sandbox.options.redirectUri) {
    return { error: 'invalid_request', error_description: REDIRECT_URI_INVALID };
  }
  if (!query.get('state')) return { error: 'invalid_request', error_description: 'state is required' };
  const scopes = parseScopes(query.get('scope'));
  if (scopes.length === 0 || !scopes.every((s) => /^mall\.(read|write)_[a-z]+$/.test(s))) {
    return { error: 'invalid_scope', error_description: 'Invalid scope' };
  }
  return undefined;
}

/** The docs say space-separated; much working code uses commas. Accept both. */
function parseScopes(scope: string | null): string[] {
  return (scope ?? '').split(/[\s,]+/).filter(Boolean);
}

function redirect(target: string, params: Record<string, string | null>): Reply {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== null) query.set(key, value);
  const location = `${target}${target.includes('?') ? '&' : '?'}${query}`;
  return { status: 302, body: '', headers: { location } };
}

// ---- the browser side of an install: app store and consent ---------------------------------------

const PAGE_STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;background:#eef1f5;margin:0;color:#1d2430}' +
  'main{max-width:32rem;margin:10vh auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 4px 20px rgba(0,0,0,.08)}' +
  'h1{font-size:1.3rem;margin-top:0}.badge{font-size:.75rem;background:#1d4ed8;color:#fff;border-radius:4px;padding:.1rem .4rem}' +
  'a.button,button{display:inline-block;font:inherit;padding:.55rem 1.2rem;border-radius:8px;border:1px solid #1d4ed8;' +
  'background:#1d4ed8;color:#fff;text-decoration:none;cursor:pointer;margin-right:.5rem}' +
  'button.secondary{background:#fff;color:#1d4ed8}code{background:#f0f2f5;padding:.1rem .3rem;border-radius:4px}';

function htmlPage(title: string, body: string): Reply {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${PAGE_STYLE}</style></head><body><main>${body}</main></body></html>`;
  return { status: 200, body: html, contentType: 'text/html; charset=utf-8' };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * `GET /appstore`: the sandbox's stand-in for Cafe24's app store; `GET /appstore/launch` opens the app URL
 * as Cafe24 does, with a fresh timestamp and an hmac under the client secret (cafe24-oauth.md).
 */
function appStore(sandbox: State, url: URL): Reply | undefined {
  const mallId = url.searchParams.get('mall_id') || sandbox.options.appStoreMallId;
  if (url.pathname === '/appstore') {
    const launch = `/appstore/launch?mall_id=${encodeURIComponent(mallId)}`;
    return htmlPage(
      'Cafe24 app store (sandbox)',
      `<h1>Cafe24 app store <span class="badge">sandbox</span></h1>
<p>Shop <b>${escapeHtml(mallId)}</b>, operator 홍길동.</p>
<p>App <code>${escapeHtml(sandbox.options.clientId)}</code> at <code>${escapeHtml(sandbox.options.appUrl)}</code></p>
<p><a class="button" id="launch" href="${escapeHtml(launch)}">Install this app</a></p>`,
    );
  }
  if (url.pathname === '/appstore/launch') {
    const timestamp = url.searchParams.get('timestamp') ?? String(Math.floor(sandbox.options.now() / 1000));
    return { status: 302, body: '', headers: { location: appLaunchUrl(sandbox, mallId, timestamp) } };
  }
  return undefined;
}

/** The app URL with Cafe24's launch parameters in Cafe24's order, values encoded with %20 for spaces. */
function appLaunchUrl(sandbox: State, mallId: string, timestamp: string): string {
  const params: Array<[string, string]> = [
    ['is_multi_shop', 'T'],
    ['lang', 'ko_KR'],
    ['mall_id', mallId],
    ['nation', 'KR'],
    ['shop_no', '1'],
    ['timestamp', timestamp],
    ['user_id', mallId],
    ['user_name', '홍길동 대표'],
    ['user_type', 'P'],
  ];
  const message = params.map(([key, value]) => `${key}=${encodeURIComponent(value)}`).join('&');
  const hmac = createHmac('sha256', sandbox.options.clientSecret).update(message).digest('base64');
  const appUrl = sandbox.options.appUrl;
  return `${appUrl}${appUrl.includes('?') ? '&' : '?'}${message}&hmac=${encodeURIComponent(hmac)}`;
}

/** Cafe24's consent screen: Install sends the code to the redirect URI, Decline an access_denied error. */
function consentPage(mallId: string, query: URLSearchParams): Reply {
  const hidden = ['response_type', 'client_id', 'state', 'redirect_uri', 'scope']
    .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(query.get(name) ?? '')}">`)
    .join('');
  const scopes = parseScopes(query.get('scope'))
    .map((scope) => `<li><code>${escapeHtml(scope)}</code></li>`)
    .join('');
  return htmlPage(
    'Install app (sandbox)',
    `<h1>Install this app on ${escapeHtml(mallId)}? <span class="badge">sandbox</span></h1>
<p>App <code>${escapeHtml(query.get('client_id') ?? '')}</code> asks for:</p><ul>${scopes}</ul>
<form method="get" action="/${encodeURIComponent(mallId)}/api/v2/oauth/authorize">${hidden}
<button id="install" name="consent" value="install">Install</button>
<button id="decline" class="secondary" name="consent" value="decline">Decline</button></form>`,
  );
}

// ---- faults ---------------------------------------------------------------------------------

type CannedFault = Extract<
  SandboxFault,
  { type: 'status' | 'rate-limit' | 'html' | 'invalid-grant' | 'invalid-client' }
>;

function faultReply(fault: CannedFault): Reply {
  switch (fault.type) {
    case 'status':
      if (fault.body === undefined) {
        return oauthError(fault.status, 'server_error', `Sandbox fault: status ${fault.status}`);
      }
      return { status: fault.status, body: fault.body, contentType: fault.contentType ?? 'text/plain' };
    case 'rate-limit':
      return {
        ...oauthError(429, 'too_many_requests', 'Too Many Requests'),
        headers: rateLimitHeaders(fault.retryAfterSeconds),
      };
    case 'html': {
      const status = fault.status ?? 502;
      const body = `<html><head><title>${status} Bad Gateway</title></head><body><h1>${status} Bad Gateway</h1></body></html>`;
      return { status, body, contentType: 'text/html' };
    }
    case 'invalid-grant':
      return oauthError(400, 'invalid_grant', 'Code time expired');
    case 'invalid-client':
      return fault.error === 'invalid_grant'
        ? oauthError(400, 'invalid_grant', 'Invalid client_secret')
        : oauthError(401, 'invalid_client', 'Invalid client_secret');
  }
}

function rateLimitHeaders(retryAfterSeconds: number | undefined): Record<string, string> {
  const headers: Record<string, string> = {
    'x-api-call-limit': '40/40',
    'x-cafe24-call-usage': '100',
    'x-cafe24-call-remain': '0',
  };
  if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds);
  return headers;
}

function corruptSuccess(
  answer: Reply,
  fault: Extract<SandboxFault, { type: 'missing-fields' | 'huge-body' | 'malformed-json' }>,
): Reply {
  if (answer.status !== 200) return answer;
  if (fault.type === 'missing-fields') {
    const { refresh_token: _r, expires_at: _e, ...rest } = JSON.parse(answer.body) as Record<string, unknown>;
    return jsonReply(200, rest);
  }
  if (fault.type === 'huge-body') return { status: 200, body: hugeJsonish(fault.bytes ?? 1_048_576) };
  // A body cut off mid-way, as a dropped connection behind a proxy would leave it.
  return { status: 200, body: answer.body.slice(0, Math.floor(answer.body.length / 2)) };
}

function hugeJsonish(bytes: number): string {
  const head = '{"access_token":"';
  return (head + 'x'.repeat(Math.max(0, bytes - head.length))).slice(0, bytes);
}

// ---- plumbing -------------------------------------------------------------------------------

function oauthError(status: number, error: string, description: string): Reply {
  return jsonReply(status, { error, error_description: description });
}

function jsonReply(status: number, body: unknown): Reply {
  return { status, body: JSON.stringify(body) };
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed) return;
  const body = Buffer.from(reply.body);
  res.writeHead(reply.status, {
    'content-type': reply.contentType ?? 'application/json',
    'content-length': body.length,
    'cache-control': 'no-store',
    ...reply.headers,
  });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Drain an oversized body rather than abandon it, so the 413 still reaches the client.
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= MAX_REQUEST_BODY_BYTES) chunks.push(chunk as Buffer);
  }
  return size > MAX_REQUEST_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}
