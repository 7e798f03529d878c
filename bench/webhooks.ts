/**
 * The webhook's numbers (issue 17): answer time of POST /webhooks/cafe24 under 50 deliveries a second
 * (removals of installed malls, resends of them, expiry events, TEST samples), and the time from a
 * removal's answer to its `Mall Removed` event on the local EventBridge. Prints numbers; asserts nothing.
 *
 *   node bench/webhooks.ts [--seconds 10] [--rate 50] [--sweep-ms 1000]
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedPostgres } from '../local/postgres.ts';
import { LOCAL_APP, startLocalStack } from '../local/stack.ts';
import { round, summarize } from './stats.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    rate: { type: 'string', default: '50' },
    'sweep-ms': { type: 'string', default: '1000' },
  },
});
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const sweepMs = Number(values['sweep-ms']);

const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-bench-webhooks-'));
const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
const removedAt = new Map<string, number>();
const eventAt = new Map<string, number>();
const stack = await startLocalStack({
  databaseUrl: postgres.url(),
  install: { port: 0, hostname: '127.0.0.1' },
  sweepIntervalMs: sweepMs,
  onMallEvent: (event) => {
    const detail = event.detail as { mallId: string; kind: string };
    if (detail.kind === 'removed') eventAt.set(detail.mallId, Date.now());
  },
});
try {
  const url = `${stack.install!.origin}/webhooks/cafe24`;
  const total = seconds * rate;
  // Installed malls to remove: a token row from a code as the exchange would store it (a fifth of the load).
  const malls = Array.from({ length: Math.ceil(total / 5) }, (_, i) => `benchhook${i}`);
  for (const mall of malls) {
    await stack.pool.query('insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2)', [
      mall,
      stack.sandbox.issueCode(mall),
    ]);
  }
  const start = Date.now();
  while (
    (await stack.pool.query('select count(*)::int as n from cafe24.oauth_tokens')).rows[0].n < malls.length
  ) {
    if (Date.now() - start > 120_000) throw new Error('the malls were not installed within 2 minutes');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const kstNow = () => `${new Date(Date.now() + 9 * 3600_000).toISOString().slice(0, 19)}+09:00`;
  const deliveries: Array<{ body: unknown; trace: string; removal?: string }> = [];
  let removalIndex = 0;
  for (let i = 0; i < total; i += 1) {
    const kind = i % 5;
    if (kind === 0 && removalIndex < malls.length) {
      const mall = malls[removalIndex++]!;
      const trace = randomUUID();
      const body = {
        event_no: 90077,
        resource: { mall_id: mall, client_id: LOCAL_APP.clientId, deleted_date: '' },
      };
      deliveries.push({ body, trace, removal: mall });
    } else if (kind === 1 && deliveries.at(-1)?.removal) {
      deliveries.push({ ...deliveries.at(-1)!, removal: undefined }); // Cafe24's resend: same trace, same body
    } else if (kind === 2) {
      deliveries.push({
        body: { event_no: 90077, resource: { mall_id: 'leesunsin', client_id: 'sample7eBNEqSfkd7I8hoA' } },
        trace: randomUUID(),
      });
    } else {
      const mall = malls[i % malls.length]!;
      deliveries.push({
        body: {
          event_no: 90079,
          resource: {
            mall_id: mall,
            client_id: LOCAL_APP.clientId,
            expire_date: '2027-01-01T00:00:00+09:00',
            updated_date: kstNow(),
          },
        },
        trace: randomUUID(),
      });
    }
  }

  const answers: number[] = [];
  const statuses = new Map<number, number>();
  const began = Date.now();
  await Promise.all(
    deliveries.map(async (delivery, i) => {
      const due = began + (i * 1000) / rate;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
      const body = JSON.parse(JSON.stringify(delivery.body));
      if (body.resource.deleted_date === '') body.resource.deleted_date = kstNow();
      const sent = performance.now();
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': LOCAL_APP.webhookApiKey,
          'x-trace-id': delivery.trace,
        },
        body: JSON.stringify(body),
      });
      await response.arrayBuffer();
      answers.push(performance.now() - sent);
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      if (delivery.removal) removedAt.set(delivery.removal, Date.now());
    }),
  );
  const waitUntil = Date.now() + sweepMs * 5 + 10_000;
  while (eventAt.size < removedAt.size && Date.now() < waitUntil)
    await new Promise((resolve) => setTimeout(resolve, 50));
  const toEvent = [...removedAt]
    .filter(([mall]) => eventAt.has(mall))
    .map(([mall, at]) => eventAt.get(mall)! - at);
  const answer = summarize(answers);
  const event = summarize(toEvent);
  process.stdout.write(
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        deliveries: deliveries.length,
        ratePerSecond: rate,
        statuses: Object.fromEntries(statuses),
        answerMs: { p50: round(answer.p50), p99: round(answer.p99), max: round(answer.max) },
        removals: removedAt.size,
        eventsSeen: toEvent.length,
        sweepIntervalMs: sweepMs,
        removalToEventMs: { p50: round(event.p50), p99: round(event.p99), max: round(event.max) },
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await stack.stop();
  await postgres.stop();
  await rm(dataDir, { recursive: true, force: true });
}
