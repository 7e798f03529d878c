import { CreateQueueCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createSqsClient, localAws } from '../src/aws/sqs.ts';
import { exchangeMessage } from '../src/queue/messages.ts';
import type { BenchEnvironment } from './environment.ts';
import { round } from './stats.ts';

/** The relay's parallel drains (src/relay/relay.ts `concurrency` default). */
const RELAY_CONCURRENCY = 4;

export type RelayResult = {
  codes: number;
  concurrency: number;
  /** startRelay() → every code published (LISTEN connect and catch-up included). */
  relaySeconds: number;
  relayPerSecond: number;
  /** SendMessageBatch alone, 10 entries a call, the same concurrency and client settings, before and after
   * the relay run (after an untimed warm-up). */
  rawPerSecond: number[];
  /** relay / the faster raw run. */
  ratio: number;
};

/**
 * Relay throughput: with the runner stopped (nothing consumes), `codes` unpublished codes are inserted
 * while the relay is down, then it is started and timed until all are published. Beside it, the raw
 * SendMessageBatch rate to a scratch queue of the same emulator. Stops the runner: run it last.
 */
export async function measureRelay(env: BenchEnvironment, codes = 5_000): Promise<RelayResult> {
  const { stack } = env;
  await stack.runner.stop();
  const client = createSqsClient(localAws(stack.sqs.endpoint, stack.sqs.region));
  try {
    const { QueueUrl: scratch } = await client.send(new CreateQueueCommand({ QueueName: 'bench-raw' }));
    // Untimed: the SDK's and the emulator's batch paths compiled before either is measured.
    await rawSendRate(client, scratch!, 1_000);
    const rawBefore = await rawSendRate(client, scratch!, codes);

    await stack.stopRelay();
    const { rows } = await env.pool.query<{ id: string }>(
      `insert into cafe24.oauth_authorization_codes (mall_id, code)
       select 'relay' || lpad(n::text, 5, '0'), md5(n::text) from generate_series(1, $1::int) as n
       returning id::text`,
      [codes],
    );
    const ids = rows.map((row) => row.id);
    const target = env.published + codes;
    const started = performance.now();
    stack.startRelay();
    await env.publishedReaches(target, 120_000);
    const relaySeconds = (performance.now() - started) / 1000;
    const { rows: left } = await env.pool.query<{ count: string }>(
      'select count(*)::text as count from cafe24.exchange_outbox where code_id = any($1::bigint[])',
      [ids],
    );
    if (left[0]!.count !== '0') throw new Error(`${left[0]!.count} codes are still unpublished`);

    const rawAfter = await rawSendRate(client, scratch!, codes);
    const relayPerSecond = codes / relaySeconds;
    return {
      codes,
      concurrency: RELAY_CONCURRENCY,
      relaySeconds: round(relaySeconds, 3),
      relayPerSecond: round(relayPerSecond, 0),
      rawPerSecond: [round(rawBefore, 0), round(rawAfter, 0)],
      ratio: round(relayPerSecond / Math.max(rawBefore, rawAfter), 3),
    };
  } finally {
    client.destroy();
  }
}

/** Messages per second through SendMessageBatch (10 entries a call), RELAY_CONCURRENCY calls in flight. */
async function rawSendRate(client: SQSClient, queueUrl: string, messages: number): Promise<number> {
  const batches = Math.ceil(messages / 10);
  let next = 0;
  const worker = async () => {
    for (let batch = next++; batch < batches; batch = next++) {
      const first = batch * 10;
      const entries = Array.from({ length: Math.min(10, messages - first) }, (_, i) => {
        const id = String(1_000_000 + first + i);
        return { Id: id, MessageBody: exchangeMessage(id) };
      });
      const answer = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      if ((answer.Failed ?? []).length > 0) throw new Error('the emulator refused part of a batch');
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: RELAY_CONCURRENCY }, worker));
  return messages / ((performance.now() - started) / 1000);
}
