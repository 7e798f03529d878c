import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../src/commons/secret.ts';
import type { TokenSet } from '../src/domain/ports.ts';
import { captureOutput } from './support/capture.ts';
import { CLIENT_ID, type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';
import { anotherContainersStash } from './support/shared-stash.ts';

captureOutput();
let stack: ExchangeStack;
// Another container's stash (S3): this one's memory does not list it, so only a delivery's take() finds it.
const shared = anotherContainersStash();
beforeAll(async () => {
  stack = await startExchangeStack();
  stack.runtime.deps.stash = shared;
});
afterAll(() => stack.stop());

function tokens(mallId: string, access: string): TokenSet {
  const now = Date.now();
  return {
    accessToken: new Secret(access),
    refreshToken: new Secret(`${access}-refresh`),
    expiresAt: new Date(now + 7_200_000),
    refreshTokenExpiresAt: new Date(now + 1_209_600_000),
    issuedAt: new Date(now),
    mallId,
    scopes: ['mall.read_order'],
    clientId: CLIENT_ID,
    userId: mallId,
    shopNo: '1',
    tokenType: 'bearer',
  };
}

/** A code recorded `failed` with the given reason, its tokens waiting in the stash. */
async function failedWithStash(mallId: string, reason: string, interrupted: boolean): Promise<string> {
  const { rows } = await stack.db.pool.query(
    `insert into cafe24.oauth_authorization_codes (mall_id, code, status, attempts, last_error, interrupted_at)
     values ($1, 'spent-code', 'failed', 1, $2, case when $3 then now() end) returning id::text`,
    [mallId, reason, interrupted],
  );
  const id = rows[0].id as string;
  await shared.put({
    grant: 'authorization_code',
    key: id,
    mallId,
    tokens: tokens(mallId, `${mallId}-stashed-access`),
  });
  return id;
}

describe('a code recorded interrupted (sent, no result recorded) is known by its data, not its wording', () => {
  it('is stored from the stash by a later delivery whatever its last_error says', async () => {
    const id = await failedWithStash('reworded', 'recorded by an operator in words of their own', true);
    expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
    expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged' });
    expect(await stack.tokenRow('reworded')).toMatchObject({ access_token: 'reworded-stashed-access' });
  });

  it('a failed code whose reason merely reads like an interruption is done, and nothing is stored', async () => {
    const id = await failedWithStash(
      'lookalike',
      'exchange interrupted 900 s ago with no result recorded; the code cannot be sent again',
      false,
    );
    expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
    expect(await stack.codeRow(id)).toMatchObject({ status: 'failed' });
    expect(await stack.tokenRow('lookalike')).toBeUndefined();
  });
});
