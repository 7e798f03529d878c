import {
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { describeError } from '../commons/errors.ts';
import type { AwsConfig } from '../config.ts';
import { exchangeMessage } from '../queue/messages.ts';
import type { OutboxEntry, Publisher, PublishResult } from '../queue/publisher.ts';
import { clientSettings } from './clients.ts';

/**
 * An SQS client for Lambda, the relay and the local stack.
 *
 * The endpoint is passed explicitly because the SDK otherwise sends each request to the host in its
 * QueueUrl, and an emulator's `sqs.<region>.localhost` URLs do not resolve everywhere.
 */
export function createSqsClient(
  aws: AwsConfig,
  options: { maxAttempts?: number; requestTimeoutMs?: number } = {},
): SQSClient {
  return new SQSClient({
    ...clientSettings(aws, 'sqs'),
    maxAttempts: options.maxAttempts ?? 3,
    retryMode: 'standard',
    // Long polls last up to 20 s, so the default request timeout sits above that.
    requestHandler: { connectionTimeout: 3_000, requestTimeout: options.requestTimeoutMs ?? 25_000 },
  });
}

/** AWS settings for a local SQS endpoint only (the local stack, tests, benchmarks). */
export function localAws(endpoint: string, region: string): AwsConfig {
  return { region, endpoints: { sqs: endpoint }, credentialsInEnvironment: false };
}

/** A queue's depth and oldest-message age as SQS reports them (GetQueueAttributes): `doctor` reaches it. */
export async function queueAttributes(
  client: SQSClient,
  queueUrl: string,
): Promise<{ visible: number; inFlight: number; delayed: number }> {
  const { Attributes = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

/** SQS takes at most 10 entries per SendMessageBatch. */
const SQS_BATCH = 10;

/**
 * SendMessageBatch, 10 entries a call, the calls in parallel. Entry ids are code ids, so each answer maps
 * back to rows; a call that fails outright fails its entries only.
 */
export function sqsPublisher(client: SQSClient, queueUrl: string): Publisher {
  return async (entries) => {
    const chunks: OutboxEntry[][] = [];
    for (let i = 0; i < entries.length; i += SQS_BATCH) chunks.push(entries.slice(i, i + SQS_BATCH));
    const answers = await Promise.allSettled(
      chunks.map((chunk) =>
        client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: chunk.map(({ id, body }) => ({ Id: id, MessageBody: body })),
          }),
        ),
      ),
    );
    const result: PublishResult = { published: [], failed: [] };
    answers.forEach((answer, index) => {
      if (answer.status === 'rejected') {
        const reason = describeError(answer.reason);
        for (const { id } of chunks[index] ?? []) result.failed.push({ id, reason });
        return;
      }
      for (const entry of answer.value.Successful ?? []) result.published.push(entry.Id as string);
      for (const entry of answer.value.Failed ?? []) {
        result.failed.push({
          id: entry.Id as string,
          reason: `${entry.Code ?? 'error'}: ${entry.Message ?? 'no message'}`,
        });
      }
    });
    // Nothing accepted at all: an outage, not a refusal; let the caller back off.
    if (result.published.length === 0 && answers.every((answer) => answer.status === 'rejected')) {
      throw (answers[0] as PromiseRejectedResult).reason;
    }
    return result;
  };
}

/**
 * Publishes `{"kind":"exchange","codeId":…}` for a code the callback just stored; duplicates are harmless.
 * Bounded by `timeoutMs`: a person is waiting, and the relay publishes the code anyway if this fails.
 */
export function sqsHandOff(
  client: SQSClient,
  queueUrl: string,
  timeoutMs = 2_000,
): (codeId: string) => Promise<void> {
  return async (codeId) => {
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: exchangeMessage(codeId) }), {
      abortSignal: AbortSignal.timeout(timeoutMs),
    });
  };
}
