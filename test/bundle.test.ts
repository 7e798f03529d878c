/**
 * The built bundles, run the way `sam local invoke -e events/<file> --env-vars env.json` runs them: a
 * fresh Node process per invocation, with only env.json's variables (pointed at this test's PostgreSQL 17,
 * Cafe24 sandbox and SQS emulator) plus what Lambda itself sets. The bundles live outside the checkout,
 * so anything left out of them cannot be found in node_modules by accident.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cafe24Sandbox, startCafe24Sandbox } from '../local/cafe24-sandbox.ts';
import { type LocalKms, startLocalKms } from '../local/kms.ts';
import { type LocalSqs, startLocalSqs } from '../local/sqs.ts';
import { LOCAL_KMS_ALIAS, type LocalStack, startLocalStack } from '../local/stack.ts';
import { buildFunctions, type FunctionBundle } from '../scripts/build.ts';
import { createTestDatabase, pgVariables, type TestDatabase } from './support/db.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from './support/secrets-manager.ts';
import { openedToken } from './support/tokens.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const envJson = JSON.parse(readFileSync(join(root, 'env.json'), 'utf8')) as Record<
  string,
  Record<string, string>
>;
const hasRelay = existsSync(join(root, 'src/handlers/relay.ts'));

const CLIENT_ID = 'bundle-client-id';
const CLIENT_SECRET = 'bundle-client-secret-7d2a91';
const REDIRECT_URI = 'https://app.example.com/cafe24/callback';
const MANUAL_MALL = 'manualmall';
/** The deployed path: the client secret read from Secrets Manager by its ARN (env.json has the local value). */
const SECRET_ARN =
  'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cafe24-token-issuer/client-secret-AbCdEf';
const REGION = 'ap-northeast-2';

/** What Lambda (and sam local invoke) sets beside the function's own variables. */
const lambdaEnv = {
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  TZ: 'UTC',
  PATH: process.env.PATH ?? '',
};

/** Stands in for Lambda's runtime: imports the bundle, invokes its handler once, writes the outcome. */
const RUNNER = `
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
const [bundle, eventFile, resultFile, functionName, timeoutMs] = process.argv.slice(1);
const deadline = Date.now() + Number(timeoutMs);
const context = {
  functionName, functionVersion: '$LATEST', memoryLimitInMB: '512', awsRequestId: randomUUID(),
  invokedFunctionArn: 'arn:aws:lambda:${REGION}:123456789012:function:' + functionName,
  logGroupName: '/aws/lambda/' + functionName, logStreamName: 'local', callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => deadline - Date.now(),
};
let outcome;
try {
  const { handler } = await import(pathToFileURL(bundle).href);
  const result = await handler(JSON.parse(await readFile(eventFile, 'utf8')), context);
  outcome = { ok: true, result: result ?? null };
} catch (error) {
  outcome = { ok: false, error: { name: error?.name, message: error?.message } };
}
await writeFile(resultFile, JSON.stringify(outcome));
process.exit(0); // Lambda freezes the process; its open pool would otherwise keep it alive.
`;

type Outcome<T> = { ok: true; result: T } | { ok: false; error: { name: string; message: string } };

let workdir: string;
let bundles: Map<string, FunctionBundle>;
let db: TestDatabase;
let sandbox: Cafe24Sandbox;
let secrets: FakeSecretsManager;
let kms: LocalKms;
let logs = '';

beforeAll(async () => {
  // Inside the project, so the bundles resolve @aws-sdk/* from node_modules as Lambda's runtime provides it.
  await mkdir(join(root, '.local'), { recursive: true });
  workdir = await mkdtemp(join(root, '.local', 'bundle-test-'));
  const only = [
    'ExchangeFunction',
    ...(hasRelay ? ['RelayFunction'] : []),
    'RefreshFunction',
    'RefreshScheduleFunction',
    'InstallFunction',
  ];
  bundles = new Map(
    (await buildFunctions({ outdir: join(workdir, 'dist'), only })).map((b) => [b.logicalId, b]),
  );
  db = await createTestDatabase();
  sandbox = await startCafe24Sandbox({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: REDIRECT_URI,
  });
  // The key env.json names by its alias, as `npm start`'s local KMS serves it.
  kms = await startLocalKms();
  kms.alias(LOCAL_KMS_ALIAS, kms.keyId);
  secrets = await startFakeSecretsManager({
    [SECRET_ARN]: JSON.stringify({
      client_secret: CLIENT_SECRET,
    }),
  });
});

afterAll(async () => {
  await kms?.stop();
  await secrets?.stop();
  await sandbox?.stop();
  await db?.drop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

/** env.json's variables for a function, with the database pointed at this test's. */
function functionEnv(logicalId: string, overrides: Record<string, string>): Record<string, string> {
  const declared = envJson[logicalId];
  if (!declared) throw new Error(`env.json has no ${logicalId}`);
  // As deployed: the secret by its ARN; the local KMS where env.json says host.docker.internal.
  const deployed: Record<string, string> = {
    ...('CAFE24_CLIENT_SECRET' in declared
      ? { CAFE24_CLIENT_SECRET: '', CAFE24_CLIENT_SECRET_ARN: SECRET_ARN }
      : {}),
    ...('AWS_ENDPOINT_URL_KMS' in declared ? { AWS_ENDPOINT_URL_KMS: kms.endpoint } : {}),
  };
  const env = { ...declared, ...pgVariables(db.url), ...deployed, ...overrides };
  // Values change, the set of variables does not: the bundle sees what the template declares.
  expect(Object.keys(env).sort()).toEqual(Object.keys(declared).sort());
  return env;
}

async function invoke<T>(
  logicalId: string,
  event: unknown,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<Outcome<T>> {
  const bundle = bundles.get(logicalId);
  if (!bundle) throw new Error(`${logicalId} was not built`);
  const id = createHash('sha1').update(`${Date.now()}${Math.random()}`).digest('hex').slice(0, 8);
  const eventFile = join(workdir, `event-${id}.json`);
  const resultFile = join(workdir, `result-${id}.json`);
  await writeFile(eventFile, JSON.stringify(event));
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      RUNNER,
      bundle.outfile,
      eventFile,
      resultFile,
      logicalId,
      String(timeoutMs),
    ],
    { env, cwd: workdir, timeout: timeoutMs + 5_000 },
  );
  logs += stdout + stderr;
  return JSON.parse(await readFile(resultFile, 'utf8')) as Outcome<T>;
}

function eventFile(name: string): unknown {
  return JSON.parse(readFileSync(join(root, 'events', name), 'utf8'));
}

/** The event with each code id replaced, in order, by an inserted one (md5OfBody kept true to the body). */
function withCodeIds<T>(event: T, ids: string[]): T {
  const queue = [...ids];
  const next = () => {
    const id = queue.shift();
    if (id === undefined) throw new Error('the event names more codes than were inserted');
    return id;
  };
  const copy = structuredClone(event) as Record<string, unknown>;
  if (Array.isArray(copy.Records)) {
    for (const record of copy.Records as SQSEvent['Records']) {
      let body: unknown;
      try {
        body = JSON.parse(record.body);
      } catch {
        continue; // the malformed record stays malformed
      }
      if (typeof body === 'object' && body !== null && 'codeId' in body) {
        record.body = JSON.stringify({ ...body, codeId: next() });
        record.md5OfBody = createHash('md5').update(record.body).digest('hex');
      }
    }
  } else if ('codeId' in copy) {
    copy.codeId = typeof copy.codeId === 'number' ? Number(next()) : next();
  }
  expect(queue, 'every inserted code is named by the event').toEqual([]);
  return copy as T;
}

/** A fresh code from the sandbox, stored the way the OAuth callback stores it. */
async function insertCode(mallId: string): Promise<{ id: string; code: string }> {
  const code = sandbox.issueCode(mallId);
  const { rows } = await db.pool.query<{ id: string }>(
    'insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2) returning id::text',
    [mallId, code],
  );
  return { id: (rows[0] as { id: string }).id, code };
}

async function codeStatus(id: string): Promise<string | undefined> {
  const { rows } = await db.pool.query<{ status: string }>(
    'select status from cafe24.oauth_authorization_codes where id = $1',
    [id],
  );
  return rows[0]?.status;
}

async function tokenCodeId(mallId: string): Promise<string | undefined> {
  const { rows } = await db.pool.query<{ code_id: string }>(
    'select code_id::text from cafe24.oauth_tokens where mall_id = $1',
    [mallId],
  );
  return rows[0]?.code_id;
}

describe('the exchange bundle', () => {
  const exchangeEnv = () => ({
    ...functionEnv('ExchangeFunction', {
      CAFE24_MALL_ID: MANUAL_MALL,
      CAFE24_CLIENT_ID: CLIENT_ID,
      CAFE24_REDIRECT_URI: REDIRECT_URI,
      CAFE24_API_BASE_URL: sandbox.baseUrl,
    }),
    ...lambdaEnv,
    // Where the bundled SDK finds "Secrets Manager" here; in AWS it is the regional endpoint.
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
  });
  const exchange = <T>(event: unknown) => invoke<T>('ExchangeFunction', event, exchangeEnv(), 75_000);

  it('loads the SQS client only when a record is handed back, and carries no native code', () => {
    const metafile = bundles.get('ExchangeFunction')!.metafile;
    const inputs = Object.keys(metafile.inputs);
    // The AWS SDK comes from the runtime: it appears among the bundle's run-time imports, not its inputs.
    const imports = Object.values(metafile.outputs).flatMap((output) => output.imports);
    expect(inputs.length).toBeGreaterThan(0);
    expect(inputs.filter((input) => input.includes('@aws-sdk/') || input.endsWith('.node'))).toEqual([]);
    expect(imports.map((i) => i.path)).toContain('@aws-sdk/client-secrets-manager');
    const sqs = imports.filter((i) => i.path.startsWith('@aws-sdk/client-sqs'));
    expect(sqs.length).toBeGreaterThan(0);
    expect(sqs.filter((i) => i.kind !== 'dynamic-import')).toEqual([]);
  });

  it('exchanges the code of events/exchange-sqs-one.json, reading the client secret by its ARN', async () => {
    const { id, code } = await insertCode('onemall');
    const outcome = await exchange<SQSBatchResponse>(withCodeIds(eventFile('exchange-sqs-one.json'), [id]));
    expect(outcome).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect(await codeStatus(id)).toBe('exchanged');
    expect(await tokenCodeId('onemall')).toBe(id);
    expect(sandbox.tokenRequests({ code })).toHaveLength(1);
    expect(secrets.requests).toContain(SECRET_ARN);

    // The same message again (a duplicate delivery): acknowledged, and the code is not sent twice.
    const again = await exchange<SQSBatchResponse>(withCodeIds(eventFile('exchange-sqs-one.json'), [id]));
    expect(again).toEqual({ ok: true, result: { batchItemFailures: [] } });
    expect(sandbox.tokenRequests({ code })).toHaveLength(1);
  });

  it('reports only the malformed record of events/exchange-sqs-batch.json as failed', async () => {
    const event = eventFile('exchange-sqs-batch.json') as SQSEvent;
    const wellFormed = event.Records.filter((record) => {
      try {
        return 'codeId' in JSON.parse(record.body);
      } catch {
        return false;
      }
    });
    const malformed = event.Records.filter((record) => !wellFormed.includes(record));
    const malls = wellFormed.map((_, index) => `batchmall${index}`);
    const codes = await Promise.all(malls.map((mall) => insertCode(mall)));

    const outcome = await exchange<SQSBatchResponse>(
      withCodeIds(
        event,
        codes.map((c) => c.id),
      ),
    );
    expect(outcome).toEqual({
      ok: true,
      result: { batchItemFailures: malformed.map((record) => ({ itemIdentifier: record.messageId })) },
    });
    expect(malformed).toHaveLength(1);
    for (const [index, { id, code }] of codes.entries()) {
      expect(await codeStatus(id)).toBe('exchanged');
      expect(await tokenCodeId(malls[index] as string)).toBe(id);
      expect(sandbox.tokenRequests({ code })).toHaveLength(1);
    }
  });

  it('exchanges the code events/exchange-manual-code.json names', async () => {
    const { id, code } = await insertCode('codemall');
    const outcome = await exchange<{ status: string; codeId: string; mallId: string }>(
      withCodeIds(eventFile('exchange-manual-code.json'), [id]),
    );
    expect(outcome).toMatchObject({
      ok: true,
      result: { status: 'exchanged', codeId: id, mallId: 'codemall' },
    });
    expect(JSON.stringify(outcome)).not.toContain(code);
    expect(await tokenCodeId('codemall')).toBe(id);
  });

  it('exchanges the newest pending code of CAFE24_MALL_ID for events/exchange-manual.json ({})', async () => {
    const older = await insertCode(MANUAL_MALL);
    const newer = await insertCode(MANUAL_MALL);
    const outcome = await exchange<{ status: string; codeId: string }>(eventFile('exchange-manual.json'));
    expect(outcome).toMatchObject({ ok: true, result: { status: 'exchanged', codeId: newer.id } });
    expect(await codeStatus(newer.id)).toBe('exchanged');
    expect(await codeStatus(older.id)).toBe('pending');
    expect(sandbox.tokenRequests({ code: older.code })).toHaveLength(0);
    expect(JSON.stringify(outcome)).not.toContain(newer.code);
  });
});

describe.runIf(hasRelay)('the relay bundle', () => {
  let sqs: LocalSqs;

  beforeAll(async () => {
    sqs = await startLocalSqs({
      region: REGION,
      queueName: 'bundle-exchange',
      dlqName: 'bundle-exchange-dlq',
    });
  });
  afterAll(async () => {
    await sqs?.stop();
  });

  // A scheduled run listens for its remaining time minus a margin: a 4 s budget keeps it short.
  const relay = <T>(event: unknown, timeoutMs = 30_000) =>
    invoke<T>(
      'RelayFunction',
      event,
      {
        ...functionEnv('RelayFunction', { SQS_QUEUE_URL: sqs.queueUrl }),
        ...lambdaEnv,
        // A local emulator instead of the regional SQS endpoint (deliberately not in the template).
        AWS_ENDPOINT_URL_SQS: sqs.endpoint,
      },
      timeoutMs,
    );

  async function queued(): Promise<string[]> {
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    return Messages.map((message) => message.Body ?? '');
  }

  it('publishes unpublished codes on events/relay-scheduled.json', async () => {
    const { id } = await insertCode('relaymall');
    const before = logs.length;
    const outcome = await relay<{ published: number; failed: number; listenedMs: number }>(
      eventFile('relay-scheduled.json'),
      4_000,
    );
    expect(outcome).toMatchObject({ ok: true, result: { failed: 0 } });
    // The bundle listened (its plain-session LISTEN works bundled): it took the listening path, not the
    // drain-once one (0 ms), and its session said so.
    expect(outcome.ok && outcome.result.listenedMs).toBeGreaterThan(0);
    expect(logs.slice(before)).toContain('"message":"listening"');
    expect(outcome.ok && outcome.result.published).toBeGreaterThanOrEqual(1);
    expect(await queued()).toContain(JSON.stringify({ kind: 'exchange', codeId: id }));
  });

  it('publishes the code events/relay-rds.json announces', async () => {
    const { id } = await insertCode('relaymall');
    const outcome = await relay<{ published: number; waitedFor: unknown }>(
      withCodeIds(eventFile('relay-rds.json'), [id]),
    );
    expect(outcome).toMatchObject({
      ok: true,
      result: { published: 1, waitedFor: { codeId: id, seen: true } },
    });
    expect(await queued()).toContain(JSON.stringify({ kind: 'exchange', codeId: id }));
  });
});

describe('the refresh bundles', () => {
  let sqs: LocalSqs;

  beforeAll(async () => {
    sqs = await startLocalSqs({ region: REGION, queueName: 'bundle-refresh', dlqName: 'bundle-refresh-dlq' });
  });
  afterAll(async () => {
    await sqs?.stop();
  });

  const common = { CAFE24_CLIENT_ID: CLIENT_ID, CAFE24_REDIRECT_URI: REDIRECT_URI };
  const exchangeEnv = () => ({
    ...functionEnv('ExchangeFunction', { ...common, CAFE24_API_BASE_URL: sandbox.baseUrl }),
    ...lambdaEnv,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
  });
  const refreshEnv = () => ({
    // The stash in memory: with a bucket, every refresh looks in S3 first (no S3 here).
    ...functionEnv('RefreshFunction', {
      CAFE24_CLIENT_ID: CLIENT_ID,
      CAFE24_API_BASE_URL: sandbox.baseUrl,
      TOKEN_STASH_BUCKET: '',
    }),
    ...lambdaEnv,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
  });
  const scheduleEnv = () => ({
    ...functionEnv('RefreshScheduleFunction', { REFRESH_QUEUE_URL: sqs.queueUrl }),
    ...lambdaEnv,
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
  });

  /** The mall of events/refresh-sqs-one.json, installed through the exchange bundle, then made due. */
  async function installDue(mallId: string): Promise<void> {
    const { id } = await insertCode(mallId);
    const exchanged = await invoke<SQSBatchResponse>(
      'ExchangeFunction',
      withCodeIds(eventFile('exchange-sqs-one.json'), [id]),
      exchangeEnv(),
      75_000,
    );
    expect(exchanged).toEqual({ ok: true, result: { batchItemFailures: [] } });
    await db.pool.query(
      `update cafe24.oauth_tokens set expires_at = now() + interval '5 minutes' where mall_id = $1`,
      [mallId],
    );
  }

  it('publishes the due mall on events/refresh-schedule.json, and refreshes it on events/refresh-sqs-one.json', async () => {
    const event = eventFile('refresh-sqs-one.json') as SQSEvent;
    const mallId = (JSON.parse(event.Records[0]!.body) as { mallId: string }).mallId;
    await installDue(mallId);

    const scheduled = await invoke<{ published: number; failed: number }>(
      'RefreshScheduleFunction',
      eventFile('refresh-schedule.json'),
      scheduleEnv(),
      60_000,
    );
    expect(scheduled).toEqual({ ok: true, result: { published: 1, failed: 0, unusable: 0 } });
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    expect(Messages.map((message) => message.Body)).toEqual([event.Records[0]!.body]);

    const refreshed = await invoke<SQSBatchResponse>('RefreshFunction', event, refreshEnv(), 60_000);
    expect(refreshed).toEqual({ ok: true, result: { batchItemFailures: [] } });
    const requests = sandbox.tokenRequests({ mallId }).filter((r) => r.grantType === 'refresh_token');
    expect(requests).toHaveLength(1);
    const { rows } = await db.pool.query('select refresh_token from cafe24.oauth_tokens where mall_id = $1', [
      mallId,
    ]);
    // Stored sealed under the local KMS's key, and what Cafe24 issued once opened.
    const stored = rows[0]?.refresh_token as string;
    expect(stored).toMatch(/^enc:v1:kms-/);
    expect(
      await openedToken(
        {
          env: {
            DATABASE_URL: db.url,
            TOKEN_KMS_KEY_ID: LOCAL_KMS_ALIAS,
            AWS_ENDPOINT_URL_KMS: kms.endpoint,
          },
          pool: db.pool,
        },
        mallId,
        stored,
        'refresh_token',
      ),
    ).toBe(sandbox.issuedTokens(mallId)?.refreshToken);
    // A duplicate delivery is harmless: the mall is fresh now, nothing is sent.
    expect(await invoke<SQSBatchResponse>('RefreshFunction', event, refreshEnv(), 60_000)).toEqual({
      ok: true,
      result: { batchItemFailures: [] },
    });
    expect(sandbox.tokenRequests({ mallId }).filter((r) => r.grantType === 'refresh_token')).toHaveLength(1);
  });
});

it('logs no code, token or client secret', () => {
  expect(logs.length).toBeGreaterThan(0);
  for (const secret of [CLIENT_SECRET, ...sandbox.knownSecrets()]) expect(logs).not.toContain(secret);
});

/**
 * `sam local invoke <Function> -e events/<file> --env-vars env.json` against `npm start -- --listen
 * 0.0.0.0`, with no AWS account: each bundle with env.json's values exactly, but for what Docker's
 * `host.docker.internal` would resolve to (the local stack's ports, which a test picks freely) and the
 * database (this test's). The secrets are the sandbox's stand-ins; the tokens are sealed under the local KMS.
 */
describe('as sam local invoke runs them, against the local stack', () => {
  let stack: LocalStack;
  let samDb: TestDatabase;
  /** env.json's host.docker.internal:<the port npm start uses> → where this test's stack listens. */
  let rewrite: (value: string) => string;

  beforeAll(async () => {
    samDb = await createTestDatabase();
    stack = await startLocalStack({ databaseUrl: samDb.url, sweepIntervalMs: 60_000 });
    const at = (url: string) => new URL(url).host;
    const ports: Record<string, string> = {
      'host.docker.internal:4566': at(stack.sqs.endpoint),
      'host.docker.internal:8787': at(stack.sandbox.baseUrl.replace('{mall_id}', 'x')),
      'host.docker.internal:4599': at(stack.env.AWS_ENDPOINT_URL_KMS as string),
    };
    rewrite = (value) => value.replace(/host\.docker\.internal:\d+/g, (host) => ports[host] ?? host);
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await samDb?.drop();
  });

  /** env.json's variables for `id`, as the container would see them. */
  const samEnv = (id: string) => ({
    ...Object.fromEntries(Object.entries(envJson[id] ?? {}).map(([key, value]) => [key, rewrite(value)])),
    ...pgVariables(samDb.url),
    ...lambdaEnv,
    AWS_REGION: stack.sqs.region,
  });
  const statusOf = async (mallId: string) =>
    (await samDb.pool.query('select status from cafe24.oauth_tokens where mall_id = $1', [mallId])).rows[0]
      ?.status as string | undefined;

  it('env.json names the local stack’s queues, sandbox and KMS key', () => {
    // The same queue on the same emulator (fauxqs names its own host sqs.<region>.localhost).
    const queue = (url: string) => `${new URL(url).port}${new URL(url).pathname}`;
    expect(queue(rewrite(envJson.ExchangeFunction?.SQS_QUEUE_URL as string))).toBe(queue(stack.sqs.queueUrl));
    expect(queue(rewrite(envJson.RefreshScheduleFunction?.REFRESH_QUEUE_URL as string))).toBe(
      queue(stack.refreshQueue.queueUrl),
    );
    expect(rewrite(envJson.ExchangeFunction?.CAFE24_API_BASE_URL as string)).toBe(stack.sandbox.baseUrl);
  });

  it('each function runs on its event file: exchange, relay, refresh schedule, refresh, install', async () => {
    await stack.stopRelay(); // the bundles do the relay's and the exchange's work here
    const mall = envJson.ExchangeFunction?.CAFE24_MALL_ID as string;
    await samDb.pool.query('insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2)', [
      mall,
      stack.sandbox.issueCode(mall),
    ]);
    const exchanged = await invoke<{ status: string }>(
      'ExchangeFunction',
      eventFile('exchange-manual.json'),
      samEnv('ExchangeFunction'),
      75_000,
    );
    expect(exchanged).toMatchObject({ ok: true, result: { status: 'exchanged' } });
    expect(await statusOf(mall)).toBe('active');
    const stored = (
      await samDb.pool.query('select refresh_token from cafe24.oauth_tokens where mall_id = $1', [mall])
    ).rows[0].refresh_token as string;
    expect(stored).toMatch(/^enc:v1:kms-/);

    // The relay: a code inserted now reaches the exchange queue (the stack's runner exchanges it).
    await samDb.pool.query('insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2)', [
      'samrelaymall',
      stack.sandbox.issueCode('samrelaymall'),
    ]);
    const relayed = await invoke(
      'RelayFunction',
      eventFile('relay-scheduled.json'),
      samEnv('RelayFunction'),
      8_000,
    );
    expect(relayed).toMatchObject({ ok: true });
    await expect.poll(() => statusOf('samrelaymall'), { timeout: 15_000 }).toBe('active');

    // The schedule publishes the due mall; the refresh (its event file names the same mall) refreshes it.
    await samDb.pool.query(
      `update cafe24.oauth_tokens set expires_at = now() + interval '5 minutes' where mall_id = $1`,
      [mall],
    );
    const refreshes = () =>
      stack.sandbox.tokenRequests({ mallId: mall }).filter((r) => r.grantType === 'refresh_token');
    const before = refreshes();
    const scheduled = await invoke(
      'RefreshScheduleFunction',
      eventFile('refresh-schedule.json'),
      samEnv('RefreshScheduleFunction'),
      60_000,
    );
    expect(scheduled).toMatchObject({ ok: true });
    const refreshed = await invoke<SQSBatchResponse>(
      'RefreshFunction',
      eventFile('refresh-sqs-one.json'),
      samEnv('RefreshFunction'),
      60_000,
    );
    expect(refreshed).toEqual({ ok: true, result: { batchItemFailures: [] } });
    // Refreshed once, by this bundle or by the stack's runner that took the schedule's message first.
    expect(refreshes()).toHaveLength(before.length + 1);

    const health = await invoke<{ statusCode: number }>(
      'InstallFunction',
      eventFile('install-healthz.json'),
      samEnv('InstallFunction'),
      20_000,
    );
    expect(health).toMatchObject({ ok: true, result: { statusCode: 200 } });
  });
});
