/**
 * Every word the install front's pages say, one object per language. pages.ts holds the markup only, so a
 * deployment changes the pages' wording here and nowhere else; `PageTexts` makes each language carry
 * every text.
 *
 * The rules for editing:
 * - `title`s, `time` and the `scopes` words are plain text (pages.ts escapes them).
 * - Every other text is an HTML fragment written here, so it may use `<b>`, `<code>`; write `&` as `&amp;`.
 * - Texts that need a value are functions. The values they receive (`app`, `mall`, `time`, `detail`) are
 *   already escaped by pages.ts, and `app` and `mall` already emphasised: use them as they come.
 * - The shop operator reads these, not a developer: say what happened and what to do next, in their
 *   words. Technical words belong in the small `tech` lines only.
 * - Korean sentences put no particle (이/가, 은/는) right after `app` (an app's name may end either way).
 */

export type Language = 'ko' | 'en';

/** Trusted markup written in this file, or a value pages.ts escaped. */
export type Html = string;

/** A moment in Korea Standard Time (UTC+9, no daylight saving time); `month` 1–12. */
export type KstTime = { year: number; month: number; day: number; hour: number; minute: number };

/** Cafe24's scope areas: `mall.read_<area>` (see) and `mall.write_<area>` (change). */
export const SCOPE_AREAS = [
  'store',
  'product',
  'category',
  'collection',
  'supply',
  'personal',
  'order',
  'community',
  'customer',
  'notification',
  'design',
  'promotion',
  'mileage',
  'shipping',
  'salesreport',
  'translation',
  'analytics',
  'application',
  'privacy',
] as const;
export type ScopeArea = (typeof SCOPE_AREAS)[number];

/** A page's title, first paragraph and what to do next. */
type Said = { title: string; lead: Html; next: Html };

export type PageTexts = {
  /** The app, when the deployment gives no name. */
  defaultAppName: string;
  /** KST first: the operator's clock. */
  time: (t: KstTime) => string;
  /** Labels the small line for the app's developer (an error code, Cafe24's own words). */
  techLabel: Html;
  scopes: {
    /** What each area is, fitting `see`, `change` and `seeAndChange`. */
    areas: Record<ScopeArea, string>;
    see: (area: string) => string;
    change: (area: string) => string;
    seeAndChange: (area: string) => string;
    none: Html;
  };
  installed: {
    title: string;
    lead: (app: Html, mall: Html) => Html;
    shopLabel: Html;
    scopesLabel: Html;
    untilLabel: Html;
    until: (time: Html) => Html;
    /** Under `until`: the operator need not do anything when it comes. */
    renews: Html;
    next: Html;
  };
  launched: { title: string; lead: (app: Html, mall: Html) => Html; next: Html };
  pending: { title: string; lead: (app: Html, mall: Html) => Html; next: Html };
  failed: { title: string; lead: (app: Html, mall: Html) => Html; next: Html };
  /** Cafe24's answer on the callback: `declined` is the operator's own "cancel". */
  cafe24: {
    said: (description: Html) => Html;
    declined: { title: string; lead: (app: Html, mall: Html | undefined) => Html; next: Html };
    refused: { title: string; lead: (app: Html, mall: Html | undefined) => Html; next: Html };
  };
  badLink: Said;
  usedLink: Said;
  expiredLink: Said;
  otherBrowser: Said;
  unknownLink: Said;
  staleLaunch: Said;
  usedLaunch: Said;
  badLaunch: Said;
  notFound: Said;
  error: Said;
};

const EN_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** The way to start over, in every language: open the app again from My Apps (내 앱) in the Cafe24 admin. */
const KO_AGAIN = '카페24 관리자 화면의 <b>[앱 &gt; 마이앱]</b>에서 앱을 다시 열어 주세요.';
const KO_NEW_INSTALL =
  '카페24 관리자 화면의 <b>[앱 &gt; 마이앱]</b>에서 앱을 다시 열어 설치를 새로 시작해 주세요.';
/** Lower case: it ends sentences that begin otherwise. */
const EN_AGAIN = 'open the app again from <b>My Apps</b> in your Cafe24 admin.';
const EN_OPEN_AGAIN = 'Open the app again from <b>My Apps</b> in your Cafe24 admin.';
const EN_NEW_INSTALL = 'Open the app again from <b>My Apps</b> in your Cafe24 admin to start a new install.';

const ko: PageTexts = {
  defaultAppName: '이 앱',
  time: (t) => `${t.year}년 ${t.month}월 ${t.day}일 ${two(t.hour)}:${two(t.minute)} (한국 시간)`,
  techLabel: '개발자용 정보',
  scopes: {
    areas: {
      store: '쇼핑몰 기본 정보',
      product: '상품 정보',
      category: '상품 분류',
      collection: '브랜드·제조사 정보',
      supply: '공급사 정보',
      personal: '장바구니·관심상품',
      order: '주문 정보',
      community: '게시판·상품 후기',
      customer: '회원 정보',
      notification: '알림 메시지',
      design: '쇼핑몰 디자인',
      promotion: '프로모션·쿠폰',
      mileage: '적립금',
      shipping: '배송 정보',
      salesreport: '매출 통계',
      translation: '쇼핑몰 번역',
      analytics: '방문 통계',
      application: '앱 설정',
      privacy: '회원 개인정보',
    },
    see: (area) => `${area} 보기`,
    change: (area) => `${area} 변경`,
    seeAndChange: (area) => `${area} 보기·변경`,
    none: '따로 표시할 항목이 없습니다',
  },
  installed: {
    title: '앱 설치가 완료되었습니다',
    lead: (app, mall) => `${mall} 쇼핑몰에 ${app} 설치를 마쳤습니다. 이제 바로 사용하실 수 있습니다.`,
    shopLabel: '쇼핑몰',
    scopesLabel: '앱이 할 수 있는 일',
    untilLabel: '연결 상태',
    until: () => '정상',
    renews: '연결은 자동으로 유지되니 따로 하실 일은 없습니다.',
    next: '이 창은 닫으셔도 됩니다.',
  },
  launched: {
    title: '이미 설치되어 있습니다',
    lead: (app, mall) => `${mall} 쇼핑몰에 ${app} 설치가 이미 완료되어 있으며, 바로 사용하실 수 있습니다.`,
    next: '다시 설치하거나 따로 설정하실 것은 없습니다. 이 창은 닫으셔도 됩니다.',
  },
  pending: {
    title: '거의 다 되었습니다',
    lead: (app, mall) =>
      `${mall} 쇼핑몰의 ${app} 설치 동의가 완료되었습니다. 남은 연결 작업은 1분 안에 자동으로 끝납니다.`,
    next: `이 창은 닫으셔도 됩니다. 몇 분이 지나도 앱이 설치되지 않았다고 나오면, ${KO_AGAIN}`,
  },
  failed: {
    title: '설치를 마치지 못했습니다',
    lead: (app, mall) =>
      `${mall} 쇼핑몰의 ${app} 설치에 동의하셨지만, 마지막 연결 단계에서 문제가 생겨 설치를 마치지 못했습니다.`,
    next: `${KO_AGAIN} 그래도 설치되지 않으면 앱 개발사에 문의해 주시고, 이 화면이 나타난 시각을 함께 알려 주세요.`,
  },
  cafe24: {
    said: (description) => `Cafe24 안내: “${description}”`,
    declined: {
      title: '설치가 취소되었습니다',
      lead: (app, mall) =>
        `설치 동의 화면에서 취소하셔서 ${mall ? `${mall} 쇼핑몰에 ` : ''}${app} 설치가 진행되지 않았습니다.`,
      next: `나중에 설치하시려면 ${KO_AGAIN}`,
    },
    refused: {
      title: 'Cafe24에서 설치를 거절했습니다',
      lead: (app, mall) => `${mall ? `${mall} 쇼핑몰에 ` : ''}${app} 설치가 진행되지 않았습니다.`,
      next:
        '이 문제는 대부분 앱의 설정(설치 후 돌아올 주소나 요청하는 권한)이 Cafe24 개발자센터에 등록된 내용과 ' +
        '달라서 생깁니다. ' +
        '앱 개발사가 고치기 전에는 다시 시도해도 해결되지 않으니, 앱 개발사에 이 화면의 내용을 알려 주세요.',
    },
  },
  badLink: {
    title: '설치 주소가 올바르지 않습니다',
    lead: '이 주소에는 Cafe24가 설치를 마칠 때 보내 주는 정보가 빠져 있거나 잘못되어 있습니다.',
    next: KO_NEW_INSTALL,
  },
  usedLink: {
    title: '이미 사용된 설치 링크입니다',
    lead:
      '설치 링크는 한 번만 사용할 수 있습니다. 방금 다른 탭에서 사용되었거나 버튼을 두 번 누르셨을 수 있습니다. ' +
      '설치 결과는 처음 연 탭에 표시됩니다.',
    next: KO_NEW_INSTALL,
  },
  expiredLink: {
    title: '설치 링크의 유효 시간이 지났습니다',
    lead: '설치는 시작하신 뒤 10분 안에 마쳐야 합니다.',
    next: KO_NEW_INSTALL,
  },
  otherBrowser: {
    title: '설치를 시작한 브라우저에서 마쳐 주세요',
    lead:
      '이 설치는 다른 브라우저에서 시작되었거나, 이 브라우저에서 쿠키가 차단되어 있어 여기서 마칠 수 없습니다. ' +
      '다른 사람이 시작한 설치로부터 쇼핑몰을 보호하기 위한 조치입니다.',
    next: `이 사이트의 쿠키를 허용하신 뒤, ${KO_AGAIN}`,
  },
  unknownLink: {
    title: '알 수 없는 설치 링크입니다',
    lead: '이 앱이 만든 설치 링크가 아니거나, 유효 시간이 지나 삭제된 링크입니다.',
    next: KO_NEW_INSTALL,
  },
  staleLaunch: {
    title: '앱 실행 링크의 유효 시간이 지났습니다',
    lead: '이 링크는 만들어진 지 2시간이 지나 더 이상 사용할 수 없습니다.',
    next: KO_AGAIN,
  },
  usedLaunch: {
    title: '이미 사용된 앱 실행 링크입니다',
    lead: '앱 실행 링크는 한 번만 쓸 수 있습니다. 뒤로 가기나 새로 고침으로 같은 링크가 다시 열렸을 수 있습니다.',
    next: KO_AGAIN,
  },
  badLaunch: {
    title: 'Cafe24 관리자에서 연 링크가 아닙니다',
    lead: '이 링크로는 앱을 열 수 없습니다. 이 앱은 카페24 관리자 화면에서만 열 수 있습니다.',
    next: KO_AGAIN,
  },
  notFound: {
    title: '페이지를 찾을 수 없습니다',
    lead: '요청하신 주소에는 페이지가 없습니다.',
    next: '앱을 사용하시려면 카페24 관리자 화면의 <b>[앱 &gt; 마이앱]</b>에서 열어 주세요.',
  },
  error: {
    title: '일시적인 문제가 생겼습니다',
    lead: '지금은 요청을 처리하지 못했습니다. 쇼핑몰 설정이나 데이터는 변경되지 않았습니다.',
    next: `잠시 뒤 ${KO_AGAIN}`,
  },
};

const en: PageTexts = {
  defaultAppName: 'the app',
  time: (t) => `${t.day} ${EN_MONTHS[t.month - 1]} ${t.year}, ${two(t.hour)}:${two(t.minute)} KST`,
  techLabel: 'For the developer',
  scopes: {
    areas: {
      store: 'your store details',
      product: 'your products',
      category: 'your product categories',
      collection: 'your brands and manufacturers',
      supply: 'your suppliers',
      personal: "shoppers' carts and wish lists",
      order: 'your orders',
      community: 'your boards and reviews',
      customer: 'your customers',
      notification: 'your notification messages',
      design: "your shop's design",
      promotion: 'your promotions and coupons',
      mileage: "your customers' points",
      shipping: 'your shipping settings',
      salesreport: 'your sales reports',
      translation: "your shop's translations",
      analytics: 'your visitor statistics',
      application: 'your app settings',
      privacy: "your customers' personal data",
    },
    see: (area) => `See ${area}`,
    change: (area) => `Change ${area}`,
    seeAndChange: (area) => `See and change ${area}`,
    none: 'Nothing listed',
  },
  installed: {
    title: 'App installed',
    lead: (app, mall) => `Done: ${app} is installed on ${mall} and ready to use.`,
    shopLabel: 'Shop',
    scopesLabel: 'What it may do',
    untilLabel: 'Connection',
    until: () => 'Active',
    renews: 'Kept up automatically: nothing for you to do.',
    next: 'You can close this page.',
  },
  launched: {
    title: 'Already installed',
    lead: (app, mall) => `All set: ${app} is already installed on ${mall} and ready to use.`,
    next: 'There is nothing to install or set up again. You can close this page.',
  },
  pending: {
    title: 'Almost done',
    lead: (app, mall) =>
      `You agreed to install ${app} on ${mall}. The app is finishing its connection to your shop; this takes less than a minute.`,
    next: `You can close this page. If the app still says it is not installed in a few minutes, ${EN_AGAIN}`,
  },
  failed: {
    title: 'The install did not complete',
    lead: (app, mall) =>
      `You agreed to install ${app} on ${mall}, but the last step of connecting it to your shop failed.`,
    next: `Please ${EN_AGAIN} If it fails again, contact the app's developer and tell them when this page appeared.`,
  },
  cafe24: {
    said: (description) => `Cafe24 said: “${description}”`,
    declined: {
      title: 'Install cancelled',
      lead: (app, mall) =>
        `The install was cancelled on the consent screen, so ${app} was not installed${mall ? ` on ${mall}` : ''}.`,
      next: `To install it after all, ${EN_AGAIN}`,
    },
    refused: {
      title: 'Cafe24 refused the install',
      lead: (app, mall) => `Cafe24 did not let ${app} be installed${mall ? ` on ${mall}` : ''}.`,
      next:
        "This usually means the app's registration (its return address or the permissions it asks for) " +
        "differs from what is registered in Cafe24 Developers. Trying again will not help until the app's " +
        'developer fixes it: please show them this page.',
    },
  },
  badLink: {
    title: 'This is not a complete install link',
    lead: 'This address lacks information Cafe24 sends back to finish an install, or it was changed.',
    next: EN_NEW_INSTALL,
  },
  usedLink: {
    title: 'This install link was already used',
    lead:
      'Each install link works once. It was used a moment ago, perhaps in another tab or by a double click; ' +
      'that tab shows how the install went.',
    next: EN_NEW_INSTALL,
  },
  expiredLink: {
    title: 'This install link has expired',
    lead: 'An install must be finished within 10 minutes of starting it.',
    next: EN_NEW_INSTALL,
  },
  otherBrowser: {
    title: 'Finish the install in the browser you started it in',
    lead:
      'This install was started in another browser (or cookies are blocked here), so it cannot be finished ' +
      'here. This protects your shop from installs started by someone else.',
    next: `Allow cookies for this site, then ${EN_AGAIN}`,
  },
  unknownLink: {
    title: 'Unknown install link',
    lead: 'This install link was not made by this app, or it expired and was cleaned up.',
    next: EN_NEW_INSTALL,
  },
  staleLaunch: {
    title: 'This app link has expired',
    lead: 'This link was made more than two hours ago and can no longer be used.',
    next: EN_OPEN_AGAIN,
  },
  usedLaunch: {
    title: 'This app link was already used',
    lead: 'An app link works once. The same link was opened again, perhaps by going back or reloading.',
    next: EN_OPEN_AGAIN,
  },
  badLaunch: {
    title: 'This is not a valid Cafe24 app link',
    lead: "This app can only be opened from Cafe24, and this link does not carry Cafe24's proof for this app.",
    next: EN_OPEN_AGAIN,
  },
  notFound: {
    title: 'Page not found',
    lead: 'There is no page at this address.',
    next: 'To use the app, open it from <b>My Apps</b> in your Cafe24 admin.',
  },
  error: {
    title: 'Something went wrong on our side',
    lead: 'Your request could not be processed just now. Nothing was changed on your shop.',
    next: `Wait a minute, then ${EN_AGAIN}`,
  },
};

export const TEXTS: Record<Language, PageTexts> = { ko, en };
