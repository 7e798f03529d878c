import type { Hono } from 'hono';
import { createSqsClient } from '../aws/sqs.ts';
import { sqsHandOff } from '../aws/sqs-hand-off.ts';
import { logger } from '../commons/logger.ts';
import { clientSecretSource } from '../commons/secrets.ts';
import { type InstallConfig, loadInstallConfig } from '../config.ts';
import { PostgresInstallStore } from '../store/install-states.ts';
import { createPool, type Pool } from '../store/pool.ts';
import { createInstallApp } from './app.ts';
import { DEFAULT_SETTINGS, type InstallDeps } from './install.ts';

export type InstallRuntime = { app: Hono; config: InstallConfig; pool: Pool; close(): Promise<void> };

/** The install front wired from the configuration: PostgreSQL, the client secret, SQS when configured. */
export function createInstallRuntime(
  config: InstallConfig = loadInstallConfig(),
  overrides: Partial<Pick<InstallDeps, 'handOff' | 'log'>> & { outcomeWaitMs?: number } = {},
): InstallRuntime {
  const pool = createPool(config.database, { max: 5, applicationName: 'cafe24-install' });
  const sqs = config.sqs.queueUrl ? createSqsClient(config.sqs) : undefined;
  const deps: InstallDeps = {
    store: new PostgresInstallStore(pool),
    handOff: sqs && config.sqs.queueUrl ? sqsHandOff(sqs, config.sqs.queueUrl) : undefined,
    clientSecret: clientSecretSource(config.cafe24.clientSecret, config.sqs.region),
    settings: {
      ...DEFAULT_SETTINGS,
      ...(overrides.outcomeWaitMs === undefined ? {} : { outcomeWaitMs: overrides.outcomeWaitMs }),
      clientId: config.cafe24.clientId,
      redirectUri: config.cafe24.redirectUri,
      apiBaseUrl: config.cafe24.apiBaseUrl,
      scopes: config.cafe24.scopes,
    },
    log: overrides.log ?? logger,
    ...('handOff' in overrides ? { handOff: overrides.handOff } : {}),
  };
  const app = createInstallApp(deps, { returnUrl: config.returnUrl });
  return {
    app,
    config,
    pool,
    async close() {
      sqs?.destroy();
      await pool.end();
    },
  };
}
