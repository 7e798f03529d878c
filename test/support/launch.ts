import { launchHmac } from '../../src/cafe24/app-launch.ts';

/** `message&hmac=…` as Cafe24 appends it: the hmac of the raw message, percent-encoded. */
export function signLaunch(message: string, secret: string): string {
  return `${message}&hmac=${encodeURIComponent(launchHmac(message, secret))}`;
}

/**
 * An app launch query as Cafe24 writes it: Cafe24's parameter order, values percent-encoded (spaces as
 * %20), hmac last. `params` replace (or add to) a launch by the mall's owner, now.
 */
export function launchQueryFor(secret: string, params: Record<string, string> & { mall_id: string }): string {
  const { mall_id, ...others } = params;
  const launch = {
    is_multi_shop: 'T',
    lang: 'ko_KR',
    mall_id,
    nation: 'KR',
    shop_no: '1',
    timestamp: String(Math.floor(Date.now() / 1000)),
    user_id: 'owner',
    user_name: '홍길동',
    user_type: 'P',
    ...others,
  };
  const message = Object.entries(launch)
    .map(([key, value]) => `${key}=${encodeURIComponent(value)}`)
    .join('&');
  return signLaunch(message, secret);
}
