/**
 * The app's events to EventBridge: `cafe24.mall_events` as the relay's outbox, through the real
 * `@aws-sdk/client-eventbridge` client to the local stand-in that speaks PutEvents (local/eventbridge.ts).
 */

import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type LocalEventBridge, startLocalEventBridge } from '../local/eventbridge.ts';
import { logger } from '../src/commons/logger.ts';
import { loadConfig } from '../src/config.ts';
import { EVENT_SOURCE } from '../src/domain/lifecycle.ts';
import { sweepMallEvents } from '../src/relay/sweep.ts';
import { createRelayRuntime, type RelayRuntime } from '../src/runtime/relay.ts';
import { forgetMall } from '../src/store/lifecycle.ts';
import { captureOutput } from './support/capture.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

captureOutput();
let db: TestDatabase;
let bus: LocalEventBridge;
let runtime: RelayRuntime;

beforeAll(async () => {
  db = await createTestDatabase();
  bus = await startLocalEventBridge();
  runtime = createRelayRuntime(
    loadConfig('relay', {
      DATABASE_URL: db.url,
      SQS_QUEUE_URL: 'http://127.0.0.1:1/000000000000/unused',
      EVENT_BUS_NAME: 'cafe24-app-events',
      AWS_REGION: 'ap-northeast-2',
      AWS_ENDPOINT_URL_EVENTBRIDGE: bus.endpoint,
    }),
    { poolSize: 2 },
  );
});
afterAll(async () => {
  await runtime?.close();
  await bus?.stop();
  await db?.drop();
});
beforeEach(async () => {
  await db.pool.query('truncate cafe24.mall_events');
  (bus.events as unknown[]).length = 0;
});

async function unpublished(): Promise<number> {
  const { rows } = await db.pool.query(
    'select count(*)::int as n from cafe24.mall_events where published_at is null',
  );
  return rows[0].n;
}

describe('mall events to EventBridge', () => {
  it('publishes each row once, with the contract Source, DetailType and Detail, and marks it published', async () => {
    await db.pool.query(
      `insert into cafe24.mall_events (mall_id, kind, detail) values
         ('shopa', 'installed', '{"codeId": "7", "scopes": ["mall.read_order"]}'),
         ('shopb', 'invalid', '{"reason": "Cafe24 refused the refresh token"}')`,
    );
    const removal = await forgetMall(db.pool, 'shopc');
    expect(await sweepMallEvents(db.pool, logger, runtime.publishEvents!)).toBe(3);
    expect(await unpublished()).toBe(0);
    expect(bus.events.map((event) => [event.source, event.detailType, event.eventBusName])).toEqual([
      [EVENT_SOURCE, 'Mall Installed', 'cafe24-app-events'],
      [EVENT_SOURCE, 'Mall Invalid', 'cafe24-app-events'],
      [EVENT_SOURCE, 'Mall Removed', 'cafe24-app-events'],
    ]);
    expect(bus.events[2]!.detail).toEqual({
      eventId: removal.eventId,
      mallId: 'shopc',
      kind: 'removed',
      occurredAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      cause: 'forgotten',
      tokensDeleted: false,
    });
    // Published is final: the next sweep sends nothing again.
    expect(await sweepMallEvents(db.pool, logger, runtime.publishEvents!)).toBe(0);
    expect(bus.events).toHaveLength(3);
  });

  it('loses nothing while EventBridge fails: the rows wait, and the next sweep publishes them', async () => {
    await db.pool.query(
      `insert into cafe24.mall_events (mall_id, kind) select 'shop' || g, 'installed' from generate_series(1, 25) g`,
    );
    // Three PutEvents calls (10, 10, 5), each tried three times by the SDK: every attempt fails.
    bus.failNext(9, 'internal');
    expect(await sweepMallEvents(db.pool, logger, runtime.publishEvents!)).toBe(0);
    expect(await unpublished()).toBe(25);
    expect(await sweepMallEvents(db.pool, logger, runtime.publishEvents!)).toBe(25);
    expect(await unpublished()).toBe(0);
    // At least once, in id order per batch: every event arrived.
    const malls = new Set(bus.events.map((event) => (event.detail as { mallId: string }).mallId));
    expect(malls.size).toBe(25);
  });

  it('the stand-in refuses what EventBridge refuses: 11 entries, a Detail that is not a JSON object', async () => {
    const client = new EventBridgeClient({
      region: 'ap-northeast-2',
      endpoint: bus.endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    const entry = { Source: 's', DetailType: 'd', Detail: '{}' };
    await expect(client.send(new PutEventsCommand({ Entries: Array(11).fill(entry) }))).rejects.toMatchObject(
      {
        name: 'ValidationException',
      },
    );
    const answer = await client.send(new PutEventsCommand({ Entries: [entry, { ...entry, Detail: '[1]' }] }));
    expect(answer.FailedEntryCount).toBe(1);
    expect(answer.Entries?.[1]?.ErrorCode).toBe('InvalidArgument');
    client.destroy();
  });
});
