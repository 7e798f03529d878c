import { createHash, timingSafeEqual } from 'node:crypto';
import { isMallId, MALL_ID_RULE, normaliseMallId } from '../commons/ids.ts';

// The end of a mall's life (design: "The app's lifecycle"; rule 11): what Cafe24's app webhooks mean, and
// the words recorded for what a removal does. No HTTP, no SQL: the install front reads the request, the
// store applies the effect in one transaction.

/** The kinds of `cafe24.mall_events`; the migration's check constraint holds the same list. */
export const MALL_EVENT_KINDS = [
  'installed',
  'reinstalled',
  'invalid',
  'removed',
  'expiry-extended',
  'payment',
] as const;
export type MallEventKind = (typeof MALL_EVENT_KINDS)[number];

export type RemovalCause = 'deleted' | 'expired' | 'forgotten';

/** Cafe24's app events (docs/cafe24-oauth.md, "Webhooks"): what each does here. */
const APP_EVENTS: Record<number, { removal: 'deleted' | 'expired' } | { kind: MallEventKind }> = {
  90077: { removal: 'deleted' },
  90078: { removal: 'expired' },
  90079: { kind: 'expiry-extended' },
  90157: { kind: 'payment' },
  90158: { kind: 'payment' },
  90159: { kind: 'payment' },
};

/** The resource's date that says when a removal happened at Cafe24. */
const REMOVAL_DATE: Record<'deleted' | 'expired', string> = {
  deleted: 'deleted_date',
  expired: 'expired_date',
};

/** What an authentic delivery does: the store applies it in the transaction that records it. */
export type WebhookEffect =
  | { type: 'ignore'; outcome: 'ignored' | 'unknown-event' }
  /** Rule 11: the mall's tokens, stashed pairs and open install states go; `at` is Cafe24's own time. */
  | { type: 'remove'; cause: 'deleted' | 'expired'; at: Date | undefined }
  | { type: 'event'; kind: MallEventKind; detail: Record<string, unknown> };

export type WebhookDelivery = {
  eventNo: number;
  mallId: string;
  /** Cafe24's `X-Trace-ID`, when it sent one. */
  traceId: string | undefined;
  /** What a repeat of this delivery is known by without a trace id. */
  bodySha256: Buffer;
  body: Record<string, unknown>;
  effect: WebhookEffect;
};

/** A delivery's body that says nothing usable; the reason is safe to answer and log (no values). */
export class WebhookRefused extends Error {
  override name = 'WebhookRefused';
}

/** Cafe24 sends numbers; its samples show strings too. */
function eventNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  if (typeof value === 'string' && /^[1-9][0-9]{0,9}$/.test(value.trim())) return Number(value.trim());
  return undefined;
}

/** A Cafe24 date (`2020-07-01T12:30:15+09:00`) as an instant, or undefined when it is not one. */
export function cafe24Date(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:?\d{2}|Z)?$/.test(value.trim()))
    return undefined;
  const text = value.trim().replace(' ', 'T');
  // Without an offset the time is Korea's (Cafe24 speaks KST).
  const date = new Date(/([+-]\d{2}:?\d{2}|Z)$/.test(text) ? text : `${text}+09:00`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The payment fields worth telling the app (90157–90159); never the whole resource blindly. */
const PAYMENT_FIELDS = [
  'order_id',
  'payed_date',
  'currency',
  'amount',
  'channel',
  'reason_code',
  'reason_detail',
  'request_date',
  'refunded_amount',
  'refunded_date',
  'expire_date',
];
const EXPIRY_FIELDS = ['expire_date', 'previous_expire_date', 'updated_date'];

function pick(resource: Record<string, unknown>, names: string[]): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const name of names) {
    const value = resource[name];
    if (typeof value === 'string' || typeof value === 'number') picked[camel(name)] = value;
  }
  return picked;
}

function camel(name: string): string {
  return name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/**
 * Reads an authentic delivery's body (the key was checked first). Throws WebhookRefused for a body that
 * is not Cafe24's shape (answered 400); anything Cafe24-shaped is accepted, even when it does nothing.
 */
export function readWebhook(raw: string, traceId: string | undefined, clientId: string): WebhookDelivery {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new WebhookRefused('the body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new WebhookRefused('the body is not a JSON object');
  }
  const body = parsed as Record<string, unknown>;
  const eventNo = eventNumber(body.event_no);
  if (eventNo === undefined) throw new WebhookRefused('event_no is missing or not a positive integer');
  const resource = body.resource;
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) {
    throw new WebhookRefused('resource is missing or not an object');
  }
  const fields = resource as Record<string, unknown>;
  if (typeof fields.mall_id !== 'string' || fields.mall_id === '') {
    throw new WebhookRefused('resource.mall_id is missing');
  }
  if (!isMallId(fields.mall_id)) throw new WebhookRefused(`resource.mall_id ${MALL_ID_RULE}`);
  const trace = traceId?.trim() ? traceId.trim().slice(0, 200) : undefined;
  return {
    eventNo,
    mallId: normaliseMallId(fields.mall_id),
    traceId: trace,
    bodySha256: createHash('sha256').update(raw).digest(),
    body,
    effect: effectOf(eventNo, fields, clientId),
  };
}

function effectOf(eventNo: number, resource: Record<string, unknown>, clientId: string): WebhookEffect {
  // Cafe24's TEST button sends samples with a sample client_id, and another app's event is not ours.
  if (resource.client_id !== clientId) return { type: 'ignore', outcome: 'ignored' };
  const meaning = APP_EVENTS[eventNo];
  if (meaning === undefined) return { type: 'ignore', outcome: 'unknown-event' };
  if ('removal' in meaning) {
    return {
      type: 'remove',
      cause: meaning.removal,
      at: cafe24Date(resource[REMOVAL_DATE[meaning.removal]]),
    };
  }
  const fields = meaning.kind === 'payment' ? PAYMENT_FIELDS : EXPIRY_FIELDS;
  return { type: 'event', kind: meaning.kind, detail: { eventNo, ...pick(resource, fields) } };
}

/**
 * The webhook key, compared in constant time. Both sides are hashed first, so neither the length nor the
 * bytes of the key leak through the time taken.
 */
export function webhookKeyMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const want = createHash('sha256').update(expected).digest();
  const got = createHash('sha256').update(presented).digest();
  return timingSafeEqual(want, got);
}

/** Reasons written into rows by rule 11, worded once. */
export const REMOVAL_REASONS = {
  /** A code of a removed mall, created before the removal: never sent, or its tokens never stored. */
  code: (cause?: RemovalCause) =>
    `the app was ${cause === undefined ? 'removed' : cause === 'forgotten' ? 'removed by hand (forget)' : cause} ` +
    'at this mall after the code was created; not exchanged (rule 11)',
};

export type RemovalResult = {
  /** The delivery was recorded now (false: a repeat, no second effect). */
  recorded: boolean;
  /** What `app_events.outcome` says. */
  outcome: string;
  /** The token row was deleted. */
  tokensDeleted: boolean;
  /** The `mall_events` row written, if any. */
  eventId: string | undefined;
};

/** The webhook's storage (src/store/lifecycle.ts implements it on PostgreSQL). */
export interface LifecycleStore {
  /** Records the delivery once and applies its effect in the same transaction. */
  recordDelivery(delivery: WebhookDelivery): Promise<RemovalResult>;
  /** The removal of `cafe24-tokens forget`. */
  forget(mallId: string): Promise<Omit<RemovalResult, 'recorded'>>;
}

/** A row of `cafe24.mall_events`, as the app is told of it. Never a token, a code or a secret. */
export type MallEvent = {
  id: string;
  mallId: string;
  kind: MallEventKind;
  occurredAt: Date;
  detail: Record<string, unknown>;
};

/** EventBridge's `Source` for every event of this project (design: "Events to the app"). */
export const EVENT_SOURCE = 'cafe24-token-issuer';

/** EventBridge's `DetailType` per kind: what an app's rule matches on. */
export const EVENT_DETAIL_TYPES: Record<MallEventKind, string> = {
  installed: 'Mall Installed',
  reinstalled: 'Mall Reinstalled',
  invalid: 'Mall Invalid',
  removed: 'Mall Removed',
  'expiry-extended': 'Mall Expiry Extended',
  payment: 'Mall Payment',
};

/** The event's `Detail`: `{"eventId", "mallId", "kind", "occurredAt", ...detail}`. */
export function eventDetail(event: MallEvent): Record<string, unknown> {
  return {
    ...event.detail,
    eventId: event.id,
    mallId: event.mallId,
    kind: event.kind,
    occurredAt: event.occurredAt.toISOString(),
  };
}

/** Publishes events and says which were accepted (EventBridge in production). */
export type MallEventPublisher = (
  events: MallEvent[],
) => Promise<{ published: string[]; failed: Array<{ id: string; reason: string }> }>;
