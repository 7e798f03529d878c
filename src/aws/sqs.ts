import { SQSClient } from '@aws-sdk/client-sqs';

export type SqsClientOptions = {
  region?: string;
  /** Overrides `AWS_ENDPOINT_URL_SQS`; set for a local emulator. */
  endpoint?: string;
  maxAttempts?: number;
};

const credentialEnvVars = [
  'AWS_ACCESS_KEY_ID',
  'AWS_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
] as const;

/**
 * An SQS client for Lambda, the relay and the local stack.
 *
 * The endpoint is passed explicitly because the SDK otherwise sends each request to the host in its
 * QueueUrl, and an emulator's `sqs.<region>.localhost` URLs do not resolve everywhere.
 */
export function createSqsClient(options: SqsClientOptions = {}): SQSClient {
  const endpoint = options.endpoint ?? nonEmpty(process.env.AWS_ENDPOINT_URL_SQS);
  const region = options.region ?? nonEmpty(process.env.AWS_REGION) ?? 'us-east-1';
  const hasAwsCredentials = credentialEnvVars.some((name) => nonEmpty(process.env[name]) !== undefined);
  return new SQSClient({
    region,
    ...(endpoint === undefined ? {} : { endpoint }),
    // Emulators accept any signature; real credentials from env still win.
    ...(endpoint !== undefined && !hasAwsCredentials
      ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : {}),
    maxAttempts: options.maxAttempts ?? 3,
    retryMode: 'standard',
    // Long polls last up to 20 s, so the request timeout sits above that.
    requestHandler: { connectionTimeout: 3_000, requestTimeout: 25_000 },
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
