import { createHmac, timingSafeEqual } from 'node:crypto';
import { mallIdSchema } from '../commons/ids.ts';

/**
 * Cafe24's app launch (docs: cafe24-oauth.md, "App launch"): Cafe24 opens the app URL with
 * `is_multi_shop, lang, mall_id, nation, shop_no, timestamp, user_id, user_name, user_type, hmac`, where
 * `hmac = base64(HMAC-SHA256(client secret, the query string as received minus "&hmac=…"))`.
 *
 * Verified on the raw, still percent-encoded query: decoding and re-encoding it (URLSearchParams writes a
 * space as `+` where Cafe24 sends `%20`) changes the bytes and breaks a Korean `user_name`.
 */

export type AppLaunch = {
  mallId: string;
  /** Unix seconds, as Cafe24 sent it. */
  timestamp: number;
  shopNo: string | undefined;
  userId: string | undefined;
  userName: string | undefined;
  userType: string | undefined;
  lang: string | undefined;
  nation: string | undefined;
  isMultiShop: string | undefined;
};

/** Why a launch was refused; safe to log (never a value from the query). */
export type LaunchRefusal =
  | 'malformed-query'
  | 'missing-hmac'
  | 'bad-hmac'
  | 'missing-timestamp'
  | 'stale-timestamp'
  | 'invalid-mall-id'
  /** A launch already used to open the app (set by the install front, not by the hmac check). */
  | 'used-launch';

export type LaunchVerification = { ok: true; launch: AppLaunch } | { ok: false; reason: LaunchRefusal };

/** Cafe24's review asks apps to refuse launches whose timestamp is further off than this. */
export const LAUNCH_WINDOW_SECONDS = 2 * 60 * 60;
/** Far above a real launch (~250 bytes); keeps hashing bounded. */
const MAX_QUERY_LENGTH = 4096;
const HMAC_LENGTH = 44; // base64 of 32 bytes

/** base64(HMAC-SHA256(secret, message)), the value Cafe24 puts in `hmac`. */
export function launchHmac(message: string, secret: string): string {
  return createHmac('sha256', secret).update(message, 'utf8').digest('base64');
}

/**
 * Verifies an app launch. `rawQuery` is the query string exactly as received (with or without its `?`);
 * `nowMs` the current time. The hmac is checked first: nothing from an unsigned query is trusted.
 */
export function verifyAppLaunch(
  rawQuery: string,
  secret: string,
  nowMs: number = Date.now(),
  windowSeconds: number = LAUNCH_WINDOW_SECONDS,
): LaunchVerification {
  const query = rawQuery.startsWith('?') ? rawQuery.slice(1) : rawQuery;
  if (query.length === 0 || query.length > MAX_QUERY_LENGTH) return refuse('malformed-query');

  const pieces = query.split('&');
  const hmacPieces = pieces.filter((piece) => piece.startsWith('hmac='));
  if (hmacPieces.length === 0) return refuse('missing-hmac');
  if (hmacPieces.length > 1) return refuse('malformed-query');
  // Everything but the hmac, in the order received: Cafe24 sends hmac last, so this is "cut at the last &".
  const message = pieces.filter((piece) => !piece.startsWith('hmac=')).join('&');
  // Percent-decoding only: a literal `+` in base64 is a plus, not a space.
  const given = decodeComponent((hmacPieces[0] as string).slice('hmac='.length));
  if (given === undefined) return refuse('malformed-query');
  if (!constantTimeEqual(given, launchHmac(message, secret))) return refuse('bad-hmac');

  const params = new Map<string, string>();
  for (const piece of pieces) {
    const at = piece.indexOf('=');
    const name = decodeComponent(at < 0 ? piece : piece.slice(0, at));
    const value = decodeComponent(at < 0 ? '' : piece.slice(at + 1));
    if (name === undefined || value === undefined) return refuse('malformed-query');
    if (params.has(name)) return refuse('malformed-query');
    params.set(name, value);
  }

  const timestampText = params.get('timestamp');
  if (timestampText === undefined) return refuse('missing-timestamp');
  if (!/^[0-9]{1,12}$/.test(timestampText)) return refuse('stale-timestamp');
  const timestamp = Number(timestampText);
  if (Math.abs(nowMs / 1000 - timestamp) > windowSeconds) return refuse('stale-timestamp');

  const mallId = mallIdSchema.safeParse(params.get('mall_id'));
  if (!mallId.success) return refuse('invalid-mall-id');

  return {
    ok: true,
    launch: {
      mallId: mallId.data,
      timestamp,
      shopNo: params.get('shop_no'),
      userId: params.get('user_id'),
      userName: params.get('user_name'),
      userType: params.get('user_type'),
      lang: params.get('lang'),
      nation: params.get('nation'),
      isMultiShop: params.get('is_multi_shop'),
    },
  };
}

function refuse(reason: LaunchRefusal): LaunchVerification {
  return { ok: false, reason };
}

function decodeComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Compares two base64 digests without leaking, through timing, how much of a guess was right. */
function constantTimeEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  if (b.length !== HMAC_LENGTH || a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}
