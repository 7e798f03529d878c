import type pg from 'pg';
import {
  type LifecycleStore,
  type MallEventKind,
  REMOVAL_REASONS,
  type RemovalCause,
  type RemovalResult,
  type WebhookDelivery,
} from '../domain/lifecycle.ts';
import type { Pool } from './pool.ts';
import { withTransaction } from './transaction.ts';

// Every statement of a mall's removal and of Cafe24's webhooks (rule 11), in one place. Locks are taken in
// the exchange's order (the code rows, then the token row), so a removal and a store never deadlock.

/** One row per delivery: a repeat (same trace id, or the same body without one) inserts nothing. */
const RECORD_DELIVERY = `
insert into cafe24.app_events (event_no, mall_id, trace_id, body_sha256, body, outcome)
values ($1, $2, $3, $4, $5, $6)
on conflict ((coalesce(trace_id, encode(body_sha256, 'hex')))) do nothing
returning id::text`;

const SET_OUTCOME = `update cafe24.app_events set outcome = $2 where id = $1`;

/**
 * The instant a removal counts from: Cafe24's own date when it sent one (a late webhook does not undo a
 * reinstall that came after it), never later than now. Cafe24's dates have whole seconds: the removal
 * happened within the second after the one it names (no person reinstalls an app within a second).
 */
const CUTOFF = `select least(coalesce($1::timestamptz + interval '1 second', now()), now()) as at`;

/** A row installed from a code created after the removal is a reinstall the webhook came too late for. */
const REINSTALLED_SINCE = `
select exists (
  select 1 from cafe24.oauth_tokens t join cafe24.oauth_authorization_codes c on c.id = t.code_id
   where t.mall_id = $1 and c.created_at >= $2) as reinstalled`;

/**
 * Every code of the mall created before the removal and not exchanged is stamped: an open one is recorded
 * failed now; a code in flight finds the stamp when it stores (under this row lock) and stores nothing;
 * one whose tokens wait in a stash never stores them. History (status, reason) of finished codes stays.
 */
const STAMP_CODES = `
update cafe24.oauth_authorization_codes
   set mall_removed_at = $2, updated_at = now(),
       status = case when status in ('pending', 'exchanging') then 'failed' else status end,
       last_error = case when status in ('pending', 'exchanging') then $3 else last_error end,
       finished_at = case when status in ('pending', 'exchanging') then now() else finished_at end
 where mall_id = $1 and created_at < $2 and status <> 'exchanged' and mall_removed_at is null`;

const DELETE_TOKENS = `
delete from cafe24.oauth_tokens t
 where t.mall_id = $1
   and not exists (select 1 from cafe24.oauth_authorization_codes c where c.id = t.code_id and c.created_at >= $2)
returning t.mall_id`;

const DELETE_OPEN_STATES = `delete from cafe24.install_states where mall_id = $1 and used_at is null`;

export const INSERT_MALL_EVENT = `
insert into cafe24.mall_events (mall_id, kind, occurred_at, detail)
values ($1, $2, coalesce($3::timestamptz, now()), $4)
returning id::text`;

/** Records one authentic delivery and applies its effect, all in one transaction. */
export async function recordDelivery(pool: Pool, delivery: WebhookDelivery): Promise<RemovalResult> {
  return withTransaction(pool, async (client) => {
    const effect = delivery.effect;
    const initial =
      effect.type === 'ignore' ? effect.outcome : effect.type === 'remove' ? 'removed' : effect.kind;
    const inserted = await client.query(RECORD_DELIVERY, [
      delivery.eventNo,
      delivery.mallId,
      delivery.traceId ?? null,
      delivery.bodySha256,
      delivery.body,
      initial,
    ]);
    const id = inserted.rows[0]?.id as string | undefined;
    if (id === undefined)
      return { recorded: false, outcome: 'duplicate', tokensDeleted: false, eventId: undefined };
    if (effect.type === 'ignore')
      return { recorded: true, outcome: initial, tokensDeleted: false, eventId: undefined };
    if (effect.type === 'event') {
      const event = await insertMallEvent(client, delivery.mallId, effect.kind, undefined, effect.detail);
      return { recorded: true, outcome: initial, tokensDeleted: false, eventId: event };
    }
    const removal = await removeInTransaction(client, delivery.mallId, effect.cause, effect.at, {
      eventNo: delivery.eventNo,
    });
    if (removal.outcome !== 'removed') await client.query(SET_OUTCOME, [id, removal.outcome]);
    return { recorded: true, ...removal };
  });
}

/** `cafe24-tokens forget`: the removal a webhook would have made, by hand. */
export async function forgetMall(pool: Pool, mallId: string): Promise<Omit<RemovalResult, 'recorded'>> {
  return withTransaction(pool, (client) => removeInTransaction(client, mallId, 'forgotten', undefined, {}));
}

async function removeInTransaction(
  client: pg.ClientBase,
  mallId: string,
  cause: RemovalCause,
  at: Date | undefined,
  detail: Record<string, unknown>,
): Promise<Omit<RemovalResult, 'recorded'>> {
  const cutoff = (await client.query(CUTOFF, [at ?? null])).rows[0].at as Date;
  const { rows } = await client.query(REINSTALLED_SINCE, [mallId, cutoff]);
  if (rows[0].reinstalled === true) {
    await client.query(STAMP_CODES, [mallId, cutoff, REMOVAL_REASONS.code(cause)]);
    return { outcome: 'reinstalled-since', tokensDeleted: false, eventId: undefined };
  }
  await client.query(STAMP_CODES, [mallId, cutoff, REMOVAL_REASONS.code(cause)]);
  const deleted = await client.query(DELETE_TOKENS, [mallId, cutoff]);
  await client.query(DELETE_OPEN_STATES, [mallId]);
  const tokensDeleted = (deleted.rowCount ?? 0) > 0;
  const eventId = await insertMallEvent(client, mallId, 'removed', cutoff, {
    cause,
    ...detail,
    tokensDeleted,
  });
  return { outcome: 'removed', tokensDeleted, eventId };
}

async function insertMallEvent(
  client: pg.ClientBase,
  mallId: string,
  kind: MallEventKind,
  at: Date | undefined,
  detail: Record<string, unknown>,
): Promise<string> {
  return (await client.query(INSERT_MALL_EVENT, [mallId, kind, at ?? null, detail])).rows[0].id;
}

/** The lifecycle's view of the database. */
export class PostgresLifecycleStore implements LifecycleStore {
  readonly #pool: Pool;
  constructor(pool: Pool) {
    this.#pool = pool;
  }
  recordDelivery(delivery: WebhookDelivery): Promise<RemovalResult> {
    return recordDelivery(this.#pool, delivery);
  }
  forget(mallId: string): Promise<Omit<RemovalResult, 'recorded'>> {
    return forgetMall(this.#pool, mallId);
  }
}
