import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import pg from 'pg';
import { Agent, request } from 'undici';
import { LOCAL_APP } from '../local/stack.ts';
import { createSqsClient, localAws } from '../src/aws/sqs.ts';
import { Secret } from '../src/commons/secret.ts';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import type { TokenSet } from '../src/domain/ports.ts';
import { exchangeMessage } from '../src/queue/messages.ts';
import { PostgresCodeStore } from '../src/store/codes.ts';
import { upsertTokens } from '../src/store/tokens.ts';
import { withTransaction } from '../src/store/transaction.ts';
import { type BenchEnvironment, sleep } from './environment.ts';
import { median, round } from './stats.ts';

export type FloorResult = {
  samples: number;
  /** Median milliseconds of each unavoidable step, measured alone. */
  notifyRoundTripMs: number;
  sqsSendReceiveMs: number;
  tokenCallMs: number;
  /** The exchange's store as it runs: one statement (UPSERT + mark exchanged), one implicit transaction. */
  storeTransactionMs: number;
  /**
   * The same store as the former four round trips (BEGIN, UPSERT, UPDATE, COMMIT): the floor's store
   * step before the store became one statement, kept to compare with earlier runs. Not in `floorMs`.
   */
  storeFourStatementsMs: number;
  floorMs: number;
  /**
   * Not part of the floor: one exchange called directly (claim, attempt record, token call, store), the
   * statements the floor leaves out included. Median ms.
   */
  exchangeAloneMs: number;
  /** Does a parked long poll return as soon as a message lands? Median ms from SendMessage's answer. */
  longPollWake: { samples: number; afterSendAckMs: number; sendMs: number };
};

/**
 * The floor: what the pipeline cannot avoid, each step timed in isolation against the same PostgreSQL,
 * SQS emulator and sandbox the pipeline uses (medians). Floor = their sum.
 */
export async function measureFloor(env: BenchEnvironment, samples = 200): Promise<FloorResult> {
  env.stack.sandbox.setFault(undefined);
  const notifyRoundTripMs = median(await notifyRoundTrips(env, samples));
  const sqs = await sqsRoundTrips(env, samples);
  const tokenCallMs = median(await tokenCalls(env, samples));
  const storeTransactionMs = median(await storeTransactions(env, samples));
  const storeFourStatementsMs = median(await storeTransactions(env, samples, 'four-statements'));
  const sqsSendReceiveMs = median(sqs.sendReceive);
  const exchangeAloneMs = median(await directExchanges(env, Math.min(samples, 100)));
  return {
    samples,
    notifyRoundTripMs: round(notifyRoundTripMs, 3),
    sqsSendReceiveMs: round(sqsSendReceiveMs, 3),
    tokenCallMs: round(tokenCallMs, 3),
    storeTransactionMs: round(storeTransactionMs, 3),
    storeFourStatementsMs: round(storeFourStatementsMs, 3),
    floorMs: round(notifyRoundTripMs + sqsSendReceiveMs + tokenCallMs + storeTransactionMs, 3),
    exchangeAloneMs: round(exchangeAloneMs, 3),
    longPollWake: {
      samples: sqs.wake.length,
      afterSendAckMs: round(median(sqs.wake.map((w) => w.afterAck)), 3),
      sendMs: round(median(sqs.wake.map((w) => w.send)), 3),
    },
  };
}

/** INSERT + commit on one connection → the notification on a LISTENing one (the trigger's path). */
async function notifyRoundTrips(env: BenchEnvironment, samples: number): Promise<number[]> {
  const listener = new pg.Client({ connectionString: env.databaseUrl });
  const writer = new pg.Client({ connectionString: env.databaseUrl });
  await Promise.all([listener.connect(), writer.connect()]);
  try {
    await listener.query('listen bench_probe');
    let arrived: (() => void) | undefined;
    listener.on('notification', () => arrived?.());
    const times: number[] = [];
    for (let i = 0; i < samples + 10; i++) {
      const notified = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      const started = performance.now();
      await writer.query('insert into bench.notify_probe default values');
      await notified;
      if (i >= 10) times.push(performance.now() - started);
    }
    return times;
  } finally {
    await Promise.all([listener.end(), writer.end()]);
  }
}

/**
 * SendMessage then ReceiveMessage on a scratch queue of the same emulator, with a client configured as
 * the relay's. Then the long-poll check: a receive parked first, a send, and how long after the send's
 * answer the parked receive returns (the runner's pollers wait this way).
 */
async function sqsRoundTrips(env: BenchEnvironment, samples: number) {
  const { sqs } = env.stack;
  const client = createSqsClient(localAws(sqs.endpoint, sqs.region));
  try {
    const { QueueUrl: queueUrl } = await client.send(
      new CreateQueueCommand({ QueueName: 'bench-floor', Attributes: { VisibilityTimeout: '30' } }),
    );
    const body = exchangeMessage('1234567');
    const sendReceive: number[] = [];
    for (let i = 0; i < samples + 10; i++) {
      const started = performance.now();
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
      const received = await client.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 0 }),
      );
      const elapsed = performance.now() - started;
      const message = received.Messages?.[0];
      if (!message) throw new Error('the emulator did not return a message it had just accepted');
      if (i >= 10) sendReceive.push(elapsed);
      await client.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }),
      );
    }

    const wake: Array<{ afterAck: number; send: number }> = [];
    for (let i = 0; i < 50; i++) {
      let returnedAt = 0;
      const parked = client
        .send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 5 }))
        .then((output) => {
          returnedAt = performance.now();
          return output;
        });
      // Give the receive time to reach the emulator and park; nothing is in the queue meanwhile.
      await sleep(20);
      const started = performance.now();
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
      const acked = performance.now();
      const output = await parked;
      const message = output.Messages?.[0];
      if (!message) throw new Error('the parked receive returned empty');
      wake.push({ afterAck: returnedAt - acked, send: acked - started });
      await client.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }),
      );
    }
    return { sendReceive, wake };
  } finally {
    client.destroy();
  }
}

/** One token request for a fresh code, over a keep-alive undici Agent as the token client uses. */
async function tokenCalls(env: BenchEnvironment, samples: number): Promise<number[]> {
  const { sandbox } = env.stack;
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  const basic = Buffer.from(`${LOCAL_APP.clientId}:${LOCAL_APP.clientSecret}`).toString('base64');
  try {
    const times: number[] = [];
    for (let i = 0; i < samples + 10; i++) {
      const mall = env.newMall('floortok');
      const code = sandbox.issueCode(mall);
      const started = performance.now();
      const response = await request(`${sandbox.origin}/${mall}/api/v2/oauth/token`, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: LOCAL_APP.redirectUri,
        }).toString(),
      });
      const text = await response.body.text();
      JSON.parse(text);
      const elapsed = performance.now() - started;
      if (response.statusCode !== 200) throw new Error(`sandbox answered ${response.statusCode}`);
      if (i >= 10) times.push(elapsed);
    }
    return times;
  } finally {
    await agent.close();
  }
}

/**
 * The exchange's own store (one statement: UPSERT the token, mark the code) on a warm pool; or, to compare
 * with runs before it became one statement, the same work as BEGIN; UPSERT; UPDATE; COMMIT.
 */
async function storeTransactions(
  env: BenchEnvironment,
  samples: number,
  shape: 'one-statement' | 'four-statements' = 'one-statement',
): Promise<number[]> {
  const store = new PostgresCodeStore(env.pool);
  const mall = env.newMall('floortx');
  const { rows } = await env.pool.query<{ id: string }>(
    `insert into cafe24.oauth_authorization_codes (mall_id, code, status)
     values ($1, 'floor-code', 'exchanging') returning id::text`,
    [mall],
  );
  // Not for the relay: this row only measures the store transaction.
  await env.pool.query('delete from cafe24.exchange_outbox where code_id = $1', [rows[0]!.id]);
  const code = { id: rows[0]!.id, mallId: mall };
  const times: number[] = [];
  for (let i = 0; i < samples + 10; i++) {
    const now = Date.now();
    const tokens: TokenSet = {
      accessToken: new Secret(`access-${i}`),
      refreshToken: new Secret(`refresh-${i}`),
      expiresAt: new Date(now + 7_200_000),
      refreshTokenExpiresAt: new Date(now + 1_209_600_000),
      issuedAt: new Date(now),
      clientId: LOCAL_APP.clientId,
      mallId: mall,
      userId: mall,
      scopes: ['mall.read_order', 'mall.read_product', 'mall.read_store'],
      shopNo: '1',
      tokenType: 'Bearer',
    };
    const started = performance.now();
    if (shape === 'one-statement') await store.recordSuccess(code, tokens);
    else {
      await withTransaction(env.pool, async (client) => {
        await upsertTokens(client, mall, tokens, code.id);
        await client.query(
          `update cafe24.oauth_authorization_codes
              set status = 'exchanged', finished_at = now(), updated_at = now(), last_error = $2
            where id = $1 and status <> 'exchanged'`,
          [code.id, null],
        );
      });
    }
    if (i >= 10) times.push(performance.now() - started);
  }
  return times;
}

/** The domain's exchangeCode on the stack's runtime, codes the relay never sees (their outbox row is gone). */
async function directExchanges(env: BenchEnvironment, samples: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < samples + 10; i++) {
    const mall = env.newMall('floorex');
    const code = env.stack.sandbox.issueCode(mall);
    const client = await env.pool.connect();
    let id: string;
    try {
      await client.query('begin');
      const { rows } = await client.query<{ id: string }>(
        'insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2) returning id::text',
        [mall, code],
      );
      id = rows[0]!.id;
      await client.query('delete from cafe24.exchange_outbox where code_id = $1', [id]);
      await client.query('commit');
    } finally {
      client.release();
    }
    const started = performance.now();
    const result = await exchangeCode(env.stack.runtime.deps, id);
    if (i >= 10) times.push(performance.now() - started);
    if (result.status !== 'exchanged') throw new Error(`direct exchange: ${result.status}`);
  }
  return times;
}
