import { S3TokenStash } from '../aws/s3-token-stash.ts';
import { clientSecretSource } from '../aws/secrets-manager.ts';
import { Cafe24TokenClient } from '../cafe24/token-client.ts';
import { logger } from '../commons/logger.ts';
import { count, METRIC } from '../commons/metrics.ts';
import type { TokenCodec } from '../commons/token-codec.ts';
import type { AwsConfig, Cafe24Config, ClientSecretConfig } from '../config.ts';
import { MemoryTokenStash } from '../domain/memory-stash.ts';
import type { TokenStash } from '../domain/ports.ts';

/** The Cafe24 token client (one client, two grants), for the exchange and the refresh alike. */
export function createTokenClient(config: {
  cafe24: Cafe24Config;
  clientSecret: ClientSecretConfig;
  aws: AwsConfig;
}): Cafe24TokenClient {
  return new Cafe24TokenClient({
    apiBaseUrl: config.cafe24.apiBaseUrl,
    clientId: config.cafe24.clientId,
    clientSecret: clientSecretSource(config.clientSecret, config.aws),
    connectTimeoutMs: config.cafe24.connectTimeoutMs,
    requestTimeoutMs: config.cafe24.requestTimeoutMs,
    onUnexpectedAnswer: () => count(METRIC.Cafe24UnexpectedAnswers),
  });
}

/**
 * Where issued tokens wait when the database cannot take them: S3 where a bucket is set (the tokens sealed
 * by `codec` before they leave the process), else memory.
 */
export function createTokenStash(
  bucket: string | undefined,
  config: { aws: AwsConfig },
  codec?: TokenCodec,
): TokenStash {
  return bucket === undefined
    ? new MemoryTokenStash()
    : new S3TokenStash({ bucket, aws: config.aws, log: logger, ...(codec ? { codec } : {}) });
}
