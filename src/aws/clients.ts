import type { AwsConfig } from '../config.ts';

export type AwsService = keyof AwsConfig['endpoints'];

/**
 * The one rule for every AWS client: the region from configuration, and a local endpoint where one is
 * configured. Emulators accept any signature, so without credentials in the environment a local
 * endpoint gets placeholder keys; real credentials from the environment always win.
 */
export function clientSettings(aws: AwsConfig, service: AwsService) {
  const endpoint = aws.endpoints[service];
  return {
    region: aws.region ?? 'us-east-1',
    ...(endpoint === undefined ? {} : { endpoint }),
    ...(endpoint !== undefined && !aws.credentialsInEnvironment
      ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }
      : {}),
  };
}
