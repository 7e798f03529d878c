import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { AwsConfig } from '../config.ts';
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
