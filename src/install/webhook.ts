import type { Context, Hono } from 'hono';
import { describeError } from '../commons/errors.ts';
import type { Log } from '../commons/log.ts';
import { count, METRIC } from '../commons/metrics.ts';
import type { Secret } from '../commons/secret.ts';
import {
  type LifecycleStore,
  type RemovalResult,
  readWebhook,
  WebhookRefused,
  webhookKeyMatches,
} from '../domain/lifecycle.ts';

/** Cafe24's app events are a few hundred bytes; anything this large is not one. */
export const MAX_WEBHOOK_BYTES = 64 * 1024;

export type WebhookDeps = {
  /** The key Cafe24 Developers shows ("WebHook 인증정보"); undefined: the route answers 503. */
  key: (() => Promise<Secret>) | undefined;
  clientId: string;
  store: LifecycleStore;
  /** After a removal committed: the mall's stashed pair goes too (best effort; rule 11 drops it anyway). */
  dropStashed?: (mallId: string) => Promise<void>;
  log: Log;
};

/**
 * `POST /webhooks/cafe24` (design: "The app's lifecycle"). The key first (403 without a word about it),
 * then the size (413), then the body (400); every authentic delivery is answered 200 once recorded, even
 * one that does nothing (a TEST sample, an unknown event), because Cafe24 switches off a webhook that
 * keeps failing. A database that cannot record it answers 503, so Cafe24 resends.
 */
export function webhookRoute(app: Hono, deps: WebhookDeps): void {
  app.post('/webhooks/cafe24', async (c) => {
    if (deps.key === undefined) {
      deps.log.error('webhook refused: no key configured', {
        fix: 'set CAFE24_WEBHOOK_API_KEY or CAFE24_WEBHOOK_API_KEY_ARN',
      });
      return c.json({ error: 'webhooks are not configured here' }, 503);
    }
    let expected: Secret;
    try {
      expected = await deps.key();
    } catch (error) {
      deps.log.error('webhook refused: the key could not be read', { error: describeError(error) });
      return c.json({ error: 'temporarily unavailable' }, 503);
    }
    if (!webhookKeyMatches(expected.reveal(), c.req.header('x-api-key'))) {
      count(METRIC.WebhookKeysRefused);
      deps.log.warn('webhook refused: X-API-Key missing or wrong', {
        reason: c.req.header('x-api-key') === undefined ? 'no X-API-Key header' : 'X-API-Key does not match',
      });
      return c.json({ error: 'forbidden' }, 403);
    }
    const raw = await readBody(c);
    if (raw === undefined)
      return c.json({ error: `the body is larger than ${MAX_WEBHOOK_BYTES} bytes` }, 413);
    let result: RemovalResult;
    let delivery: ReturnType<typeof readWebhook>;
    try {
      delivery = readWebhook(raw, c.req.header('x-trace-id'), deps.clientId);
    } catch (error) {
      if (!(error instanceof WebhookRefused)) throw error;
      deps.log.warn('webhook refused: not a Cafe24 event', { reason: error.message });
      return c.json({ error: error.message }, 400);
    }
    try {
      result = await deps.store.recordDelivery(delivery);
    } catch (error) {
      deps.log.error('webhook not recorded; Cafe24 resends it', {
        eventNo: delivery.eventNo,
        mallId: delivery.mallId,
        error: describeError(error),
      });
      return c.json({ error: 'temporarily unavailable' }, 503);
    }
    if (result.outcome === 'removed' && result.recorded) {
      count(METRIC.MallsRemoved);
      await deps.dropStashed?.(delivery.mallId).catch((error: unknown) =>
        deps.log.warn("a removed mall's stashed pair was not deleted; the next flush drops it", {
          mallId: delivery.mallId,
          error: describeError(error),
        }),
      );
    }
    deps.log.info('webhook recorded', {
      eventNo: delivery.eventNo,
      mallId: delivery.mallId,
      outcome: result.outcome,
      ...(result.tokensDeleted ? { tokensDeleted: true } : {}),
    });
    return c.json({ ok: true, outcome: result.outcome });
  });
}

/** The body as text, or undefined over the limit (by Content-Length, or by what actually arrived). */
async function readBody(c: Context): Promise<string | undefined> {
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > MAX_WEBHOOK_BYTES) return undefined;
  const body = c.req.raw.body;
  if (body === null) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_WEBHOOK_BYTES) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
