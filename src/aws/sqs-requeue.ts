import type { SQSClient } from '@aws-sdk/client-sqs';
import type { AwsConfig } from '../config.ts';
import { clientSettings } from './clients.ts';

/**
 * ChangeMessageVisibility for the exchange, which otherwise never talks to SQS: the SDK is imported on
 * first use (a static import would load it at every cold start), with the same settings rule as
 * `createSqsClient`.
 */
export function sqsRequeue(
  aws: AwsConfig,
  queueUrl: string,
): (receiptHandle: string, seconds: number) => Promise<void> {
  let client: Promise<SQSClient> | undefined;
  return async (receiptHandle, seconds) => {
    const { ChangeMessageVisibilityCommand, SQSClient } = await import('@aws-sdk/client-sqs');
    client ??= Promise.resolve(
      new SQSClient({
        ...clientSettings(aws, 'sqs'),
        maxAttempts: 2,
        requestHandler: { connectionTimeout: 2_000, requestTimeout: 3_000 },
      }),
    );
    await (await client).send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  };
}
