import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { listen } from '../src/install/node-server.ts';
import {
  type LaunchOutcome,
  type LaunchToken,
  LaunchTokenError,
  verifyLaunchToken,
} from '../src/launch/launch-token.ts';

/**
 * The app behind the install front, as small as one can be: the front sends the operator to
 * `GET /app?launch=<JWT>`; the app verifies the token against the front's JWKS, refuses a token it has
 * seen before, and greets the operator of the mall the token names. `npm start` runs it as APP_RETURN_URL.
 * It is the example an app copies: it trusts nothing in the URL but the verified token.
 */

export type DemoApp = {
  /** The APP_RETURN_URL: `http://localhost:PORT/app`. */
  url: string;
  /** How many launches it accepted. */
  readonly seen: number;
  stop(): Promise<void>;
};

type Lang = 'ko' | 'en';

/** The app's words: Korean for a launch in ko_KR (Cafe24's default), English otherwise. */
type Texts = {
  title: string;
  hello: (user: string, mall: string) => string;
  session: string;
  replayTitle: string;
  replay: string;
  outcomes: Record<LaunchOutcome, string>;
};
const TEXTS: Record<Lang, Texts> = {
  en: {
    title: 'Demo app',
    hello: (user, mall) => `hello, ${user} of ${mall}`,
    session: 'A real app would now start its own session.',
    replayTitle: 'Link already used',
    replay: 'This link was already used: open the app again from the Cafe24 admin.',
    outcomes: {
      launched: 'Opened again from the admin: already installed, no consent asked.',
      installed: 'Just installed: the tokens are stored.',
      pending: 'Installed; the tokens are still being fetched.',
      failed: 'The install did not finish: open the app again from the Cafe24 admin.',
      declined: "The install was cancelled on Cafe24's consent page.",
    },
  },
  ko: {
    title: '데모 앱',
    hello: (user, mall) => `안녕하세요, ${mall} 쇼핑몰 ${user} 님`,
    session: '실제 앱은 여기서 자체 세션을 시작합니다.',
    replayTitle: '이미 사용한 링크',
    replay: '이 링크는 이미 사용되었습니다. Cafe24 관리자에서 앱을 다시 열어 주세요.',
    outcomes: {
      launched: '관리자 화면에서 앱을 다시 여셨습니다. 이미 설치되어 있어 동의 절차 없이 열렸습니다.',
      installed: '방금 설치되었습니다. 토큰이 저장되었습니다.',
      pending: '설치되었습니다. 토큰을 아직 받는 중입니다.',
      failed: '설치를 마치지 못했습니다. Cafe24 관리자에서 앱을 다시 열어 주세요.',
      declined: 'Cafe24 동의 화면에서 설치를 취소하셨습니다.',
    },
  },
};

const STYLE =
  'body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:10vh auto;padding:0 1rem}small{color:#667}';
// No script, no other source, no form, no framing: the one inline style, by its hash.
const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export async function startDemoApp(options: {
  port?: number;
  hostname?: string;
  /** The front's JWKS: `${front origin}/.well-known/jwks.json`. */
  jwksUrl: string;
  /** The front's origin (the tokens' `iss`). */
  issuer: string;
  /** The app's Cafe24 client id (the tokens' `aud`). */
  audience: string;
}): Promise<DemoApp> {
  const { jwksUrl, issuer, audience } = options;
  // Each accepted token's jti until its exp (at most 120 s): a second use of the same link is refused.
  const used = new Map<string, number>();
  let seen = 0;

  const app = new Hono();
  app.get('/app', async (c) => {
    const token = c.req.query('launch');
    let launch: LaunchToken;
    try {
      if (!token) throw new LaunchTokenError('malformed', 'there is no launch token in the link');
      launch = await verifyLaunchToken(token, { jwksUrl, issuer, audience });
    } catch (error) {
      // The error's message says why, never quoting the token; a JWKS the app cannot fetch is not the link's fault.
      const why =
        error instanceof LaunchTokenError ? error.message : 'the launch token could not be verified';
      const status = error instanceof LaunchTokenError && error.code === 'jwks-unavailable' ? 503 : 401;
      // No verified launch, so no language: both.
      const body = `<p id="error">${escapeHtml(why)}.</p><p lang="ko">카페24 관리자 화면에서 앱을 열어 주세요.</p><p>Open the app from the Cafe24 admin.</p>`;
      return page(status, 'en', 'Not signed in', body);
    }
    // Cafe24's default is Korean: a launch without lang is one.
    const lang: Lang = launch.lang === undefined || launch.lang === 'ko_KR' ? 'ko' : 'en';
    const t = TEXTS[lang];
    const now = Date.now() / 1000;
    for (const [jti, exp] of used) if (exp < now) used.delete(jti);
    if (used.has(launch.jti)) return page(400, lang, t.replayTitle, `<p id="replay">${t.replay}</p>`);
    used.set(launch.jti, launch.exp);
    seen += 1;

    // A real app would now start its own session (its own cookie) and redirect to a URL without ?launch=.
    const user = escapeHtml(launch.user_name || launch.user_id || launch.mall_id);
    const mall = escapeHtml(launch.mall_id);
    const data = `data-mall="${mall}" data-user="${user}" data-outcome="${launch.outcome}"`;
    return page(
      200,
      lang,
      t.title,
      `<p id="greeting" ${data}>${t.hello(user, mall)}</p>
<p id="outcome">${t.outcomes[launch.outcome]}</p>
<p><small>${t.session}</small></p>`,
    );
  });

  const hostname = options.hostname ?? 'localhost';
  const host = hostname === 'localhost' ? '127.0.0.1' : hostname;
  const listening = await listen(app, { port: options.port ?? 0, host });
  return {
    url: `http://${hostname}:${listening.port}/app`,
    get seen() {
      return seen;
    },
    stop: () => listening.close(),
  };
}

/** Every page: no referrer (the URL holds the token), never cached, the strict CSP. */
function page(status: 200 | 400 | 401 | 503, lang: Lang, title: string, body: string): Response {
  const html = `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><h1>${escapeHtml(title)}</h1>
${body}</body></html>`;
  return new Response(html, {
    status,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
    },
  });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}
