import {
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, test, vi } from 'vitest';
import { type LambdaRunnerOptions, startLambdaRunner } from '../local/lambda-runner.ts';
import { type LocalSqs, type LocalSqsOptions, startLocalSqs } from '../local/sqs.ts';
import { createSqsClient } from '../src/aws/sqs.ts';
import { redrive } from '../src/aws/sqs-redrive.ts';
import { loadConfig } from '../src/config.ts';
import {
  describeMessageBody,
  exchangeMessage,
  parseMessageBody,
  refreshMessage,
} from '../src/queue/messages.ts';
import { queueDepth } from './support/sqs.ts';

type Cleanup = { onTestFinished: (fn: () => Promise<void> | void) => void };

/** Each test gets its own emulator, so the tests run concurrently; stopped when the test ends. */
async function localSqs(test: Cleanup, options: LocalSqsOptions = {}): Promise<LocalSqs> {
  const sqs = await startLocalSqs(options);
  test.onTestFinished(() => sqs.stop());
  return sqs;
}

function runner(test: Cleanup, options: LambdaRunnerOptions) {
  const started = startLambdaRunner(options);
  test.onTestFinished(() => started.stop());
  return started;
}

async function sendAll(client: SQSClient, queueUrl: string, bodies: string[]): Promise<void> {
  for (let index = 0; index < bodies.length; index += 10) {
    const chunk = bodies.slice(index, index + 10);
    const output = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((body, position) => ({ Id: String(position), MessageBody: body })),
      }),
    );
    expect(output.Failed ?? []).toEqual([]);
  }
}

async function drain(client: SQSClient, queueUrl: string): Promise<Message[]> {
  const messages: Message[] = [];
  for (;;) {
    const output = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 30,
        MessageAttributeNames: ['All'],
      }),
    );
    if (!output.Messages?.length) return messages;
    messages.push(...output.Messages);
  }
}

const codeIdOf = (record: { body?: string; Body?: string }) =>
  JSON.parse(record.body ?? record.Body ?? '').codeId;

describe('lambda runner on fauxqs', () => {
  test.concurrent('invokes the handler with Lambda-shaped records and deletes the successes', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context);
    await sqs.client.send(
      new SendMessageCommand({
        QueueUrl: sqs.queueUrl,
        MessageBody: exchangeMessage(1),
        MessageAttributes: { source: { DataType: 'String', StringValue: 'relay' } },
      }),
    );
    await sendAll(sqs.client, sqs.queueUrl, [exchangeMessage(2), exchangeMessage(3)]);
    const records: SQSRecord[] = [];
    const contexts: Array<{ requestId: string; remaining: number; name: string }> = [];
    const run = runner(context, {
      client: sqs.client,
      queueUrl: sqs.queueUrl,
      functionName: 'exchange-test',
      handler: async (event, context) => {
        records.push(...event.Records);
        contexts.push({
          requestId: context.awsRequestId,
          remaining: context.getRemainingTimeInMillis(),
          name: context.functionName,
        });
        return { batchItemFailures: [] };
      },
    });

    await vi.waitFor(
      async () => {
        expect(records).toHaveLength(3);
        expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(0);
      },
      { timeout: 5_000 },
    );
    expect(records.map(codeIdOf).sort()).toEqual(['1', '2', '3']);
    for (const record of records) {
      expect(record).toMatchObject({
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:cafe24-token-exchange',
        awsRegion: 'us-east-1',
        messageId: expect.any(String),
        receiptHandle: expect.any(String),
        md5OfBody: expect.stringMatching(/^[0-9a-f]{32}$/),
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: expect.stringMatching(/^[0-9]{13}$/),
          SenderId: expect.any(String),
          ApproximateFirstReceiveTimestamp: expect.stringMatching(/^[0-9]{13}$/),
        },
      });
    }
    const first = records.find((record) => codeIdOf(record) === '1')!;
    expect(first.messageAttributes.source).toMatchObject({ dataType: 'String', stringValue: 'relay' });
    expect(contexts[0]).toMatchObject({
      name: 'exchange-test',
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(contexts[0]!.remaining).toBeGreaterThan(50_000);
    expect(run.invocations).toBe(contexts.length);
  });

  test.concurrent('a reported failure comes back with receive count 2, then dead-letters', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context, { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 });
    await sendAll(sqs.client, sqs.queueUrl, [exchangeMessage(10), exchangeMessage(11)]);
    const seen: Array<{ codeId: string; receiveCount: string }> = [];
    runner(context, {
      client: sqs.client,
      queueUrl: sqs.queueUrl,
      handler: async (event): Promise<SQSBatchResponse> => {
        for (const record of event.Records) {
          seen.push({ codeId: codeIdOf(record), receiveCount: record.attributes.ApproximateReceiveCount });
        }
        const failing = event.Records.filter((record) => codeIdOf(record) === '10');
        return { batchItemFailures: failing.map((record) => ({ itemIdentifier: record.messageId })) };
      },
    });

    await expect
      .poll(() => queueDepth(sqs.client, sqs.dlqUrl), {
        timeout: 8_000,
        message: 'the DLQ to hold one message',
      })
      .toBe(1);
    expect(seen.filter((entry) => entry.codeId === '10').map((entry) => entry.receiveCount)).toEqual([
      '1',
      '2',
    ]);
    expect(seen.filter((entry) => entry.codeId === '11').map((entry) => entry.receiveCount)).toEqual(['1']);
    expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(0);
    const dead = await drain(sqs.client, sqs.dlqUrl);
    expect(dead.map(codeIdOf)).toEqual(['10']);
  });

  test.concurrent('a throwing handler fails the whole batch', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context, { visibilityTimeoutSeconds: 1 });
    await sendAll(sqs.client, sqs.queueUrl, [exchangeMessage(20), exchangeMessage(21)]);
    const batches: SQSEvent['Records'][] = [];
    const reports: Array<{ records: number; failures: number; error?: unknown }> = [];
    runner(context, {
      client: sqs.client,
      queueUrl: sqs.queueUrl,
      maximumConcurrency: 1,
      onInvoke: (info) => reports.push(info),
      handler: async (event) => {
        batches.push(event.Records);
        if (batches.length === 1) throw new Error('boom');
      },
    });

    await vi.waitFor(
      async () => {
        expect(batches.length).toBeGreaterThanOrEqual(2);
        expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(0);
      },
      { timeout: 5_000 },
    );
    expect(batches[0]!.map(codeIdOf).sort()).toEqual(['20', '21']);
    expect(reports[0]).toMatchObject({
      records: 2,
      failures: 2,
      error: expect.objectContaining({ message: 'boom' }),
    });
    const retried = batches.slice(1).flat();
    expect(retried.map(codeIdOf).sort()).toEqual(['20', '21']);
    expect(retried.map((record) => record.attributes.ApproximateReceiveCount)).toEqual(['2', '2']);
  });

  test.concurrent('an itemIdentifier outside the batch fails the whole batch', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context, { visibilityTimeoutSeconds: 60 });
    await sendAll(sqs.client, sqs.queueUrl, [exchangeMessage(30)]);
    const reports: Array<{ failures: number; error?: unknown }> = [];
    const run = runner(context, {
      client: sqs.client,
      queueUrl: sqs.queueUrl,
      onInvoke: (info) => reports.push(info),
      handler: async () => ({ batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] }),
    });

    await expect.poll(() => reports.length, { timeout: 5_000 }).toBe(1);
    await run.stop(); // waits for the invocation, deletes included
    expect(reports[0]).toMatchObject({ failures: 1, error: expect.any(Error) });
    // Not deleted: still in flight until its visibility timeout.
    expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(1);
  });

  test.concurrent('never runs more than maximumConcurrency invocations at once', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context);
    await sendAll(
      sqs.client,
      sqs.queueUrl,
      Array.from({ length: 12 }, (_, index) => exchangeMessage(index + 1)),
    );
    let active = 0;
    let peak = 0;
    let handled = 0;
    const run = runner(context, {
      client: sqs.client,
      queueUrl: sqs.queueUrl,
      batchSize: 1,
      maximumConcurrency: 3,
      handler: async (event) => {
        active += 1;
        peak = Math.max(peak, active);
        // Each invocation runs until three run at once (or the last ones are all there is): the runner is
        // given every chance to start a fourth.
        await vi.waitFor(
          () => {
            if (active < 3 && handled + active < 12) throw new Error(`${active} invocation(s) at once`);
          },
          { timeout: 5_000, interval: 5 },
        );
        active -= 1;
        handled += event.Records.length;
      },
    });

    await expect.poll(() => handled, { timeout: 10_000 }).toBe(12);
    expect(peak).toBe(3);
    expect(run.invocations).toBe(12);
    await expect.poll(() => queueDepth(sqs.client, sqs.queueUrl), { timeout: 5_000 }).toBe(0);
  });

  test.concurrent('stop() returns promptly while polling an empty queue: it aborts the long poll', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context);
    // The runner's client, noting how each ReceiveMessage ended.
    const receives: string[] = [];
    const client = {
      send: (command: unknown, options?: unknown) => {
        const sent = sqs.client.send(command as never, options as never);
        if (!(command instanceof ReceiveMessageCommand)) return sent;
        const index = receives.push('in flight') - 1;
        return sent.then(
          (output) => {
            receives[index] = 'answered';
            return output;
          },
          (error: Error) => {
            receives[index] = error.name;
            throw error;
          },
        );
      },
    } as unknown as SQSClient;
    const waitTimeSeconds = 20;
    const run = startLambdaRunner({
      client,
      queueUrl: sqs.queueUrl,
      waitTimeSeconds,
      handler: async () => {},
    });
    await expect.poll(() => receives, { timeout: 5_000 }).toContain('in flight');
    const started = Date.now();
    await run.stop();
    // Every long poll it had out ended by the abort, none by an answer.
    expect(receives).not.toEqual([]);
    expect(receives.filter((outcome) => outcome !== 'AbortError')).toEqual([]);
    // Well before the long poll would have answered by itself.
    expect(Date.now() - started).toBeLessThan(waitTimeSeconds * 1000);
  });
});

describe('redrive', () => {
  test.concurrent('dry run lists kind, code id and receive count and leaves the DLQ intact', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context);
    await sendAll(sqs.client, sqs.dlqUrl, [
      exchangeMessage(41),
      exchangeMessage(42),
      'secret-code-xyz',
      '{"kind":"refresh","mallId":"dlqshop","token":"secret-token-xyz"}',
    ]);
    const lines: string[] = [];

    const result = await redrive({
      client: sqs.client,
      dlqUrl: sqs.dlqUrl,
      queueUrl: sqs.queueUrl,
      dryRun: true,
      log: (line) => lines.push(line),
    });

    expect(result).toMatchObject({ mode: 'dry-run', moved: 0, failed: 0 });
    const key = (message: { codeId?: string; mallId?: string; kind: string }) =>
      message.codeId ?? message.mallId ?? message.kind;
    const listed = [...(result.messages ?? [])].sort((a, b) => key(a).localeCompare(key(b)));
    expect(listed).toEqual([
      { kind: 'exchange', codeId: '41', receiveCount: 1, messageId: expect.any(String) },
      { kind: 'exchange', codeId: '42', receiveCount: 1, messageId: expect.any(String) },
      {
        kind: 'refresh',
        codeId: undefined,
        mallId: 'dlqshop',
        receiveCount: 1,
        messageId: expect.any(String),
      },
      { kind: 'unparseable', codeId: undefined, receiveCount: 1, messageId: expect.any(String) },
    ]);
    expect(lines.join('\n')).not.toContain('secret-code-xyz');
    expect(lines.join('\n')).not.toContain('secret-token-xyz');
    expect(lines.join('\n')).toContain('codeId=41');
    expect(lines.join('\n')).toMatch(/kind=refresh mallId=dlqshop receiveCount=1/);
    expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(0);
    // Released with visibility 0: all four can be received again at once.
    expect((await drain(sqs.client, sqs.dlqUrl)).length).toBe(4);
  });

  test.concurrent('moves every message back exactly once, attributes included', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context);
    const codeIds = Array.from({ length: 13 }, (_, index) => String(100 + index));
    await sendAll(sqs.client, sqs.dlqUrl, codeIds.map(exchangeMessage));
    await sqs.client.send(
      new SendMessageCommand({
        QueueUrl: sqs.dlqUrl,
        MessageBody: exchangeMessage(200),
        MessageAttributes: { source: { DataType: 'String', StringValue: 'relay' } },
      }),
    );
    const lines: string[] = [];

    const result = await redrive({
      client: sqs.client,
      dlqUrl: sqs.dlqUrl,
      queueUrl: sqs.queueUrl,
      log: (line) => lines.push(line),
    });

    expect(result).toMatchObject({ mode: 'receive-send-delete', moved: 14, failed: 0 });
    expect(lines.some((line) => line.includes('StartMessageMoveTask is not available'))).toBe(true);
    expect(await queueDepth(sqs.client, sqs.dlqUrl)).toBe(0);
    expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(14);
    const back = await drain(sqs.client, sqs.queueUrl);
    expect(back.map(codeIdOf).sort()).toEqual([...codeIds, '200'].sort());
    const withAttribute = back.find((message) => codeIdOf(message) === '200')!;
    expect(withAttribute.MessageAttributes?.source?.StringValue).toBe('relay');
  });

  test.concurrent('maxMessages caps a manual move', async (context) => {
    const { expect } = context;
    const sqs = await localSqs(context);
    await sendAll(
      sqs.client,
      sqs.dlqUrl,
      Array.from({ length: 7 }, (_, index) => exchangeMessage(index + 1)),
    );

    const result = await redrive({
      client: sqs.client,
      dlqUrl: sqs.dlqUrl,
      queueUrl: sqs.queueUrl,
      maxMessages: 5,
    });

    expect(result).toMatchObject({ mode: 'receive-send-delete', moved: 5, failed: 0 });
    expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(5);
    expect(await queueDepth(sqs.client, sqs.dlqUrl)).toBe(2);
  });
});

describe('createSqsClient', () => {
  test('sends to AWS_ENDPOINT_URL_SQS, not to the unresolvable host in the queue URL', async (context) => {
    const sqs = await localSqs(context);
    expect(new URL(sqs.queueUrl).hostname).toBe('sqs.us-east-1.localhost');
    const aws = loadConfig('redrive', {
      SQS_QUEUE_URL: sqs.queueUrl,
      SQS_DLQ_URL: sqs.dlqUrl,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    }).aws;
    const client = createSqsClient(aws);
    context.onTestFinished(() => client.destroy());
    await client.send(new SendMessageCommand({ QueueUrl: sqs.queueUrl, MessageBody: exchangeMessage(7) }));
    expect(await queueDepth(sqs.client, sqs.queueUrl)).toBe(1);
  });
});

describe('message body contract', () => {
  test('accepts the contract body and builds it', () => {
    expect(parseMessageBody('{"kind":"exchange","codeId":"42"}')).toEqual({
      ok: true,
      message: { kind: 'exchange', codeId: '42' },
    });
    expect(JSON.parse(exchangeMessage(42n))).toEqual({ kind: 'exchange', codeId: '42' });
    expect(exchangeMessage('9223372036854775807')).toBe('{"kind":"exchange","codeId":"9223372036854775807"}');
    expect(() => exchangeMessage(0)).toThrow(/codeId/);
    expect(() => exchangeMessage(1.5)).toThrow(/codeId/);
  });

  test('a refresh message names its mall (lower case) and a DLQ listing shows only that', () => {
    expect(refreshMessage('MyShop')).toBe('{"kind":"refresh","mallId":"myshop"}');
    expect(parseMessageBody(refreshMessage('shop_1'))).toEqual({
      ok: true,
      message: { kind: 'refresh', mallId: 'shop_1' },
    });
    expect(() => refreshMessage('no/such mall')).toThrow(/mallId/);
    expect(describeMessageBody('{"kind":"refresh","mallId":"shop","token":"x"}')).toEqual({
      kind: 'refresh',
      codeId: undefined,
      mallId: 'shop',
    });
    expect(describeMessageBody('{"kind":"refresh","mallId":"not a mall; token=x"}')).toEqual({
      kind: 'refresh',
      codeId: undefined,
    });
  });

  test.each([
    ['invalid JSON', '{"kind":"exchange",', /not valid JSON/],
    ['a non-object', '["exchange","1"]', /must be a JSON object/],
    ['a missing codeId', '{"kind":"exchange"}', /codeId is required/],
    ['an extra field', '{"kind":"exchange","codeId":"1","code":"abc"}', /unexpected field: code/],
    [
      'a wrong kind',
      '{"kind":"purge","codeId":"1"}',
      /unknown kind "purge" \(expected exchange \| refresh\)/,
    ],
    ['a refresh without a mall', '{"kind":"refresh","codeId":"1"}', /mallId .*; unexpected field: codeId/],
    [
      'a refresh with a bad mall id',
      '{"kind":"refresh","mallId":"a.b/c"}',
      /mallId must be a Cafe24 mall id/,
    ],
    ['a missing kind', '{"codeId":"1"}', /kind is required/],
    ['a non-numeric codeId', '{"kind":"exchange","codeId":"1a"}', /codeId must be a positive integer/],
    ['a numeric (not string) codeId', '{"kind":"exchange","codeId":1}', /codeId must be a string/],
    ['a codeId beyond bigint', '{"kind":"exchange","codeId":"9223372036854775808"}', /out of range/],
  ])('rejects %s with a clear reason', (_name, body, reason) => {
    const result = parseMessageBody(body);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.reason).toMatch(reason);
    expect(result.reason).not.toContain(body);
  });

  test('does not echo secret-looking values in the reason', () => {
    const result = parseMessageBody('{"kind":"exchange","codeId":"SECRET-CODE"}');
    expect(result).toEqual({ ok: false, reason: expect.not.stringContaining('SECRET') });
  });
});
