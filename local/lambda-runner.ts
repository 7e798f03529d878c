import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';

// biome-ignore lint/suspicious/noConfusingVoidType: the shape of aws-lambda's SQSHandler; `async () => {}` must fit.
export type SqsHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export type InvokeInfo = { records: number; failures: number; durationMs: number; error?: unknown };

export type LambdaRunnerOptions = {
  client: SQSClient;
  queueUrl: string;
  handler: SqsHandler;
  /** Records per invocation, as the event source mapping's BatchSize. */
  batchSize?: number;
  /** How long to gather records into one batch (MaximumBatchingWindowInSeconds, in ms). */
  maximumBatchingWindowMs?: number;
  /** Concurrent invocations, as the event source mapping's ScalingConfig.MaximumConcurrency. */
  maximumConcurrency?: number;
  /**
   * Pollers kept long-polling an idle queue (Lambda's event source starts with five and adds more while
   * batches come back full, up to `maximumConcurrency`); the others park until a full batch wakes one.
   */
  idlePollers?: number;
  /** Long poll per ReceiveMessage; short by default so stop() is quick. */
  waitTimeSeconds?: number;
  functionName?: string;
  /** The function timeout behind `context.getRemainingTimeInMillis()`; exceeding it fails the batch. */
  timeoutMs?: number;
  onInvoke?: (info: InvokeInfo) => void;
  /** Receive and delete errors (the runner keeps polling after them). */
  log?: (line: string) => void;
};

export type LambdaRunner = {
  stop(): Promise<void>;
  readonly invocations: number;
};

/**
 * A local stand-in for Lambda's SQS event source mapping with ReportBatchItemFailures: each poller
 * receives a batch, invokes the handler, and deletes the records that did not fail. A thrown error,
 * a timeout or an invalid response deletes nothing, so SQS redelivers and finally dead-letters.
 */
export function startLambdaRunner(options: LambdaRunnerOptions): LambdaRunner {
  const batchSize = options.batchSize ?? 10;
  const windowMs = options.maximumBatchingWindowMs ?? 0;
  const concurrency = options.maximumConcurrency ?? 2;
  const waitTimeSeconds = options.waitTimeSeconds ?? 1;
  const functionName = options.functionName ?? 'cafe24-token-exchange';
  const timeoutMs = options.timeoutMs ?? 60_000;
  const log = options.log ?? (() => {});
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError('batchSize must be a positive integer');
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError('maximumConcurrency must be a positive integer');
  }

  const stopping = new AbortController();
  let invocations = 0;
  let source: Promise<{ arn: string; region: string }> | undefined;

  const eventSource = () => {
    source ??= resolveEventSource(options.client, options.queueUrl);
    return source;
  };

  async function receive(maxMessages: number, waitSeconds: number): Promise<Message[]> {
    const output = await options.client.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: Math.min(maxMessages, 10),
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: stopping.signal },
    );
    return output.Messages ?? [];
  }

  // One ReceiveMessage outstanding at a time: the pollers take turns. In AWS the event source's pollers
  // run on AWS's machines and a long poll returns only with messages for it. Here they share the
  // function's one thread, and the emulator (fauxqs 2.4, sqsStore.notifyWaiters) wakes EVERY parked long
  // poll for each message: with five parked, four came back empty and were sent again, on this thread,
  // just as the message's exchange started (INSERT → token p50, 250 codes at 25/s, three runs each:
  // 8.0–9.9 ms with five parked, 4.5–5.9 ms taking turns).
  // A turn ends once its receive has answered and the batch's invocation has started (setImmediate), so
  // the next poller is listening at once; no poller is kept from invoking, so one slow invocation never
  // holds up the others. While batches come back full (a backlog: receives answer at once, nobody parks)
  // the pollers receive side by side, as before.
  let receiveTurn: Promise<void> = Promise.resolve();
  let backlog = false;
  async function receiveInTurn(maxMessages: number, waitSeconds: number): Promise<Message[]> {
    if (backlog) {
      const batch = await receive(maxMessages, waitSeconds);
      backlog = batch.length >= maxMessages;
      return batch;
    }
    const previous = receiveTurn;
    let endTurn!: () => void;
    receiveTurn = new Promise<void>((resolve) => {
      endTurn = resolve;
    });
    try {
      await previous;
      const batch = await receive(maxMessages, waitSeconds);
      backlog = batch.length >= maxMessages;
      return batch;
    } finally {
      setImmediate(endTurn);
    }
  }

  /** One batch: a long poll, then more receives until the batch is full or the window closes. */
  async function collectBatch(): Promise<Message[]> {
    const batch = await receiveInTurn(batchSize, waitTimeSeconds);
    if (batch.length === 0 || windowMs <= 0) return batch;
    const deadline = Date.now() + windowMs;
    while (batch.length < batchSize && !stopping.signal.aborted) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) break;
      const more = await receive(
        batchSize - batch.length,
        Math.min(waitTimeSeconds, Math.floor(remainingMs / 1000)),
      );
      batch.push(...more);
      if (more.length === 0 && remainingMs < 1000) break;
    }
    return batch;
  }

  async function invoke(messages: Message[]): Promise<void> {
    const { arn, region } = await eventSource();
    const records = messages.map((message) => toRecord(message, arn, region));
    const started = Date.now();
    invocations += 1;
    let failedIds: Set<string> | undefined;
    let error: unknown;
    try {
      const response = await withTimeout(
        options.handler({ Records: records }, lambdaContext(functionName, started + timeoutMs)),
        timeoutMs,
      );
      failedIds = failedItems(response, records);
      if (failedIds === undefined) error = new Error('invalid batch response: the whole batch failed');
    } catch (caught) {
      error = caught;
    }
    const durationMs = Date.now() - started;
    options.onInvoke?.({
      records: records.length,
      failures: failedIds?.size ?? records.length,
      durationMs,
      ...(error === undefined ? {} : { error }),
    });
    if (failedIds === undefined) return;
    const done = messages.filter((message) => !failedIds.has(message.MessageId!));
    await deleteMessages(done);
  }

  async function deleteMessages(messages: Message[]): Promise<void> {
    for (let index = 0; index < messages.length; index += 10) {
      const chunk = messages.slice(index, index + 10);
      const output = await options.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: chunk.map((message, position) => ({
            Id: String(position),
            ReceiptHandle: message.ReceiptHandle!,
          })),
        }),
      );
      for (const failure of output.Failed ?? []) {
        log(`delete failed for entry ${failure.Id}: ${failure.Code ?? 'unknown'} ${failure.Message ?? ''}`);
      }
    }
  }

  // Scaling as the event source does: a full batch says more is waiting, so one parked poller joins.
  const idlePollers = Math.min(concurrency, options.idlePollers ?? 5);
  const parked: Array<() => void> = [];
  const park = () =>
    new Promise<void>((resolve) => {
      parked.push(resolve);
    });
  stopping.signal.addEventListener('abort', () => {
    for (const resume of parked.splice(0)) resume();
  });

  async function poll(index: number): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        const batch = await collectBatch();
        if (batch.length >= batchSize) parked.shift()?.();
        if (batch.length > 0) await invoke(batch);
        else if (index >= idlePollers) await park();
        // Without a long poll an empty queue would be polled in a tight loop.
        else if (waitTimeSeconds === 0) await pause(200, stopping.signal);
      } catch (error) {
        if (stopping.signal.aborted) return;
        log(`poller error: ${error instanceof Error ? error.message : String(error)}`);
        await pause(1_000, stopping.signal);
      }
    }
  }

  const pollers = Array.from({ length: concurrency }, (_, index) => poll(index));

  return {
    get invocations() {
      return invocations;
    },
    async stop() {
      // Aborting a receive is safe: anything it had taken reappears after the visibility timeout.
      stopping.abort();
      await Promise.all(pollers);
    },
  };
}

async function resolveEventSource(
  client: SQSClient,
  queueUrl: string,
): Promise<{ arn: string; region: string }> {
  const region = await client.config.region();
  try {
    const output = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const arn = output.Attributes?.QueueArn;
    if (arn) return { arn, region };
  } catch {
    // Fall back to the ARN SQS would give the queue.
  }
  const name = new URL(queueUrl).pathname.split('/').filter(Boolean).at(-1) ?? 'unknown';
  return { arn: `arn:aws:sqs:${region}:000000000000:${name}`, region };
}

function toRecord(message: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  const sentTimestamp = attributes.SentTimestamp ?? String(Date.now());
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ...attributes,
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: sentTimestamp,
      SenderId: attributes.SenderId ?? '000000000000',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? sentTimestamp,
    },
    messageAttributes: toRecordAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? '',
    ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion,
  };
}

/** Lambda's record shape: lower-case keys, binary as base64, list fields always present. */
function toRecordAttributes(
  attributes: Record<string, MessageAttributeValue> | undefined,
): SQSMessageAttributes {
  const result: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    result[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((item) => Buffer.from(item).toString('base64')),
    };
  }
  return result;
}

function lambdaContext(functionName: string, deadline: number): Context {
  const fail = () => {
    throw new Error('the local runner does not support the callback-style context methods');
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${randomUUID()}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: fail,
    fail,
    succeed: fail,
  };
}

/**
 * The ids to keep, or undefined when the response fails the whole batch: Lambda treats a non-object,
 * a malformed entry, or an itemIdentifier that is not in the batch that way.
 */
function failedItems(response: unknown, records: SQSRecord[]): Set<string> | undefined {
  if (response === undefined || response === null) return new Set();
  if (typeof response !== 'object' || Array.isArray(response)) return undefined;
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return undefined;
  const ids = new Set(records.map((record) => record.messageId));
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !ids.has(id)) return undefined;
    failed.add(id);
  }
  return failed;
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Task timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
