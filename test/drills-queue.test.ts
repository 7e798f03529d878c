/**
 * Fault drills (issue 5) around the queue: the relay process killed mid-batch, one message delivered ten
 * times to two Lambda containers, and a message for a code that does not exist. Real SQS emulator, the
 * real `cafe24-tokens relay` process, the local Lambda runner and the real exchange handler.
 */
import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LambdaRunner, type SqsHandler, startLambdaRunner } from '../local/lambda-runner.ts';
import { type LocalSqs, startLocalSqs } from '../local/sqs.ts';
import { loadConfig } from '../src/config.ts';
import { createExchangeHandler } from '../src/handlers/exchange.ts';
import { exchangeMessage } from '../src/queue/messages.ts';
import { CLAIM_SIZE } from '../src/relay/outbox.ts';
import { RELAY_CONCURRENCY } from '../src/relay/relay.ts';
import { createExchangeRuntime, type ExchangeRuntime } from '../src/runtime/exchange.ts';
import { captureOutput } from './support/capture.ts';
import { CLIENT_SECRET, type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';
import { type RelayProcess, spawnRelay } from './support/relay-process.ts';
import { countByCodeId, queueDepth, receiveAll, releaseAll } from './support/sqs.ts';

const logs = captureOutput();
let stack: ExchangeStack;
const relays: RelayProcess[] = [];

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(async () => {
  for (const relay of relays) relay.child.kill('SIGKILL');
  await stack?.stop();
});

/** A fresh queue and DLQ per drill; visibility 1 s so a retried message is back quickly. */
async function withQueue<T>(
  options: { maxReceiveCount: number },
  drill: (sqs: LocalSqs) => Promise<T>,
): Promise<T> {
  const sqs = await startLocalSqs({ visibilityTimeoutSeconds: 1, maxReceiveCount: options.maxReceiveCount });
  try {
    return await drill(sqs);
  } finally {
    await sqs.stop();
  }
}

function runner(sqs: LocalSqs, handler: unknown, maximumConcurrency = 2): LambdaRunner {
  return startLambdaRunner({
    client: sqs.client,
    queueUrl: sqs.queueUrl,
    handler: handler as SqsHandler,
    batchSize: 10,
    maximumConcurrency,
    waitTimeSeconds: 1,
    timeoutMs: 30_000,
  });
}

async function insertCodes(malls: string[]): Promise<Array<{ id: string; code: string; mall: string }>> {
  const codes = malls.map((mall) => stack.sandbox.issueCode(mall));
  const { rows } = await stack.db.pool.query(
    `insert into cafe24.oauth_authorization_codes (mall_id, code)
     select * from unnest($1::text[], $2::text[]) returning id::text`,
    [malls, codes],
  );
  return rows.map((row, i) => ({ id: row.id as string, code: codes[i]!, mall: malls[i]! }));
}

const countWhere = async (ids: string[], condition: string) =>
  Number(
    (
      await stack.db.pool.query(
        `select count(*) from cafe24.oauth_authorization_codes where id = any($1::bigint[]) and ${condition}`,
        [ids],
      )
    ).rows[0].count,
  );

describe('drill 1: the relay process SIGKILLed mid-batch, then restarted', () => {
  it('publishes every code (duplicates only from the crash window) and exchanges each exactly once', async () => {
    await withQueue({ maxReceiveCount: 5 }, async (sqs) => {
      // Several claims per drain, so the kill finds some claims marked and others sent but not yet marked.
      const total = 3 * RELAY_CONCURRENCY * CLAIM_SIZE;
      const entries = await insertCodes(Array.from({ length: total }, (_, i) => `crash${i}`));
      const ids = entries.map((e) => e.id);
      // Each relay transaction's COMMIT waits 300 ms (a deferred trigger, once per transaction), so much of
      // a batch's life lies between SQS accepting it and the commit: a kill lands in the crash window,
      // where a batch is sent but its rows not yet gone from the outbox.
      await stack.db.pool.query(`
        create or replace function test_slow_commit() returns trigger language plpgsql as $$
        begin
          if current_setting('test.slept', true) is distinct from 'yes' then
            perform set_config('test.slept', 'yes', true);
            perform pg_sleep(0.3);
          end if;
          return null;
        end $$;
        create constraint trigger test_slow_commit after delete on cafe24.exchange_outbox
          deferrable initially deferred for each row execute function test_slow_commit();`);
      // A backend notices a vanished client only between statements, unless told to look: without this a
      // killed relay's COMMIT, already sent, would still finish and no batch would be caught mid-window.
      await stack.db.pool.query(`alter database ${stack.db.name} set client_connection_check_interval = 10`);
      const env = {
        DATABASE_URL: stack.db.url,
        SQS_QUEUE_URL: sqs.queueUrl,
        AWS_ENDPOINT_URL_SQS: sqs.endpoint,
        AWS_REGION: sqs.region,
      };

      const first = spawnRelay(env);
      relays.push(first);
      // Past the first claim (a wake-up drains one claim, then fans out to the parallel drains on a
      // backlog): the kill lands while the parallel drains are mid-publication.
      await expect
        .poll(() => countWhere(ids, 'id not in (select code_id from cafe24.exchange_outbox)'), {
          timeout: 20_000,
          message: 'publishing',
        })
        .toBeGreaterThanOrEqual(CLAIM_SIZE + 20);
      // And at the very moment a relay transaction is in its COMMIT, its batch already accepted by SQS:
      // the kill then lands in the crash window for sure, not only most of the time.
      await expect
        .poll(
          async () =>
            (
              await stack.db.pool.query(
                `select 1 from pg_stat_activity
                  where datname = current_database() and wait_event = 'PgSleep' and query ilike 'commit%'`,
              )
            ).rowCount,
          { timeout: 20_000, message: 'a relay transaction committing' },
        )
        .toBeGreaterThan(0);
      first.child.kill('SIGKILL');
      expect(await first.exited).toBe('SIGKILL');
      await stack.db.pool.query('drop trigger test_slow_commit on cafe24.exchange_outbox');
      const { rows } = await stack.db.pool.query(
        'select code_id::text as id from cafe24.exchange_outbox where code_id = any($1::bigint[])',
        [ids],
      );
      const unmarkedAtKill = new Set(rows.map((row) => row.id as string));
      expect(unmarkedAtKill.size, 'the kill landed mid-publication').toBeGreaterThan(0);
      expect(unmarkedAtKill.size).toBeLessThan(total);

      const second = spawnRelay(env, [], { reportAliveAfterStop: true });
      relays.push(second);
      await expect
        .poll(() => countWhere(ids, 'id in (select code_id from cafe24.exchange_outbox)'), {
          timeout: 20_000,
          message: 'every code published after the restart',
        })
        .toBe(0)
        .catch((error: Error) => {
          throw new Error(`${error.message}\n${second.output().slice(-2_000)}`);
        });
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      // A clean stop is prompt: once stopped, no timer holds the process open (the listener's 2 s close
      // bound once did).
      expect(second.aliveAfterStop(), 'what kept it alive after "relay stopped"').toBeDefined();
      expect(second.aliveAfterStop()!.filter((resource) => resource === 'Timeout')).toEqual([]);

      // Every code is in the queue; a code is there twice only if its batch was sent but not marked when
      // the relay died: at most one claim per parallel drain.
      const messages = await receiveAll(sqs.client, sqs.queueUrl);
      const perCode = countByCodeId(messages);
      expect([...perCode.keys()].sort()).toEqual([...ids].sort());
      const duplicated = [...perCode].filter(([, n]) => n > 1);
      expect(duplicated.every(([, n]) => n === 2)).toBe(true);
      // With the 300 ms commit the kill all but always catches batches in the window.
      expect(duplicated.length, 'the kill caught sent but unmarked batches').toBeGreaterThan(0);
      expect(duplicated.length).toBeLessThanOrEqual(RELAY_CONCURRENCY * CLAIM_SIZE);
      for (const [id] of duplicated) expect(unmarkedAtKill.has(id)).toBe(true);
      expect(messages).toHaveLength(total + duplicated.length);

      // The exchange over all of them, duplicates included: one token request per code.
      await releaseAll(sqs.client, sqs.queueUrl, messages);
      const lambda = runner(sqs, stack.handler, 4);
      try {
        await expect
          .poll(
            async () => ({
              exchanged: await countWhere(ids, "status = 'exchanged'"),
              queued: await queueDepth(sqs.client, sqs.queueUrl),
            }),
            { timeout: 20_000 },
          )
          .toEqual({ exchanged: total, queued: 0 });
      } finally {
        await lambda.stop();
      }
      for (const entry of entries) expect(stack.sandbox.tokenRequests({ code: entry.code })).toHaveLength(1);
      expect(await queueDepth(sqs.client, sqs.dlqUrl)).toBe(0);
      const stored = await stack.db.pool.query(
        'select count(*)::int as n from cafe24.oauth_tokens where code_id = any($1::bigint[])',
        [ids],
      );
      expect(stored.rows[0].n).toBe(total);
    });
  });
});

describe('drill 5: one message delivered 10 times at once to two runners', () => {
  const containers: ExchangeRuntime[] = [];
  afterAll(async () => {
    await Promise.all(containers.map((runtime) => runtime.close()));
  });

  it('sends one token request and drains every copy', async () => {
    await withQueue({ maxReceiveCount: 5 }, async (sqs) => {
      const [entry] = await insertCodes(['twice-ten']);
      // Ten copies with ten messageIds, as duplicate delivery or a redrive leaves them.
      await sqs.client.send(
        new SendMessageBatchCommand({
          QueueUrl: sqs.queueUrl,
          Entries: Array.from({ length: 10 }, (_, i) => ({
            Id: String(i),
            MessageBody: exchangeMessage(entry!.id),
          })),
        }),
      );
      // Two Lambda containers: each its own pool, HTTP agent and stash.
      for (let i = 0; i < 2; i++) containers.push(createExchangeRuntime(loadConfig('exchange', stack.env)));
      const runners = containers.map((runtime) =>
        runner(
          sqs,
          createExchangeHandler(() => runtime),
          5,
        ),
      );
      try {
        // Every copy handled and deleted.
        await expect.poll(() => queueDepth(sqs.client, sqs.queueUrl), { timeout: 20_000 }).toBe(0);
      } finally {
        await Promise.all(runners.map((r) => r.stop()));
      }
      expect(stack.sandbox.tokenRequests({ code: entry!.code })).toHaveLength(1);
      expect(await stack.codeRow(entry!.id)).toMatchObject({ status: 'exchanged', attempts: 1 });
      expect(await queueDepth(sqs.client, sqs.dlqUrl)).toBe(0);
      expect((await stack.tokenRow(entry!.mall))!.access_token).toBe(
        stack.sandbox.issuedTokens(entry!.mall)!.accessToken,
      );
    });
  });
});

describe('drill 7: a message for a code id with no row', () => {
  it('is reported as a failure with the reason logged and ends in the DLQ; nothing changes', async () => {
    await withQueue({ maxReceiveCount: 1 }, async (sqs) => {
      const before = await stack.db.pool.query(
        'select count(*)::int as codes, (select count(*)::int from cafe24.oauth_tokens) as tokens from cafe24.oauth_authorization_codes',
      );
      await sqs.client.send(
        new SendMessageCommand({ QueueUrl: sqs.queueUrl, MessageBody: exchangeMessage('987654321') }),
      );
      const lambda = runner(sqs, stack.handler);
      let dead: Awaited<ReturnType<typeof receiveAll>> = [];
      try {
        dead = await vi.waitFor(
          async () => {
            const messages = await receiveAll(sqs.client, sqs.dlqUrl, 1);
            expect(messages, 'the message in the DLQ').not.toEqual([]);
            return messages;
          },
          { timeout: 20_000 },
        );
      } finally {
        await lambda.stop();
      }
      expect(countByCodeId(dead)).toEqual(new Map([['987654321', 1]]));
      expect(Number(dead[0]!.Attributes?.ApproximateReceiveCount)).toBeGreaterThanOrEqual(1);
      expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(0);
      const reasons = logs
        .text()
        .split('\n')
        .filter((line) => line.includes('"code not finished, message will be retried"'))
        .map((line) => JSON.parse(line) as { codeId: string; reason: string });
      // Handled once per receive (maxReceiveCount 1), each time with the reason.
      expect(reasons.filter((r) => r.codeId === '987654321').map((r) => r.reason)).toEqual([
        'no authorization code with id 987654321',
      ]);
      const after = await stack.db.pool.query(
        'select count(*)::int as codes, (select count(*)::int from cafe24.oauth_tokens) as tokens from cafe24.oauth_authorization_codes',
      );
      expect(after.rows).toEqual(before.rows);
    });
  });
});

describe('logs across every drill', () => {
  it('never contain a code, a token or the client secret (the relay processes included)', () => {
    const secrets = [...stack.sandbox.knownSecrets(), CLIENT_SECRET];
    expect(secrets.length).toBeGreaterThan(200);
    const text = logs.text() + relays.map((relay) => relay.output()).join('');
    expect(text.length).toBeGreaterThan(1_000);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
