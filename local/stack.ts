import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DeployedSettings, deployedSettings, parseTemplate } from '../scripts/template.ts';
import { logger } from '../src/commons/logger.ts';
import { silenceMetrics } from '../src/commons/metrics.ts';
import { loadConfig } from '../src/config.ts';
import { publishDueMalls } from '../src/domain/refresh-schedule.ts';
import { createExchangeHandler } from '../src/handlers/exchange.ts';
import { createRefreshHandler } from '../src/handlers/refresh.ts';
import { generateLaunchKey, LaunchTokenError, loadLaunchKeys } from '../src/launch/launch-token.ts';
import { type Relay, startRelay } from '../src/relay/relay.ts';
import { createExchangeRuntime, type ExchangeRuntime } from '../src/runtime/exchange.ts';
import { createRefreshRuntime } from '../src/runtime/refresh.ts';
import { createRefreshScheduleRuntime } from '../src/runtime/refresh-schedule.ts';
import { createRelayRuntime } from '../src/runtime/relay.ts';
import { migrate } from '../src/store/migrate.ts';
import type { Pool } from '../src/store/pool.ts';
import { type Cafe24Sandbox, startCafe24Sandbox } from './cafe24-sandbox.ts';
import { startDemoApp } from './demo-app.ts';
import { type LocalEventBridge, type ReceivedEvent, startLocalEventBridge } from './eventbridge.ts';
import { startLocalInstall } from './install.ts';
import { startLocalKms } from './kms.ts';
import { type InvokeInfo, type LambdaRunner, startLambdaRunner } from './lambda-runner.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './postgres.ts';
import { createQueueWithDlq, type LocalSqs, startLocalSqs } from './sqs.ts';

const TEMPLATE = fileURLToPath(new URL('../template.yaml', import.meta.url));
let deployed: DeployedSettings | undefined;

/** template.yaml's settings, read once: the stack runs with the deployment's queues and event sources. */
function deployedSettingsOnce(): DeployedSettings {
  deployed ??= deployedSettings(parseTemplate(readFileSync(TEMPLATE, 'utf8')));
  return deployed;
}

/** The exchange's deployed settings (template.yaml's values and parameter defaults). */
export const DEPLOYED = readOnFirstUse(() => deployedSettingsOnce().exchange);

/** The refresh function's deployed settings (template.yaml's values and parameter defaults). */
export const DEPLOYED_REFRESH = readOnFirstUse(() => deployedSettingsOnce().refresh);

/**
 * An object that is `load()`'s, loaded when first read: every CLI command imports this module (through
 * `dev`), and only the stack and the bench need the template parsed.
 */
function readOnFirstUse<T extends object>(load: () => T): Readonly<T> {
  return new Proxy({} as T, {
    get: (_, key) => Reflect.get(load(), key),
    has: (_, key) => Reflect.has(load(), key),
    ownKeys: () => Reflect.ownKeys(load()),
    getOwnPropertyDescriptor: (_, key) => {
      const descriptor = Reflect.getOwnPropertyDescriptor(load(), key);
      // The proxy's own target holds none of them, so each must be reported configurable.
      return descriptor && { ...descriptor, configurable: true };
    },
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  });
}

/** Local stand-ins for the app's Cafe24 credentials; the sandbox accepts exactly these. */
/** The local KMS key's alias: env.json's TOKEN_KMS_KEY_ID. */
export const LOCAL_KMS_ALIAS = 'alias/cafe24-token-issuer-local';

export const LOCAL_APP = {
  mallId: 'localmall',
  clientId: 'local-client-id',
  clientSecret: 'local-client-secret',
  /** The key the sandbox's webhooks carry in X-API-Key, as Cafe24 Developers would show it. */
  webhookApiKey: 'local-webhook-key',
  redirectUri: 'http://localhost:3000/cafe24/callback',
} as const;

export type LocalStackOptions = {
  /** Use this database instead of an embedded one (migrations are applied to it). */
  databaseUrl?: string;
  /** Where the embedded cluster keeps its data between runs. */
  dataDir?: string;
  postgresPort?: number;
  /** Dev mode: the sandbox accepts any code it has not seen, so a plain INSERT shows the pipeline. */
  acceptUnknownCodes?: boolean;
  sandboxPort?: number;
  sqsPort?: number;
  /** The local KMS's port (default: any free one). */
  kmsPort?: number;
  /** Listen on this address too (`0.0.0.0` lets `sam local invoke`'s containers reach the stack). */
  listen?: string;
  visibilityTimeoutSeconds?: number;
  maxReceiveCount?: number;
  batchSize?: number;
  maximumConcurrency?: number;
  sweepIntervalMs?: number;
  /** Extra environment for the exchange (timeouts, say). */
  env?: Record<string, string>;
  /** false: the database is migrated already, by a role the stack does not connect as (db/roles.sql). */
  migrate?: boolean;
  /**
   * How tokens are stored: `kms` (the default) seals them under a data key from the local KMS, as a
   * deployment with TOKEN_KMS_KEY_ID does; `plaintext` as a deployment without. A TOKEN_ENCRYPTION_KEY in
   * `env` seals with that key instead.
   */
  sealing?: 'kms' | 'plaintext';
  onInvoke?: (info: InvokeInfo) => void;
  onPublished?: (count: number) => void;
  /** Each of the app's events as the local EventBridge receives it (the relay's sweep publishes them). */
  onMallEvent?: (event: ReceivedEvent) => void;
  /** How often the refresh schedule publishes due malls (deployed: 5 minutes; default here 30 s). */
  refreshScheduleIntervalMs?: number;
  /**
   * Also serve the install front (src/install) and let the sandbox's app store launch it. With `demoApp`
   * (the default) the front hands each launch to the demo app (local/demo-app.ts) as APP_RETURN_URL, signed;
   * `demoApp: false` leaves APP_RETURN_URL unset: the front shows its own pages.
   */
  install?: { port?: number; hostname?: string; scopes?: string[]; demoApp?: boolean };
  /** Let the handlers write their EMF metric lines to stdout (off: `npm start` and the bench print for people). */
  emitMetrics?: boolean;
  /**
   * Where the sandbox keeps what it issued, so that a restarted stack still refreshes the tokens its
   * database kept. Default: in the embedded cluster's directory, kept and removed with the tokens; none
   * with `databaseUrl` (a database the stack does not own, often a test's, may not outlive it).
   */
  sandboxStateFile?: string;
  /**
   * Where the install front's launch signing key (a private JWK) is kept, so that its kid stays the same
   * across restarts. Default: beside the sandbox's state, in the embedded cluster's directory; none with
   * `databaseUrl`: a new key each start.
   */
  launchKeyFile?: string;
};

export type LocalStack = {
  databaseUrl: string;
  postgres: EmbeddedPostgres | undefined;
  sandbox: Cafe24Sandbox;
  sqs: LocalSqs;
  /** The running relay; undefined between stopRelay() and startRelay(). */
  readonly relay: Relay | undefined;
  stopRelay(): Promise<void>;
  startRelay(): void;
  runner: LambdaRunner;
  runtime: ExchangeRuntime;
  /** The refresh queue and its DLQ, beside the exchange's on the same emulator. */
  refreshQueue: { queueUrl: string; dlqUrl: string };
  refreshRunner: LambdaRunner;
  /** The local EventBridge the relay publishes the app's events to. */
  eventBridge: LocalEventBridge;
  /** A pool for the caller's own queries. */
  pool: Pool;
  /** The environment the exchange Lambda runs with (no secret from it is ever printed). */
  env: Record<string, string>;
  /** The install front, when asked for: `appStoreUrl` is the one link a person opens. */
  install: { origin: string; appStoreUrl: string } | undefined;
  /** The demo app the install front hands each launch to (its APP_RETURN_URL), when it serves one. */
  demoApp: { readonly url: string; readonly seen: number } | undefined;
  stop(): Promise<void>;
};

/**
 * The whole pipeline on one machine: PostgreSQL 17, migrations, the SQS emulator with queue and DLQ as
 * deployed, the Cafe24 sandbox, the relay, and a Lambda-style runner calling the real exchange handler.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  if (!options.emitMetrics) silenceMetrics();
  // First, so that a template the stack cannot read stops it before anything starts.
  const deployment = deployedSettingsOnce();
  const stops: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const step of stops.reverse()) await step().catch(() => {});
  };
  try {
    let postgres: EmbeddedPostgres | undefined;
    let databaseUrl = options.databaseUrl;
    if (!databaseUrl) {
      postgres = await startEmbeddedPostgres({
        dataDir: options.dataDir ?? '.local/postgres',
        persistent: true,
        ...(options.postgresPort === undefined ? {} : { port: options.postgresPort }),
        ...(options.listen ? { listen: options.listen } : {}),
      });
      stops.push(() => postgres!.stop());
      databaseUrl = postgres.url();
    }
    if (options.migrate !== false) await migrate({ connectionString: databaseUrl });

    // Bound before the sandbox starts: the redirect URI it accepts names the install front's port.
    const install = options.install ? await startLocalInstall(options.install) : undefined;
    if (install) stops.push(() => install.stop());
    const redirectUri = install?.redirectUri ?? LOCAL_APP.redirectUri;
    // The app behind the front: it verifies the launch token against the front's JWKS (front's origin, our client id).
    const demoApp =
      install && options.install?.demoApp !== false
        ? await startDemoApp({
            hostname: options.install?.hostname ?? 'localhost',
            jwksUrl: `${install.origin}/.well-known/jwks.json`,
            issuer: install.origin,
            audience: LOCAL_APP.clientId,
          })
        : undefined;
    if (demoApp) stops.push(() => demoApp.stop());

    const sandboxStateFile =
      options.sandboxStateFile ?? (postgres ? join(postgres.dataDir, 'cafe24-sandbox.json') : undefined);
    const sandbox = await startCafe24Sandbox({
      clientId: LOCAL_APP.clientId,
      clientSecret: LOCAL_APP.clientSecret,
      redirectUri,
      acceptUnknownCodes: options.acceptUnknownCodes ?? false,
      ...(options.sandboxPort === undefined ? {} : { port: options.sandboxPort }),
      ...(options.listen ? { host: options.listen } : {}),
      ...(install
        ? { consent: true, appUrl: `${install.origin}/install`, appStoreMallId: LOCAL_APP.mallId }
        : {}),
      ...(sandboxStateFile ? { stateFile: sandboxStateFile, log: (line: string) => logger.warn(line) } : {}),
    });
    stops.push(() => sandbox.stop());
    // Cafe24 sends the app's webhooks to the install front, with the key Cafe24 Developers would show.
    if (install)
      sandbox.setWebhook({ url: `${install.origin}/webhooks/cafe24`, apiKey: LOCAL_APP.webhookApiKey });

    const sqs = await startLocalSqs({
      ...(options.sqsPort === undefined ? {} : { port: options.sqsPort }),
      visibilityTimeoutSeconds:
        options.visibilityTimeoutSeconds ?? deployment.exchange.visibilityTimeoutSeconds,
      maxReceiveCount: options.maxReceiveCount ?? deployment.exchange.maxReceiveCount,
    });
    stops.push(() => sqs.stop());
    const refreshQueue = await createQueueWithDlq(sqs.client, {
      queueName: 'cafe24-token-refresh',
      dlqName: 'cafe24-token-refresh-dlq',
      visibilityTimeoutSeconds: deployment.refresh.visibilityTimeoutSeconds,
      maxReceiveCount: options.maxReceiveCount ?? deployment.refresh.maxReceiveCount,
    });

    // The app's events go to a local EventBridge, as a deployment with EVENT_BUS_NAME sends them.
    const eventBridge = await startLocalEventBridge({
      ...(options.listen ? { host: options.listen } : {}),
      ...(options.onMallEvent ? { onEvent: options.onMallEvent } : {}),
    });
    stops.push(() => eventBridge.stop());

    // KMS as a deployment has it: the data keys wrapped by the local KMS, whose key is kept beside the
    // database it owns (a restarted stack still opens its tokens).
    const sealWithKms =
      (options.sealing ?? 'kms') === 'kms' && options.env?.TOKEN_ENCRYPTION_KEY === undefined;
    const kms = sealWithKms
      ? await startLocalKms({
          ...(options.listen ? { hostname: options.listen } : {}),
          ...(options.kmsPort === undefined ? {} : { port: options.kmsPort }),
          ...(postgres ? { keyFile: join(postgres.dataDir, 'local-kms-key.json') } : {}),
        })
      : undefined;
    if (kms) stops.push(() => kms.stop());
    // The name env.json gives TOKEN_KMS_KEY_ID (`sam local invoke`), as an alias names a key in KMS.
    kms?.alias(LOCAL_KMS_ALIAS, kms.keyId);

    const env: Record<string, string> = {
      ...(kms ? { TOKEN_KMS_KEY_ID: kms.keyArn, AWS_ENDPOINT_URL_KMS: kms.endpoint } : {}),
      DATABASE_URL: databaseUrl,
      EVENT_BUS_NAME: 'cafe24-app-events',
      AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.endpoint,
      CAFE24_MALL_ID: LOCAL_APP.mallId,
      CAFE24_CLIENT_ID: LOCAL_APP.clientId,
      CAFE24_CLIENT_SECRET: LOCAL_APP.clientSecret,
      CAFE24_WEBHOOK_API_KEY: LOCAL_APP.webhookApiKey,
      CAFE24_REDIRECT_URI: redirectUri,
      CAFE24_API_BASE_URL: sandbox.baseUrl,
      SQS_QUEUE_URL: sqs.queueUrl,
      SQS_DLQ_URL: sqs.dlqUrl,
      REFRESH_QUEUE_URL: refreshQueue.queueUrl,
      REFRESH_CONCURRENCY: String(deployment.refresh.batchSize),
      AWS_REGION: sqs.region,
      AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      EXCHANGE_CONCURRENCY: String(options.batchSize ?? deployment.exchange.batchSize),
      EXCHANGE_POOL_SIZE: String(deployment.exchange.poolSize),
      ...options.env,
    };
    const runtime = createExchangeRuntime(loadConfig('exchange', env));
    stops.push(() => runtime.close());

    const relayRuntime = createRelayRuntime(loadConfig('relay', env), { poolSize: 8 });
    stops.push(() => relayRuntime.close());
    const pool = relayRuntime.pool;
    const newRelay = () =>
      startRelay({
        ...relayRuntime.relay,
        log: logger,
        sweepIntervalMs: options.sweepIntervalMs ?? 5_000,
        ...(options.onPublished ? { onPublished: options.onPublished } : {}),
      });
    let relay: Relay | undefined = newRelay();
    stops.push(() => relay?.stop() ?? Promise.resolve());

    const runner = startLambdaRunner({
      client: sqs.client,
      queueUrl: sqs.queueUrl,
      handler: createExchangeHandler(() => runtime) as Parameters<typeof startLambdaRunner>[0]['handler'],
      batchSize: options.batchSize ?? deployment.exchange.batchSize,
      maximumBatchingWindowMs: deployment.exchange.maximumBatchingWindowSeconds * 1000,
      maximumConcurrency: options.maximumConcurrency ?? deployment.exchange.maximumConcurrency,
      functionName: 'cafe24-token-exchange',
      timeoutMs: deployment.exchange.exchangeTimeoutSeconds * 1000,
      ...(options.onInvoke ? { onInvoke: options.onInvoke } : {}),
      log: (line) => logger.warn('runner', { detail: line }),
    });
    stops.push(() => runner.stop());

    // Refresh: the schedule publishes due malls to the refresh queue; a runner feeds the refresh handler.
    const refreshRuntime = createRefreshRuntime(loadConfig('refresh', env), {
      maxConnections: deployment.refresh.batchSize,
    });
    stops.push(() => refreshRuntime.close());
    const refreshRunner = startLambdaRunner({
      client: sqs.client,
      queueUrl: refreshQueue.queueUrl,
      handler: createRefreshHandler(() => refreshRuntime) as Parameters<
        typeof startLambdaRunner
      >[0]['handler'],
      batchSize: deployment.refresh.batchSize,
      maximumBatchingWindowMs: deployment.refresh.maximumBatchingWindowSeconds * 1000,
      maximumConcurrency: deployment.refresh.maximumConcurrency,
      functionName: 'cafe24-token-refresh',
      timeoutMs: deployment.refresh.timeoutSeconds * 1000,
      log: (line) => logger.warn('refresh runner', { detail: line }),
    });
    stops.push(() => refreshRunner.stop());
    const schedule = createRefreshScheduleRuntime(loadConfig('refreshSchedule', env), { pool });
    stops.push(() => schedule.close());
    const stopSchedule = every(options.refreshScheduleIntervalMs ?? 30_000, async () => {
      try {
        await publishDueMalls(schedule.deps);
      } catch (error) {
        logger.warn('refresh schedule failed; the next run retries', { error: String(error) });
      }
    });
    stops.push(stopSchedule);

    const launchKeyFile =
      options.launchKeyFile ?? (postgres ? join(postgres.dataDir, 'launch-signing-key.json') : undefined);
    await install?.attach({
      ...(demoApp
        ? { APP_RETURN_URL: demoApp.url, LAUNCH_SIGNING_KEY: launchSigningKey(launchKeyFile) }
        : {}),
      ...env,
    });

    return {
      databaseUrl,
      postgres,
      sandbox,
      sqs,
      runner,
      runtime,
      refreshQueue,
      refreshRunner,
      eventBridge,
      pool,
      env,
      install: install ? { origin: install.origin, appStoreUrl: `${sandbox.origin}/appstore` } : undefined,
      demoApp,
      stop,
      get relay() {
        return relay;
      },
      async stopRelay() {
        await relay?.stop();
        relay = undefined;
      },
      startRelay() {
        relay ??= newRelay();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The install front's LAUNCH_SIGNING_KEY: the private JWK kept in `file`, so that its kid (and the JWKS an
 * app has cached) survive a restart; a new one, kept there, when the file is missing or unreadable; a new
 * one each start without a file. Owner-only: it signs. Lines logged name the file, never its content.
 */
function launchSigningKey(file: string | undefined): string {
  if (file) {
    try {
      const kept = readFileSync(file, 'utf8');
      loadLaunchKeys(kept, 'the file');
      return kept;
    } catch (error) {
      // A LaunchTokenError says what is wrong with the key (never quoting it); a file system error, its code.
      const why = error instanceof LaunchTokenError ? error.message : (error as NodeJS.ErrnoException).code;
      if (why !== 'ENOENT')
        logger.warn(`the launch signing key in ${file} could not be used (${why}); a new one replaces it`);
    }
  }
  const key = JSON.stringify(generateLaunchKey());
  if (file) {
    const temporary = `${file}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      writeFileSync(temporary, key, { mode: 0o600 });
      renameSync(temporary, file);
    } catch (error) {
      rmSync(temporary, { force: true });
      logger.warn(
        `the launch signing key could not be kept in ${file} (${String(error)}); the next start makes another`,
      );
    }
  }
  return key;
}

/** Runs `task` now and then every `ms`, never two at once; the returned stop waits for a run under way. */
function every(ms: number, task: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  const tick = () => {
    running ??= task().finally(() => {
      running = undefined;
    });
  };
  tick();
  const timer = setInterval(tick, ms);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
