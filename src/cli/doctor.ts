import { clientSecretSource, databasePasswordSource, launchKeySource } from '../aws/secrets-manager.ts';
import { createSqsClient, queueAttributes } from '../aws/sqs.ts';
import { type ConnectFailureKind, probeRoute, probeTokenEndpoint } from '../cafe24/reach.ts';
import { describeError } from '../commons/errors.ts';
import {
  type AwsConfig,
  type Command,
  commands,
  configurationReport,
  configuredQueues,
  type DatabaseConfig,
  describeMisspelling,
  loadSection,
  misspeltVariables,
} from '../config.ts';
import { LaunchTokenError } from '../launch/errors.ts';
import { type LaunchKeys, loadLaunchKeys } from '../launch/keys.ts';
import { databaseConnection } from '../runtime/database.ts';
import { migrationState } from '../store/migrate.ts';
import type { Check } from './doctor-check.ts';
import { checkSealing } from './doctor-sealing.ts';

export type { Check } from './doctor-check.ts';

export type DoctorReport = { ok: boolean; checks: Check[] };

const QUEUE_NAMES: Record<string, string> = {
  SQS_QUEUE_URL: 'exchange queue',
  SQS_DLQ_URL: 'dead-letter queue',
  REFRESH_QUEUE_URL: 'refresh queue',
  REFRESH_DLQ_URL: 'refresh dead-letter queue',
};

/** Commands whose process refreshes, and so may hold a rotated pair the database refused. */
const REFRESHING_COMMANDS: readonly Command[] = ['refresh'];

const CONFIG_FIX =
  'set the variables named (README "Configuration"; the deployed values are the stack outputs)';

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
            fix: CONFIG_FIX,
            problems,
          },
    );
  const misspelt = misspeltVariables(source);
  const environment: Check[] =
    misspelt.length === 0
      ? []
      : [
          {
            check: 'environment',
            ok: true,
            warning: true,
            detail: misspelt.map(describeMisspelling).join('; '),
            fix: 'rename it: as spelt, no command reads it',
          },
        ];
  const aws: AwsConfig = loadSection('aws', source) ?? { endpoints: {}, credentialsInEnvironment: false };
  const checks = await Promise.all([
    checkDatabase(source, aws),
    ...checkQueues(source, aws),
    checkClientSecret(source, aws),
    checkCafe24(source),
    checkLaunch(source, aws, wanted),
    checkSealing(source, aws, wanted),
  ]);
  const all = [
    ...environment,
    ...configuration,
    ...checks.flat(),
    ...checkTokenStash(source, aws, wanted),
    ...checkWebhookKey(source, wanted),
  ];
  return { ok: all.every((check) => check.ok), checks: all };
}

type Aws = AwsConfig;

function notConfigured(check: string, fix: string): Check[] {
  return [{ check, ok: false, detail: 'not configured', fix }];
}

async function checkDatabase(source: NodeJS.ProcessEnv | undefined, aws: Aws): Promise<Check[]> {
  const database = loadSection('database', source);
  if (!database) {
    return notConfigured(
      'database',
      'set DATABASE_URL, or PGHOST PGPORT PGUSER PGDATABASE with PGPASSWORD or PGPASSWORD_SECRET_ARN',
    );
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
    checks.push(roleCheck(state.role));
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
            fix: 'run `cafe24-tokens migrate` with this configuration (docs/deploy.md, step 3)',
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

/** The functions need no DDL: a superuser or the schema's owner can drop what holds every mall's tokens. */
function roleCheck(role: { name: string; superuser: boolean; owner: boolean }): Check {
  const fix =
    'connect the functions and your app as the runtime role (db/roles.sql: cafe24_runtime); the migrator or the master user only for `cafe24-tokens migrate`';
  if (role.superuser) {
    return {
      check: 'database role',
      ok: true,
      warning: true,
      detail: `${role.name} is a superuser: it may drop or alter the tables, and turn off their triggers`,
      fix,
    };
  }
  if (role.owner) {
    return {
      check: 'database role',
      ok: true,
      warning: true,
      detail: `${role.name} owns the cafe24 schema: it may drop or alter the tables, and turn off their triggers`,
      fix,
    };
  }
  return {
    check: 'database role',
    ok: true,
    detail: `${role.name}: no DDL, the data only (least privilege)`,
  };
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
        fix: localEndpointFix(variable, url, aws) ?? queueFix(variable, error),
      };
    }
  });
  void Promise.allSettled(checks).then(() => client.destroy());
  return checks;
}

/**
 * A queue on this machine (the local stack's emulator) reached without AWS_ENDPOINT_URL_SQS: the client
 * goes to AWS itself, asking for credentials first, whatever the error then says.
 */
function localEndpointFix(variable: string, url: string, aws: Aws): string | undefined {
  if (aws.endpoints.sqs !== undefined || !URL.canParse(url)) return undefined;
  const { hostname, host, port, protocol } = new URL(url);
  const loopback =
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname) ||
    hostname === '[::1]';
  if (!loopback) return undefined;
  // An emulator's sqs.<region>.localhost names do not resolve everywhere: its endpoint is the loopback.
  const endpoint = `${protocol}//${hostname.endsWith('.localhost') ? '127.0.0.1' : hostname}${port ? `:${port}` : ''}`;
  return (
    `${variable} names a queue on this machine (${host}), but AWS_ENDPOINT_URL_SQS is unset: ` +
    `set AWS_ENDPOINT_URL_SQS=${endpoint} (the local emulator's endpoint, as npm start prints it)`
  );
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

const NOT_CAFE24_FIX =
  'check CAFE24_API_BASE_URL: it must be https://{mall_id}.cafe24api.com, or a sandbox that answers as Cafe24 does';

/** The route (TCP/TLS) to the API host, then, over it, that the token endpoint there answers as Cafe24's. */
async function checkCafe24(source: NodeJS.ProcessEnv | undefined): Promise<Check[]> {
  const cafe24 = loadSection('cafe24', source);
  if (!cafe24) {
    return notConfigured(
      'Cafe24 route',
      'set CAFE24_CLIENT_ID and CAFE24_REDIRECT_URI (and CAFE24_API_BASE_URL if not Cafe24 itself)',
    );
  }
  // Any mall's host will do: the route is the same. The configured mall's, else a placeholder.
  const mallId = cafe24.mallId ?? 'cafe24';
  const probe = await probeRoute(cafe24.apiBaseUrl, mallId, cafe24.connectTimeoutMs);
  if (!probe.ok) {
    return [
      {
        check: 'Cafe24 route',
        ok: false,
        detail: `${probe.message} (CAFE24_CONNECT_TIMEOUT_MS ${cafe24.connectTimeoutMs})`,
        fix: connectFix(probe.kind, probe.host, probe.port),
      },
      {
        check: 'Cafe24 token endpoint',
        ok: false,
        detail: `not tried: the Cafe24 route to ${probe.host}:${probe.port} failed`,
      },
    ];
  }
  const route: Check = {
    check: 'Cafe24 route',
    ok: true,
    detail: `${probe.tls ? 'TLS' : 'TCP'} to ${probe.host}:${probe.port} in ${probe.ms} ms`,
  };
  return [route, await checkTokenEndpoint(cafe24.apiBaseUrl, mallId, cafe24, probe)];
}

async function checkTokenEndpoint(
  apiBaseUrl: string,
  mallId: string,
  timeouts: { connectTimeoutMs: number; requestTimeoutMs: number },
  route: { host: string; port: number },
): Promise<Check> {
  const check = 'Cafe24 token endpoint';
  const probe = await probeTokenEndpoint(apiBaseUrl, mallId, timeouts);
  const asked = 'to a request without credentials';
  if (probe.ok) {
    return {
      check,
      ok: true,
      detail: `${probe.url} answered ${probe.status}${probe.error ? ` ${probe.error}` : ''} ${asked}: an OAuth error, as Cafe24's (${probe.ms} ms)`,
    };
  }
  if (probe.kind === 'answer') {
    const serverError = probe.status >= 500;
    return {
      check,
      ok: false,
      detail:
        `${probe.url} answered ${probe.status} ${probe.contentType} ${asked}: ` +
        (serverError ? 'a server error, not an OAuth refusal' : 'not an OAuth error'),
      fix: serverError ? `if it persists, ${NOT_CAFE24_FIX}` : NOT_CAFE24_FIX,
    };
  }
  return {
    check,
    ok: false,
    detail:
      `${probe.url}: ${probe.message} (CAFE24_CONNECT_TIMEOUT_MS ${timeouts.connectTimeoutMs}, ` +
      `CAFE24_REQUEST_TIMEOUT_MS ${timeouts.requestTimeoutMs})`,
    fix:
      probe.kind === 'no-answer'
        ? `${route.host}:${route.port} took the connection but sent no HTTP answer in time: ${NOT_CAFE24_FIX}`
        : connectFix(probe.kind, route.host, route.port),
  };
}

function connectFix(kind: ConnectFailureKind, host: string, port: number): string {
  return {
    timeout: NAT_FIX,
    unreachable: NAT_FIX,
    dns: `${host} does not resolve: check CAFE24_API_BASE_URL (and DNS resolution in the VPC)`,
    refused: `${host}:${port} refuses connections: check CAFE24_API_BASE_URL`,
    tls: 'the TLS handshake failed: a proxy intercepting TLS, or CAFE24_API_BASE_URL points at the wrong host',
    other: 'check CAFE24_API_BASE_URL and the network',
  }[kind];
}

/**
 * Without a bucket, a rotated pair the database refused lives in one process's memory (rule 8). The local
 * stack means it (`npm start` and the CLI environment it prints point SQS at its emulator, which a
 * deployment never does); anywhere else it is a warning.
 */
function checkTokenStash(source: NodeJS.ProcessEnv | undefined, aws: Aws, wanted: Command[]): Check[] {
  if (!wanted.some((command) => REFRESHING_COMMANDS.includes(command))) return [];
  const localStack = aws.endpoints.sqs !== undefined;
  if (localStack || (source ?? process.env).TOKEN_STASH_BUCKET?.trim()) return [];
  return [
    {
      check: 'TOKEN_STASH_BUCKET',
      ok: true,
      warning: true,
      detail:
        "unset: a rotated refresh-token pair the database refused waits only in this process's memory, " +
        'and another process refreshing the mall meanwhile sends the dead refresh token (the mall is lost)',
      fix: "set it in every process that can refresh (the CLI's too) to the bucket the deployed functions use, the stack's TokenStashBucket",
    },
  ];
}

/** `serve` without a webhook key answers Cafe24's webhooks 503: a removed mall keeps its tokens. */
function checkWebhookKey(source: NodeJS.ProcessEnv | undefined, wanted: Command[]): Check[] {
  if (!wanted.includes('install')) return [];
  const env = source ?? process.env;
  if (env.CAFE24_WEBHOOK_API_KEY?.trim() || env.CAFE24_WEBHOOK_API_KEY_ARN?.trim()) return [];
  return [
    {
      check: 'CAFE24_WEBHOOK_API_KEY',
      ok: true,
      warning: true,
      detail:
        'unset: POST /webhooks/cafe24 answers 503, so a mall that deletes the app keeps its tokens until a refresh is refused',
      fix: "set CAFE24_WEBHOOK_API_KEY (or CAFE24_WEBHOOK_API_KEY_ARN) to the key Cafe24 Developers shows for the app's webhooks",
    },
  ];
}

const LAUNCH_KEY_FIX =
  'make a key with `cafe24-tokens launch-key --out launch-key.json` and set LAUNCH_SIGNING_KEY to the ' +
  "file's text, or store that text as a Secrets Manager secret and set LAUNCH_SIGNING_KEY_ARN to it";

/** How long doctor waits for the deployed front's JWKS: it is a small static answer. */
const JWKS_TIMEOUT_MS = 3_000;

/**
 * The install front's hand-off to the app (docs/design.md, "The app's entry"): without APP_RETURN_URL the
 * front signs nothing; with it, the signing key must load (LAUNCH_SIGNING_KEY, or the secret behind
 * LAUNCH_SIGNING_KEY_ARN), and the front at CAFE24_REDIRECT_URI's origin (the tokens' `iss`) should serve
 * that key in its JWKS. Never prints the key: only its `kid`, which the JWKS publishes anyway.
 */
async function checkLaunch(
  source: NodeJS.ProcessEnv | undefined,
  aws: Aws,
  wanted: Command[],
): Promise<Check[]> {
  if (!wanted.includes('install')) return [];
  const env = source ?? process.env;
  const returnUrl = env.APP_RETURN_URL?.trim() ?? '';
  const hasValue = (env.LAUNCH_SIGNING_KEY?.trim() ?? '') !== '';
  const hasArn = (env.LAUNCH_SIGNING_KEY_ARN?.trim() ?? '') !== '';
  const checks: Check[] = [];
  if (returnUrl === '') {
    checks.push({
      check: 'launch hand-off',
      ok: true,
      detail:
        'APP_RETURN_URL unset: the install front shows its own pages and signs no launch token; set ' +
        'APP_RETURN_URL (and a signing key, LAUNCH_SIGNING_KEY_ARN or LAUNCH_SIGNING_KEY) to hand the ' +
        'operator to your app with a signed launch token' +
        (hasValue || hasArn ? ' (a signing key is set: checked below, unused until then)' : ''),
    });
  }
  if (hasValue && hasArn) {
    checks.push({
      check: 'launch signing key',
      ok: false,
      detail: 'LAUNCH_SIGNING_KEY and LAUNCH_SIGNING_KEY_ARN are both set',
      fix: 'keep one: LAUNCH_SIGNING_KEY_ARN deployed, LAUNCH_SIGNING_KEY for local runs',
    });
    return checks;
  }
  if (!hasValue && !hasArn) {
    if (returnUrl !== '') {
      checks.push({
        check: 'launch signing key',
        ok: false,
        detail:
          'not configured: APP_RETURN_URL is set, so the front must sign the launch token it hands the app, ' +
          'and refuses to start without a key',
        fix: LAUNCH_KEY_FIX,
      });
    }
    return checks;
  }
  const keys = hasValue ? keyFromValue(env.LAUNCH_SIGNING_KEY as string) : await keyFromSecret(source, aws);
  checks.push(keys.check);
  // The deployed front serves its JWKS only with APP_RETURN_URL set (404 without).
  if (keys.loaded && returnUrl !== '') {
    const issuer = originOf(env.CAFE24_REDIRECT_URI);
    if (issuer !== undefined) checks.push(await checkJwks(issuer, keys.loaded));
  }
  return checks;
}

type LoadedKey = { check: Check; loaded?: LaunchKeys };

function describeKeys(keys: LaunchKeys): string {
  const count = keys.jwks.keys.length;
  return `kid ${keys.kid} signs; the JWKS serves ${count} key${count === 1 ? '' : 's'}${count > 1 ? ' (a rotation)' : ''}`;
}

/** A key's problem as loadLaunchKeys words it (it names the variable, never the text); anything else, generically. */
function keyProblem(error: unknown, variable: string): string {
  return error instanceof LaunchTokenError ? error.message : `${variable} could not be read as a key`;
}

function keyFromValue(text: string): LoadedKey {
  const check = 'launch signing key';
  try {
    const loaded = loadLaunchKeys(text, 'LAUNCH_SIGNING_KEY');
    return {
      check: { check, ok: true, detail: `LAUNCH_SIGNING_KEY loads: ${describeKeys(loaded)}` },
      loaded,
    };
  } catch (error) {
    return {
      check: { check, ok: false, detail: keyProblem(error, 'LAUNCH_SIGNING_KEY'), fix: LAUNCH_KEY_FIX },
    };
  }
}

async function keyFromSecret(source: NodeJS.ProcessEnv | undefined, aws: Aws): Promise<LoadedKey> {
  const check = 'launch signing key';
  const arn = (source ?? process.env).LAUNCH_SIGNING_KEY_ARN?.trim() as string;
  const key = loadSection('launch', source)?.key;
  if (key === undefined || 'value' in key) {
    return {
      check: {
        check,
        ok: false,
        detail: 'LAUNCH_SIGNING_KEY_ARN is not the ARN of a Secrets Manager secret',
        fix: 'set it to the full ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)',
      },
    };
  }
  let text: string;
  try {
    text = (await launchKeySource(key, aws)()).reveal();
  } catch (error) {
    return {
      check: {
        check,
        ok: false,
        detail: `${arn}: ${describeError(error)}`,
        fix: /ResourceNotFound/.test(`${(error as { name?: string }).name ?? ''} ${describeError(error)}`)
          ? 'no such secret: check LAUNCH_SIGNING_KEY_ARN, or create it with the text `cafe24-tokens launch-key --out launch-key.json` writes'
          : secretFix('LAUNCH_SIGNING_KEY_ARN', error),
      },
    };
  }
  const variable = "LAUNCH_SIGNING_KEY_ARN's secret";
  try {
    const loaded = loadLaunchKeys(text, variable);
    return {
      check: { check, ok: true, detail: `readable from Secrets Manager, ${arn}: ${describeKeys(loaded)}` },
      loaded,
    };
  } catch (error) {
    return {
      check: {
        check,
        ok: false,
        detail: `${arn}: ${keyProblem(error, variable)}`,
        fix:
          "the secret's whole text must be the key: store the text of a file `cafe24-tokens launch-key --out " +
          'launch-key.json` writes (a private JWK or a JWK Set; a PKCS#8 PEM works too), not JSON around it',
      },
    };
  }
}

function originOf(uri: string | undefined): string | undefined {
  const value = uri?.trim() ?? '';
  return URL.canParse(value) ? new URL(value).origin : undefined;
}

/**
 * The front's JWKS (at the tokens' `iss`) holds the configured signing key, same `kid`, same point: an app
 * verifying a token signed with this key finds it. Unreachable from here is a warning (doctor may run
 * outside the network the front is reached from); another key set is a failure.
 */
async function checkJwks(issuer: string, keys: LaunchKeys): Promise<Check> {
  const check = 'launch JWKS';
  const url = `${issuer}/.well-known/jwks.json`;
  const signer = keys.jwks.keys[0]!;
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
    });
  } catch (error) {
    return {
      check,
      ok: true,
      warning: true,
      detail: `${url}: no answer (${fetchFailure(error)}), so whether the deployed front serves kid ${keys.kid} is not known`,
      fix:
        'run doctor where the install front is reachable, or check that it runs at the origin of ' +
        'CAFE24_REDIRECT_URI (the stack output InstallEndpoint)',
    };
  }
  const body = await response.text().catch(() => '');
  const deployFix =
    'deploy the configured key to the front (LaunchSigningKeyArn, or its secret, with AppReturnUrl set), or ' +
    'run doctor with the configuration the front runs with';
  if (response.status === 404) {
    return {
      check,
      ok: false,
      detail: `${url} answered 404: the deployed front serves no launch keys (it runs without APP_RETURN_URL, or predates the hand-off), though APP_RETURN_URL is set here`,
      fix: deployFix,
    };
  }
  const served = response.ok ? servedKeys(body) : undefined;
  if (served === undefined) {
    return {
      check,
      ok: false,
      detail:
        `${url} answered ${response.status} ${response.headers.get('content-type')?.split(';')[0] ?? ''}`.trimEnd() +
        ': not a JWKS',
      fix: 'check that the install front runs at the origin of CAFE24_REDIRECT_URI and starts (its logs say why not)',
    };
  }
  const same = served.find((jwk) => jwk.kid === signer.kid);
  if (same && same.x === signer.x && same.y === signer.y) {
    return {
      check,
      ok: true,
      detail: `${url} serves kid ${signer.kid}, the configured signing key (${served.length} key${served.length === 1 ? '' : 's'} served)`,
    };
  }
  const kids = served
    .map((jwk) => (typeof jwk.kid === 'string' ? jwk.kid.slice(0, 64) : '(no kid)'))
    .slice(0, 5)
    .join(', ');
  return {
    check,
    ok: false,
    detail: same
      ? `${url} serves kid ${signer.kid} with another public key than the configured one: the deployed front serves other keys than the configured one`
      : `${url} serves ${served.length === 0 ? 'no keys' : `kid ${kids}`}, not kid ${signer.kid}: the deployed front serves other keys than the configured one, so the app cannot verify what this key signs`,
    fix: deployFix,
  };
}

/** The keys of a JWKS answer, or undefined when it is not one. */
function servedKeys(body: string): Array<{ kid?: unknown; x?: unknown; y?: unknown }> | undefined {
  try {
    const json = JSON.parse(body) as { keys?: unknown };
    if (!Array.isArray(json?.keys)) return undefined;
    return json.keys.filter((key): key is Record<string, unknown> => typeof key === 'object' && key !== null);
  } catch {
    return undefined;
  }
}

/** Why fetch got no answer: its own message is only "fetch failed"; the cause says what. */
function fetchFailure(error: unknown): string {
  if ((error as { name?: string }).name === 'TimeoutError') return `none within ${JWKS_TIMEOUT_MS} ms`;
  const cause = (error as { cause?: unknown }).cause;
  return describeError(cause ?? error);
}

export function formatReport(report: DoctorReport): string {
  const rows = textRows(report.checks);
  // A row naming many commands is long: it does not widen every other row.
  const width = Math.max(...rows.filter((row) => !row.grouped).map((row) => row.name.length));
  const lines = rows.flatMap((row) => [
    `${row.mark} ${row.name.padEnd(width)}  ${row.detail}`,
    ...(row.fix === undefined ? [] : [`  ${' '.repeat(width)}  fix: ${row.fix}`]),
  ]);
  const failed = report.checks.filter((check) => !check.ok).length;
  const warnings = report.checks.filter((check) => check.warning).length;
  const summary = failed === 0 ? 'All checks passed.' : `${failed} check(s) failed.`;
  lines.push('', warnings === 0 ? summary : `${summary} ${warnings} warning${warnings === 1 ? '' : 's'}.`);
  return `${lines.join('\n')}\n`;
}

type TextRow = { mark: string; name: string; detail: string; fix?: string; grouped: boolean };

/**
 * The checks as a person reads them: the `config` checks say each problem once, naming every command it
 * stops (one missing DATABASE_URL stops seven), and the commands fully configured on one row; their
 * common fix follows the last of them. Every other check is a row of its own.
 */
function textRows(checks: Check[]): TextRow[] {
  const isConfig = (check: Check) => check.check.startsWith('config ');
  const commandOf = (check: Check) => check.check.slice('config '.length);
  const configChecks = checks.filter(isConfig);
  const byProblem = new Map<string, string[]>();
  for (const check of configChecks.filter((check) => !check.ok)) {
    for (const problem of check.problems ?? [check.detail]) {
      byProblem.set(problem, [...(byProblem.get(problem) ?? []), commandOf(check)]);
    }
  }
  const configured = configChecks.filter((check) => check.ok).map(commandOf);
  const configRow = (mark: string, commandNames: string[], detail: string): TextRow => ({
    mark,
    name: `config ${commandNames.join(', ')}`,
    detail,
    grouped: commandNames.length > 1,
  });
  const configRows = [
    ...[...byProblem].map(([problem, commandNames]) => configRow('✗', commandNames, problem)),
    ...(configured.length > 0 ? [configRow('✓', configured, 'fully configured')] : []),
  ];
  const fix = configChecks.find((check) => !check.ok)?.fix;
  const lastFailure = byProblem.size - 1;
  if (fix !== undefined && lastFailure >= 0) configRows[lastFailure] = { ...configRows[lastFailure]!, fix };

  const mark = (check: Check) => (check.warning ? '!' : check.ok ? '✓' : '✗');
  const rows: TextRow[] = [];
  for (const check of checks) {
    if (isConfig(check)) {
      // All of them where the first one stood.
      if (check === configChecks[0]) rows.push(...configRows);
      continue;
    }
    rows.push({
      mark: mark(check),
      name: check.check,
      detail: check.detail,
      ...((check.ok && !check.warning) || check.fix === undefined ? {} : { fix: check.fix }),
      grouped: false,
    });
  }
  return rows;
}

/** `cafe24-tokens doctor [--json] [--for exchange,relay]`: exit 0 when every check passes, 1 otherwise. */
export async function doctorCommand(options: { json?: boolean; for?: Command[] }): Promise<void> {
  const report = await runDoctor(options.for ? { commands: options.for } : {});
  process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  process.exitCode = report.ok ? 0 : 1;
}
