import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { exchangeMessage } from './messages.ts';

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
