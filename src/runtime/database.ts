import type pg from 'pg';
import { databasePasswordSource } from '../aws/secrets-manager.ts';
import type { AwsConfig, DatabaseConfig } from '../config.ts';
import { clientConfig, createPool, type Pool } from '../store/pool.ts';

/**
 * Composition: which adapter serves which port, for the Lambda handlers, the CLI and the local stack.
 * Nothing below this layer chooses an adapter. One module per entry point keeps each Lambda bundle to
 * what its function uses (the exchange never loads the SQS client).
 */

/** pg settings, with the password read from Secrets Manager where PGPASSWORD_SECRET_ARN says so. */
export function databaseConnection(config: { database: DatabaseConfig; aws: AwsConfig }): pg.ClientConfig {
  const arn = config.database.passwordSecretArn;
  return clientConfig(
    config.database,
    arn === undefined ? undefined : databasePasswordSource(arn, config.aws),
  );
}

export function openPool(
  config: { database: DatabaseConfig; aws: AwsConfig },
  options: { max: number; applicationName: string },
): Pool {
  return createPool(databaseConnection(config), options);
}
