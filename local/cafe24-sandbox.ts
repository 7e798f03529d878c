import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type HttpBindings, serve } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import {
  type AdminApi,
  type AdminBucket,
  adminOutcome,
  createAdminApi,
  readBucket,
  recordedApiVersion,
  setBucketLevel,
} from './cafe24-sandbox/admin-api.ts';
import {
  removalEvent,
  removeGrants,
  type SandboxWebhook,
  sendWebhook,
  TEST_SAMPLE,
  type WebhookDelivery,
} from './cafe24-sandbox/app-events.ts';
import {
  type FaultQueue,
  faultTarget,
  type Outcome,
  takeFault,
  tokenOutcome,
} from './cafe24-sandbox/faults.ts';
import {
  authorize,
  emptyLedger,
  type IssuedTokens,
  type Issuer,
  noteCodeSighting,
  randomToken,
  registerCode,
  revoke,
  type TokenRequest,
} from './cafe24-sandbox/grants.ts';
import { adminPage, appLaunch, appStorePage, launchLanguage } from './cafe24-sandbox/pages.ts';
import { jsonReply, oauthError, type Reply, toResponse } from './cafe24-sandbox/reply.ts';
import { readLedger, serializeLedger, writeLedger } from './cafe24-sandbox/state-file.ts';
import type { FaultTarget, SandboxFault, SandboxOptions } from './cafe24-sandbox/types.ts';

export { formatKst } from './cafe24-sandbox/grants.ts';

/**
 * An in-process stand-in for Cafe24's OAuth endpoints (docs/cafe24-oauth.md): codes live a minute and
 * are single use, refresh tokens rotate, and faults can be injected. It never logs requests: they carry
 * codes, tokens and the client secret. With a state file, what it issued outlives a restart.
 *
 * It also serves a few Admin API resources with the tokens it issued, behind Cafe24's per-mall bucket
 * (local/cafe24-sandbox/admin-api.ts): `GET /{mall_id}/api/v2/admin/store`, `GET|POST …/products`
 * (`?limit=&offset=`), `GET …/products/count`, `GET|PUT|DELETE …/products/{product_no}`.
 */

export type { AdminBucket } from './cafe24-sandbox/admin-api.ts';
export type { SandboxWebhook, WebhookDelivery } from './cafe24-sandbox/app-events.ts';
export type {
  AdminApiOptions,
  FaultTarget,
  SandboxFault,
  SandboxOptions,
  SandboxSettings,
} from './cafe24-sandbox/types.ts';

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
  /** An Admin API call's `X-Cafe24-Api-Version`: as sent when yyyy-mm-dd, `invalid` otherwise. */
  apiVersion: string | undefined;
};

/** An Admin API call as recorded: never its token (nor any header but the API version). */
export type SandboxAdminRequest = Pick<
  SandboxRequest,
  'at' | 'method' | 'path' | 'mallId' | 'status' | 'fault' | 'apiVersion'
>;

export type Cafe24Sandbox = {
  readonly origin: string;
  /** `${origin}/{mall_id}`, placeholder included, ready for CAFE24_API_BASE_URL. */
  readonly baseUrl: string;
  readonly requests: readonly SandboxRequest[];
  tokenRequests(filter?: { code?: string; mallId?: string }): SandboxRequest[];
  /** The Admin API calls so far (`/{mall_id}/api/v2/admin/…`), oldest first. */
  adminRequests(filter?: { mallId?: string; method?: string; status?: number }): SandboxAdminRequest[];
  /** The mall's Admin API bucket now, on the sandbox's clock. */
  adminBucket(mallId: string): AdminBucket;
  /** Sets the mall's bucket to `level` calls, from now on the sandbox's clock (it drains from there). */
  setAdminBucketLevel(mallId: string, level: number): void;
  issueCode(mallId: string, options?: { issuedAt?: number; scopes?: string[] }): string;
  /** The next `times` requests of the fault's target (`target`, default the token endpoint) meet it. */
  failNext(fault: SandboxFault, times?: number): void;
  /**
   * Every request of the fault's target meets it until changed; `setFault(undefined)` clears every
   * target's, `setFault(undefined, 'admin')` the Admin API's only.
   */
  setFault(fault: SandboxFault | undefined, target?: FaultTarget): void;
  issuedTokens(mallId: string): IssuedTokens | undefined;
  knownSecrets(): string[];
  /** Where Cafe24's app events go (the install front's POST /webhooks/cafe24) and the key they carry. */
  setWebhook(webhook: SandboxWebhook | undefined): void;
  /**
   * The shop deletes (or lets expire) the app: every grant of the mall so far is refused from now on, and
   * 90077 (90078) is sent, twice with `duplicate` (Cafe24's resend). A new install is served as usual.
   */
  removeApp(
    mallId: string,
    cause: 'deleted' | 'expired',
    options?: { duplicate?: boolean },
  ): Promise<WebhookDelivery[]>;
  /** Cafe24's [TEST] button: its sample delivery, from a sample mall and client id. */
  sendSample(): Promise<WebhookDelivery[]>;
  /** Forgets the requests, the faults and the Admin API buckets (not what it issued, nor the catalogues). */
  reset(): void;
  stop(): Promise<void>;
};

const MAX_REQUEST_BODY_BYTES = 64 * 1024;
const BODY_TOO_LARGE = oauthError(413, 'invalid_request', 'Request body too large');

type Sandbox = Issuer & {
  requests: SandboxRequest[];
  faults: FaultQueue;
  admin: AdminApi;
  timers: Set<NodeJS.Timeout>;
  webhook: SandboxWebhook | undefined;
  /** Writes the ledger to the state file if it changed since the last write. */
  save(): void;
};

type SandboxEnv = { Bindings: HttpBindings; Variables: { record: SandboxRequest } };

export async function startCafe24Sandbox(options: SandboxOptions): Promise<Cafe24Sandbox> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const ledger = options.stateFile ? readLedger(options.stateFile, log) : emptyLedger();
  const sandbox: Sandbox = {
    settings: {
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
    ledger,
    requests: [],
    faults: { oneShot: [], persistent: {} },
    admin: createAdminApi(options.adminApi),
    timers: new Set(),
    webhook: undefined,
    save: options.stateFile ? stateSaver(options.stateFile, ledger, log) : () => {},
  };

  const server = await new Promise<Server>((resolve, reject) => {
    const listening = serve(
      {
        fetch: sandboxApp(sandbox).fetch,
        port: options.port ?? 0,
        hostname: options.host ?? '127.0.0.1',
        // The sandbox runs inside test processes: leave their global Request and Response alone.
        overrideGlobalObjects: false,
      },
      () => resolve(listening as Server),
    );
    listening.once('error', reject);
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
    adminRequests: (filter = {}) =>
      sandbox.requests
        .filter(
          (r) =>
            isAdminPath(r.path) &&
            (filter.mallId === undefined || r.mallId === filter.mallId) &&
            (filter.method === undefined || r.method === filter.method.toUpperCase()) &&
            (filter.status === undefined || r.status === filter.status),
        )
        .map(({ at, method, path, mallId, status, fault, apiVersion }) => ({
          at,
          method,
          path,
          mallId,
          status,
          fault,
          apiVersion,
        })),
    adminBucket: (mallId) => readBucket(sandbox.admin, mallId, sandbox.settings.now()),
    setAdminBucketLevel: (mallId, level) =>
      setBucketLevel(sandbox.admin, mallId, level, sandbox.settings.now()),
    issueCode: (mallId, issue = {}) => {
      const code = registerCode(sandbox, randomToken(), mallId, issue);
      sandbox.save();
      return code;
    },
    failNext: (fault, times = 1) => {
      faultTarget(fault);
      for (let i = 0; i < times; i++) sandbox.faults.oneShot.push(fault);
    },
    setFault: (fault, target) => {
      if (fault) sandbox.faults.persistent[faultTarget(fault)] = fault;
      else if (target) delete sandbox.faults.persistent[target];
      else sandbox.faults.persistent = {};
    },
    issuedTokens: (mallId) => ledger.latest.get(mallId),
    knownSecrets: () => [
      ...new Set([
        ...ledger.codes.keys(),
        ...ledger.seenCodes,
        ...ledger.accessTokens.keys(),
        ...ledger.refreshTokens.keys(),
      ]),
    ],
    setWebhook: (webhook) => {
      sandbox.webhook = webhook;
    },
    removeApp: (mallId, cause, removal = {}) => removeApp(sandbox, mallId, cause, removal.duplicate ? 2 : 1),
    sendSample: async () => (sandbox.webhook ? sendWebhook(sandbox.webhook, TEST_SAMPLE) : []),
    reset: () => {
      sandbox.requests.length = 0;
      sandbox.faults.oneShot.length = 0;
      sandbox.faults.persistent = {};
      sandbox.admin.buckets.clear();
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

/** Saves after each request that may have changed the ledger; a failed save is said, and serving goes on. */
function stateSaver(file: string, ledger: Issuer['ledger'], log: (line: string) => void): () => void {
  let saved: string | undefined;
  let failing = false;
  return () => {
    const text = serializeLedger(ledger);
    if (text === saved) return;
    try {
      writeLedger(file, text);
      saved = text;
      failing = false;
    } catch (error) {
      if (!failing) {
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        log(
          `cafe24 sandbox: could not save its state to ${file} (${code}); a restart forgets what it issues`,
        );
      }
      failing = true;
    }
  };
}

async function removeApp(
  sandbox: Sandbox,
  mallId: string,
  cause: 'deleted' | 'expired',
  times: number,
): Promise<WebhookDelivery[]> {
  removeGrants(sandbox, mallId);
  sandbox.save();
  if (!sandbox.webhook) return [];
  return sendWebhook(sandbox.webhook, removalEvent(sandbox, mallId, cause), times);
}

// ---- routes -----------------------------------------------------------------------------------

function sandboxApp(sandbox: Sandbox): Hono<SandboxEnv> {
  const app = new Hono<SandboxEnv>();

  app.use(async (c, next) => {
    const record: SandboxRequest = {
      at: sandbox.settings.now(),
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      mallId: '',
      grantType: undefined,
      code: undefined,
      status: 0,
      fault: undefined,
      apiVersion: undefined,
    };
    sandbox.requests.push(record);
    c.set('record', record);
    await next();
    record.status = c.res.status;
  });

  // Cafe24's app store, launching the app URL as Cafe24 does; GET only (Hono would answer HEAD too).
  const page = (path: string, render: (c: Context<SandboxEnv>, mallId: string) => Reply) =>
    app.all(path, (c) => {
      if (c.req.method !== 'GET') return notFound();
      return toResponse(render(c, query(c).get('mall_id') || sandbox.settings.appStoreMallId));
    });
  // `?lang=en_US` (or another xx_YY) opens the app as an operator of that language; ko_KR otherwise.
  const lang = (c: Context<SandboxEnv>) => launchLanguage(query(c).get('lang') ?? undefined);
  page('/appstore', (c, mallId) => appStorePage(sandbox.settings, mallId, lang(c)));
  page('/appstore/launch', (c, mallId) => {
    const timestamp = query(c).get('timestamp') ?? String(Math.floor(sandbox.settings.now() / 1000));
    return appLaunch(sandbox.settings, mallId, timestamp, lang(c));
  });

  const oauth = (
    endpoint: string,
    method: 'GET' | 'POST',
    handle: (c: Context<SandboxEnv>, mallId: string) => Response | Promise<Response>,
  ) =>
    app.all(`/:mallId/api/v2/oauth/${endpoint}`, (c) => {
      const mallId = c.req.param('mallId');
      c.get('record').mallId = mallId;
      if (c.req.method === method) return handle(c, mallId);
      const reply = jsonReply(405, { error: 'method_not_allowed', error_description: 'Method not allowed' });
      return toResponse({ ...reply, headers: { allow: method } });
    });

  oauth('authorize', 'GET', (c, mallId) => {
    const { reply, code } = authorize(sandbox, mallId, query(c));
    c.get('record').code = code;
    sandbox.save();
    return toResponse(reply);
  });

  oauth('revoke', 'POST', async (c, mallId) => {
    const request = await tokenRequest(c, mallId);
    if (!request) return toResponse(BODY_TOO_LARGE);
    const reply = revoke(sandbox, request);
    sandbox.save();
    return toResponse(reply);
  });

  oauth('token', 'POST', async (c, mallId) => {
    const request = await tokenRequest(c, mallId);
    if (!request) return toResponse(BODY_TOO_LARGE);
    const record = c.get('record');
    noteCodeSighting(sandbox, mallId, record.code);
    const fault = takeFault(sandbox.faults, 'token');
    record.fault = fault?.type;
    const outcome = tokenOutcome(sandbox, request, fault);
    // Before any answer: what the client is told it was issued is on disk by then.
    sandbox.save();
    return deliver(c, outcome, sandbox.timers);
  });

  // Cafe24's Admin API: a few resources behind the mall's bucket, with the access tokens issued above.
  app.all('/:mallId/api/v2/admin/*', async (c) => {
    const mallId = c.req.param('mallId');
    const record = c.get('record');
    record.mallId = mallId;
    const apiVersion = c.req.header('x-cafe24-api-version');
    record.apiVersion = recordedApiVersion(apiVersion);
    const fault = takeFault(sandbox.faults, 'admin');
    record.fault = fault?.type;
    const url = new URL(c.req.url);
    const outcome = await adminOutcome(
      sandbox,
      sandbox.admin,
      {
        mallId,
        method: c.req.method,
        segments: url.pathname.split('/').slice(2),
        query: url.searchParams,
        authorization: c.req.header('authorization'),
        apiVersion,
        contentType: c.req.header('content-type'),
        body: () => readBody(c.req.raw),
      },
      fault,
    );
    return deliver(c, outcome, sandbox.timers);
  });

  // The mall admin's app page: delete or expire the app, or press Cafe24's [TEST] button.
  app.get('/admin/:mall', (c) => c.html(adminPage(c.req.param('mall'), [])));
  app.post('/admin/:mall/:action', async (c) => {
    const mallId = c.req.param('mall');
    const action = c.req.param('action');
    if (action !== 'delete' && action !== 'expire' && action !== 'test') return notFound();
    const deliveries =
      action === 'test'
        ? sandbox.webhook
          ? await sendWebhook(sandbox.webhook, TEST_SAMPLE)
          : []
        : await removeApp(sandbox, mallId, action === 'delete' ? 'deleted' : 'expired', 1);
    return c.html(adminPage(mallId, deliveries, action, sandbox.webhook !== undefined));
  });

  app.notFound(notFound);
  app.onError(() => toResponse(oauthError(500, 'server_error', 'Sandbox failure')));
  return app;
}

/** The resource APIs' error shape, not OAuth's: a base URL off by a path segment must not pass for Cafe24's. */
function notFound(): Response {
  return toResponse(jsonReply(404, { error: { code: 404, message: 'No such endpoint', more_info: {} } }));
}

/** A token or revoke request with its form read and recorded; undefined when the body is too large. */
async function tokenRequest(c: Context<SandboxEnv>, mallId: string): Promise<TokenRequest | undefined> {
  const body = await readBody(c.req.raw);
  if (body === undefined) return undefined;
  const form = new URLSearchParams(body);
  const record = c.get('record');
  record.grantType = form.get('grant_type') ?? undefined;
  record.code = form.get('code') ?? undefined;
  return {
    mallId,
    form,
    authorization: c.req.header('authorization'),
    contentType: c.req.header('content-type'),
  };
}

/** `/{mall_id}/api/v2/admin/…`: an Admin API call. */
function isAdminPath(path: string): boolean {
  return /^\/[^/]+\/api\/v2\/admin\//.test(path);
}

/** The query as URLSearchParams reads it, as Cafe24's endpoints would. */
function query(c: Context<SandboxEnv>): URLSearchParams {
  return new URL(c.req.url).searchParams;
}

/** Answers now, later, or never (the connection left hanging, or reset). */
async function deliver(
  c: Context<SandboxEnv>,
  outcome: Outcome,
  timers: Set<NodeJS.Timeout>,
): Promise<Response> {
  if (outcome === 'hang') return never();
  if (outcome === 'reset') {
    c.env.outgoing.socket?.resetAndDestroy();
    return never();
  }
  if (outcome.until) await outcome.until.catch(() => {});
  else if (outcome.delayMs > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, outcome.delayMs);
      timers.add(timer);
    });
  }
  return toResponse(outcome.reply);
}

/** A response that never comes: stop() closes the connection waiting for it. */
function never(): Promise<Response> {
  return new Promise<Response>(() => {});
}

async function readBody(request: Request): Promise<string | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Drain an oversized body rather than abandon it, so the 413 still reaches the client.
  for await (const chunk of request.body ?? []) {
    size += chunk.byteLength;
    if (size <= MAX_REQUEST_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_REQUEST_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}
