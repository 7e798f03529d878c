import { createHmac } from 'node:crypto';
import type { Reply } from './reply.ts';
import type { SandboxSettings } from './types.ts';

/** The browser side of an install: the sandbox's app store, Cafe24's signed launch, the consent page. */

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

/** The operator's language a launch carries (`?lang=` on the app store's URL): Cafe24's ko_KR by default. */
export function launchLanguage(given: string | undefined): string {
  return given !== undefined && /^[a-z]{2}_[A-Z]{2}$/.test(given) ? given : 'ko_KR';
}

/** `GET /appstore`: the sandbox's stand-in for Cafe24's app store; `lang` goes into the launch it links to. */
export function appStorePage(settings: SandboxSettings, mallId: string, lang = 'ko_KR'): Reply {
  const launch = `/appstore/launch?mall_id=${encodeURIComponent(mallId)}&lang=${encodeURIComponent(lang)}`;
  return htmlPage(
    'Cafe24 app store (sandbox)',
    `<h1>Cafe24 app store <span class="badge">sandbox</span></h1>
<p>Shop <b>${escapeHtml(mallId)}</b>, operator 홍길동.</p>
<p>App <code>${escapeHtml(settings.clientId)}</code> at <code>${escapeHtml(settings.appUrl)}</code></p>
<p><a class="button" id="launch" href="${escapeHtml(launch)}">Install this app</a></p>`,
  );
}

/**
 * `GET /appstore/launch` opens the app URL as Cafe24 does: Cafe24's launch parameters in Cafe24's order,
 * values encoded with %20 for spaces, and an hmac under the client secret (cafe24-oauth.md).
 */
export function appLaunch(
  settings: SandboxSettings,
  mallId: string,
  timestamp: string,
  lang = 'ko_KR',
): Reply {
  const params: Array<[string, string]> = [
    ['is_multi_shop', 'T'],
    ['lang', lang],
    ['mall_id', mallId],
    ['nation', 'KR'],
    ['shop_no', '1'],
    ['timestamp', timestamp],
    ['user_id', mallId],
    ['user_name', '홍길동 대표'],
    ['user_type', 'P'],
  ];
  const message = params.map(([key, value]) => `${key}=${encodeURIComponent(value)}`).join('&');
  const hmac = createHmac('sha256', settings.clientSecret).update(message).digest('base64');
  const appUrl = settings.appUrl;
  const location = `${appUrl}${appUrl.includes('?') ? '&' : '?'}${message}&hmac=${encodeURIComponent(hmac)}`;
  return { status: 302, body: '', headers: { location } };
}

/** Cafe24's consent screen: Install sends the code to the redirect URI, Decline an access_denied error. */
export function consentPage(mallId: string, query: URLSearchParams, scopes: string[]): Reply {
  const hidden = ['response_type', 'client_id', 'state', 'redirect_uri', 'scope']
    .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(query.get(name) ?? '')}">`)
    .join('');
  const listed = scopes.map((scope) => `<li><code>${escapeHtml(scope)}</code></li>`).join('');
  return htmlPage(
    'Install app (sandbox)',
    `<h1>Install this app on ${escapeHtml(mallId)}? <span class="badge">sandbox</span></h1>
<p>App <code>${escapeHtml(query.get('client_id') ?? '')}</code> asks for:</p><ul>${listed}</ul>
<form method="get" action="/${encodeURIComponent(mallId)}/api/v2/oauth/authorize">${hidden}
<button id="install" name="consent" value="install">Install</button>
<button id="decline" class="secondary" name="consent" value="decline">Decline</button></form>`,
  );
}

/**
 * `GET /admin/{mall_id}`: the mall admin's page for the installed app. Delete or expire the app (Cafe24
 * then refuses its tokens and sends 90077 / 90078), or press Cafe24's [TEST] button; after a press, what
 * the receiver answered to each delivery.
 */
export function adminPage(
  mallId: string,
  deliveries: Array<{ eventNo: number; status: number }>,
  done?: string,
  webhookSet = true,
): string {
  const mall = encodeURIComponent(mallId);
  const result =
    done === undefined
      ? ''
      : deliveries.length === 0
        ? `<p id="result">${done === 'test' ? '' : '앱이 삭제되었습니다 (app removed). '}웹훅이 설정되지 않아 보내지 않았습니다 (no webhook configured${webhookSet ? '' : ': setWebhook'}).</p>`
        : `<p id="result">${deliveries
            .map(
              (d) => `웹훅 ${d.eventNo} 전송 → HTTP ${d.status === 0 ? '연결 실패 (unreachable)' : d.status}`,
            )
            .join('<br>')}</p>`;
  const button = (action: string, id: string, label: string, english: string, style = '') =>
    `<form method="post" action="/admin/${mall}/${action}" style="display:inline"><button id="${id}"${style}>${label} <small>(${english})</small></button></form>`;
  const page = htmlPage(
    `${mallId} 관리자 (sandbox)`,
    `<h1>${escapeHtml(mallId)} 쇼핑몰 관리자 <span class="badge">sandbox</span></h1>
<p>설치된 앱 (installed app) · 앱 관리 (manage)</p>
${result}
<p>${button('delete', 'delete-app', '앱 삭제', 'Delete app')}${button('expire', 'expire-app', '앱 만료', 'Expire app', ' class="secondary"')}${button('test', 'send-test', '테스트 전송', 'Send TEST sample', ' class="secondary"')}</p>`,
  );
  return (page.body as string).replace('<html lang="en">', '<html lang="ko">');
}
