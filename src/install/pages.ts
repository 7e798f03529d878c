import { createHash } from 'node:crypto';
import type { LaunchRefusal } from '../cafe24/app-launch.ts';
import type { InstallOutcome } from './install.ts';

/** The small HTML pages a person sees. Every value that came from outside goes through `escapeHtml`. */

export type Page = { status: 200 | 202 | 400 | 403 | 404 | 500 | 502; html: string };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI","Apple SD Gothic Neo","Noto Sans KR",sans-serif;
margin:0;background:#f6f7f9;color:#1d2430}
main{max-width:34rem;margin:12vh auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;
box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.05)}
h1{font-size:1.35rem;margin:0 0 .75rem;display:flex;gap:.6rem;align-items:center}
.mark{display:inline-grid;place-items:center;width:2rem;height:2rem;border-radius:50%;color:#fff;font-size:1.1rem}
.ok{background:#1a7f4b}.wait{background:#b7791f}.bad{background:#c53030}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:1.25rem 0}
dt{color:#5b6472}dd{margin:0;word-break:break-word}
code{background:#f0f2f5;padding:.1rem .35rem;border-radius:4px;font-size:.9em}
p.next{margin-top:1.25rem;padding-top:1rem;border-top:1px solid #e6e8ec;color:#3b4350}
`.trim();

/** The CSP names the one inline style by its hash: no script, no other source, no form target. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

type Tone = 'ok' | 'wait' | 'bad';
const MARKS: Record<Tone, string> = { ok: '✓', wait: '…', bad: '!' };

/** `body` is trusted markup built here; callers escape what they put into it. */
function page(status: Page['status'], tone: Tone, title: string, body: string): Page {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main><h1><span class="mark ${tone}" aria-hidden="true">${MARKS[tone]}</span>${escapeHtml(title)}</h1>
${body}
</main></body></html>
`;
  return { status, html };
}

function formatTime(date: Date): string {
  const utc = date.toISOString().slice(0, 16).replace('T', ' ');
  const kst = new Date(date.getTime() + 9 * 3_600_000).toISOString().slice(0, 16).replace('T', ' ');
  return `${utc} UTC (${kst} KST)`;
}

const AGAIN = 'the app again from your Cafe24 admin (<b>My Apps</b>) to start a new install';
const START_AGAIN = `Open ${AGAIN}.`;
/** The same advice inside a sentence. */
const startAgain = `open ${AGAIN}.`;

export function outcomePage(outcome: InstallOutcome): Page {
  switch (outcome.kind) {
    case 'installed':
      return page(
        200,
        'ok',
        'App installed',
        `<p>The app is installed on <b>${escapeHtml(outcome.mallId)}</b>, and its access token is stored.</p>
<dl><dt>Mall</dt><dd>${escapeHtml(outcome.mallId)}</dd>
<dt>Scopes</dt><dd>${outcome.scopes.map((s) => `<code>${escapeHtml(s)}</code>`).join(' ') || 'none listed'}</dd>
<dt>Token valid until</dt><dd>${escapeHtml(formatTime(outcome.expiresAt))}</dd></dl>
<p class="next">You can close this page.</p>`,
      );
    case 'pending':
      return page(
        202,
        'wait',
        'Almost done',
        `<p>Cafe24 approved the install on <b>${escapeHtml(outcome.mallId)}</b>. The access token is being
issued and will be stored within a minute.</p>
<p class="next">You can close this page. If the app says it is not installed in a few minutes, ${startAgain}</p>`,
      );
    case 'failed':
      return page(
        502,
        'bad',
        'The install did not complete',
        `<p>Cafe24 approved the install on <b>${escapeHtml(outcome.mallId)}</b>, but the access token
could not be issued: ${escapeHtml(outcome.reason)}.</p>
<p class="next">${START_AGAIN} If it fails again, tell the app's developer the time shown by your clock.</p>`,
      );
    case 'cafe24-error':
      return cafe24ErrorPage(outcome.error, outcome.description, outcome.mallId);
    case 'bad-callback':
      return page(
        400,
        'bad',
        'This is not a complete install link',
        `<p>The address lacks the ${outcome.reason === 'missing-code' ? 'authorization code' : outcome.reason === 'missing-state' ? '<code>state</code>' : 'parameters'} Cafe24 sends back.</p>
<p class="next">${START_AGAIN}</p>`,
      );
    case 'state-refused':
      return stateRefusedPage(outcome.reason);
  }
}

function cafe24ErrorPage(error: string, description: string | undefined, mallId: string | undefined): Page {
  const shown = description
    ? `<p>Cafe24 said: “${escapeHtml(description)}” <code>${escapeHtml(error)}</code></p>`
    : `<p>Cafe24 answered <code>${escapeHtml(error)}</code>.</p>`;
  const where = mallId ? ` on <b>${escapeHtml(mallId)}</b>` : '';
  if (error === 'access_denied') {
    return page(
      403,
      'bad',
      'Install cancelled',
      `<p>The app was not installed${where}: the install was declined.</p>${shown}
<p class="next">To install it after all, ${startAgain}</p>`,
    );
  }
  return page(
    400,
    'bad',
    'Cafe24 refused the install',
    `<p>The app was not installed${where}.</p>${shown}
<p class="next">This usually means the app's redirect URI or scopes differ from those registered in Cafe24
Developers. Please tell the app's developer; trying again will not help until that is fixed.</p>`,
  );
}

function stateRefusedPage(reason: string): Page {
  switch (reason) {
    case 'used-state':
      return page(
        400,
        'bad',
        'This install link was already used',
        `<p>Each install link works once. It was used a moment ago, perhaps in another tab or by a double
click; that tab shows the outcome.</p><p class="next">${START_AGAIN}</p>`,
      );
    case 'expired-state':
      return page(
        400,
        'bad',
        'This install link has expired',
        `<p>An install must be finished within 10 minutes of starting it.</p><p class="next">${START_AGAIN}</p>`,
      );
    case 'missing-cookie':
    case 'wrong-browser':
      return page(
        403,
        'bad',
        'Finish the install in the browser you started it in',
        `<p>This install was started in another browser (or cookies are blocked here), so it cannot be
finished here. This protects your shop from installs started by someone else.</p>
<p class="next">Allow cookies for this site, then ${startAgain}</p>`,
      );
    default:
      return page(
        400,
        'bad',
        'Unknown install link',
        `<p>This install link is not one this app issued, or it expired and was cleaned up.</p><p class="next">${START_AGAIN}</p>`,
      );
  }
}

export function launchRefusedPage(reason: LaunchRefusal): Page {
  if (reason === 'stale-timestamp' || reason === 'missing-timestamp') {
    return page(
      400,
      'bad',
      'This app launch link has expired',
      `<p>App launch links from Cafe24 are valid for two hours. This one is older (or this computer's clock
is far off).</p><p class="next">${START_AGAIN}</p>`,
    );
  }
  return page(
    400,
    'bad',
    'This is not a valid Cafe24 app launch',
    `<p>The app can only be installed from Cafe24: this link does not carry Cafe24's signature for this
app.</p><p class="next">${START_AGAIN}</p>`,
  );
}

export function notFoundPage(): Page {
  return page(404, 'bad', 'Not found', '<p>There is nothing at this address.</p>');
}

export function errorPage(): Page {
  return page(
    500,
    'bad',
    'Something went wrong on our side',
    `<p>The install could not be processed just now. Nothing was changed on your shop.</p>
<p class="next">Wait a minute, then ${startAgain}</p>`,
  );
}
