import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { describeError } from '../commons/errors.ts';

/** One queue message; `id` doubles as the batch entry id (a code id, a mall id). */
export type OutboxEntry = { id: string; body: string };
export type PublishResult = { published: string[]; failed: Array<{ id: string; reason: string }> };
/** Sends the entries and says which were accepted. */
export type Publisher = (entries: OutboxEntry[]) => Promise<PublishResult>;

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
