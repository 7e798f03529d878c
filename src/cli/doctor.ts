import { clientSecretSource, databasePasswordSource } from '../aws/secrets-manager.ts';
import { createSqsClient, queueAttributes } from '../aws/sqs.ts';
import { probeRoute } from '../cafe24/reach.ts';
import { describeError } from '../commons/errors.ts';
import {
  type AwsConfig,
  type Command,
  commands,
  configurationReport,
  configuredQueues,
  type DatabaseConfig,
  loadSection,
} from '../config.ts';
import { databaseConnection } from '../handlers/runtime/database.ts';
import { migrationState } from '../store/migrate.ts';

export type Check = {
  /** What was checked: `config exchange`, `database`, `SQS_QUEUE_URL`, `client secret`, `Cafe24 route`. */
  check: string;
  ok: boolean;
  detail: string;
  /** What to do, when it failed. */
  fix?: string;
};

export type DoctorReport = { ok: boolean; checks: Check[] };

const QUEUE_NAMES: Record<string, string> = {
  SQS_QUEUE_URL: 'exchange queue',
  SQS_DLQ_URL: 'dead-letter queue',
  REFRESH_QUEUE_URL: 'refresh queue',
  REFRESH_DLQ_URL: 'refresh dead-letter queue',
};

const NAT_FIX =
  'no route to the internet: from a private subnet, Cafe24 needs a route 0.0.0.0/0 → a NAT gateway ' +
  '(a connect timeout is what a missing NAT looks like); locally, check the network or a proxy';

/**
 * Every check, run at once: configuration per command, the database and its migrations, each queue,
 * the secrets, and the route to Cafe24. Never prints a secret: secrets are read and only said readable.
 */
export async function runDoctor(
  options: { source?: NodeJS.ProcessEnv; commands?: Command[] } = {},
): Promise<DoctorReport> {
  const { source } = options;
  const wanted = options.commands ?? (Object.keys(commands) as Command[]);
  const configuration: Check[] = configurationReport(source)
    .filter(({ command }) => wanted.includes(command))
    .map(({ command, problems }) =>
      problems.length === 0
        ? { check: `config ${command}`, ok: true, detail: 'fully configured' }
        : {
            check: `config ${command}`,
            ok: false,
            detail: problems.join('; '),
            fix: 'set the variables named (README "Configuration"; the deployed values are the stack outputs)',
          },
    );
  const aws: AwsConfig = loadSection('aws', source) ?? { endpoints: {}, credentialsInEnvironment: false };
  const checks = await Promise.all([
    checkDatabase(source, aws),
    ...checkQueues(source, aws),
    checkClientSecret(source, aws),
    checkCafe24Route(source),
  ]);
  const all = [...configuration, ...checks.flat()];
  return { ok: all.every((check) => check.ok), checks: all };
}

type Aws = AwsConfig;

async function checkDatabase(source: NodeJS.ProcessEnv | undefined, aws: Aws): Promise<Check[]> {
  const database = loadSection('database', source);
  if (!database) {
    return [
      {
        check: 'database',
        ok: false,
        detail: 'not configured',
        fix: 'set DATABASE_URL, or PGHOST PGPORT PGUSER PGDATABASE with PGPASSWORD or PGPASSWORD_SECRET_ARN',
      },
    ];
  }
  const where = describeDatabase(database);
  const checks: Check[] = [];
  if (database.passwordSecretArn !== undefined) {
    try {
      await databasePasswordSource(database.passwordSecretArn, aws)();
      checks.push({ check: 'database password secret', ok: true, detail: 'readable (not shown)' });
    } catch (error) {
      checks.push({
        check: 'database password secret',
        ok: false,
        detail: describeError(error),
        fix: secretFix('PGPASSWORD_SECRET_ARN', error),
      });
      return checks;
    }
  }
  try {
    const state = await migrationState(databaseConnection({ database, aws }));
    checks.push({
      check: 'database',
      ok: true,
      detail: `PostgreSQL ${state.serverVersion} at ${where}`,
    });
    checks.push(
      state.pending.length === 0
        ? {
            check: 'migrations',
            ok: true,
            detail: `${state.applied.length} applied, none pending`,
          }
        : {
            check: 'migrations',
            ok: false,
            detail: `${state.pending.length} not applied: ${state.pending.join(', ')}`,
            fix: 'run `cafe24-tokens migrate` with this configuration (docs/deploy.md, step 5)',
          },
    );
  } catch (error) {
    checks.push({
      check: 'database',
      ok: false,
      detail: `${where}: ${describeError(error)}`,
      fix: databaseFix(error),
    });
  }
  return checks;
}

function describeDatabase(database: DatabaseConfig): string {
  if (database.connectionString !== undefined) {
    const url = new URL(database.connectionString);
    return `${url.hostname}:${url.port || 5432}${url.pathname}`;
  }
  return `${database.host}:${database.port}/${database.database ?? database.user ?? ''}`;
}

function databaseFix(error: unknown): string {
  const code = (error as { code?: string }).code ?? '';
  const message = describeError(error);
  if (code === 'ECONNREFUSED')
    return 'nothing accepts connections there: check PGHOST/PGPORT (or DATABASE_URL) and that PostgreSQL runs';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return 'the host name does not resolve: check PGHOST (or DATABASE_URL)';
  if (code === '28P01' || code === '28000')
    return 'the database refused the login: check PGUSER and PGPASSWORD (or PGPASSWORD_SECRET_ARN)';
  if (code === '3D000') return 'no such database: check PGDATABASE (or the path of DATABASE_URL)';
  if (/timeout|ETIMEDOUT/i.test(message) || code === 'ETIMEDOUT')
    return (
      'no answer in time: from Lambda, the database security group must admit the functions’ security ' +
      'group on the port, and the subnets must route to the database'
    );
  return 'check DATABASE_URL / PG* and that the database is reachable from here';
}

function checkQueues(source: NodeJS.ProcessEnv | undefined, aws: Aws): Array<Promise<Check>> {
  const queues = configuredQueues(source);
  if (!('SQS_QUEUE_URL' in queues)) {
    return [
      Promise.resolve({
        check: 'SQS_QUEUE_URL',
        ok: false,
        detail: 'not set: the relay has nowhere to publish',
        fix: 'set SQS_QUEUE_URL to the stack output ExchangeQueueUrl (and SQS_DLQ_URL to ExchangeDeadLetterQueueUrl)',
      }),
    ];
  }
  const client = createSqsClient(aws, { maxAttempts: 1, requestTimeoutMs: 5_000 });
  const checks = Object.entries(queues).map(async ([variable, url]): Promise<Check> => {
    const name = QUEUE_NAMES[variable] ?? variable;
    const check = `${variable}`;
    try {
      const depth = await queueAttributes(client, url);
      return {
        check,
        ok: true,
        detail: `${name} reachable: ${depth.visible} waiting, ${depth.inFlight} in flight`,
      };
    } catch (error) {
      return {
        check,
        ok: false,
        detail: `${name} ${url}: ${describeError(error)}`,
        fix: queueFix(variable, error),
      };
    }
  });
  void Promise.allSettled(checks).then(() => client.destroy());
  return checks;
}

function queueFix(variable: string, error: unknown): string {
  const name = (error as { name?: string }).name ?? '';
  const message = describeError(error);
  if (/NonExistentQueue|QueueDoesNotExist/.test(`${name} ${message}`))
    return `no such queue: check ${variable} (the stack outputs name it) and AWS_REGION`;
  if (/AccessDenied|not authorized/i.test(`${name} ${message}`))
    return `these credentials may not sqs:GetQueueAttributes on ${variable}'s queue: use a role that may`;
  if (/Credential/i.test(`${name} ${message}`))
    return 'no AWS credentials found: set AWS_PROFILE, or run where a role provides them';
  return (
    'SQS did not answer: check AWS_REGION (and AWS_ENDPOINT_URL_SQS locally); from a VPC, SQS needs the NAT ' +
    'or an interface endpoint com.amazonaws.<region>.sqs'
  );
}

async function checkClientSecret(source: NodeJS.ProcessEnv | undefined, aws: Aws): Promise<Check> {
  const secret = loadSection('clientSecret', source);
  if (!secret) {
    return {
      check: 'client secret',
      ok: false,
      detail: 'not configured (exactly one of CAFE24_CLIENT_SECRET, CAFE24_CLIENT_SECRET_ARN)',
      fix: 'set CAFE24_CLIENT_SECRET_ARN to the secret docs/deploy.md step 2 creates',
    };
  }
  if ('value' in secret)
    return { check: 'client secret', ok: true, detail: 'set in CAFE24_CLIENT_SECRET (not shown)' };
  try {
    await clientSecretSource(secret, aws)();
    return {
      check: 'client secret',
      ok: true,
      detail: `readable from Secrets Manager, ${secret.arn} (value not shown)`,
    };
  } catch (error) {
    return {
      check: 'client secret',
      ok: false,
      detail: `${secret.arn}: ${describeError(error)}`,
      fix: secretFix('CAFE24_CLIENT_SECRET_ARN', error),
    };
  }
}

function secretFix(variable: string, error: unknown): string {
  const text = `${(error as { name?: string }).name ?? ''} ${describeError(error)}`;
  if (/ResourceNotFound/.test(text))
    return `no such secret: check ${variable}, or create it (docs/deploy.md, step 2)`;
  if (/AccessDenied|not authorized/i.test(text))
    return `these credentials may not secretsmanager:GetSecretValue on ${variable} (and kms:Decrypt on its key, if customer-managed)`;
  if (/Credential/i.test(text))
    return 'no AWS credentials found: set AWS_PROFILE, or run where a role provides them';
  if (/JSON|SecretString/.test(text))
    return 'the secret must be the plain value, or JSON with "client_secret" ("password" for the database)';
  return (
    'Secrets Manager did not answer: check AWS_REGION; from a VPC, it needs the NAT or an interface endpoint ' +
    'com.amazonaws.<region>.secretsmanager'
  );
}

async function checkCafe24Route(source: NodeJS.ProcessEnv | undefined): Promise<Check> {
  const cafe24 = loadSection('cafe24', source);
  if (!cafe24) {
    return {
      check: 'Cafe24 route',
      ok: false,
      detail: 'not configured',
      fix: 'set CAFE24_CLIENT_ID and CAFE24_REDIRECT_URI (and CAFE24_API_BASE_URL if not Cafe24 itself)',
    };
  }
  // Any mall's host will do: the route is the same. The configured mall's, else a placeholder.
  const probe = await probeRoute(cafe24.apiBaseUrl, cafe24.mallId ?? 'cafe24', cafe24.connectTimeoutMs);
  if (probe.ok) {
    return {
      check: 'Cafe24 route',
      ok: true,
      detail: `${probe.tls ? 'TLS' : 'TCP'} to ${probe.host}:${probe.port} in ${probe.ms} ms`,
    };
  }
  const fix = {
    timeout: NAT_FIX,
    unreachable: NAT_FIX,
    dns: `${probe.host} does not resolve: check CAFE24_API_BASE_URL (and DNS resolution in the VPC)`,
    refused: `${probe.host}:${probe.port} refuses connections: check CAFE24_API_BASE_URL`,
    tls: 'the TLS handshake failed: a proxy intercepting TLS, or CAFE24_API_BASE_URL points at the wrong host',
    other: 'check CAFE24_API_BASE_URL and the network',
  }[probe.kind];
  return {
    check: 'Cafe24 route',
    ok: false,
    detail: `${probe.message} (CAFE24_CONNECT_TIMEOUT_MS ${cafe24.connectTimeoutMs})`,
    fix,
  };
}

export function formatReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((check) => check.check.length));
  const lines = report.checks.flatMap((check) => [
    `${check.ok ? '✓' : '✗'} ${check.check.padEnd(width)}  ${check.detail}`,
    ...(check.ok || check.fix === undefined ? [] : [`  ${' '.repeat(width)}  fix: ${check.fix}`]),
  ]);
  const failed = report.checks.filter((check) => !check.ok).length;
  lines.push('', failed === 0 ? 'All checks passed.' : `${failed} check(s) failed.`);
  return `${lines.join('\n')}\n`;
}

/** `cafe24-tokens doctor [--json] [--for exchange,relay]`: exit 0 when every check passes, 1 otherwise. */
export async function doctorCommand(options: { json?: boolean; for?: Command[] }): Promise<void> {
  const report = await runDoctor(options.for ? { commands: options.for } : {});
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  process.exitCode = report.ok ? 0 : 1;
}
