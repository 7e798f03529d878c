import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { HandOff } from '../install/ports.ts';
import { exchangeMessage } from '../messages.ts';

/** Publishes `{"kind":"exchange","codeId":…}` for a code the callback just stored; duplicates are harmless. */
export function sqsHandOff(client: SQSClient, queueUrl: string): HandOff {
  return async (codeId) => {
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: exchangeMessage(codeId) }));
  };
}
