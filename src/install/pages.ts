import { createHash } from 'node:crypto';
import type { LaunchRefusal } from '../cafe24/app-launch.ts';
import type { InstallOutcome } from './install.ts';
import {
  type Html,
  type KstTime,
  type Language,
  type PageTexts,
  SCOPE_AREAS,
  type ScopeArea,
  TEXTS,
} from './texts.ts';

/**
 * The small HTML pages a shop operator sees, in the operator's language (Korean for Cafe24's `lang=ko_KR`,
 * its default; English otherwise). This file holds the markup only: every word is in texts.ts. Every
 * value that came from outside goes through `escapeHtml`.
 */

export type { Language } from './texts.ts';

/** Cafe24's `lang` (ko_KR, en_US, ja_JP, …) → the page language: 'ko' for ko_KR (and for undefined/absent: Cafe24's default), 'en' for anything else. */
export function languageOf(lang: string | undefined): Language {
  if (lang === undefined || lang === '') return 'ko';
  return /^ko(?:[_-]kr)?$/i.test(lang) ? 'ko' : 'en';
}

/** From an Accept-Language header, for pages with no launch behind them (404, a bad link): 'ko' when Korean is preferred or the header is absent, else 'en'. */
export function languageOfHeader(acceptLanguage: string | undefined): Language {
  if (acceptLanguage === undefined || acceptLanguage.trim() === '') return 'ko';
  // The first of the highest weight among the languages we have (and `*`: any, so the default).
  let best: { lang: Language; q: number } | undefined;
  for (const entry of acceptLanguage.split(',')) {
    const [tag = '', ...params] = entry.trim().split(';');
    const primary = tag.trim().toLowerCase().split('-')[0];
    const lang = primary === 'ko' || primary === '*' ? 'ko' : primary === 'en' ? 'en' : undefined;
    if (!lang) continue;
    const weight = params.map((p) => p.trim()).find((p) => p.toLowerCase().startsWith('q='));
    const q = weight === undefined ? 1 : Number(weight.slice(2));
    if (!Number.isFinite(q) || q <= 0) continue;
    if (!best || q > best.q) best = { lang, q };
  }
  return best?.lang ?? 'en';
}

export type PageContext = { lang: Language; appName?: string | undefined };
export type Page = { status: 200 | 202 | 400 | 403 | 404 | 500 | 502; html: string };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
body{font:16px/1.6 -apple-system,BlinkMacSystemFont,"Segoe UI","Apple SD Gothic Neo","Malgun Gothic","Noto Sans KR",
system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
main{max-width:34rem;margin:12vh auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;
box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.05)}
:lang(ko) h1,:lang(ko) p,:lang(ko) dd,:lang(ko) li{word-break:keep-all;overflow-wrap:anywhere}
h1{font-size:1.35rem;line-height:1.4;margin:0 0 .75rem;display:flex;gap:.6rem;align-items:center}
.mark{flex:none;display:inline-grid;place-items:center;width:2rem;height:2rem;border-radius:50%;color:#fff;font-size:1.1rem}
.ok{background:#1a7f4b}.wait{background:#b7791f}.bad{background:#c53030}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem;margin:1.25rem 0}
dt{color:#5b6472}dd{margin:0;word-break:break-word}
ul{margin:0;padding-left:1.1rem}
code{background:#f0f2f5;padding:.1rem .35rem;border-radius:4px;font-size:.9em;word-break:break-all}
p.tech{color:#5b6472;font-size:.85rem}
.note{display:block;color:#5b6472;font-size:.85rem}
p.next{margin-top:1.25rem;padding-top:1rem;border-top:1px solid #e6e8ec;color:#3b4350}
`.trim();

/** The CSP every page is served with: the one inline style by its hash; no script, no other source, no form target; framed only by `frameAncestors` (each an https origin validated by config), by none when empty. */
export function contentSecurityPolicy(frameAncestors: readonly string[]): string {
  for (const origin of frameAncestors) {
    // Config validated these; a separator here would write a directive of its own.
    if (origin === '' || /[\s;,'"]/.test(origin)) throw new Error(`not a frame ancestor origin: ${origin}`);
  }
  return [
    "default-src 'none'",
    `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${frameAncestors.length === 0 ? "'none'" : frameAncestors.join(' ')}`,
  ].join('; ');
}

type Tone = 'ok' | 'wait' | 'bad';
const MARKS: Record<Tone, string> = { ok: '✓', wait: '…', bad: '!' };

/** A page's parts: `lead`, `next` and `tech` are markup (texts.ts's, with escaped values); `title` is text. */
type Parts = { title: string; lead: Html; details?: Html; tech?: Html | undefined; next?: Html };

function page(ctx: PageContext, status: Page['status'], tone: Tone, parts: Parts): Page {
  const t = TEXTS[ctx.lang];
  const tech = parts.tech ? `\n<p class="tech">${t.techLabel}: ${parts.tech}</p>` : '';
  const next = parts.next ? `\n<p class="next">${parts.next}</p>` : '';
  const html = `<!doctype html>
<html lang="${ctx.lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${escapeHtml(parts.title)}</title><style>${STYLE}</style></head>
<body><main><h1><span class="mark ${tone}" aria-hidden="true">${MARKS[tone]}</span>${escapeHtml(parts.title)}</h1>
<p class="lead">${parts.lead}</p>${parts.details ?? ''}${tech}${next}
</main></body></html>
`;
  return { status, html };
}

const strong = (value: string): Html => `<b>${escapeHtml(value)}</b>`;
const code = (value: string): Html => `<code>${escapeHtml(value)}</code>`;
const appOf = (ctx: PageContext): Html => strong(ctx.appName?.trim() || TEXTS[ctx.lang].defaultAppName);

/** KST is UTC+9 all year: no time-zone data, no locale data, whatever the machine's zone. */
export function kstTime(date: Date): KstTime {
  const kst = new Date(date.getTime() + 9 * 3_600_000);
  return {
    year: kst.getUTCFullYear(),
    month: kst.getUTCMonth() + 1,
    day: kst.getUTCDate(),
    hour: kst.getUTCHours(),
    minute: kst.getUTCMinutes(),
  };
}

const SCOPE = /^mall\.(read|write)_([a-z]+)$/;
const AREAS: ReadonlySet<string> = new Set(SCOPE_AREAS);
const isArea = (area: string | undefined): area is ScopeArea => area !== undefined && AREAS.has(area);

type ScopeLine = { area: ScopeArea; read: boolean; write: boolean } | { code: string };

/**
 * Cafe24 scopes in the operator's words, one line per area in the order first asked for: `mall.read_order`
 * → "See your orders", read and write of one area → "See and change …"; a scope we do not know, as its code.
 */
function scopeLines(scopes: readonly string[], texts: PageTexts): Html[] {
  const lines: ScopeLine[] = [];
  const byArea = new Map<ScopeArea, { area: ScopeArea; read: boolean; write: boolean }>();
  const codes = new Set<string>();
  for (const scope of scopes) {
    const [, access, area] = SCOPE.exec(scope) ?? [];
    if (isArea(area)) {
      let line = byArea.get(area);
      if (!line) {
        line = { area, read: false, write: false };
        byArea.set(area, line);
        lines.push(line);
      }
      line[access === 'read' ? 'read' : 'write'] = true;
    } else if (!codes.has(scope)) {
      codes.add(scope);
      lines.push({ code: scope });
    }
  }
  const { areas, see, change, seeAndChange } = texts.scopes;
  return lines.map((line) => {
    if ('code' in line) return code(line.code);
    const words = areas[line.area];
    return escapeHtml(line.read && line.write ? seeAndChange(words) : line.read ? see(words) : change(words));
  });
}

export function outcomePage(outcome: InstallOutcome, ctx: PageContext): Page {
  const t = TEXTS[ctx.lang];
  switch (outcome.kind) {
    case 'installed': {
      const lines = scopeLines(outcome.scopes, t);
      const scopes = lines.length
        ? `<ul>${lines.map((line) => `<li>${line}</li>`).join('')}</ul>`
        : t.scopes.none;
      return page(ctx, 200, 'ok', {
        title: t.installed.title,
        lead: t.installed.lead(appOf(ctx), strong(outcome.mallId)),
        details: `
<dl><dt>${t.installed.shopLabel}</dt><dd>${escapeHtml(outcome.mallId)}</dd>
<dt>${t.installed.scopesLabel}</dt><dd>${scopes}</dd>
<dt>${t.installed.untilLabel}</dt><dd>${t.installed.until(escapeHtml(t.time(kstTime(outcome.expiresAt))))}
<span class="note">${t.installed.renews}</span></dd></dl>`,
        next: t.installed.next,
      });
    }
    case 'pending':
      return page(ctx, 202, 'wait', {
        title: t.pending.title,
        lead: t.pending.lead(appOf(ctx), strong(outcome.mallId)),
        next: t.pending.next,
      });
    case 'failed':
      return page(ctx, 502, 'bad', {
        title: t.failed.title,
        lead: t.failed.lead(appOf(ctx), strong(outcome.mallId)),
        tech: code(outcome.reason),
        next: t.failed.next,
      });
    case 'cafe24-error': {
      const said = outcome.description ? `${t.cafe24.said(escapeHtml(outcome.description))} ` : '';
      const mall = outcome.mallId ? strong(outcome.mallId) : undefined;
      const tech = `${said}${code(outcome.error)}`;
      if (outcome.error === 'access_denied') {
        const { title, lead, next } = t.cafe24.declined;
        return page(ctx, 403, 'bad', { title, lead: lead(appOf(ctx), mall), tech, next });
      }
      const { title, lead, next } = t.cafe24.refused;
      return page(ctx, 400, 'bad', { title, lead: lead(appOf(ctx), mall), tech, next });
    }
    case 'bad-callback':
      return page(ctx, 400, 'bad', { ...t.badLink, tech: code(outcome.reason) });
    case 'state-refused':
      switch (outcome.reason) {
        case 'used-state':
          return page(ctx, 400, 'bad', t.usedLink);
        case 'expired-state':
          return page(ctx, 400, 'bad', t.expiredLink);
        case 'missing-cookie':
        case 'wrong-browser':
          return page(ctx, 403, 'bad', t.otherBrowser);
        default:
          return page(ctx, 400, 'bad', t.unknownLink);
      }
  }
}

/** "Already installed": an installed app opened again, with no app URL to hand the operator to. */
export function launchedPage(mallId: string, ctx: PageContext): Page {
  const t = TEXTS[ctx.lang].launched;
  return page(ctx, 200, 'ok', { title: t.title, lead: t.lead(appOf(ctx), strong(mallId)), next: t.next });
}

export function launchRefusedPage(reason: LaunchRefusal, ctx: PageContext): Page {
  const t = TEXTS[ctx.lang];
  const said =
    reason === 'stale-timestamp' || reason === 'missing-timestamp'
      ? t.staleLaunch
      : reason === 'used-launch'
        ? t.usedLaunch
        : t.badLaunch;
  return page(ctx, 400, 'bad', { ...said, tech: code(reason) });
}

export function notFoundPage(ctx: PageContext): Page {
  return page(ctx, 404, 'bad', TEXTS[ctx.lang].notFound);
}

export function errorPage(ctx: PageContext): Page {
  return page(ctx, 500, 'bad', TEXTS[ctx.lang].error);
}
