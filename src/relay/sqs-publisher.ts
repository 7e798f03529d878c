import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Publisher } from './outbox.ts';

/** SendMessageBatch: up to 10 entries; entry ids are code ids, so the answer maps back to rows. */
export function sqsPublisher(client: SQSClient, queueUrl: string): Publisher {
  return async (entries) => {
    const answer = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: entries.map(({ id, body }) => ({ Id: id, MessageBody: body })),
      }),
    );
    return {
      published: (answer.Successful ?? []).map((entry) => entry.Id as string),
      failed: (answer.Failed ?? []).map((entry) => ({
        id: entry.Id as string,
        reason: `${entry.Code ?? 'error'}: ${entry.Message ?? 'no message'}`,
      })),
    };
  };
}
