/**
 * The built install bundle run as Lambda runs it behind the HTTP API: a fresh Node process per request,
 * env.json's variables (pointed at this test's PostgreSQL 17, SQS emulator and a stand-in Secrets
 * Manager), payload v2 events. Shows that `hono/aws-lambda` hands the launch's raw query through intact
 * (a Korean user_name with %20 verifies) and that the cookie survives the v2 `cookies` fields.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { type LocalSqs, startLocalSqs } from '../local/sqs.ts';
import { buildFunctions, type FunctionBundle } from '../scripts/build.ts';
import { createTestDatabase, pgVariables, type TestDatabase } from './support/db.ts';
import { launchQueryFor, signLaunch } from './support/launch.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from './support/secrets-manager.ts';
import { receiveAll } from './support/sqs.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const declared = (
  JSON.parse(readFileSync(join(root, 'env.json'), 'utf8')) as Record<string, Record<string, string>>
).InstallFunction as Record<string, string>;
const baseEvent = JSON.parse(
  readFileSync(join(root, 'events', 'install-healthz.json'), 'utf8'),
) as APIGatewayProxyEventV2;
const CLIENT_SECRET = 'install-bundle-secret-81c2';
const REDIRECT_URI = 'https://install.example.com/cafe24/callback';
const REGION = 'ap-northeast-2';

const RUNNER = `
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
const [bundle, eventFile, resultFile] = process.argv.slice(1);
const { handler } = await import(pathToFileURL(bundle).href);
const result = await handler(JSON.parse(await readFile(eventFile, 'utf8')), { awsRequestId: 'local', getRemainingTimeInMillis: () => 20000 });
await writeFile(resultFile, JSON.stringify(result));
process.exit(0);
`;

const SECRET_ARN =
  'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cafe24-token-issuer/client-secret-AbCdEf';
let workdir: string;
let bundle: FunctionBundle;
let db: TestDatabase;
let sqs: LocalSqs;
let secrets: FakeSecretsManager;
let invocations = 0;

beforeAll(async () => {
  await mkdir(join(root, '.local'), { recursive: true });
  workdir = await mkdtemp(join(root, '.local', 'install-bundle-test-'));
  [[bundle], db, sqs, secrets] = (await Promise.all([
    buildFunctions({ outdir: join(workdir, 'dist'), only: ['InstallFunction'] }),
    createTestDatabase(),
    startLocalSqs({ region: REGION }),
    startFakeSecretsManager({ [SECRET_ARN]: CLIENT_SECRET }),
  ])) as [[FunctionBundle], TestDatabase, LocalSqs, FakeSecretsManager];
});

afterAll(async () => {
  await secrets?.stop();
  await sqs?.stop();
  await db?.drop();
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

function lambdaEnv(): Record<string, string> {
  return {
    ...declared,
    ...pgVariables(db.url),
    // As deployed: the client secret read from Secrets Manager by its ARN (env.json has the local value).
    CAFE24_CLIENT_SECRET: '',
    CAFE24_CLIENT_SECRET_ARN: SECRET_ARN,
    CAFE24_REDIRECT_URI: REDIRECT_URI,
    CAFE24_API_BASE_URL: 'https://{mall_id}.cafe24api.com',
    SQS_QUEUE_URL: sqs.queueUrl,
    // What Lambda sets, and where the bundled SDK finds the emulators here.
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    TZ: 'UTC',
    PATH: process.env.PATH ?? '',
  };
}

async function invoke(
  path: string,
  rawQueryString: string,
  cookies?: string[],
): Promise<APIGatewayProxyStructuredResultV2> {
  const id = ++invocations;
  const event: APIGatewayProxyEventV2 = {
    ...baseEvent,
    rawPath: path,
    rawQueryString,
    ...(cookies ? { cookies } : {}),
    requestContext: { ...baseEvent.requestContext, http: { ...baseEvent.requestContext.http, path } },
  };
  const eventFile = join(workdir, `event-${id}.json`);
  const resultFile = join(workdir, `result-${id}.json`);
  await writeFile(eventFile, JSON.stringify(event));
  await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', RUNNER, bundle.outfile, eventFile, resultFile],
    { env: lambdaEnv(), cwd: workdir, timeout: 30_000 },
  );
  return JSON.parse(await readFile(resultFile, 'utf8')) as APIGatewayProxyStructuredResultV2;
}

it('carries neither the token client nor undici', () => {
  const inputs = Object.keys(bundle.metafile.inputs);
  expect(inputs.some((input) => input.endsWith('src/install/app.ts'))).toBe(true);
  expect(inputs.filter((input) => /token-client|undici/.test(input))).toEqual([]);
});

it('answers events/install-healthz.json', async () => {
  const result = await invoke('/healthz', '');
  expect(result.statusCode).toBe(200);
  expect(JSON.parse(result.body ?? '')).toEqual({ status: 'ok' });
});

it('verifies a launch from rawQueryString, sets the cookie, and stores the callback’s code and publishes it', async () => {
  const launch = await invoke(
    '/install',
    launchQueryFor(CLIENT_SECRET, { mall_id: 'bundlemall', user_name: '김 대표' }),
  );
  expect(launch.statusCode).toBe(302);
  const location = new URL(String(launch.headers?.location));
  expect(location.origin).toBe('https://bundlemall.cafe24api.com');
  const state = location.searchParams.get('state') ?? '';
  const cookie = launch.cookies?.[0] ?? '';
  expect(cookie).toMatch(
    /^__Host-cafe24_install=[A-Za-z0-9_-]{43}; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
  );

  // The exchange's outcome, as the exchange function would record it, arriving while the callback waits.
  const outcome = vi.waitFor(
    async () => {
      const { rowCount } = await db.pool.query(
        `update cafe24.oauth_authorization_codes set status = 'failed', last_error = 'invalid_grant: Code time expired'
          where mall_id = 'bundlemall' and status = 'pending'`,
      );
      expect(rowCount, 'the stored code').toBeGreaterThan(0);
    },
    { timeout: 15_000, interval: 20 },
  );
  const callback = await invoke(
    '/cafe24/callback',
    new URLSearchParams({ code: 'bundle-code-1', state }).toString(),
    [cookie.split(';')[0] as string],
  );
  await outcome;
  expect(callback.statusCode).toBe(502);
  expect(callback.body).toContain('Code time expired');
  const messages = await receiveAll(sqs.client, sqs.queueUrl);
  const { rows } = await db.pool.query(
    "select id::text from cafe24.oauth_authorization_codes where mall_id = 'bundlemall'",
  );
  expect(messages.map((m) => JSON.parse(m.Body ?? ''))).toEqual([{ kind: 'exchange', codeId: rows[0].id }]);
});

it('refuses a launch whose raw query was re-encoded on the way (a space as +)', async () => {
  const message = `mall_id=bundlemall&timestamp=${Math.floor(Date.now() / 1000)}&user_name=${encodeURIComponent('김 대표')}`;
  const signed = signLaunch(message, CLIENT_SECRET);
  const result = await invoke('/install', new URLSearchParams(signed).toString());
  expect(result.statusCode).toBe(400);
  expect(result.cookies ?? []).toEqual([]);
});
