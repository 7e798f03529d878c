import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * Every message now in the queue, held invisible for `holdSeconds` (so none is returned twice).
 * Stops after two empty short polls in a row.
 */
export async function receiveAll(client: SQSClient, queueUrl: string, holdSeconds = 60): Promise<Message[]> {
  const messages: Message[] = [];
  for (let empty = 0; empty < 2; ) {
    const output = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: holdSeconds,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    const batch = output.Messages ?? [];
    messages.push(...batch);
    empty = batch.length === 0 ? empty + 1 : 0;
  }
  return messages;
}

/** Makes received messages visible again at once, for a consumer to take them. */
export async function releaseAll(client: SQSClient, queueUrl: string, messages: Message[]): Promise<void> {
  for (let index = 0; index < messages.length; index += 10) {
    const output = await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.slice(index, index + 10).map((message, position) => ({
          Id: String(position),
          ReceiptHandle: message.ReceiptHandle!,
          VisibilityTimeout: 0,
        })),
      }),
    );
    if (output.Failed?.length) throw new Error(`could not release ${output.Failed.length} message(s)`);
  }
}

/** Messages waiting plus messages received and not yet deleted. */
export async function queueDepth(client: SQSClient, queueUrl: string): Promise<number> {
  const output = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const attributes = output.Attributes ?? {};
  return (
    Number(attributes.ApproximateNumberOfMessages ?? 0) +
    Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/** How many messages name each code id (`{"kind":"exchange","codeId":…}` bodies). */
export function countByCodeId(messages: Message[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of messages) {
    const { codeId } = JSON.parse(message.Body ?? '{}') as { codeId?: string };
    const key = codeId ?? '(none)';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}
