import type { MallEvent, MallEventKind, MallEventPublisher } from '../domain/lifecycle.ts';
import type { Pool } from './pool.ts';
import { withTransaction } from './transaction.ts';

// `cafe24.mall_events` as the relay's outbox to EventBridge (design: "Events to the app"): at least once,
// in id order per batch, nothing lost while EventBridge or the relay is down.

/** Unpublished events, oldest first; rows another relay is publishing are skipped. */
const CLAIM_EVENTS = `
select id::text, mall_id, kind, occurred_at, detail
  from cafe24.mall_events
 where published_at is null
 -- The table's bigint, not the text column of the same name (which would put 10 before 9).
 order by mall_events.id
 limit $1
   for update skip locked`;

const MARK_PUBLISHED = `
update cafe24.mall_events set published_at = now(), last_publish_error = null where id = any($1::bigint[])`;

const MARK_FAILED = `
update cafe24.mall_events
   set publish_attempts = publish_attempts + 1, last_publish_error = f.reason
  from unnest($1::bigint[], $2::text[]) as f(id, reason)
 where mall_events.id = f.id`;

export type EventsPublished = { published: number; failed: number };

/**
 * One batch: the claimed rows stay locked while the publisher sends them and are marked in the same
 * transaction. A publisher that throws leaves every row unpublished (the next sweep sends them again:
 * at least once); its error is the caller's to log.
 */
export async function publishMallEvents(
  pool: Pool,
  publish: MallEventPublisher,
  limit = 100,
): Promise<EventsPublished> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query(CLAIM_EVENTS, [limit]);
    if (rows.length === 0) return { published: 0, failed: 0 };
    const events: MallEvent[] = rows.map((row) => ({
      id: row.id as string,
      mallId: row.mall_id as string,
      kind: row.kind as MallEventKind,
      occurredAt: row.occurred_at as Date,
      detail: (row.detail ?? {}) as Record<string, unknown>,
    }));
    const result = await publish(events);
    if (result.published.length > 0) await client.query(MARK_PUBLISHED, [result.published]);
    if (result.failed.length > 0) {
      await client.query(MARK_FAILED, [
        result.failed.map((entry) => entry.id),
        result.failed.map((entry) => entry.reason.slice(0, 500)),
      ]);
    }
    return { published: result.published.length, failed: result.failed.length };
  });
}
