import type { Hono } from 'hono';
import { S3TokenStash } from '../aws/s3-token-stash.ts';
import { clientSecretSource, launchKeySource, webhookKeySource } from '../aws/secrets-manager.ts';
import { createSqsClient, sqsHandOff } from '../aws/sqs.ts';
import { describeError } from '../commons/errors.ts';
import type { Log } from '../commons/log.ts';
import { logger } from '../commons/logger.ts';
import type { ConfigFor } from '../config.ts';
import { createInstallApp } from '../install/app.ts';
import { type AppHandOff, appHandOff } from '../install/app-hand-off.ts';
import { DEFAULT_SETTINGS, type InstallDeps } from '../install/install.ts';
import { type LaunchKeys, loadLaunchKeys } from '../launch/launch-token.ts';
import { PostgresInstallStore } from '../store/install-states.ts';
import { PostgresLifecycleStore } from '../store/lifecycle.ts';
import type { Pool } from '../store/pool.ts';
import { openPool } from './database.ts';

export type InstallRuntime = {
  app: Hono;
  config: ConfigFor<'install'>;
  pool: Pool;
  close(): Promise<void>;
};

/** The install front wired from its configuration: PostgreSQL, the client secret, SQS when configured. */
export function createInstallRuntime(
  config: ConfigFor<'install'>,
  options: {
    /** Its own logger where it shares a process with other functions (the local stack). */
    log?: Log;
  } = {},
): InstallRuntime {
  const pool = openPool(config, { max: 5, applicationName: 'cafe24-install' });
  const queueUrl = config.exchangeQueue.queueUrl;
  const sqs = queueUrl === undefined ? undefined : createSqsClient(config.aws);
  const deps: InstallDeps = {
    store: new PostgresInstallStore(pool),
    handOff: sqs && queueUrl !== undefined ? sqsHandOff(sqs, queueUrl) : undefined,
    clientSecret: clientSecretSource(config.clientSecret, config.aws),
    settings: {
      ...DEFAULT_SETTINGS,
      clientId: config.cafe24.clientId,
      redirectUri: config.redirect.uri,
      apiBaseUrl: config.cafe24.apiBaseUrl,
      scopes: config.install.scopes,
    },
    log: options.log ?? logger,
  };
  // Only a shared stash holds another process's pair; a memory stash here would be this process's own.
  const bucket = config.webhook.stashBucket;
  // (S3 directly: runtime/cafe24.ts would bring the token client and undici into the install's bundle.)
  const stash =
    bucket === undefined ? undefined : new S3TokenStash({ bucket, aws: config.aws, log: deps.log });
  const handOff = handOffOf(config);
  // Read the signing key now (from Secrets Manager, with the ARN): a broken one is in the log at start-up,
  // not first met by an operator opening the app.
  handOff?.jwks().catch((error: unknown) => {
    deps.log.error('the launch signing key could not be loaded', { error: describeError(error) });
  });
  const app = createInstallApp(deps, {
    handOff,
    appName: config.install.appName,
    frameAncestors: config.install.frameAncestors,
    webhook: {
      key: webhookKeySource(config.webhook, config.aws),
      clientId: config.cafe24.clientId,
      store: new PostgresLifecycleStore(pool),
      ...(stash
        ? {
            dropStashed: async (mallId: string) => {
              await stash.drop('refresh_token', mallId);
            },
          }
        : {}),
      log: deps.log,
    },
  });
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

/** The hand-off to APP_RETURN_URL, when it is set (the configuration then requires a signing key). */
function handOffOf(config: ConfigFor<'install'>): AppHandOff | undefined {
  const { returnUrl } = config.install;
  const key = config.launch.key;
  if (returnUrl === undefined || key === undefined) return undefined;
  const source = launchKeySource(key, config.aws);
  const variable = 'value' in key ? 'LAUNCH_SIGNING_KEY' : "LAUNCH_SIGNING_KEY_ARN's secret";
  // Parsed once per text: a rotated secret is read again within 5 minutes and parsed again.
  let parsed: { text: string; keys: LaunchKeys } | undefined;
  return appHandOff({
    returnUrl,
    issuer: config.redirect.uri === undefined ? undefined : new URL(config.redirect.uri).origin,
    audience: config.cafe24.clientId,
    keys: async () => {
      const text = (await source()).reveal();
      if (parsed?.text !== text) parsed = { text, keys: loadLaunchKeys(text, variable) };
      return parsed.keys;
    },
  });
}
