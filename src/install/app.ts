import { type Context, Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { describeError } from '../commons/errors.ts';
import {
  type CallbackQuery,
  finishInstall,
  type InstallDeps,
  type InstallOutcome,
  startInstall,
} from './install.ts';
import {
  CONTENT_SECURITY_POLICY,
  errorPage,
  launchRefusedPage,
  notFoundPage,
  outcomePage,
  type Page,
} from './pages.ts';
import { type WebhookDeps, webhookRoute } from './webhook.ts';

export type InstallAppOptions = {
  /** Redirect here with `mall_id` and `outcome` instead of showing the outcome page. */
  returnUrl?: string | undefined;
  /** `POST /webhooks/cafe24`: Cafe24's app events (removal, expiry, payment). */
  webhook?: WebhookDeps;
};

/** The cookie binding an install's `state` to the browser that started it. */
const COOKIE = 'cafe24_install';

/**
 * The install front's routes, the same on Node (`serve`) and on Lambda (`hono/aws-lambda`):
 * `GET /install` (Cafe24's app launch), `GET <path of CAFE24_REDIRECT_URI>` (the OAuth callback),
 * `POST /webhooks/cafe24` (Cafe24's app events) and `GET /healthz`. Routes only map HTTP to `startInstall` / `finishInstall` and their outcomes to pages.
 */
export function createInstallApp(deps: InstallDeps, options: InstallAppOptions = {}): Hono {
  const redirectUri = new URL(deps.settings.redirectUri);
  const callbackPath = redirectUri.pathname;
  // `Secure` (and the `__Host-` prefix: no subdomain can set or shadow it) wherever the app is on HTTPS.
  const secure = redirectUri.protocol === 'https:';
  const prefix = secure ? ('host' as const) : undefined;

  const app = new Hono();

  app.use(async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/install', async (c) => {
    const started = await startInstall(deps, rawQuery(c), getCookie(c, COOKIE, prefix));
    if (started.kind === 'refused') return html(c, launchRefusedPage(started.reason));
    setCookie(c, COOKIE, started.browser, {
      httpOnly: true,
      secure,
      sameSite: 'Lax',
      path: '/',
      maxAge: Math.ceil(deps.settings.stateTtlMs / 1000),
      ...(prefix ? { prefix } : {}),
    });
    return c.redirect(started.location, 302);
  });

  app.get(callbackPath, async (c) => {
    const outcome = await finishInstall(deps, callbackQuery(c), getCookie(c, COOKIE, prefix));
    if (options.returnUrl) return c.redirect(returnTo(options.returnUrl, outcome), 303);
    return html(c, outcomePage(outcome));
  });

  if (options.webhook) webhookRoute(app, options.webhook);

  app.notFound((c) => html(c, notFoundPage()));
  app.onError((error, c) => {
    deps.log.error('install request failed', { path: c.req.path, error: describeError(error) });
    return html(c, errorPage());
  });
  return app;
}

function html(c: Context, page: Page) {
  return c.html(page.html, page.status);
}

/**
 * The query string exactly as it reached us: the launch hmac covers its raw bytes, which `c.req.url`
 * may not keep (a URL parser normalises). Lambda's payload v2 keeps `rawQueryString`; Node keeps the
 * request line.
 */
function rawQuery(c: Context): string {
  const env = c.env as { event?: { rawQueryString?: unknown }; incoming?: { url?: unknown } } | undefined;
  if (typeof env?.event?.rawQueryString === 'string') return env.event.rawQueryString;
  const target = typeof env?.incoming?.url === 'string' ? env.incoming.url : c.req.url;
  const at = target.indexOf('?');
  return at < 0 ? '' : target.slice(at + 1);
}

function callbackQuery(c: Context): CallbackQuery {
  const names = ['code', 'state', 'error', 'error_description'];
  return {
    code: c.req.query('code'),
    state: c.req.query('state'),
    error: c.req.query('error'),
    errorDescription: c.req.query('error_description'),
    repeated: names.some((name) => (c.req.queries(name)?.length ?? 0) > 1),
  };
}

/** APP_RETURN_URL with `mall_id` (when known) and `outcome`; nothing secret, nothing from the query. */
function returnTo(returnUrl: string, outcome: InstallOutcome): string {
  const url = new URL(returnUrl);
  const mallId = 'mallId' in outcome ? outcome.mallId : undefined;
  if (mallId) url.searchParams.set('mall_id', mallId);
  url.searchParams.set('outcome', outcomeName(outcome));
  return url.toString();
}

function outcomeName(outcome: InstallOutcome): string {
  switch (outcome.kind) {
    case 'installed':
    case 'pending':
    case 'failed':
      return outcome.kind;
    case 'cafe24-error':
      return outcome.error === 'access_denied' ? 'declined' : 'refused';
    case 'bad-callback':
    case 'state-refused':
      return 'invalid';
  }
}
