import { fileURLToPath } from 'node:url';
import { logger } from '../commons/logger.ts';
import { loadConfig } from '../config.ts';
import { DEPLOYED, LOCAL_APP, type LocalStack, startLocalStack } from '../local/stack.ts';
import { databaseNow, finishedSince } from '../store/status.ts';

const PROJECT_DATA = fileURLToPath(new URL('../../.local/postgres', import.meta.url));

export type DevOptions = {
  pgPort: number;
  sqsPort: number;
  sandboxPort: number;
  installPort: number;
  dataDir?: string;
  listen?: string;
};

/**
 * `npm start`: the whole pipeline on this machine. Embedded PostgreSQL 17 (data kept in .local/), or the
 * database that PG* / DATABASE_URL name; prints where everything is and each exchange as it finishes.
 */
export async function devCommand(options: DevOptions): Promise<void> {
  const external = process.env.DATABASE_URL || process.env.PGHOST ? externalDatabaseUrl() : undefined;
  // The banner and the per-code lines below say what happens; JSON logs only for trouble.
  if (!process.env.POWERTOOLS_LOG_LEVEL && !process.env.LOG_LEVEL) logger.setLogLevel('WARN');
  const started = Date.now();
  const stack = await startLocalStack({
    ...(external
      ? { databaseUrl: external }
      : { dataDir: options.dataDir ?? PROJECT_DATA, postgresPort: options.pgPort }),
    acceptUnknownCodes: true,
    ...(options.listen ? { listen: options.listen } : {}),
    sandboxPort: options.sandboxPort,
    sqsPort: options.sqsPort,
    sweepIntervalMs: 10_000,
    install: { port: options.installPort },
  });
  const stopWatching = await watchExchanges(stack);
  printBanner(stack, Date.now() - started, external !== undefined);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  process.stdout.write('\nstopping…\n');
  // Connections dropping while everything stops are expected, not news.
  logger.setLogLevel('CRITICAL');
  stopWatching();
  await stack.stop();
  process.stdout.write('stopped\n');
}

function externalDatabaseUrl(): string {
  const { database } = loadConfig('migrate');
  if (database.connectionString) return database.connectionString;
  const auth = database.user
    ? `${encodeURIComponent(database.user)}${database.password ? `:${encodeURIComponent(database.password.reveal())}` : ''}@`
    : '';
  return `postgres://${auth}${database.host}:${database.port}/${encodeURIComponent(database.database ?? 'postgres')}`;
}

function printBanner(stack: LocalStack, ms: number, external: boolean): void {
  const shownUrl = stack.databaseUrl.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:***@');
  const psqlUrl = external ? '"$DATABASE_URL"' : stack.databaseUrl;
  const lines = [
    '',
    `cafe24-token-issuer: local pipeline up in ${(ms / 1000).toFixed(1)} s`,
    '',
    `  PostgreSQL 17   ${shownUrl}${stack.postgres ? `  (data: ${stack.postgres.dataDir})` : '  (from PG*/DATABASE_URL)'}`,
    `  SQS emulator    ${stack.sqs.endpoint}`,
    `    queue         ${stack.sqs.queueUrl}  (visibility ${DEPLOYED.visibilityTimeoutSeconds} s, maxReceiveCount ${DEPLOYED.maxReceiveCount})`,
    `    dead letters  ${stack.sqs.dlqUrl}`,
    `  Cafe24 sandbox  ${stack.sandbox.baseUrl}  (accepts any code it has not seen: a new install)`,
    '  relay           LISTEN cafe24_authorization_code, sweep every 10 s',
    `  exchange        Lambda-style runner: batch ${DEPLOYED.batchSize}, concurrency ${DEPLOYED.maximumConcurrency}`,
    ...(stack.install
      ? [`  install front   ${stack.install.origin}/install  (callback ${stack.env.CAFE24_REDIRECT_URI})`]
      : []),
    '',
    ...(stack.install
      ? [
          'Install the app as a shop would: open this link, click Install, see the page:',
          `  ${stack.install.appStoreUrl}`,
          '',
        ]
      : []),
    'Insert a code, as an OAuth callback would:',
    `  psql ${psqlUrl} -c "insert into cafe24.oauth_authorization_codes (mall_id, code) values ('${LOCAL_APP.mallId}', md5(random()::text))"`,
    '',
    'Then: npm run cafe24-tokens -- status   (with the same DATABASE_URL). Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Prints each code as it reaches a final state, with the time from INSERT to that state. */
async function watchExchanges(stack: LocalStack): Promise<() => void> {
  // From now on, by the database's clock: every code finishing after the banner is shown.
  let since = await databaseNow(stack.pool);
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
    } catch {
      // The database may be restarting; the next tick tries again.
    } finally {
      busy = false;
    }
  }, 250);
  return () => clearInterval(timer);
}
