import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cafe24Sandbox, startCafe24Sandbox } from '../local/cafe24-sandbox.ts';
import { startLocalKms } from '../local/kms.ts';
import { type LocalSqs, startLocalSqs } from '../local/sqs.ts';
import { type DoctorReport, formatReport, runDoctor } from '../src/cli/doctor.ts';
import { generateLaunchKey, loadLaunchKeys } from '../src/launch/keys.ts';
import { upsertTokens } from '../src/store/tokens.ts';
import { runCli } from './support/cli.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { type FakeSecretsManager, startFakeSecretsManager } from './support/secrets-manager.ts';
import { tokenSet } from './support/tokens.ts';

const SECRET = 'doctor-client-secret-7c41e0';
const SECRET_ARN = 'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cafe24-client-AbCdEf';
/** The launch token's signing key, and secrets holding it or something that is not a key. */
const LAUNCH_KEY = generateLaunchKey();
const LAUNCH_KEY_TEXT = JSON.stringify(LAUNCH_KEY);
const LAUNCH_ARN = 'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cafe24-launch-key-AbCdEf';
const NOT_A_KEY_ARN = 'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cafe24-launch-bad-AbCdEf';
const NOT_A_KEY = 'launch-secret-not-a-key-5d2e91';

let db: TestDatabase;
let sqs: LocalSqs;
let sandbox: Cafe24Sandbox;
let secrets: FakeSecretsManager;
let env: Record<string, string>;
let refreshQueueUrl: string;

beforeAll(async () => {
  [db, sqs, sandbox, secrets] = await Promise.all([
    createTestDatabase(),
    startLocalSqs({ region: 'ap-northeast-2', queueName: 'doctor-exchange', dlqName: 'doctor-exchange-dlq' }),
    startCafe24Sandbox({
      clientId: 'doctor-client',
      clientSecret: SECRET,
      redirectUri: 'https://app.example.com/callback',
    }),
    startFakeSecretsManager({
      [SECRET_ARN]: JSON.stringify({ client_secret: SECRET }),
      [LAUNCH_ARN]: `${LAUNCH_KEY_TEXT}\n`,
      [NOT_A_KEY_ARN]: NOT_A_KEY,
    }),
  ]);
  // The refresh queue, as the stack has it beside the exchange queue.
  refreshQueueUrl = (await sqs.client.send(new CreateQueueCommand({ QueueName: 'doctor-refresh' })))
    .QueueUrl as string;
  env = {
    DATABASE_URL: db.url,
    CAFE24_MALL_ID: 'doctormall',
    CAFE24_CLIENT_ID: 'doctor-client',
    CAFE24_CLIENT_SECRET_ARN: SECRET_ARN,
    CAFE24_REDIRECT_URI: 'https://app.example.com/callback',
    CAFE24_API_BASE_URL: sandbox.baseUrl,
    CAFE24_SCOPES: 'mall.read_order',
    CAFE24_CONNECT_TIMEOUT_MS: '500',
    SQS_QUEUE_URL: sqs.queueUrl,
    SQS_DLQ_URL: sqs.dlqUrl,
    REFRESH_QUEUE_URL: refreshQueueUrl,
    AWS_REGION: 'ap-northeast-2',
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
  };
});
afterAll(async () => {
  await Promise.all([db?.drop(), sqs?.stop(), sandbox?.stop(), secrets?.stop()]);
});

const failed = (report: DoctorReport) => report.checks.filter((check) => !check.ok);
const find = (report: DoctorReport, name: string) => report.checks.find((check) => check.check === name);

describe('cafe24-tokens doctor', () => {
  it('passes against the local stack, and says which commands are fully configured', async () => {
    const report = await runDoctor({ source: env });
    expect(failed(report)).toEqual([]);
    expect(report.ok).toBe(true);
    for (const command of [
      'exchange',
      'refresh',
      'refreshSchedule',
      'relay',
      'migrate',
      'status',
      'redrive',
      'install',
    ])
      expect(find(report, `config ${command}`), command).toMatchObject({
        ok: true,
        detail: 'fully configured',
      });
    expect(find(report, 'database')?.detail).toMatch(/^PostgreSQL 17/);
    expect(find(report, 'migrations')?.detail).toMatch(/^\d+ applied, none pending$/);
    expect(find(report, 'SQS_QUEUE_URL')?.detail).toMatch(/exchange queue reachable/);
    expect(find(report, 'SQS_DLQ_URL')?.detail).toMatch(/dead-letter queue reachable/);
    expect(find(report, 'REFRESH_QUEUE_URL')?.detail).toMatch(/refresh queue reachable/);
    expect(find(report, 'client secret')?.detail).toMatch(/readable from Secrets Manager/);
    expect(secrets.requests).toContain(SECRET_ARN);
    expect(find(report, 'Cafe24 route')?.detail).toMatch(/^TCP to 127\.0\.0\.1:\d+ in \d+ ms$/);
    expect(find(report, 'Cafe24 token endpoint')?.detail).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/doctormall\/api\/v2\/oauth\/token answered 401 invalid_client to a request without credentials: an OAuth error, as Cafe24's \(\d+ ms\)$/,
    );
    // The probe spent nothing: no code, and refused before any refresh token could be looked at.
    expect(sandbox.tokenRequests({ mallId: 'doctormall' }).at(-1)).toMatchObject({
      method: 'POST',
      grantType: 'refresh_token',
      code: undefined,
      status: 401,
    });
    // AWS_ENDPOINT_URL_SQS names the local emulator: the local stack keeps its stash in memory by design.
    expect(find(report, 'TOKEN_STASH_BUCKET')).toBeUndefined();
    expect(JSON.stringify(report)).not.toContain(SECRET);
  });

  it('the command: ✓ lines, exit 0; --json parses; the secret never printed', async () => {
    const text = await cli(['doctor'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('✓ config exchange');
    expect(text.stdout).toContain('All checks passed.');
    const json = await cli(['doctor', '--json'], env);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as DoctorReport).ok).toBe(true);
    for (const output of [text.stdout, text.stderr, json.stdout, json.stderr])
      expect(output).not.toContain(SECRET);
  });

  it('names each problem of a broken configuration, with a fix, and exits 1', async () => {
    // Takes the TCP connection and never answers the TLS handshake: from the client's side, the same
    // silence as a private subnet without a NAT gateway (whose SYN is never answered).
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      await brokenChecks(`https://127.0.0.1:${silentPort}`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  async function brokenChecks(cafe24Url: string) {
    const broken = {
      ...env,
      // Nothing listens on port 1.
      DATABASE_URL: db.url.replace(/:(\d+)\//, ':1/'),
      SQS_DLQ_URL: `${sqs.endpoint}/000000000000/no-such-queue`,
      CAFE24_API_BASE_URL: cafe24Url,
      CAFE24_SCOPES: '',
    };
    const report = await runDoctor({ source: broken });
    expect(report.ok).toBe(false);
    const names = failed(report).map((check) => check.check);
    expect(names).toEqual(
      expect.arrayContaining(['config install', 'database', 'SQS_DLQ_URL', 'Cafe24 route']),
    );
    expect(find(report, 'config install')?.detail).toContain('CAFE24_SCOPES');
    expect(find(report, 'config exchange')?.ok).toBe(true);
    expect(find(report, 'database')?.fix).toMatch(/PGPORT/);
    expect(find(report, 'SQS_DLQ_URL')?.fix).toMatch(/no such queue/);
    expect(find(report, 'SQS_QUEUE_URL')?.ok).toBe(true);
    expect(find(report, 'Cafe24 route')?.fix).toMatch(/NAT gateway/);
    const text = formatReport(report);
    expect(text).toMatch(/✗ database/);
    expect(text).toMatch(/fix: .*NAT gateway/);

    const exit = await cli(['doctor'], broken);
    expect(exit.code).toBe(1);
    expect(exit.stdout).toMatch(/check\(s\) failed/);
  }

  it('fails the token endpoint when a mere open port answers 404 text/html, though TCP reaches it', async () => {
    const fake = await startFakeEndpoint(
      404,
      'text/html',
      '<html><body>Not Found: secret-page-body</body></html>',
    );
    try {
      const report = await runDoctor({ source: { ...env, CAFE24_API_BASE_URL: fake.baseUrl } });
      expect(find(report, 'Cafe24 route')).toMatchObject({ ok: true });
      expect(find(report, 'Cafe24 token endpoint')).toEqual({
        check: 'Cafe24 token endpoint',
        ok: false,
        detail: `${fake.origin}/doctormall/api/v2/oauth/token answered 404 text/html to a request without credentials: not an OAuth error`,
        fix: 'check CAFE24_API_BASE_URL: it must be https://{mall_id}.cafe24api.com, or a sandbox that answers as Cafe24 does',
      });
      expect(report.ok).toBe(false);
      expect(JSON.stringify(report)).not.toContain('secret-page-body');
      // Deliberately invalid and anonymous: nothing secret travels, nothing can be consumed.
      expect(fake.requests).toEqual([
        {
          method: 'POST',
          url: '/doctormall/api/v2/oauth/token',
          authorization: undefined,
          contentType: 'application/x-www-form-urlencoded',
          body: 'grant_type=refresh_token',
        },
      ]);
    } finally {
      await fake.stop();
    }
  });

  it('fails the token endpoint on JSON that is not an OAuth error, and on the sandbox at a wrong path', async () => {
    const fake = await startFakeEndpoint(403, 'application/json; charset=utf-8', '{"message":"not found"}');
    try {
      const report = await runDoctor({ source: { ...env, CAFE24_API_BASE_URL: fake.baseUrl } });
      expect(find(report, 'Cafe24 token endpoint')).toMatchObject({
        ok: false,
        detail: expect.stringMatching(
          /answered 403 application\/json to a request without credentials: not an OAuth error$/,
        ),
        fix: expect.stringMatching(/^check CAFE24_API_BASE_URL/),
      });
      expect(JSON.stringify(report)).not.toContain('not found');
    } finally {
      await fake.stop();
    }
    // The sandbox's origin without /{mall_id}: its port is open, but that path is no token endpoint.
    const wrongPath = await runDoctor({ source: { ...env, CAFE24_API_BASE_URL: sandbox.origin } });
    expect(find(wrongPath, 'Cafe24 route')).toMatchObject({ ok: true });
    expect(find(wrongPath, 'Cafe24 token endpoint')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(
        /answered 404 application\/json to a request without credentials: not an OAuth error$/,
      ),
    });
  });

  it('warns, without failing, when TOKEN_STASH_BUCKET is unset outside the local stack', async () => {
    // Deployed: no local SQS endpoint (and no queues here, so nothing asks AWS itself).
    const {
      AWS_ENDPOINT_URL_SQS: _endpoint,
      SQS_QUEUE_URL: _queue,
      SQS_DLQ_URL: _dlq,
      REFRESH_QUEUE_URL: _refresh,
      ...deployed
    } = env;
    const report = await runDoctor({ source: deployed, commands: ['refresh'] });
    const warning = find(report, 'TOKEN_STASH_BUCKET');
    expect(warning).toEqual({
      check: 'TOKEN_STASH_BUCKET',
      ok: true,
      warning: true,
      // What is at stake, and what to set where.
      detail: expect.stringMatching(/^unset: .*only in this process's memory.*the mall is lost\)$/),
      fix: expect.stringMatching(/every process that can refresh.*TokenStashBucket$/),
    });
    expect(failed(report).map((check) => check.check)).not.toContain('TOKEN_STASH_BUCKET');
    const text = formatReport(report);
    expect(text).toContain(`! TOKEN_STASH_BUCKET`);
    expect(text).toMatch(/^ +fix: set it in every process that can refresh/m);
    // The others: no sealing key (the section on sealing below), and the test's superuser connection.
    expect(text).toMatch(/3 warnings\.\n$/);

    const withBucket = await runDoctor({
      source: { ...deployed, TOKEN_STASH_BUCKET: 'cafe24-token-stash' },
      commands: ['refresh'],
    });
    expect(find(withBucket, 'TOKEN_STASH_BUCKET')).toBeUndefined();
    // Only a process that refreshes or exchanges stashes anything.
    const relayOnly = await runDoctor({ source: deployed, commands: ['relay'] });
    expect(find(relayOnly, 'TOKEN_STASH_BUCKET')).toBeUndefined();
    const local = await runDoctor({ source: env, commands: ['refresh'] });
    expect(find(local, 'TOKEN_STASH_BUCKET')).toBeUndefined();
  });

  it('says a misspelt variable once, with what was meant, and each problem once', async () => {
    const { DATABASE_URL: url, ...rest } = env;
    const misspelt = { ...rest, DATABSE_URL: url as string };
    const report = await runDoctor({ source: misspelt });
    expect(find(report, 'environment')).toMatchObject({
      ok: true,
      warning: true,
      detail: 'DATABSE_URL is not a known variable: did you mean DATABASE_URL?',
    });
    const { stdout } = await cli(['doctor'], misspelt);
    const count = (text: string) => stdout.split(text).length - 1;
    expect(count('did you mean DATABASE_URL?')).toBe(1);
    // Every command that needs the database has the one problem: one line names them all.
    expect(count('PGHOST is required (or set DATABASE_URL)')).toBe(1);
    expect(stdout).toMatch(
      /^✗ config exchange, refresh, .*install {2}PGHOST is required \(or set DATABASE_URL\)$/m,
    );
    expect(count('fix: set the variables named')).toBe(1);
    expect(stdout).toMatch(/^✓ config redrive +fully configured$/m);
    expect(stdout).not.toContain(url);
  });

  it('points a local queue without AWS_ENDPOINT_URL_SQS at that variable, not at AWS credentials', async () => {
    const { AWS_ENDPOINT_URL_SQS: _, ...withoutEndpoint } = env;
    const report = await runDoctor({ source: withoutEndpoint, commands: ['relay'] });
    const queue = find(report, 'SQS_QUEUE_URL');
    expect(queue).toMatchObject({ ok: false, fix: expect.stringContaining('AWS_ENDPOINT_URL_SQS') });
    expect(queue?.fix).toContain(sqs.endpoint.replace(/\/$/, ''));
    expect(queue?.fix).not.toMatch(/AWS_PROFILE/);
  });

  it('names a missing secret and pending migrations', async () => {
    const fresh = await createTestDatabase({ template: 'template0' });
    try {
      const report = await runDoctor({
        source: { ...env, DATABASE_URL: fresh.url, CAFE24_CLIENT_SECRET_ARN: `${SECRET_ARN}-gone` },
        commands: ['exchange'],
      });
      expect(find(report, 'migrations')).toMatchObject({ ok: false, fix: expect.stringMatching(/migrate/) });
      expect(find(report, 'migrations')?.detail).toMatch(/001_schema/);
      expect(find(report, 'client secret')).toMatchObject({
        ok: false,
        fix: expect.stringMatching(/no such secret/),
      });
      expect(report.checks.filter((check) => check.check.startsWith('config '))).toHaveLength(1);
    } finally {
      await fresh.drop();
    }
  });
});

describe('cafe24-tokens doctor: the launch hand-off', () => {
  const launchKey = loadLaunchKeys(LAUNCH_KEY_TEXT);
  /** The install front's configuration with a hand-off, its front (the JWKS) at `origin`. */
  const handingOff = (origin: string, key: Record<string, string>) => ({
    ...env,
    CAFE24_REDIRECT_URI: `${origin}/callback`,
    APP_RETURN_URL: 'http://localhost:4000/app',
    ...key,
  });
  const install = (source: Record<string, string>) => runDoctor({ source, commands: ['install'] });
  const launchChecks = (report: DoctorReport) =>
    report.checks.filter((check) => check.check.startsWith('launch '));

  it('without APP_RETURN_URL says the front shows its own pages, and what to set for a hand-off', async () => {
    const report = await install(env);
    expect(launchChecks(report)).toEqual([
      {
        check: 'launch hand-off',
        ok: true,
        detail: expect.stringMatching(
          /^APP_RETURN_URL unset: the install front shows its own pages .*set APP_RETURN_URL \(and a signing key.*signed launch token$/,
        ),
      },
    ]);
    expect(formatReport(report)).toMatch(/^✓ launch hand-off +APP_RETURN_URL unset/m);
    // Only a process that serves the front is asked about it.
    const exchange = await runDoctor({ source: env, commands: ['exchange'] });
    expect(launchChecks(exchange)).toEqual([]);
  });

  it('a good LAUNCH_SIGNING_KEY: loads (its kid, how many keys), and the front serves it', async () => {
    const front = await startJwksServer(200, launchKey.jwks);
    try {
      const report = await install(handingOff(front.origin, { LAUNCH_SIGNING_KEY: LAUNCH_KEY_TEXT }));
      expect(find(report, 'config install')).toMatchObject({ ok: true });
      expect(find(report, 'launch hand-off')).toBeUndefined();
      expect(find(report, 'launch signing key')).toEqual({
        check: 'launch signing key',
        ok: true,
        detail: `LAUNCH_SIGNING_KEY loads: kid ${launchKey.kid} signs; the JWKS serves 1 key`,
      });
      expect(find(report, 'launch JWKS')).toEqual({
        check: 'launch JWKS',
        ok: true,
        detail: `${front.origin}/.well-known/jwks.json serves kid ${launchKey.kid}, the configured signing key (1 key served)`,
      });
      expect(front.requests).toEqual(['/.well-known/jwks.json']);
      expect(JSON.stringify(report)).not.toContain(LAUNCH_KEY.d);
    } finally {
      await front.stop();
    }
  });

  it('a rotation (a JWK Set): the new key signs, both are served', async () => {
    const retiring = generateLaunchKey();
    const set = JSON.stringify({ keys: [LAUNCH_KEY, retiring] });
    const front = await startJwksServer(200, loadLaunchKeys(set).jwks);
    try {
      const report = await install(handingOff(front.origin, { LAUNCH_SIGNING_KEY: set }));
      expect(find(report, 'launch signing key')?.detail).toBe(
        `LAUNCH_SIGNING_KEY loads: kid ${launchKey.kid} signs; the JWKS serves 2 keys (a rotation)`,
      );
      expect(find(report, 'launch JWKS')).toMatchObject({
        ok: true,
        detail: expect.stringContaining('(2 keys served)'),
      });
      expect(JSON.stringify(report)).not.toContain(retiring.d);
    } finally {
      await front.stop();
    }
  });

  it('a broken LAUNCH_SIGNING_KEY: the problem named, never the value, and exit 1', async () => {
    const front = await startJwksServer(200, launchKey.jwks);
    try {
      const garbage = 'broken-launch-key-value-93ab17';
      const report = await install(handingOff(front.origin, { LAUNCH_SIGNING_KEY: garbage }));
      expect(find(report, 'launch signing key')).toEqual({
        check: 'launch signing key',
        ok: false,
        detail: expect.stringMatching(/^LAUNCH_SIGNING_KEY is neither a PKCS#8 PEM nor JSON/),
        fix: expect.stringContaining('cafe24-tokens launch-key --out launch-key.json'),
      });
      // Nothing to compare the front against.
      expect(find(report, 'launch JWKS')).toBeUndefined();
      expect(front.requests).toEqual([]);
      expect(report.ok).toBe(false);
      expect(JSON.stringify(report)).not.toContain(garbage);

      // A JWK copied short: its private part is absent from everything printed.
      const short = JSON.stringify({ ...LAUNCH_KEY, d: (LAUNCH_KEY.d as string).slice(0, -6) });
      const cut = await install(handingOff(front.origin, { LAUNCH_SIGNING_KEY: short }));
      expect(find(cut, 'launch signing key')).toMatchObject({
        ok: false,
        detail: `LAUNCH_SIGNING_KEY's private part ("d") does not belong to its public part (x, y)`,
      });
      const exit = await cli(
        ['doctor', '--for', 'install'],
        handingOff(front.origin, { LAUNCH_SIGNING_KEY: short }),
      );
      expect(exit.code).toBe(1);
      expect(exit.stdout).toMatch(
        /^✗ launch signing key +LAUNCH_SIGNING_KEY's private part \("d"\) does not belong/m,
      );
      for (const output of [exit.stdout, exit.stderr, JSON.stringify(cut)]) {
        expect(output).not.toContain((LAUNCH_KEY.d as string).slice(0, 12));
        expect(output).not.toContain(short);
      }
    } finally {
      await front.stop();
    }
  });

  it('APP_RETURN_URL without a key fails, as the front would refuse to start', async () => {
    const report = await install(handingOff('https://app.example.com', {}));
    expect(find(report, 'launch signing key')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/^not configured: APP_RETURN_URL is set/),
      fix: expect.stringContaining('LAUNCH_SIGNING_KEY_ARN'),
    });
  });

  it('LAUNCH_SIGNING_KEY_ARN: read through Secrets Manager and loaded; a missing secret and one that is not a key fail', async () => {
    const front = await startJwksServer(200, launchKey.jwks);
    try {
      const report = await install(handingOff(front.origin, { LAUNCH_SIGNING_KEY_ARN: LAUNCH_ARN }));
      expect(secrets.requests).toContain(LAUNCH_ARN);
      expect(find(report, 'launch signing key')).toEqual({
        check: 'launch signing key',
        ok: true,
        detail: `readable from Secrets Manager, ${LAUNCH_ARN}: kid ${launchKey.kid} signs; the JWKS serves 1 key`,
      });
      expect(find(report, 'launch JWKS')).toMatchObject({ ok: true });
      expect(JSON.stringify(report)).not.toContain(LAUNCH_KEY.d);

      const gone = await install(handingOff(front.origin, { LAUNCH_SIGNING_KEY_ARN: `${LAUNCH_ARN}-gone` }));
      expect(find(gone, 'launch signing key')).toMatchObject({
        ok: false,
        detail: expect.stringContaining(`${LAUNCH_ARN}-gone: `),
        fix: expect.stringMatching(/^no such secret: check LAUNCH_SIGNING_KEY_ARN/),
      });
      expect(find(gone, 'launch JWKS')).toBeUndefined();

      const notAKey = await install(handingOff(front.origin, { LAUNCH_SIGNING_KEY_ARN: NOT_A_KEY_ARN }));
      expect(find(notAKey, 'launch signing key')).toMatchObject({
        ok: false,
        detail: `${NOT_A_KEY_ARN}: LAUNCH_SIGNING_KEY_ARN's secret is neither a PKCS#8 PEM nor JSON (a private JWK or a JWK Set); make one with: cafe24-tokens launch-key`,
        fix: expect.stringMatching(/^the secret's whole text must be the key/),
      });
      expect(JSON.stringify(notAKey)).not.toContain(NOT_A_KEY);
    } finally {
      await front.stop();
    }
  });

  it('fails when the deployed front serves other keys than the configured one', async () => {
    const other = loadLaunchKeys(JSON.stringify(generateLaunchKey()));
    const front = await startJwksServer(200, other.jwks);
    try {
      const report = await install(handingOff(front.origin, { LAUNCH_SIGNING_KEY: LAUNCH_KEY_TEXT }));
      expect(find(report, 'launch signing key')).toMatchObject({ ok: true });
      expect(find(report, 'launch JWKS')).toEqual({
        check: 'launch JWKS',
        ok: false,
        detail: `${front.origin}/.well-known/jwks.json serves kid ${other.kid}, not kid ${launchKey.kid}: the deployed front serves other keys than the configured one, so the app cannot verify what this key signs`,
        fix: expect.stringContaining('deploy the configured key'),
      });
      expect(report.ok).toBe(false);
      expect(formatReport(report)).toMatch(/^✗ launch JWKS +/m);
    } finally {
      await front.stop();
    }
    // The same kid over another public key is no match either.
    const impostor = await startJwksServer(200, {
      keys: [{ ...other.jwks.keys[0], kid: launchKey.kid }],
    });
    try {
      const report = await install(handingOff(impostor.origin, { LAUNCH_SIGNING_KEY: LAUNCH_KEY_TEXT }));
      expect(find(report, 'launch JWKS')).toMatchObject({
        ok: false,
        detail: expect.stringContaining(
          `serves kid ${launchKey.kid} with another public key than the configured one`,
        ),
      });
    } finally {
      await impostor.stop();
    }
    // A front without APP_RETURN_URL answers 404 there.
    const bare = await startJwksServer(404, { error: 'not found' });
    try {
      const report = await install(handingOff(bare.origin, { LAUNCH_SIGNING_KEY: LAUNCH_KEY_TEXT }));
      expect(find(report, 'launch JWKS')).toMatchObject({
        ok: false,
        detail: expect.stringMatching(/answered 404: the deployed front serves no launch keys/),
      });
    } finally {
      await bare.stop();
    }
  });

  it('only warns when the front cannot be reached from here', async () => {
    // A port that was just free: nothing listens there.
    const closed = await startJwksServer(200, launchKey.jwks);
    await closed.stop();
    const report = await install(handingOff(closed.origin, { LAUNCH_SIGNING_KEY: LAUNCH_KEY_TEXT }));
    expect(find(report, 'launch JWKS')).toEqual({
      check: 'launch JWKS',
      ok: true,
      warning: true,
      detail: expect.stringMatching(
        new RegExp(
          `^${closed.origin.replace(/\./g, '\\.')}/\\.well-known/jwks\\.json: no answer \\(.*ECONNREFUSED.*\\), so whether the deployed front serves kid .* is not known$`,
        ),
      ),
      fix: expect.stringContaining('InstallEndpoint'),
    });
    expect(failed(report).map((check) => check.check)).not.toContain('launch JWKS');
    expect(formatReport(report)).toMatch(/^! launch JWKS/m);
  });
});

/** The install front's JWKS route, as a tiny server: every request gets `body`. */
async function startJwksServer(status: number, body: unknown) {
  const requests: string[] = [];
  const server = createHttpServer((req, res) => {
    requests.push(req.url ?? '');
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

type FakeRequest = {
  method: string | undefined;
  url: string | undefined;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
};

/** Something at CAFE24_API_BASE_URL that is not Cafe24: it answers every request alike. */
async function startFakeEndpoint(status: number, contentType: string, body: string) {
  const requests: FakeRequest[] = [];
  const record = (method: string | undefined, url: string | undefined, headers: IncomingHttpHeaders) => ({
    method,
    url,
    authorization: headers.authorization,
    contentType: headers['content-type'],
  });
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ ...record(req.method, req.url, req.headers), body: Buffer.concat(chunks).toString() });
      res.writeHead(status, { 'content-type': contentType }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    origin,
    baseUrl: `${origin}/{mall_id}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const cli = (args: string[], variables: Record<string, string>) =>
  runCli(args, { POWERTOOLS_LOG_LEVEL: 'ERROR', ...variables });

describe('cafe24-tokens doctor: tokens sealed at rest', () => {
  it('warns that tokens are in plaintext when no key is set, and counts the rows', async () => {
    const client = await db.pool.connect();
    try {
      await upsertTokens(
        client,
        'doctorplain',
        tokenSet({ access: 'doc-a', refresh: 'doc-r', mallId: 'doctorplain' }),
        null,
      );
    } finally {
      client.release();
    }
    const report = await runDoctor({ source: env });
    expect(find(report, 'token sealing')).toMatchObject({
      ok: true,
      warning: true,
      detail: expect.stringMatching(/^off: tokens are stored in plaintext \(0 of 1 token row\(s\) sealed\)/),
      fix: expect.stringContaining('TOKEN_KMS_KEY_ID'),
    });
    expect(find(report, 'TOKEN_KMS_KEY_ID')).toBeUndefined();
  });

  it('under KMS: the key there and enabled, the data key opened, the plaintext rows counted; never a key', async (t) => {
    const kms = await startLocalKms();
    t.onTestFinished(() => kms.stop());
    const sealed = { ...env, TOKEN_KMS_KEY_ID: kms.keyArn, AWS_ENDPOINT_URL_KMS: kms.endpoint };
    let report = await runDoctor({ source: sealed, commands: ['refresh'] });
    expect(find(report, 'TOKEN_KMS_KEY_ID')).toMatchObject({ ok: true, detail: `${kms.keyArn}, enabled` });
    expect(find(report, 'token data key')?.detail).toMatch(/^none yet: the first exchange makes one/);
    expect(find(report, 'token sealing')).toMatchObject({
      ok: true,
      warning: true,
      detail: 'under KMS: 0 of 1 token row(s) sealed, 1 still in plaintext',
      fix: expect.stringContaining('cafe24-tokens encrypt'),
    });

    const ran = await runCli(['encrypt'], {
      DATABASE_URL: db.url,
      TOKEN_KMS_KEY_ID: kms.keyArn,
      AWS_ENDPOINT_URL_KMS: kms.endpoint,
    });
    expect(ran.code).toBe(0);
    report = await runDoctor({ source: sealed, commands: ['refresh'] });
    expect(report.ok).toBe(true);
    const dataKey = find(report, 'token data key')!;
    expect(dataKey).toMatchObject({
      ok: true,
      detail: expect.stringMatching(new RegExp(`^kms-[A-Za-z0-9_-]{16} current, opened with ${kms.keyArn}$`)),
    });
    expect(find(report, 'token sealing')).toEqual({
      check: 'token sealing',
      ok: true,
      detail: 'under KMS: 1 of 1 token row(s) sealed',
    });
    const { rows } = await db.pool.query('select wrapped from cafe24.token_data_keys');
    for (const encoding of ['base64', 'hex'] as const) {
      expect(JSON.stringify(report)).not.toContain((rows[0].wrapped as Buffer).toString(encoding));
    }

    kms.disable(kms.keyId);
    report = await runDoctor({ source: sealed, commands: ['refresh'] });
    expect(find(report, 'TOKEN_KMS_KEY_ID')).toMatchObject({
      ok: false,
      detail: `${kms.keyArn} is disabled (or pending deletion): no token can be sealed or opened`,
    });
    kms.enable(kms.keyId);
    kms.deny(true);
    report = await runDoctor({ source: sealed, commands: ['refresh'] });
    expect(find(report, 'TOKEN_KMS_KEY_ID')).toMatchObject({
      ok: false,
      detail: expect.stringContaining('AccessDeniedException'),
      fix: expect.stringContaining('key policy'),
    });
    kms.deny(false);
    report = await runDoctor({
      source: { ...sealed, TOKEN_KMS_KEY_ID: 'alias/not-there' },
      commands: ['refresh'],
    });
    expect(find(report, 'TOKEN_KMS_KEY_ID')).toMatchObject({
      ok: false,
      fix: expect.stringContaining('no such key'),
    });
  });
});
