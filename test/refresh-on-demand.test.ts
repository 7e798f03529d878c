/**
 * REFRESH_MODE=on-demand: the schedule keeps only refresh tokens alive, and access tokens are refreshed
 * when someone needs one, through the same lease (rules 7–10 hold: eight callers of one expired mall make
 * one Cafe24 refresh).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import { publishDueMalls } from '../src/domain/refresh-schedule.ts';
import { freshAccessToken } from '../src/fresh-access-token.ts';
import { createRefreshHandler } from '../src/handlers/refresh.ts';
import { refreshMessage } from '../src/queue/messages.ts';
import type { OutboxEntry } from '../src/queue/publisher.ts';
import { createRefreshRuntime } from '../src/runtime/refresh.ts';
import { createPool } from '../src/store/pool.ts';
import { PostgresTokenStore } from '../src/store/tokens.ts';
import { captureOutput } from './support/capture.ts';
import { lambdaContext, sqsEvent, sqsRecord } from './support/events.ts';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

captureOutput();
const ON_DEMAND = { REFRESH_MODE: 'on-demand', REFRESH_KEEPALIVE_SECONDS: String(3 * 86_400) };
let stack: ExchangeStack;

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(() => stack?.stop());
beforeEach(async () => {
  await stack.db.pool.query('truncate cafe24.oauth_tokens, cafe24.oauth_authorization_codes cascade');
});

async function install(mallId: string): Promise<void> {
  const { id } = await stack.newCode(mallId);
  expect(await exchangeCode(stack.runtime.deps, id)).toMatchObject({ status: 'exchanged' });
}

const refreshRequests = (mallId: string) =>
  stack.sandbox.tokenRequests({ mallId }).filter((request) => request.grantType === 'refresh_token');

/** One schedule round over the test database, recording what it would publish. */
async function scheduleRound(env: Record<string, string>): Promise<string[]> {
  const config = loadConfig('refreshSchedule', {
    ...stack.env,
    REFRESH_QUEUE_URL: 'http://localhost:1/q',
    ...env,
  });
  const published: string[] = [];
  await publishDueMalls({
    tokens: new PostgresTokenStore(stack.db.pool),
    publish: async (entries: OutboxEntry[]) => {
      published.push(...entries.map((entry) => entry.id));
      return { published: entries.map((entry) => entry.id), failed: [] };
    },
    log: { info() {}, warn() {}, error() {}, debug() {} } as never,
    policy: config.refreshSchedule,
  });
  return published.sort();
}

describe('the schedule', () => {
  it('under on-demand publishes only malls whose refresh token is near its end; under ahead, expiring access tokens', async () => {
    await install('expiringaccess');
    await install('expiringrefresh');
    await install('quiet');
    await stack.db.pool.query(
      `update cafe24.oauth_tokens set expires_at = now() + interval '5 minutes' where mall_id = 'expiringaccess'`,
    );
    await stack.db.pool.query(
      `update cafe24.oauth_tokens set refresh_token_expires_at = now() + interval '2 days' where mall_id = 'expiringrefresh'`,
    );
    expect(await scheduleRound(ON_DEMAND)).toEqual(['expiringrefresh']);
    await stack.db.pool.query('update cafe24.oauth_tokens set refresh_queued_at = null');
    expect(await scheduleRound({})).toEqual(['expiringaccess']);
  });

  it('the refresh handler under on-demand refreshes a kept-alive mall whose access token is still fresh', async () => {
    await install('keepalive');
    await stack.db.pool.query(
      `update cafe24.oauth_tokens set refresh_token_expires_at = now() + interval '2 days' where mall_id = 'keepalive'`,
    );
    const before = (await stack.tokenRow('keepalive'))!;
    const ahead = createRefreshRuntime(loadConfig('refresh', stack.env));
    const onDemand = createRefreshRuntime(loadConfig('refresh', { ...stack.env, ...ON_DEMAND }));
    try {
      const context = lambdaContext('cafe24-token-refresh', 60_000);
      // Under ahead the access token is not due, so nothing is sent.
      await createRefreshHandler(() => ahead)(sqsEvent(sqsRecord(refreshMessage('keepalive'))), context);
      expect(refreshRequests('keepalive')).toHaveLength(0);
      await createRefreshHandler(() => onDemand)(sqsEvent(sqsRecord(refreshMessage('keepalive'))), context);
      expect(refreshRequests('keepalive')).toHaveLength(1);
      const after = (await stack.tokenRow('keepalive'))!;
      expect(after.refresh_token).not.toBe(before.refresh_token);
      expect((after.refresh_token_expires_at as Date).getTime()).toBeGreaterThan(
        Date.now() + 13 * 86_400_000,
      );
    } finally {
      await ahead.close();
      await onDemand.close();
    }
  });
});

describe('refresh on demand', () => {
  it('eight callers of one expired mall, from four pools, make one Cafe24 refresh and all get the new token', async () => {
    await install('busymall');
    await stack.db.pool.query(
      `update cafe24.oauth_tokens set expires_at = now() - interval '1 minute' where mall_id = 'busymall'`,
    );
    const config = loadConfig('refresh', { ...stack.env, ...ON_DEMAND });
    const pools = Array.from({ length: 4 }, () => createPool({ connectionString: stack.db.url }, { max: 3 }));
    try {
      const tokens = await Promise.all(
        Array.from({ length: 8 }, (_, i) => freshAccessToken(pools[i % 4]!, 'busymall', { config })),
      );
      expect(refreshRequests('busymall')).toHaveLength(1);
      const stored = (await stack.tokenRow('busymall'))!.access_token as string;
      expect(new Set(tokens.map((token) => token.reveal()))).toEqual(new Set([stored]));
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('refuses an unknown mode', () => {
    expect(() => loadConfig('refresh', { ...stack.env, REFRESH_MODE: 'lazy' })).toThrow(ConfigError);
    expect(() => loadConfig('refresh', { ...stack.env, REFRESH_MODE: 'lazy' })).toThrow(
      /REFRESH_MODE must be ahead or on-demand/,
    );
  });
});
