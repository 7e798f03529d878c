/**
 * Tokens sealed at rest with TOKEN_ENCRYPTION_KEY, on PostgreSQL 17 and the Cafe24 sandbox: the exchange
 * and the refresh store sealed values, every reader opens them, a value moved to another row or column is
 * refused (never sent to Cafe24, the mall never marked invalid for it), and plaintext rows keep working.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTokens, encodeTokens } from '../src/aws/s3-token-stash.ts';
import { isSealed, localDataKeys, TokenCodec } from '../src/commons/token-codec.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import { refreshMall } from '../src/domain/refresh-mall.ts';
import { freshAccessToken } from '../src/fresh-access-token.ts';
import { createRefreshRuntime, type RefreshRuntime } from '../src/runtime/refresh.ts';
import { captureOutput } from './support/capture.ts';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

const logs = captureOutput();
/** The mall's token row as stored (stack.tokenRow opens the tokens). */
const storedRow = async (mallId: string): Promise<Record<string, unknown> | undefined> =>
  (await stack.db.pool.query('select * from cafe24.oauth_tokens where mall_id = $1', [mallId])).rows[0];
const KEY = randomBytes(32).toString('base64');
let stack: ExchangeStack;
let refresh: RefreshRuntime;

beforeAll(async () => {
  stack = await startExchangeStack({ TOKEN_ENCRYPTION_KEY: KEY });
  refresh = createRefreshRuntime(loadConfig('refresh', stack.env), { pool: stack.db.pool });
});
afterAll(() => stack?.stop());

async function install(mallId: string): Promise<void> {
  const { id } = await stack.newCode(mallId);
  expect(await exchangeCode(stack.runtime.deps, id)).toMatchObject({ status: 'exchanged' });
}

const refreshRequests = (mallId: string) =>
  stack.sandbox.tokenRequests({ mallId }).filter((request) => request.grantType === 'refresh_token');

describe('sealed at rest', () => {
  it('the exchange stores sealed tokens; readers get the tokens Cafe24 issued', async () => {
    await install('sealedmall');
    const row = (await storedRow('sealedmall'))!;
    const issued = stack.sandbox.issuedTokens('sealedmall')!;
    for (const column of ['access_token', 'refresh_token'] as const) {
      expect(isSealed(row[column] as string), column).toBe(true);
    }
    expect(JSON.stringify(row)).not.toContain(issued.accessToken);
    expect(JSON.stringify(row)).not.toContain(issued.refreshToken);
    expect(
      (
        await freshAccessToken(stack.db.pool, 'sealedmall', { config: loadConfig('refresh', stack.env) })
      ).reveal(),
    ).toBe(issued.accessToken);
  });

  it('a refresh sends the opened refresh token and stores the rotated pair sealed', async () => {
    await install('sealedrefresh');
    expect(await refreshMall(refresh.deps, 'sealedrefresh', { force: true })).toMatchObject({
      status: 'refreshed',
    });
    const row = (await storedRow('sealedrefresh'))!;
    expect(isSealed(row.refresh_token as string)).toBe(true);
    expect((await refresh.tokens.read('sealedrefresh'))!.refreshToken.reveal()).toBe(
      stack.sandbox.issuedTokens('sealedrefresh')!.refreshToken,
    );
  });

  it('a sealed mall Cafe24 refuses is marked invalid (the guard compares the stored form)', async () => {
    await install('sealedrefused');
    await stack.duringFault({ type: 'invalid-grant' }, async () => {
      expect(await refreshMall(refresh.deps, 'sealedrefused', { force: true })).toMatchObject({
        status: 'invalid',
      });
    });
    expect((await storedRow('sealedrefused'))!.status).toBe('invalid');
  });

  it('a value moved to another mall or column is refused: nothing sent to Cafe24, the mall stays active', async () => {
    await install('victimmall');
    await install('othersealed');
    const other = (await storedRow('othersealed'))!;
    await stack.db.pool.query(
      `update cafe24.oauth_tokens set refresh_token = $1 where mall_id = 'victimmall'`,
      [other.refresh_token],
    );
    expect(await refreshMall(refresh.deps, 'victimmall', { force: true })).toEqual({
      status: 'unreadable',
      mallId: 'victimmall',
      reason:
        'the refresh_token of mall victimmall could not be opened: it was changed, or sealed for another mall or column',
    });
    // The lease was given back at once: a fixed row is refreshed without waiting for it to run out.
    expect((await storedRow('victimmall'))!.refresh_locked_by).toBeNull();
    const victim = (await storedRow('victimmall'))!;
    await stack.db.pool.query(
      `update cafe24.oauth_tokens set refresh_token = $1 where mall_id = 'othersealed'`,
      [victim.access_token],
    );
    await expect(refresh.tokens.read('othersealed')).rejects.toThrow(/refresh_token of mall othersealed/);
    expect(refreshRequests('victimmall')).toHaveLength(0);
    expect((await storedRow('victimmall'))!.status).toBe('active');
  });

  it('a plaintext row keeps working and is stored sealed at its next refresh', async () => {
    await install('plainmall');
    const issued = stack.sandbox.issuedTokens('plainmall')!;
    await stack.db.pool.query(
      `update cafe24.oauth_tokens set access_token = $1, refresh_token = $2 where mall_id = 'plainmall'`,
      [issued.accessToken, issued.refreshToken],
    );
    expect((await refresh.tokens.read('plainmall'))!.accessToken.reveal()).toBe(issued.accessToken);
    expect(await refreshMall(refresh.deps, 'plainmall', { force: true })).toMatchObject({
      status: 'refreshed',
    });
    expect(isSealed((await storedRow('plainmall'))!.access_token as string)).toBe(true);
  });

  it('a stashed pair leaves the process sealed (the S3 object), each token for its own column', async () => {
    const codec = new TokenCodec(localDataKeys(KEY));
    const tokens = (await refresh.tokens.read('sealedmall'))!;
    const pair = {
      ...tokens,
      clientId: undefined,
      userId: undefined,
      scopes: undefined,
      shopNo: undefined,
      tokenType: undefined,
    };
    const stored = await encodeTokens(pair, codec);
    const text = JSON.stringify(stored);
    expect(text).not.toContain(tokens.accessToken.reveal());
    expect(text).not.toContain(tokens.refreshToken.reveal());
    const back = await decodeTokens(stored, codec);
    expect(back.refreshToken.reveal()).toBe(tokens.refreshToken.reveal());
    // The two sealed values swapped: neither opens as the other.
    const swapped = { ...stored, accessToken: stored.refreshToken, refreshToken: stored.accessToken };
    await expect(decodeTokens(swapped, codec)).rejects.toThrow(/could not be opened/);
  });

  it('refuses a TOKEN_ENCRYPTION_KEY that is not 32 bytes of base64 at start-up, without the value', () => {
    const bad = 'c2hvcnQta2V5LXZhbHVl';
    try {
      loadConfig('refresh', { ...stack.env, TOKEN_ENCRYPTION_KEY: bad });
      throw new Error('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain(
        'TOKEN_ENCRYPTION_KEY must be the base64 of 32 random bytes',
      );
      expect((error as Error).message).not.toContain(bad);
    }
  });

  it('logs no token', () => {
    for (const mall of ['sealedmall', 'sealedrefresh', 'plainmall']) {
      const issued = stack.sandbox.issuedTokens(mall)!;
      expect(logs.text()).not.toContain(issued.accessToken);
      expect(logs.text()).not.toContain(issued.refreshToken);
    }
  });
});
