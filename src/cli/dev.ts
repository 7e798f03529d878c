import { connect } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCAL_SCOPES } from '../../local/install.ts';
import { type RunningPostgres, runningPostgres, stopPostgres } from '../../local/orphans.ts';
import { resolvedDataDir } from '../../local/postgres.ts';
import {
  DEPLOYED,
  DEPLOYED_REFRESH,
  LOCAL_APP,
  type LocalStack,
  startLocalStack,
} from '../../local/stack.ts';
import { logger } from '../commons/logger.ts';
import { loadConfig } from '../config.ts';
import { databaseNow, finishedSince, refreshesSince } from '../store/status.ts';
import { devOptionProblems } from './dev-options.ts';
import { formatDuration } from './status.ts';

const PROJECT_DATA = fileURLToPath(new URL('../../.local/postgres', import.meta.url));

export type DevOptions = {
  pgPort: number;
  sqsPort: number;
  sandboxPort: number;
  installPort: number;
  /** The local KMS (env.json names it for `sam local invoke`). */
  kmsPort: number;
  dataDir?: string;
  listen?: string;
  /** How often the refresh schedule runs, in seconds (deployed: every 5 minutes). */
  refreshSeconds?: number;
};

/**
 * `npm start`: the whole pipeline on this machine. Embedded PostgreSQL 17 (data kept in .local/), or the
 * database that PG* / DATABASE_URL name; prints where everything is and each exchange as it finishes.
 */
export async function devCommand(options: DevOptions): Promise<void> {
  const external = process.env.DATABASE_URL || process.env.PGHOST ? externalDatabaseUrl() : undefined;
  if (external) {
    process.stdout.write(
      `using the database that ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'PG*'} names (${redactUrl(external)}), not an embedded one\n`,
    );
  }
  const dataDir = external ? undefined : (options.dataDir ?? PROJECT_DATA);
  const problems = await devOptionProblems({ ...options, dataDir });
  if (problems.length > 0) {
    throw new Error(
      problems.length === 1
        ? (problems[0] as string)
        : `nothing started:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  const holder = dataDir === undefined ? undefined : await stopOrphans(dataDir);
  const taken = await portsInUse([
    ...(external ? [] : [{ port: options.pgPort, what: 'PostgreSQL (--pg-port)' }]),
    { port: options.sqsPort, what: 'the SQS emulator (--sqs-port)' },
    { port: options.sandboxPort, what: 'the Cafe24 sandbox (--sandbox-port)' },
    { port: options.installPort, what: 'the install front (--install-port)' },
    { port: options.kmsPort, what: 'the local KMS (--kms-port)' },
  ]);
  if (taken.length > 0) {
    throw new Error(
      `${taken.map(({ port, what }) => `port ${port} (${what})`).join(', ')} already in use: ` +
        'is the local stack already running in another terminal? Stop it there (Ctrl-C), or pick other ports.',
    );
  }
  if (holder) {
    throw new Error(
      `PostgreSQL (pid ${holder.pid}) already runs on ${holder.dataDir}, started by process ${holder.owner?.pid} ` +
        `(${holder.owner?.command}): is the local stack already running in another terminal? ` +
        'Stop it there (Ctrl-C), or give another --data-dir.',
    );
  }
  const started = Date.now();
  const stack = await startLocalStack({
    ...(external
      ? { databaseUrl: external }
      : { dataDir: dataDir ?? PROJECT_DATA, postgresPort: options.pgPort }),
    acceptUnknownCodes: true,
    ...(options.listen ? { listen: options.listen } : {}),
    sandboxPort: options.sandboxPort,
    sqsPort: options.sqsPort,
    kmsPort: options.kmsPort,
    sweepIntervalMs: 10_000,
    install: { port: options.installPort },
    refreshScheduleIntervalMs: (options.refreshSeconds ?? 30) * 1000,
    // The app's events as the relay publishes them to the local EventBridge: never a token in them.
    onMallEvent: (event) => {
      const detail = event.detail as { mallId?: string; cause?: string; reason?: string };
      const why = detail.cause ?? detail.reason;
      process.stdout.write(`◆ event ${event.detailType}: mall ${detail.mallId}${why ? ` (${why})` : ''}\n`);
    },
  });
  const stopWatching = await watchExchanges(stack);
  printBanner(stack, Date.now() - started, external !== undefined, options.refreshSeconds ?? 30);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    // The terminal went away: stop the cluster rather than leave it running.
    process.once('SIGHUP', () => resolve());
  });
  process.stdout.write('\nstopping…\n');
  // Connections dropping while everything stops are expected, not news.
  logger.setLogLevel('CRITICAL');
  stopWatching();
  await stack.stop();
  process.stdout.write('stopped\n');
}

/**
 * A PostgreSQL that an earlier `npm start` left running on this data directory (SIGKILLed, a closed
 * terminal, an OOM: its server outlives it, holding the port and the folder) is stopped, and said so.
 * One whose stack still runs is returned, for the caller to refuse with. As root the cluster may be
 * kept elsewhere (`resolvedDataDir`): both places are looked at.
 */
async function stopOrphans(dataDir: string): Promise<RunningPostgres | undefined> {
  const places = [...new Set([resolve(dataDir), await resolvedDataDir(dataDir)])];
  for (const place of places) {
    const server = await runningPostgres(place);
    if (!server) continue;
    if (server.owner) return server;
    const signal = await stopPostgres(server);
    process.stdout.write(
      `stopped PostgreSQL (pid ${server.pid}${server.port ? `, port ${server.port}` : ''}) left running on ${place} ` +
        `by an earlier start that did not stop it (${signal === 'SIGINT' ? 'a clean shutdown' : `it took ${signal}`})\n`,
    );
  }
  return undefined;
}

function externalDatabaseUrl(): string {
  const { database } = loadConfig('migrate');
  if (database.connectionString) return database.connectionString;
  const auth = database.user
    ? `${encodeURIComponent(database.user)}${database.password ? `:${encodeURIComponent(database.password.reveal())}` : ''}@`
    : '';
  return `postgres://${auth}${database.host}:${database.port}/${encodeURIComponent(database.database ?? 'postgres')}`;
}

/** The URL without its password, for a line a person reads. */
function redactUrl(url: string): string {
  return url.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:***@');
}

/** Which of `ports` something on this machine already listens on. */
async function portsInUse<T extends { port: number }>(ports: T[]): Promise<T[]> {
  const listening = (port: number) =>
    new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: '127.0.0.1' });
      const done = (answer: boolean) => {
        socket.destroy();
        resolve(answer);
      };
      socket.setTimeout(500);
      socket.once('connect', () => done(true));
      socket.once('timeout', () => done(false));
      socket.once('error', () => done(false));
    });
  const answers = await Promise.all(ports.map((entry) => listening(entry.port)));
  return ports.filter((_, index) => answers[index]);
}

/** The variables the CLI needs against this stack, ready to paste (the sandbox's stand-in credentials). */
function cliEnvironment(stack: LocalStack, external: boolean): string[] {
  const names = [
    'AWS_ENDPOINT_URL_SQS',
    'AWS_REGION',
    'SQS_QUEUE_URL',
    'SQS_DLQ_URL',
    'REFRESH_QUEUE_URL',
    'CAFE24_API_BASE_URL',
    'CAFE24_CLIENT_ID',
    'CAFE24_CLIENT_SECRET',
    'CAFE24_WEBHOOK_API_KEY',
    'CAFE24_REDIRECT_URI',
    'CAFE24_MALL_ID',
    // The app opens the sealed tokens with the same key (the local KMS stands in for AWS KMS).
    'TOKEN_KMS_KEY_ID',
    'AWS_ENDPOINT_URL_KMS',
  ];
  const quote = (value: string) =>
    /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
  return [
    // An external database's URL holds a real password: it is already in this shell's environment.
    ...(external ? [] : [`  export DATABASE_URL=${quote(stack.databaseUrl)}`]),
    ...names
      .filter((name) => stack.env[name] !== undefined)
      .map((name) => `  export ${name}=${quote(stack.env[name] as string)}`),
    // What `serve` and `doctor --for install` need besides: the scopes the local install front asks for.
    ...(stack.install ? [`  export CAFE24_SCOPES=${quote(LOCAL_SCOPES.join(','))}`] : []),
  ];
}

/**
 * One line an app's developer can paste: the project's client (`createCafe24Client`, src/client.ts) calls the
 * sandbox's Admin API with the mall's token from the table, so no token is ever printed or typed.
 */
function adminApiExample(mallId: string): string {
  const script = [
    "import pg from 'pg'",
    "import { createCafe24Client } from './src/client.ts'",
    'const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })',
    `try { console.log(await createCafe24Client({ pool }).mall('${mallId}').get('/api/v2/admin/store')) } finally { await pool.end() }`,
  ].join('; ');
  return `node --input-type=module -e "${script}"`;
}

function printBanner(stack: LocalStack, ms: number, external: boolean, refreshSeconds: number): void {
  const shownUrl = redactUrl(stack.databaseUrl);
  // An external database's URL holds a real password: it is already in this shell's environment.
  const insertEnv = external ? '' : `DATABASE_URL=${stack.databaseUrl} `;
  const relocated = stack.postgres?.relocated;
  const lines = [
    '',
    `cafe24-token-issuer: local pipeline up in ${(ms / 1000).toFixed(1)} s`,
    '',
    `  PostgreSQL 17   ${shownUrl}${stack.postgres ? `  (data: ${stack.postgres.dataDir})` : '  (from PG*/DATABASE_URL)'}`,
    ...(relocated
      ? [
          `                  moved from ${relocated.from}: ${relocated.reason};`,
          '                  the system temp directory may not survive a reboot (clone elsewhere to keep it)',
        ]
      : []),
    `  SQS emulator    ${stack.sqs.endpoint}`,
    `    queue         ${stack.sqs.queueUrl}  (visibility ${DEPLOYED.visibilityTimeoutSeconds} s, maxReceiveCount ${DEPLOYED.maxReceiveCount})`,
    `    dead letters  ${stack.sqs.dlqUrl}`,
    `  Cafe24 sandbox  ${stack.sandbox.baseUrl}  (accepts any code it has not seen: a new install)`,
    `    Admin API     ${stack.sandbox.baseUrl}/api/v2/admin/store, …/products  (Cafe24's bucket: 40 calls a mall, draining 2 a second)`,
    "  relay           LISTEN cafe24_authorization_code, sweep every 10 s (publishes the app's events)",
    `  EventBridge     ${stack.eventBridge.endpoint}  (a local stand-in; bus ${stack.env.EVENT_BUS_NAME})`,
    `  exchange        Lambda-style runner: batch ${DEPLOYED.batchSize}, concurrency ${DEPLOYED.maximumConcurrency}`,
    `  refresh queue   ${stack.refreshQueue.queueUrl}  (dead letters: ${stack.refreshQueue.dlqUrl})`,
    `  refresh         schedule every ${refreshSeconds} s (deployed: 5 min); Lambda-style runner: batch ${DEPLOYED_REFRESH.batchSize}, concurrency ${DEPLOYED_REFRESH.maximumConcurrency}`,
    ...(stack.install
      ? [
          `  install front   ${stack.install.origin}/install  (callback ${stack.env.CAFE24_REDIRECT_URI}; webhooks ${stack.install.origin}/webhooks/cafe24)`,
        ]
      : []),
    ...(stack.demoApp
      ? [
          `  demo app        ${stack.demoApp.url}  (APP_RETURN_URL: verifies the front's ?launch= token, greets the operator)`,
        ]
      : []),
    '',
    ...(stack.install
      ? [
          `Install the app as a shop would: open this link, click Install, see ${stack.demoApp ? 'the demo app greet you' : 'the page'}:`,
          `  ${stack.install.appStoreUrl}`,
          ...(stack.demoApp
            ? ['  (open it again: the app opens at once, no consent; add ?lang=en_US to it for English)']
            : []),
          "Then delete it as the shop's admin would (Cafe24's webhook removes the tokens, the app is told):",
          `  ${stack.sandbox.origin}/admin/${LOCAL_APP.mallId}`,
          '',
        ]
      : []),
    'Insert a code, as an OAuth callback would (its exchange is shown below):',
    `  ${insertEnv}npx cafe24-tokens insert-code --mall ${LOCAL_APP.mallId}`,
    '',
    'The CLI against this stack (paste into another shell), then e.g. npx cafe24-tokens status:',
    ...cliEnvironment(stack, external),
    '',
    'Then call the Admin API there as an app would (the client reads the token from the database; none is shown):',
    `  ${adminApiExample(LOCAL_APP.mallId)}`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Prints each code as it reaches a final state, with the time from INSERT to that state, and each mall as
 * it is refreshed or turns invalid.
 */
async function watchExchanges(stack: LocalStack): Promise<() => void> {
  // From now on, by the database's clock: every code finishing after the banner is shown.
  let since = await databaseNow(stack.pool);
  let refreshedSince = since;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      for (const code of await finishedSince(stack.pool, since)) {
        since = code.finishedAt;
        const mark = code.status === 'exchanged' ? '✓' : '✗';
        const reason = code.lastError ? `: ${code.lastError}` : '';
        process.stdout.write(
          `${mark} code ${code.id} (${code.mallId}) ${code.status} ${code.ms} ms after INSERT, ${code.attempts} request(s)${reason}\n`,
        );
      }
      for (const mall of await refreshesSince(stack.pool, refreshedSince)) {
        refreshedSince = mall.at;
        process.stdout.write(
          mall.status === 'invalid'
            ? `✗ mall ${mall.mallId} invalid: ${mall.invalidReason ?? 'no reason recorded'}\n`
            : `✓ mall ${mall.mallId} refreshed, access token expires in ${formatDuration(mall.expiresInSeconds)}\n`,
        );
      }
    } catch {
      // The database may be restarting; the next tick tries again.
    } finally {
      busy = false;
    }
  }, 250);
  return () => clearInterval(timer);
}
