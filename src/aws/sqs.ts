import { SQSClient } from '@aws-sdk/client-sqs';
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
