/**
 * The install front's pages as the shop operator reads them: in Korean for Cafe24's `lang=ko_KR` (its
 * default) and English otherwise, in the operator's words, every outside value escaped, served under a CSP
 * that allows their one style by hash. The last test draws the Korean page in the headless Chromium and
 * proves its Hangul is real glyphs (Noto Sans KR), not empty boxes.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { InstallOutcome } from '../src/install/install.ts';
import {
  contentSecurityPolicy,
  errorPage,
  escapeHtml,
  kstTime,
  type Language,
  languageOf,
  languageOfHeader,
  launchedPage,
  launchRefusedPage,
  notFoundPage,
  outcomePage,
  type Page,
  type PageContext,
} from '../src/install/pages.ts';
import { SCOPE_AREAS, TEXTS } from '../src/install/texts.ts';
import { HANGUL_FONT, launchBrowser } from './support/browser.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// The README's picture of the front's page (docs/install.png) is refreshed on request only.
const SCREENSHOT = join(
  ROOT,
  ...(process.env.UPDATE_SCREENSHOT === '1' ? ['docs', 'install.png'] : ['.local', 'install-pages-ko.png']),
);

const MALL = 'myshop';
const HOSTILE = `<script>alert("x")</script>'&\``;
const EXPIRES = new Date('2026-12-03T11:45:00Z');
const launcher = { lang: 'ko_KR', shopNo: '1', userId: 'owner' };

const installed = (scopes: string[], mallId = MALL, expiresAt = EXPIRES): InstallOutcome => ({
  kind: 'installed',
  mallId,
  launcher,
  scopes,
  expiresAt,
});

/** The page's words, as a person reads them: no markup, no style, entities decoded. */
function textOf(html: string): string {
  return decode(
    html
      .replace(/<style>[\s\S]*?<\/style>/g, '')
      .replace(/<\/?(?:b|code)>/g, '')
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim(),
  );
}

/** The main text: everything but the small technical line for the developer. */
function mainTextOf(html: string): string {
  return textOf(html.replace(/<p class="tech">[\s\S]*?<\/p>/g, ''));
}

function decode(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>');
}

const titleOf = (html: string) => decode(/<title>([^<]*)<\/title>/.exec(html)?.[1] ?? '');
const h1Of = (html: string) => textOf(/<h1>([\s\S]*?)<\/h1>/.exec(html)?.[1] ?? '');
const styleOf = (html: string) => /<style>([\s\S]*?)<\/style>/.exec(html)?.[1] ?? '';
const HANGUL = /[\uAC00-\uD7A3]/;

type Case = {
  name: string;
  render: (ctx: PageContext) => Page;
  status: Page['status'];
  tone: 'ok' | 'wait' | 'bad';
  /** Phrases the page must say, per language. */
  says: Record<Language, string[]>;
  /** Whether the page tells the operator to open the app again from My Apps. */
  startsOver: boolean;
};

const CASES: Case[] = [
  {
    name: 'installed',
    render: (ctx) => outcomePage(installed(['mall.read_order', 'mall.write_product']), ctx),
    status: 200,
    tone: 'ok',
    says: {
      ko: [
        '앱 설치가 완료되었습니다',
        'myshop 쇼핑몰에 이 앱 설치를 마쳤습니다',
        '주문 정보 보기',
        '상품 정보 변경',
        '연결 상태',
        '자동으로 유지되니 따로 하실 일은 없습니다',
        '닫으셔도 됩니다',
      ],
      en: [
        'App installed',
        'Done: the app is installed on myshop and ready to use',
        'See your orders',
        'Change your products',
        'Connection',
        'Kept up automatically',
        'You can close this page',
      ],
    },
    startsOver: false,
  },
  {
    name: 'pending',
    render: (ctx) => outcomePage({ kind: 'pending', mallId: MALL, launcher }, ctx),
    status: 202,
    tone: 'wait',
    says: {
      ko: [
        '거의 다 되었습니다',
        'myshop 쇼핑몰의 이 앱 설치 동의가 완료되었습니다',
        '1분 안에 자동으로 끝납니다',
      ],
      en: ['Almost done', 'You agreed to install the app on myshop', 'less than a minute'],
    },
    startsOver: true,
  },
  {
    name: 'failed',
    render: (ctx) =>
      outcomePage({ kind: 'failed', mallId: MALL, launcher, reason: 'Cafe24 answered 500' }, ctx),
    status: 502,
    tone: 'bad',
    says: {
      ko: [
        '설치를 마치지 못했습니다',
        'myshop 쇼핑몰의 이 앱 설치에 동의하셨지만',
        '앱 개발사에 문의',
        'Cafe24 answered 500',
      ],
      en: [
        'The install did not complete',
        'You agreed to install the app on myshop, but',
        "contact the app's developer",
        'Cafe24 answered 500',
      ],
    },
    startsOver: true,
  },
  {
    name: 'cafe24-error: declined',
    render: (ctx) =>
      outcomePage(
        {
          kind: 'cafe24-error',
          mallId: MALL,
          launcher,
          error: 'access_denied',
          description: 'User denied access',
        },
        ctx,
      ),
    status: 403,
    tone: 'bad',
    says: {
      ko: [
        '설치가 취소되었습니다',
        'myshop 쇼핑몰에 이 앱 설치가 진행되지 않았습니다',
        '“User denied access”',
        'access_denied',
      ],
      en: [
        'Install cancelled',
        'so the app was not installed on myshop',
        '“User denied access”',
        'access_denied',
      ],
    },
    startsOver: true,
  },
  {
    name: 'cafe24-error: refused, no mall, no description',
    render: (ctx) =>
      outcomePage(
        {
          kind: 'cafe24-error',
          mallId: undefined,
          launcher: undefined,
          error: 'invalid_scope',
          description: undefined,
        },
        ctx,
      ),
    status: 400,
    tone: 'bad',
    says: {
      ko: [
        'Cafe24에서 설치를 거절했습니다',
        '이 앱 설치가 진행되지 않았습니다',
        'Cafe24 개발자센터',
        '앱 개발사에 이 화면의 내용을 알려 주세요',
        'invalid_scope',
      ],
      en: [
        'Cafe24 refused the install',
        'Cafe24 did not let the app be installed.',
        'Cafe24 Developers',
        'invalid_scope',
      ],
    },
    startsOver: false,
  },
  ...(['missing-code', 'missing-state', 'malformed'] as const).map(
    (reason): Case => ({
      name: `bad-callback: ${reason}`,
      render: (ctx) => outcomePage({ kind: 'bad-callback', reason }, ctx),
      status: 400,
      tone: 'bad',
      says: {
        ko: ['설치 주소가 올바르지 않습니다', '설치를 새로 시작해 주세요', reason],
        en: ['This is not a complete install link', 'to start a new install', reason],
      },
      startsOver: true,
    }),
  ),
  {
    name: 'state-refused: used',
    render: (ctx) => outcomePage({ kind: 'state-refused', reason: 'used-state' }, ctx),
    status: 400,
    tone: 'bad',
    says: {
      ko: ['이미 사용된 설치 링크입니다', '한 번만 사용할 수 있습니다'],
      en: ['This install link was already used', 'Each install link works once'],
    },
    startsOver: true,
  },
  {
    name: 'state-refused: expired',
    render: (ctx) => outcomePage({ kind: 'state-refused', reason: 'expired-state' }, ctx),
    status: 400,
    tone: 'bad',
    says: {
      ko: ['설치 링크의 유효 시간이 지났습니다', '10분 안에'],
      en: ['This install link has expired', 'within 10 minutes'],
    },
    startsOver: true,
  },
  ...(['missing-cookie', 'wrong-browser'] as const).map(
    (reason): Case => ({
      name: `state-refused: ${reason}`,
      render: (ctx) => outcomePage({ kind: 'state-refused', reason }, ctx),
      status: 403,
      tone: 'bad',
      says: {
        ko: ['설치를 시작한 브라우저에서 마쳐 주세요', '쿠키를 허용하신 뒤'],
        en: ['Finish the install in the browser you started it in', 'Allow cookies for this site'],
      },
      startsOver: true,
    }),
  ),
  {
    name: 'state-refused: unknown',
    render: (ctx) => outcomePage({ kind: 'state-refused', reason: 'unknown-state' }, ctx),
    status: 400,
    tone: 'bad',
    says: {
      ko: ['알 수 없는 설치 링크입니다', '이 앱이 만든 설치 링크가 아니거나'],
      en: ['Unknown install link', 'not made by this app'],
    },
    startsOver: true,
  },
  {
    name: 'launched (already installed)',
    render: (ctx) => launchedPage(MALL, ctx),
    status: 200,
    tone: 'ok',
    says: {
      ko: [
        '이미 설치되어 있습니다',
        'myshop 쇼핑몰에 이 앱 설치가 이미 완료되어 있으며',
        '바로 사용하실 수 있습니다',
        '다시 설치하거나 따로 설정하실 것은 없습니다',
      ],
      en: [
        'Already installed',
        'All set: the app is already installed on myshop and ready to use',
        'nothing to install or set up again',
      ],
    },
    startsOver: false,
  },
  ...(['stale-timestamp', 'missing-timestamp'] as const).map(
    (reason): Case => ({
      name: `launch refused: ${reason}`,
      render: (ctx) => launchRefusedPage(reason, ctx),
      status: 400,
      tone: 'bad',
      says: {
        ko: ['앱 실행 링크의 유효 시간이 지났습니다', '2시간이 지나', reason],
        en: ['This app link has expired', 'two hours', reason],
      },
      startsOver: true,
    }),
  ),
  ...(['malformed-query', 'missing-hmac', 'bad-hmac', 'invalid-mall-id'] as const).map(
    (reason): Case => ({
      name: `launch refused: ${reason}`,
      render: (ctx) => launchRefusedPage(reason, ctx),
      status: 400,
      tone: 'bad',
      says: {
        ko: ['Cafe24 관리자에서 연 링크가 아닙니다', '카페24 관리자 화면에서만 열 수 있습니다', reason],
        en: ['This is not a valid Cafe24 app link', 'can only be opened from Cafe24', reason],
      },
      startsOver: true,
    }),
  ),
  {
    name: 'not found',
    render: notFoundPage,
    status: 404,
    tone: 'bad',
    says: { ko: ['페이지를 찾을 수 없습니다'], en: ['Page not found'] },
    startsOver: false,
  },
  {
    name: 'error',
    render: errorPage,
    status: 500,
    tone: 'bad',
    says: {
      ko: ['일시적인 문제가 생겼습니다', '쇼핑몰 설정이나 데이터는 변경되지 않았습니다', '잠시 뒤'],
      en: ['Something went wrong on our side', 'Nothing was changed on your shop', 'Wait a minute'],
    },
    startsOver: true,
  },
];

const START_OVER: Record<Language, string> = {
  ko: '카페24 관리자 화면의 [앱 > 마이앱]에서 앱을 다시 열어',
  en: 'pen the app again from My Apps in your Cafe24 admin',
};
/** Token jargon the Korean operator should not meet in the main text (nor the English one). */
const JARGON =
  /access token|액세스 토큰|토큰|\bstate\b|스테이트|scope|스코프|authorization code|인가 코드|인증 코드|redirect/i;

describe.each(['ko', 'en'] as const)('pages in %s', (lang) => {
  it.each(CASES)('$name: status, language, title, words', (c) => {
    const { status, html } = c.render({ lang });
    expect(status).toBe(c.status);
    expect(html).toMatch(new RegExp(`^<!doctype html>\\n<html lang="${lang}">`));
    expect(html).toContain('<meta charset="utf-8">');
    expect(html).toContain('<meta name="referrer" content="no-referrer">');
    expect(html).toContain(`<span class="mark ${c.tone}" aria-hidden="true">`);
    const text = textOf(html);
    for (const phrase of c.says[lang]) expect(text).toContain(phrase);
    expect(titleOf(html)).toBe(c.says[lang][0]);
    expect(h1Of(html)).toContain(c.says[lang][0]);
    if (c.startsOver) expect(mainTextOf(html)).toContain(START_OVER[lang]);
    // The words are the language's: Hangul on every Korean page, none on an English one.
    if (lang === 'ko') expect(mainTextOf(html)).toMatch(HANGUL);
    else expect(text).not.toMatch(HANGUL);
    expect(mainTextOf(html)).not.toMatch(JARGON);
    // Nothing the CSP would block: no script, no style attribute, one style element.
    expect(html).not.toMatch(/<script|\sstyle=|\son\w+=/i);
    expect(html.match(/<style>/g)).toHaveLength(1);
  });

  it("names the app by the deployment's name, or a default", () => {
    const named = launchedPage(MALL, { lang, appName: '주문 동기화' }).html;
    expect(named).toContain('<b>주문 동기화</b>');
    expect(named).not.toContain(TEXTS[lang].defaultAppName);
    const unnamed = launchedPage(MALL, { lang }).html;
    expect(unnamed).toContain(`<b>${lang === 'ko' ? '이 앱' : 'the app'}</b>`);
    expect(launchedPage(MALL, { lang, appName: '  ' }).html).toContain(
      `<b>${TEXTS[lang].defaultAppName}</b>`,
    );
  });

  it('escapes a hostile mall id, app name, description, reason and scope', () => {
    const ctx = { lang, appName: HOSTILE };
    const pages = [
      outcomePage(installed([HOSTILE, 'mall.read_order'], HOSTILE), ctx),
      outcomePage({ kind: 'pending', mallId: HOSTILE, launcher }, ctx),
      outcomePage({ kind: 'failed', mallId: HOSTILE, launcher, reason: HOSTILE }, ctx),
      outcomePage(
        { kind: 'cafe24-error', mallId: HOSTILE, launcher, error: HOSTILE, description: HOSTILE },
        ctx,
      ),
      outcomePage(
        { kind: 'cafe24-error', mallId: HOSTILE, launcher, error: 'access_denied', description: HOSTILE },
        ctx,
      ),
      launchedPage(HOSTILE, ctx),
    ];
    for (const { html } of pages) {
      expect(html).not.toContain('<script');
      expect(html).not.toContain('"x"');
      expect(html).toContain('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;&#39;&#38;&#96;');
      // Decoded, the page says exactly what came in.
      expect(textOf(html)).toContain(HOSTILE);
    }
    expect(escapeHtml(`<a href="x">'&\``)).toBe('&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#96;');
  });

  it('tells what the app may do in plain words, an unknown scope by its code', () => {
    const html = outcomePage(
      installed([
        'mall.read_order',
        'mall.write_order',
        'mall.write_product',
        'mall.read_customer',
        'mall.read_order',
        'mall.read_spaceship',
        'openid',
        'openid',
      ]),
      { lang },
    ).html;
    const items = [...html.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]);
    expect(items).toEqual(
      lang === 'ko'
        ? [
            '주문 정보 보기·변경',
            '상품 정보 변경',
            '회원 정보 보기',
            '<code>mall.read_spaceship</code>',
            '<code>openid</code>',
          ]
        : [
            'See and change your orders',
            'Change your products',
            'See your customers',
            '<code>mall.read_spaceship</code>',
            '<code>openid</code>',
          ],
    );
    const none = outcomePage(installed([]), { lang }).html;
    expect(none).not.toContain('<li>');
    expect(textOf(none)).toContain(textOf(TEXTS[lang].scopes.none));
  });

  it("words every one of Cafe24's scope areas, to see and to change", () => {
    const see = lang === 'ko' ? / 보기$/ : /^See /;
    const change = lang === 'ko' ? / 변경$/ : /^Change /;
    const seen = new Set<string>();
    for (const area of SCOPE_AREAS) {
      for (const [access, shape] of [
        ['read', see],
        ['write', change],
      ] as const) {
        const html = outcomePage(installed([`mall.${access}_${area}`]), { lang }).html;
        const [item = ''] = [...html.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => decode(m[1] ?? ''));
        expect(item, `mall.${access}_${area}`).toMatch(shape);
        expect(item).not.toContain('mall.');
        expect(item).toContain(TEXTS[lang].scopes.areas[area]);
        seen.add(item);
      }
    }
    // No two scopes read alike.
    expect(seen.size).toBe(SCOPE_AREAS.length * 2);
    expect(SCOPE_AREAS).toEqual(
      expect.arrayContaining([
        'store',
        'product',
        'order',
        'customer',
        'privacy',
        'analytics',
        'translation',
      ]),
    );
    expect(SCOPE_AREAS).toHaveLength(19);
  });

  it('words times in KST, on any machine time zone (for a deployment whose texts show one)', () => {
    const shown = (at: Date) => TEXTS[lang].time(kstTime(at));
    const expect1 = lang === 'ko' ? '2026년 12월 3일 20:45 (한국 시간)' : '3 Dec 2026, 20:45 KST';
    // KST is UTC+9: 15:05 UTC on 31 December is 00:05 on New Year's Day.
    const expect2 = lang === 'ko' ? '2027년 1월 1일 00:05 (한국 시간)' : '1 Jan 2027, 00:05 KST';
    const expect3 = lang === 'ko' ? '2026년 3월 9일 09:07 (한국 시간)' : '9 Mar 2026, 09:07 KST';
    const zone = process.env.TZ;
    try {
      for (const tz of ['UTC', 'America/Los_Angeles', 'Pacific/Kiritimati']) {
        process.env.TZ = tz;
        expect(shown(EXPIRES)).toContain(expect1);
        expect(shown(new Date('2026-12-31T15:05:00Z'))).toContain(expect2);
        expect(shown(new Date('2026-03-09T00:07:59Z'))).toContain(expect3);
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
    expect(shown(EXPIRES)).not.toContain('UTC');
    // The installed page itself shows no token expiry: that is not the operator's concern.
    expect(textOf(outcomePage(installed([], MALL, EXPIRES), { lang }).html)).not.toContain(expect1);
  });
});

describe('every text, in both languages', () => {
  /** Every leaf of a language's texts, with values put into its functions. */
  function leaves(value: unknown, path: string): [string, string][] {
    if (typeof value === 'string') return [[path, value]];
    if (typeof value === 'function') {
      const fn = value as (...args: unknown[]) => unknown;
      const result = path.endsWith('.time')
        ? fn({ year: 2026, month: 1, day: 2, hour: 3, minute: 4 })
        : fn('VALUE_A', 'VALUE_B');
      return leaves(result, `${path}()`);
    }
    if (value && typeof value === 'object') {
      return Object.entries(value).flatMap(([key, inner]) => leaves(inner, `${path}.${key}`));
    }
    return [];
  }

  it('has the same texts in Korean and English, none empty, Korean in Hangul', () => {
    const ko = leaves(TEXTS.ko, '');
    const en = leaves(TEXTS.en, '');
    expect(ko.map(([path]) => path)).toEqual(en.map(([path]) => path));
    for (const [path, text] of ko) {
      expect(text.trim(), path).not.toBe('');
      expect(text, path).toMatch(HANGUL);
    }
    for (const [path, text] of en) {
      expect(text.trim(), path).not.toBe('');
      expect(text, path).not.toMatch(HANGUL);
    }
    // A text that takes values uses them.
    for (const [path, text] of [...ko, ...en]) {
      if (path.endsWith('lead()')) expect(text, path).toContain('VALUE_A');
    }
  });

  it('speaks politely in Korean (합니다/하세요 style), never in the plain or casual style', () => {
    const sentences = leaves(TEXTS.ko, '')
      .filter(([path]) => /(lead|next|renews)(\(\))?$/.test(path))
      .flatMap(([, text]) => textOf(text).split(/(?<=[.?!])\s+/));
    expect(sentences.length).toBeGreaterThan(20);
    for (const sentence of sentences) {
      expect(sentence, sentence).toMatch(/(니다|세요|습니다)\.$/);
    }
  });
});

describe('the languages', () => {
  it.each([
    [undefined, 'ko'],
    ['', 'ko'],
    ['ko_KR', 'ko'],
    ['ko', 'ko'],
    ['en_US', 'en'],
    ['ja_JP', 'en'],
    ['zh_CN', 'en'],
    ['vi_VN', 'en'],
  ] as const)("Cafe24's lang %s → %s", (lang, expected) => {
    expect(languageOf(lang)).toBe(expected);
  });

  it.each([
    [undefined, 'ko'],
    ['', 'ko'],
    ['ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7', 'ko'],
    ['ko', 'ko'],
    ['en-US,en;q=0.9,ko;q=0.8', 'en'],
    ['en', 'en'],
    ['EN-gb', 'en'],
    ['ja', 'en'],
    ['ja-JP,ko;q=0.5', 'ko'],
    ['ja-JP,en;q=0.6,ko;q=0.5', 'en'],
    ['en;q=0.5, ko;q=0.8', 'ko'],
    ['ko;q=0, en', 'en'],
    ['en;q=0.7, ko;q=0.7', 'en'],
    ['*', 'ko'],
    ['de, *;q=0.1', 'ko'],
    ['ko;q=oops, en;q=0.2', 'en'],
  ] as const)('Accept-Language %s → %s', (header, expected) => {
    expect(languageOfHeader(header)).toBe(expected);
  });
});

describe('the CSP', () => {
  const pages = CASES.flatMap((c) => [c.render({ lang: 'ko' }), c.render({ lang: 'en' })]);

  it("allows every page's one style by its hash, and nothing else", () => {
    const csp = contentSecurityPolicy([]);
    const styles = new Set(pages.map((p) => styleOf(p.html)));
    expect(styles.size).toBe(1);
    const [style = ''] = styles;
    expect(style).toContain('"Noto Sans KR"');
    expect(style).toContain('"Apple SD Gothic Neo"');
    expect(style).toContain('"Malgun Gothic"');
    const hash = createHash('sha256').update(style).digest('base64');
    expect(csp.split('; ')).toEqual([
      "default-src 'none'",
      `style-src 'sha256-${hash}'`,
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ]);
    expect(csp).not.toContain('script-src');
  });

  it('lets the given origins frame the pages', () => {
    const csp = contentSecurityPolicy(['https://admin.example.com', 'https://eclogin.cafe24.com']);
    expect(csp).toMatch(/; frame-ancestors https:\/\/admin\.example\.com https:\/\/eclogin\.cafe24\.com$/);
    expect(csp).toContain("default-src 'none'");
    expect(csp.match(/frame-ancestors/g)).toHaveLength(1);
    expect(contentSecurityPolicy(['https://a.example'])).toContain('frame-ancestors https://a.example');
  });

  it('refuses an origin that would add a directive of its own', () => {
    expect(() => contentSecurityPolicy(["https://a.example; script-src 'unsafe-inline'"])).toThrow();
    expect(() => contentSecurityPolicy(['https://a.example https://b.example'])).toThrow();
    expect(() => contentSecurityPolicy([''])).toThrow();
  });
});

/**
 * Run in the page: draws single syllables in the page's font on a canvas and sums their pixels. A font
 * without Hangul draws every syllable as the same box.
 */
const DRAW_SYLLABLES = `(() => {
  const canvas = document.createElement('canvas');
  canvas.width = 48;
  canvas.height = 48;
  const context = canvas.getContext('2d');
  context.font = '32px ' + getComputedStyle(document.body).fontFamily;
  const draw = (text) => {
    context.clearRect(0, 0, 48, 48);
    context.fillText(text, 4, 36);
    const pixels = context.getImageData(0, 0, 48, 48).data;
    let inked = 0;
    let sum = 0;
    for (let i = 3; i < pixels.length; i += 4) {
      if (pixels[i] > 0) inked++;
      sum = (sum * 31 + pixels[i]) % 1000000007;
    }
    return { inked, sum };
  };
  return { seol: draw('설'), chi: draw('치'), seolAgain: draw('설') };
})()`;

describe('in a real browser', () => {
  it('draws the Korean page with Hangul glyphs from Noto Sans KR, not empty boxes', async () => {
    const started = Date.now();
    const browser = await launchBrowser({ width: 720, height: 560 });
    try {
      const page = await browser.newPage();
      const { html } = outcomePage(
        installed(['mall.read_order', 'mall.write_product', 'mall.read_customer']),
        {
          lang: 'ko',
          appName: '주문 동기화',
        },
      );
      await page.setContent(html, { waitUntil: 'load' });
      const readyIn = Date.now() - started;
      await mkdir(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT });

      // Which fonts Chromium drew each element with: Noto Sans KR, for every glyph.
      const cdp = await page.createCDPSession();
      await cdp.send('DOM.enable');
      await cdp.send('CSS.enable');
      const { root } = await cdp.send('DOM.getDocument');
      for (const selector of ['h1', 'p.lead', 'dd li', 'p.next']) {
        const { nodeId } = await cdp.send('DOM.querySelector', { nodeId: root.nodeId, selector });
        const { fonts } = await cdp.send('CSS.getPlatformFontsForNode', { nodeId });
        // Regular and bold text are two faces of the one family; no glyph fell back to another font.
        expect([...new Set(fonts.map((f) => f.familyName))], selector).toEqual([HANGUL_FONT]);
        for (const font of fonts)
          expect(font.postScriptName, selector).toMatch(/^NotoSansKR-(Regular|Bold)$/);
        expect(
          fonts.reduce((sum, f) => sum + f.glyphCount, 0),
          selector,
        ).toBeGreaterThan(3);
      }

      // And the pixels: two different syllables draw differently, where missing glyphs are identical boxes.
      const drawn = (await page.evaluate(DRAW_SYLLABLES)) as Record<
        'seol' | 'chi' | 'seolAgain',
        { inked: number; sum: number }
      >;
      expect(drawn.seol.inked).toBeGreaterThan(30);
      expect(drawn.chi.inked).toBeGreaterThan(30);
      expect(drawn.seol.sum).not.toBe(drawn.chi.sum);
      expect(drawn.seolAgain.sum).toBe(drawn.seol.sum);

      expect(await page.evaluate('document.documentElement.lang')).toBe('ko');
      expect(await page.evaluate("document.querySelector('h1').textContent")).toContain(
        '앱 설치가 완료되었습니다',
      );
      // The font is on disk and scanned once (cached): the browser is ready in well under the test's time.
      expect(readyIn).toBeLessThan(15_000);
    } finally {
      await browser.close();
    }
  });
});
