import { type Context, Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { describeError } from '../commons/errors.ts';
import { type AppHandOff, launchOutcomeOf } from './app-hand-off.ts';
import {
  type CallbackQuery,
  DERIVED_CALLBACK_PATH,
  finishInstall,
  type InstallDeps,
  startInstall,
} from './install.ts';
import {
  contentSecurityPolicy,
  errorPage,
  type Language,
  languageOf,
  languageOfHeader,
  launchedPage,
  launchRefusedPage,
  notFoundPage,
  outcomePage,
  type Page,
  type PageContext,
} from './pages.ts';
import { type WebhookDeps, webhookRoute } from './webhook.ts';

export type InstallAppOptions = {
  /** Hand the operator to the app (`APP_RETURN_URL?launch=<JWT>`) instead of showing the outcome page. */
  handOff?: AppHandOff | undefined;
  /** The app's name on the pages. */
  appName?: string | undefined;
  /** Origins that may frame the pages; none when empty. */
  frameAncestors?: readonly string[];
  /** `POST /webhooks/cafe24`: Cafe24's app events (removal, expiry, payment). */
  webhook?: WebhookDeps;
};

/** The cookie binding an install's `state` to the browser that started it. */
const COOKIE = 'cafe24_install';

/** How long an app may cache the JWKS: a new key is served beside the old before it signs. */
const JWKS_MAX_AGE_SECONDS = 300;

/**
 * The install front's routes, the same on Node (`serve`) and on Lambda (`hono/aws-lambda`):
 * `GET /install` (Cafe24's app launch: the app opens, or the install starts), `GET <path of
 * CAFE24_REDIRECT_URI>` (the OAuth callback), `GET /.well-known/jwks.json` (the launch token's public
 * keys), `POST /webhooks/cafe24` (Cafe24's app events) and `GET /healthz`. Routes only map HTTP to
 * `startInstall` / `finishInstall` and their outcomes to the app's hand-off or to pages.
 */
export function createInstallApp(deps: InstallDeps, options: InstallAppOptions = {}): Hono {
  const configured = deps.settings.redirectUri === undefined ? undefined : new URL(deps.settings.redirectUri);
  const callbackPath = configured?.pathname ?? DERIVED_CALLBACK_PATH;
  // `Secure` (and the `__Host-` prefix: no subdomain can set or shadow it) wherever the app is on HTTPS.
  const cookieOptions = (c: Context) => {
    const secure = (configured ?? new URL(originOf(c))).protocol === 'https:';
    return { secure, prefix: secure ? ('host' as const) : undefined };
  };

  const { handOff } = options;
  const csp = contentSecurityPolicy(options.frameAncestors ?? []);
  const context = (lang: Language): PageContext => ({ lang, appName: options.appName });
  /** Pages with no launch behind them speak the browser's language. */
  const browserLanguage = (c: Context) => languageOfHeader(c.req.header('accept-language'));

  const app = new Hono();

  app.use(async (c, next) => {
    await next();
    if (!c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
    c.header('Referrer-Policy', 'no-referrer');
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Content-Security-Policy', csp);
    if ((options.frameAncestors ?? []).length === 0) c.header('X-Frame-Options', 'DENY');
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/.well-known/jwks.json', async (c) => {
    if (!handOff) return html(c, notFoundPage(context(browserLanguage(c))));
    c.header('Cache-Control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    return c.json(await handOff.jwks());
  });

  app.get('/install', async (c) => {
    const query = rawQuery(c);
    const { secure, prefix } = cookieOptions(c);
    const started = await startInstall(deps, query, getCookie(c, COOKIE, prefix), originOf(c));
    if (started.kind === 'refused') {
      // The language only picks the page's words: an unverified query may choose that much.
      return html(c, launchRefusedPage(started.reason, context(languageOf(unverifiedLang(query)))));
    }
    if (started.kind === 'launched') {
      if (handOff) {
        return c.redirect(await handOff.url(started.mallId, started.launcher, 'launched', originOf(c)), 303);
      }
      return html(c, launchedPage(started.mallId, context(languageOf(started.launcher.lang))));
    }
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
    const { prefix } = cookieOptions(c);
    const outcome = await finishInstall(deps, callbackQuery(c), getCookie(c, COOKIE, prefix));
    const told = handOff ? launchOutcomeOf(outcome) : undefined;
    if (handOff && told) {
      return c.redirect(await handOff.url(told.mallId, told.launcher, told.outcome, originOf(c)), 303);
    }
    // The launch's language, kept with the state; an install started before it was kept, the browser's.
    const launched = 'launcher' in outcome ? outcome.launcher?.lang : undefined;
    const lang = launched ? languageOf(launched) : browserLanguage(c);
    return html(c, outcomePage(outcome, context(lang)));
  });

  if (options.webhook) webhookRoute(app, options.webhook);

  app.notFound((c) => html(c, notFoundPage(context(browserLanguage(c)))));
  app.onError((error, c) => {
    // The path only: a query may hold a code, a state or a launch's hmac.
    deps.log.error('install request failed', { path: c.req.path, error: describeError(error) });
    return html(c, errorPage(context(browserLanguage(c))));
  });
  return app;
}

/**
 * The origin a request reached the front at: on Lambda the HTTP API's (or the custom domain's) host over
 * https; on Node its Host, https where a proxy in front says so (X-Forwarded-Proto). Only names the
 * redirect URI when none is configured, which Cafe24 refuses unless it is the one registered.
 */
function originOf(c: Context): string {
  const url = new URL(c.req.url);
  const forwarded = c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase();
  const protocol = forwarded === 'https' || forwarded === 'http' ? `${forwarded}:` : url.protocol;
  return `${protocol}//${url.host}`;
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

/** The `lang` a launch query names, for the words of its refusal page only. */
function unverifiedLang(query: string): string | undefined {
  const lang = new URLSearchParams(query).get('lang');
  return lang !== null && /^[a-z]{2}_[A-Z]{2}$/.test(lang) ? lang : undefined;
}
