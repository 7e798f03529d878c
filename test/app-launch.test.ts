import { describe, expect, it } from 'vitest';
import { LAUNCH_WINDOW_SECONDS, launchHmac, verifyAppLaunch } from '../src/cafe24/app-launch.ts';
import { launchQueryFor, signLaunch } from './support/launch.ts';

// Cafe24's guide's own test data (docs: cafe24-oauth.md, "App launch").
const GUIDE_SECRET = 'zoQxSUptApmiFLRl2ChaxB';
const GUIDE_MESSAGE =
  'is_multi_shop=T&lang=ko_KR&mall_id=jhbaek02&nation=KR&shop_no=1&timestamp=1622513360&user_id=jhbaek02&user_name=jhbaek02&user_type=P';
const GUIDE_HMAC = '8+hYywQW5fBMpfbTlA1puAMpM91N0FYtrpzHYrdodDM=';
const GUIDE_NOW = 1622513360 * 1000;

const SECRET = 'app-client-secret-3f9a';
const NOW = Date.UTC(2026, 10, 27, 3, 0, 0);

/** A launch query as Cafe24 writes it: values percent-encoded (spaces as %20), hmac last. */
const launchQuery = (overrides: Record<string, string> = {}, secret = SECRET) =>
  launchQueryFor(secret, {
    mall_id: 'koreanshop',
    timestamp: String(Math.floor(NOW / 1000)),
    user_name: '홍길동 상점',
    ...overrides,
  });

describe('verifyAppLaunch', () => {
  it("reproduces Cafe24's test vector", () => {
    expect(launchHmac(GUIDE_MESSAGE, GUIDE_SECRET)).toBe(GUIDE_HMAC);
    // As Cafe24 sends it: the hmac's +, / and = percent-encoded.
    const sent = `${GUIDE_MESSAGE}&hmac=${encodeURIComponent(GUIDE_HMAC)}`;
    expect(verifyAppLaunch(sent, GUIDE_SECRET, GUIDE_NOW)).toMatchObject({
      ok: true,
      launch: { mallId: 'jhbaek02', shopNo: '1', userId: 'jhbaek02', timestamp: 1622513360 },
    });
    // And with the hmac written literally (a + stays a plus, not a space).
    expect(verifyAppLaunch(`?${GUIDE_MESSAGE}&hmac=${GUIDE_HMAC}`, GUIDE_SECRET, GUIDE_NOW).ok).toBe(true);
  });

  it('verifies a Korean user_name on the raw query, spaces as %20', () => {
    const query = launchQuery();
    expect(query).toContain('user_name=%ED%99%8D%EA%B8%B8%EB%8F%99%20%EC%83%81%EC%A0%90');
    const result = verifyAppLaunch(query, SECRET, NOW);
    expect(result).toMatchObject({ ok: true, launch: { mallId: 'koreanshop', userName: '홍길동 상점' } });
  });

  it('would fail had the query been re-encoded (URLSearchParams writes the space as +)', () => {
    const query = launchQuery();
    const reencoded = new URLSearchParams(query).toString();
    expect(reencoded).not.toBe(query);
    expect(verifyAppLaunch(reencoded, SECRET, NOW)).toEqual({ ok: false, reason: 'bad-hmac' });
  });

  it('refuses a tampered parameter', () => {
    const tampered = launchQuery().replace('mall_id=koreanshop', 'mall_id=othershop');
    expect(verifyAppLaunch(tampered, SECRET, NOW)).toEqual({ ok: false, reason: 'bad-hmac' });
    const added = launchQuery().replace('&hmac=', '&extra=1&hmac=');
    expect(verifyAppLaunch(added, SECRET, NOW)).toEqual({ ok: false, reason: 'bad-hmac' });
  });

  it('refuses a launch signed with another key', () => {
    expect(verifyAppLaunch(launchQuery({}, 'another-secret'), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'bad-hmac',
    });
  });

  it('refuses a timestamp more than two hours off, either way', () => {
    const seconds = Math.floor(NOW / 1000);
    for (const offset of [-LAUNCH_WINDOW_SECONDS - 1, LAUNCH_WINDOW_SECONDS + 1]) {
      const query = launchQuery({ timestamp: String(seconds + offset) });
      expect(verifyAppLaunch(query, SECRET, NOW), String(offset)).toEqual({
        ok: false,
        reason: 'stale-timestamp',
      });
    }
    const edge = launchQuery({ timestamp: String(seconds - LAUNCH_WINDOW_SECONDS) });
    expect(verifyAppLaunch(edge, SECRET, NOW).ok).toBe(true);
    expect(verifyAppLaunch(launchQuery({ timestamp: 'soon' }), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'stale-timestamp',
    });
  });

  it('refuses a missing hmac, and an empty or doubled one', () => {
    const query = launchQuery();
    const unsigned = query.slice(0, query.indexOf('&hmac='));
    expect(verifyAppLaunch(unsigned, SECRET, NOW)).toEqual({ ok: false, reason: 'missing-hmac' });
    expect(verifyAppLaunch('', SECRET, NOW)).toEqual({ ok: false, reason: 'malformed-query' });
    expect(verifyAppLaunch(`${unsigned}&hmac=`, SECRET, NOW)).toEqual({ ok: false, reason: 'bad-hmac' });
    expect(verifyAppLaunch(`${query}&hmac=x`, SECRET, NOW)).toEqual({ ok: false, reason: 'malformed-query' });
  });

  it('refuses a correctly signed launch whose mall id could not be a mall id', () => {
    expect(verifyAppLaunch(launchQuery({ mall_id: 'evil.example.com/x' }), SECRET, NOW)).toEqual({
      ok: false,
      reason: 'invalid-mall-id',
    });
    const withoutMall = launchQuery().replace('mall_id=koreanshop&', '');
    const message = withoutMall.slice(0, withoutMall.indexOf('&hmac='));
    const resigned = signLaunch(message, SECRET);
    expect(verifyAppLaunch(resigned, SECRET, NOW)).toEqual({ ok: false, reason: 'invalid-mall-id' });
  });

  it('refuses broken percent-encoding and duplicated parameters', () => {
    const message = `mall_id=a&mall_id=b&timestamp=${Math.floor(NOW / 1000)}`;
    const doubled = signLaunch(message, SECRET);
    expect(verifyAppLaunch(doubled, SECRET, NOW)).toEqual({ ok: false, reason: 'malformed-query' });
    const broken = `mall_id=%E0%A4%A&timestamp=${Math.floor(NOW / 1000)}`;
    const signed = signLaunch(broken, SECRET);
    expect(verifyAppLaunch(signed, SECRET, NOW)).toEqual({ ok: false, reason: 'malformed-query' });
  });
});
