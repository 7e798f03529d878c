import type { Launcher } from '../domain/install-ports.ts';
import { type LaunchKeys, type LaunchOutcome, signLaunchToken } from '../launch/launch-token.ts';
import type { InstallOutcome } from './install.ts';

/**
 * The hand-off to the app behind the front: `APP_RETURN_URL?launch=<JWT>`, the JWT signed for the app's
 * client id, naming the mall, the operator and the outcome. Nothing else about the mall or the outcome
 * goes into the URL: an app reads them from the verified token only.
 */
export type AppHandOff = {
  /**
   * The URL to send the operator to. The token in it is a secret: never log it. `origin`: the front's,
   * as this request reached it (the tokens' `iss` where no issuer is configured).
   */
  url(mallId: string, launcher: Launcher, outcome: LaunchOutcome, origin: string): Promise<string>;
  /** The public keys, for `GET /.well-known/jwks.json`. */
  jwks(): Promise<LaunchKeys['jwks']>;
};

export function appHandOff(options: {
  returnUrl: string;
  /** The signing key (read on first use: it may come from Secrets Manager). */
  keys: () => Promise<LaunchKeys>;
  /**
   * The front's origin: the tokens' `iss`, where the app finds the JWKS (CAFE24_REDIRECT_URI's); unset,
   * the origin each request reached the front at.
   */
  issuer: string | undefined;
  /** The app's Cafe24 client id: the tokens' `aud`. */
  audience: string;
  now?: () => number;
}): AppHandOff {
  return {
    async url(mallId, launcher, outcome, origin) {
      const token = await signLaunchToken(
        await options.keys(),
        {
          mall_id: mallId,
          shop_no: launcher.shopNo,
          user_id: launcher.userId,
          user_type: launcher.userType,
          user_name: launcher.userName,
          lang: launcher.lang,
          nation: launcher.nation,
          is_multi_shop: launcher.isMultiShop,
          outcome,
        },
        { issuer: options.issuer ?? origin, audience: options.audience, nowMs: (options.now ?? Date.now)() },
      );
      // Appended to APP_RETURN_URL as written: its own query keeps its bytes (the token is URL-safe).
      const separator = options.returnUrl.includes('?') ? '&' : '?';
      return `${options.returnUrl}${separator}launch=${token}`;
    },
    async jwks() {
      return (await options.keys()).jwks;
    },
  };
}

/**
 * What a callback's outcome tells the app, for the outcomes that have a mall; `undefined` for those that
 * do not (a broken or replayed link), which the front answers with its own page.
 */
export function launchOutcomeOf(
  outcome: InstallOutcome,
): { mallId: string; launcher: Launcher; outcome: LaunchOutcome } | undefined {
  switch (outcome.kind) {
    case 'installed':
    case 'pending':
    case 'failed':
      return { mallId: outcome.mallId, launcher: outcome.launcher, outcome: outcome.kind };
    case 'cafe24-error':
      if (outcome.mallId === undefined) return undefined;
      return {
        mallId: outcome.mallId,
        launcher: outcome.launcher ?? {},
        outcome: outcome.error === 'access_denied' ? 'declined' : 'failed',
      };
    case 'bad-callback':
    case 'state-refused':
      return undefined;
  }
}
