import { randomUUID } from 'node:crypto';
import { formatKst, type Grant, type Issuer } from './grants.ts';

/**
 * Cafe24's side of the app's lifecycle (docs/cafe24-oauth.md, "Webhooks"): deleting or expiring the app at
 * a mall kills every grant issued there so far (its codes and refresh tokens are refused from then on; a
 * new install makes a new grant), and the app event is sent to the receiving URL with the key in
 * X-API-Key and a trace id, as Cafe24 does. The key never reaches a log.
 */

export type SandboxWebhook = { url: string; apiKey: string };

export type WebhookDelivery = {
  eventNo: number;
  mallId: string;
  traceId: string;
  /** The receiver's answer; 0 when it could not be reached. */
  status: number;
};

const EVENT_NO = { deleted: 90077, expired: 90078 } as const;
const DATE_FIELD = { deleted: 'deleted_date', expired: 'expired_date' } as const;

/** Cafe24's webhook dates: Korea time with its offset, whole seconds. */
function kstDate(ms: number): string {
  return `${formatKst(ms).slice(0, 19)}+09:00`;
}

/**
 * Kills every grant of the mall issued so far (Cafe24 refuses an uninstalled app's tokens): its codes and
 * refresh tokens are refused, and its access tokens, kept so as to be told apart from unknown ones, answer
 * 403 at the Admin API (docs/cafe24-oauth.md: "Admin API calls answer 403 from then on").
 */
export function removeGrants(issuer: Issuer, mallId: string): void {
  const remove = (grant: Grant) => {
    if (grant.mallId !== mallId) return;
    grant.revoked = true;
    grant.removed = true;
  };
  for (const grant of issuer.ledger.codes.values()) remove(grant);
  for (const entry of issuer.ledger.refreshTokens.values()) remove(entry.grant);
  for (const entry of issuer.ledger.accessTokens.values()) remove(entry.grant);
}

export function removalEvent(issuer: Issuer, mallId: string, cause: 'deleted' | 'expired') {
  return {
    event_no: EVENT_NO[cause],
    resource: {
      mall_id: mallId,
      client_id: issuer.settings.clientId,
      app_name: 'sandbox_app',
      [DATE_FIELD[cause]]: kstDate(issuer.settings.now()),
    },
  };
}

/** The [TEST] button's sample, exactly as Cafe24 sends it (a sample mall and client id). */
export const TEST_SAMPLE = {
  event_no: 90077,
  resource: {
    mall_id: 'leesunsin',
    client_id: 'sample7eBNEqSfkd7I8hoA',
    app_name: 'sample_app',
    deleted_date: '2020-07-01T12:30:15+09:00',
  },
};

/** Sends one delivery `times` times with the same trace id and body (Cafe24's resend). */
export async function sendWebhook(
  webhook: SandboxWebhook,
  body: { event_no: number; resource: { mall_id: string } },
  times = 1,
): Promise<WebhookDelivery[]> {
  const traceId = randomUUID();
  const text = JSON.stringify(body);
  const deliveries: WebhookDelivery[] = [];
  for (let i = 0; i < times; i += 1) {
    const status = await fetch(webhook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': webhook.apiKey, 'x-trace-id': traceId },
      body: text,
      signal: AbortSignal.timeout(5_000),
    }).then(
      async (response) => {
        await response.arrayBuffer().catch(() => {});
        return response.status;
      },
      () => 0,
    );
    deliveries.push({ eventNo: body.event_no, mallId: body.resource.mall_id, traceId, status });
  }
  return deliveries;
}
