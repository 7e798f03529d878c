import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Ajv } from 'ajv';
import formats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { DEPLOYED, DEPLOYED_REFRESH, LOCAL_APP, LOCAL_KMS_ALIAS } from '../local/stack.ts';
import {
  deployedSettings,
  functionEnvironment,
  functionProperty,
  parseTemplate,
  type Resource,
  readTemplate,
  serverlessFunctions,
  type Template,
} from '../scripts/template.ts';
import { TOKEN_DATA_KEY_CONTEXT } from '../src/aws/kms.ts';
import { METRIC, METRICS_NAMESPACE, METRICS_SERVICE } from '../src/commons/metrics.ts';
import { Secret } from '../src/commons/secret.ts';
import { type Command, commands, INSTALL_RESERVED_PATHS, loadConfig, variablesOf } from '../src/config.ts';
import { LISTEN_MARGIN_MS } from '../src/handlers/relay.ts';
import { DERIVED_CALLBACK_PATH } from '../src/install/install.ts';
import { parseMessageBody } from '../src/queue/messages.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const samSchemaPath = join(root, '..', 'shared', 'vendor', 'sam.schema.json');
const template = await readTemplate(join(root, 'template.yaml'));
/** The template's Rules section (scripts/template.ts's Template does not type it). */
const rules = ((template as { Rules?: Record<string, unknown> }).Rules ?? {}) as Record<string, unknown>;
const envJson = JSON.parse(readFileSync(join(root, 'env.json'), 'utf8')) as Record<
  string,
  Record<string, unknown>
>;

type Props = Record<string, unknown>;
type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

const resource = (logicalId: string): Resource => {
  const found = template.Resources[logicalId];
  if (!found) throw new Error(`template.yaml has no ${logicalId}`);
  return found;
};
const props = (logicalId: string) => (resource(logicalId).Properties ?? {}) as Props;
const globals = (template.Globals?.Function ?? {}) as Props;
const functionIds = serverlessFunctions(template).map(([id]) => id);
const ref = (name: string) => ({ Ref: name });
const getAtt = (logicalId: string, attribute: string) => ({ 'Fn::GetAtt': [logicalId, attribute] });
const parameter = (value: unknown) => {
  const name = (value as { Ref?: string }).Ref;
  const found = name === undefined ? undefined : template.Parameters?.[name];
  if (!found) throw new Error(`expected a Ref to a parameter, got ${JSON.stringify(value)}`);
  return found;
};
const setting = (logicalId: string, key: string) => functionProperty(template, logicalId, key);
const declaredEnv = (logicalId: string): Props => functionEnvironment(template, logicalId);
const events = (logicalId: string) =>
  Object.values((props(logicalId).Events ?? {}) as Record<string, { Type: string; Properties: Props }>);
const statementsOf = (logicalId: string): Statement[] =>
  ((props(logicalId).Policies ?? []) as unknown[]).flatMap((policy) =>
    typeof policy === 'object' && policy !== null && 'Statement' in policy
      ? ((policy as { Statement: Statement[] }).Statement ?? [])
      : [],
  );
const actions = (statement: Statement) => [statement.Action].flat();
const alarms = Object.values(template.Resources)
  .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
  .map((r) => r.Properties as Props & { Dimensions: Array<{ Name: string; Value: unknown }> });

/** Which command each function runs, so its Environment can be held against what the command reads. */
const functionCommand: Record<string, Command> = {
  ExchangeFunction: 'exchange',
  RelayFunction: 'relay',
  InstallFunction: 'install',
  RefreshFunction: 'refresh',
  RefreshScheduleFunction: 'refreshSchedule',
};

/**
 * Variables of src/config.ts a function deliberately does not declare, with the reason. Everything else
 * the code reads must be in the function's Environment.
 */
/**
 * Declared empty in the template (so SAM passes them to `sam local invoke`) and filled only by env.json:
 * the sandbox's stand-in secrets and the local emulators. A deployment holds none of them.
 */
const LOCAL_ONLY: Record<string, readonly string[]> = {
  ExchangeFunction: [
    'CAFE24_CLIENT_SECRET',
    'AWS_ENDPOINT_URL_SQS',
    'AWS_ENDPOINT_URL_S3',
    'AWS_ENDPOINT_URL_KMS',
  ],
  RelayFunction: ['AWS_ENDPOINT_URL_SQS', 'AWS_ENDPOINT_URL_EVENTBRIDGE'],
  RefreshFunction: ['CAFE24_CLIENT_SECRET', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_KMS'],
  RefreshScheduleFunction: ['AWS_ENDPOINT_URL_SQS'],
  InstallFunction: [
    'CAFE24_CLIENT_SECRET',
    'CAFE24_WEBHOOK_API_KEY',
    'AWS_ENDPOINT_URL_SQS',
    'AWS_ENDPOINT_URL_S3',
  ],
};

const notDeclared: Record<string, Record<string, string>> = {
  ExchangeFunction: {
    ...localSealingKey('ExchangeFunction'),
    DATABASE_URL: 'PG* variables instead: a URL would carry the password in one more place',
    ...awsRuntime('ExchangeFunction'),
  },
  RelayFunction: {
    ...localSealingKey('RelayFunction'),
    DATABASE_URL: 'PG* variables instead',
    ...awsRuntime('RelayFunction'),
  },
  RefreshFunction: {
    ...localSealingKey('RefreshFunction'),
    DATABASE_URL: 'PG* variables instead',
    CAFE24_MALL_ID: 'each message names its mall',
    ...awsRuntime('RefreshFunction'),
  },
  RefreshScheduleFunction: {
    ...localSealingKey('RefreshScheduleFunction'),
    DATABASE_URL: 'PG* variables instead',
    ...awsRuntime('RefreshScheduleFunction'),
  },
  InstallFunction: {
    ...localSealingKey('InstallFunction'),
    DATABASE_URL: 'PG* variables instead',
    CAFE24_MALL_ID: 'the mall comes from the signed launch, then from the state',
    CAFE24_CONNECT_TIMEOUT_MS: 'the install never calls Cafe24 server to server',
    CAFE24_REQUEST_TIMEOUT_MS: 'the install never calls Cafe24 server to server',
    LAUNCH_SIGNING_KEY: 'never in configuration: LAUNCH_SIGNING_KEY_ARN, read from Secrets Manager',
    ...awsRuntime('InstallFunction'),
  },
};

/**
 * TOKEN_ENCRYPTION_KEY, for a function whose command seals tokens (config.ts's `sealing` section): a key in
 * the environment, for local runs and tests only. Deployed, TOKEN_KMS_KEY_ID seals them with KMS.
 */
function localSealingKey(id: string): Record<string, string> {
  const sections: readonly string[] = commands[functionCommand[id] as Command];
  if (!sections.includes('sealing')) return {};
  return { TOKEN_ENCRYPTION_KEY: 'local runs and tests only; deployed, TOKEN_KMS_KEY_ID seals with KMS' };
}

/** Set by Lambda itself, or meaningful only against a local emulator. */
function awsRuntime(id: string): Record<string, string> {
  const runtime: Record<string, string> = {
    AWS_REGION: 'set by Lambda',
    AWS_ACCESS_KEY_ID: 'the execution role, set by Lambda',
    AWS_PROFILE: 'the execution role',
    AWS_WEB_IDENTITY_TOKEN_FILE: 'the execution role',
    AWS_CONTAINER_CREDENTIALS_FULL_URI: 'the execution role',
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: 'the execution role',
    AWS_ENDPOINT_URL_SQS: 'a local emulator only',
    AWS_ENDPOINT_URL_S3: 'a local emulator only',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: 'a local emulator only',
    AWS_ENDPOINT_URL_EVENTBRIDGE: 'a local emulator only',
    AWS_ENDPOINT_URL_KMS: 'a local emulator only',
  };
  for (const name of LOCAL_ONLY[id] ?? []) delete runtime[name];
  return runtime;
}

/** Read by the runtime or libraries rather than src/config.ts. */
const runtimeVariables = ['NODE_OPTIONS', 'POWERTOOLS_SERVICE_NAME', 'NODE_EXTRA_CA_CERTS'];

describe('template.yaml', () => {
  it('is a SAM template whose functions run Node 24 on arm64 with source maps and a service name', () => {
    expect(template.Transform).toBe('AWS::Serverless-2016-10-31');
    expect(globals.Runtime).toBe('nodejs24.x');
    expect(globals.Architectures).toEqual(['arm64']);
    expect(declaredEnv(functionIds[0] as string)).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'cafe24-token-issuer',
      NODE_OPTIONS: expect.stringContaining('--enable-source-maps'),
    });
    expect([...functionIds].sort()).toEqual([
      'ExchangeFunction',
      'InstallFunction',
      'RefreshFunction',
      'RefreshScheduleFunction',
      'RelayFunction',
    ]);
    for (const id of functionIds) {
      expect(setting(id, 'Runtime'), id).toBe('nodejs24.x');
      expect(setting(id, 'Architectures'), id).toEqual(['arm64']);
    }
  });

  it.each(functionIds)('builds %s with esbuild as ESM from a handler file that exists', (id) => {
    const metadata = resource(id).Metadata as { BuildMethod: string; BuildProperties: Props };
    expect(metadata.BuildMethod).toBe('esbuild');
    expect(metadata.BuildProperties).toMatchObject({
      Format: 'esm',
      Minify: true,
      Sourcemap: true,
      Target: 'es2024',
      OutExtension: ['.js=.mjs'],
      Banner: [
        expect.stringMatching(
          /^js=import \{ createRequire \} from 'module'; const require = createRequire\(import\.meta\.url\);$/,
        ),
      ],
    });
    const entryPoints = metadata.BuildProperties.EntryPoints as string[];
    expect(entryPoints).toHaveLength(1);
    const entry = entryPoints[0] as string;
    expect(entry).toMatch(/^src\/handlers\/[a-z-]+\.ts$/);
    const file = join(root, String(props(id).CodeUri ?? '.'), entry);
    expect(existsSync(file), `${entry} is missing`).toBe(true);
    expect(readFileSync(file, 'utf8')).toMatch(/export (const|async function|function) handler\b/);
    expect(props(id).Handler).toBe(`${basename(entry, extname(entry))}.handler`);
  });

  it('feeds the exchange function from the queue with per-record failures, no batching delay and bounded concurrency', () => {
    const sqs = events('ExchangeFunction').filter((e) => e.Type === 'SQS');
    expect(sqs).toHaveLength(1);
    const source = (sqs[0] as { Properties: Props }).Properties;
    expect(source.Queue).toEqual(getAtt('ExchangeQueue', 'Arn'));
    expect(source.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(source.MaximumBatchingWindowInSeconds).toBe(0);
    const maximumConcurrency = parameter((source.ScalingConfig as Props).MaximumConcurrency);
    expect(maximumConcurrency).toMatchObject({ Type: 'Number', Default: 25, MinValue: 2 });
    // Without a batching window SQS caps a batch at 10.
    expect(parameter(source.BatchSize)).toMatchObject({ Type: 'Number', Default: 10, MaxValue: 10 });
    // The in-process limit follows the batch: every record of a batch is exchanged at once.
    expect(declaredEnv('ExchangeFunction').EXCHANGE_CONCURRENCY).toEqual(source.BatchSize);
  });

  it('sizes the exchange for a 5,000-code burst at 1 s per Cafe24 answer, with bounded connections', () => {
    const source = events('ExchangeFunction').find((e) => e.Type === 'SQS')?.Properties ?? {};
    const concurrency = parameter((source.ScalingConfig as Props).MaximumConcurrency).Default as number;
    const batch = parameter(source.BatchSize).Default as number;
    // 5,000 codes at 1 s each in flight `concurrency × batch` at a time finish within half a code's life.
    expect(5_000 / (concurrency * batch)).toBeLessThanOrEqual(30);
    // The pool is its own parameter, smaller than the batch: no connection waits out a Cafe24 request.
    const poolSize = declaredEnv('ExchangeFunction').EXCHANGE_POOL_SIZE;
    expect(poolSize).toEqual({ Ref: 'ExchangePoolSize' });
    const pool = parameter(poolSize).Default as number;
    expect(pool).toBeLessThan(batch);
    // What bounds the exchange's database connections, as the README says.
    expect(concurrency * pool).toBeLessThanOrEqual(100);
  });

  it('gives the exchange function headroom over the code’s one minute and the queue 6 × that as visibility', () => {
    const timeout = setting('ExchangeFunction', 'Timeout') as number;
    expect(timeout).toBeGreaterThan(60);
    expect(timeout).toBeLessThanOrEqual(120);
    expect(props('ExchangeQueue').VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * timeout);
  });

  it('dead-letters after at least five receives into a longer-lived, encrypted DLQ that only the queue may use', () => {
    const queue = props('ExchangeQueue');
    const dlq = props('ExchangeDeadLetterQueue');
    const redrive = queue.RedrivePolicy as { deadLetterTargetArn: unknown; maxReceiveCount: unknown };
    expect(redrive.deadLetterTargetArn).toEqual(getAtt('ExchangeDeadLetterQueue', 'Arn'));
    const maxReceiveCount = parameter(redrive.maxReceiveCount);
    expect(maxReceiveCount.Default as number).toBeGreaterThanOrEqual(5);
    expect(maxReceiveCount.MinValue as number).toBeGreaterThanOrEqual(5);
    expect(dlq.MessageRetentionPeriod).toBe(14 * 24 * 60 * 60);
    expect(dlq.MessageRetentionPeriod as number).toBeGreaterThan(queue.MessageRetentionPeriod as number);
    expect(queue.SqsManagedSseEnabled).toBe(true);
    expect(dlq.SqsManagedSseEnabled).toBe(true);
    // The queue ARN is spelled out from its name (a GetAtt would be a dependency cycle): they must agree.
    const queueName = (queue.QueueName as { 'Fn::Sub': string })['Fn::Sub'];
    expect(dlq.RedriveAllowPolicy).toEqual({
      redrivePermission: 'byQueue',
      sourceQueueArns: [
        { 'Fn::Sub': `arn:\${AWS::Partition}:sqs:\${AWS::Region}:\${AWS::AccountId}:${queueName}` },
      ],
    });
  });

  it('sweeps with the relay every minute and lets it send to the exchange queue only', () => {
    const schedules = events('RelayFunction').filter((e) => e.Type === 'Schedule');
    expect(schedules.map((e) => e.Properties.Schedule)).toEqual(['rate(1 minute)']);
    expect(declaredEnv('RelayFunction').SQS_QUEUE_URL).toEqual(ref('ExchangeQueue'));
    expect(props('RelayFunction').Policies).toContainEqual({
      SQSSendMessagePolicy: { QueueName: getAtt('ExchangeQueue', 'QueueName') },
    });
    expect(JSON.stringify(props('ExchangeFunction').Policies)).not.toMatch(/SQSSendMessagePolicy|sqs:/);
  });

  it('lets the install front publish a stored code to the exchange queue at once, and nowhere else', () => {
    expect(declaredEnv('InstallFunction').SQS_QUEUE_URL).toEqual(ref('ExchangeQueue'));
    expect(props('InstallFunction').Policies).toContainEqual({
      SQSSendMessagePolicy: { QueueName: getAtt('ExchangeQueue', 'QueueName') },
    });
    const sqsPolicies = JSON.stringify(props('InstallFunction').Policies).match(/SQS[A-Za-z]*Policy/g);
    expect(sqsPolicies).toEqual(['SQSSendMessagePolicy']);
  });

  it('puts both functions in the VPC with the VPC access role', () => {
    const vpc = globals.VpcConfig as Props;
    expect(parameter(vpc.SubnetIds).Type).toBe('List<AWS::EC2::Subnet::Id>');
    expect(parameter(vpc.SecurityGroupIds).Type).toBe('List<AWS::EC2::SecurityGroup::Id>');
    for (const id of functionIds) expect(props(id).Policies, id).toContain('AWSLambdaVPCAccessExecutionRole');
  });

  it('never puts the client secret in configuration, and may read exactly the one secret it names', () => {
    const text = JSON.stringify(template);
    expect(text).not.toMatch(/resolve:secretsmanager|resolve:ssm-secure/);
    // Declared only as the empty literal env.json fills for `sam local invoke`: never a value, never a Ref.
    for (const id of functionIds) {
      for (const name of ['CAFE24_CLIENT_SECRET', 'CAFE24_WEBHOOK_API_KEY', 'LAUNCH_SIGNING_KEY'])
        expect(declaredEnv(id)[name] ?? '', `${id}.${name}`).toBe('');
    }
    expect(declaredEnv('ExchangeFunction').CAFE24_CLIENT_SECRET_ARN).toEqual(ref('ClientSecretArn'));
    expect(template.Parameters?.ClientSecretArn?.NoEcho).toBeUndefined();
    expect(template.Parameters?.DatabasePassword?.NoEcho).toBe(true);

    const secretStatements = functionIds.flatMap((id) =>
      statementsOf(id)
        .filter((s) => actions(s).some((action) => action.startsWith('secretsmanager:')))
        .map((s) => ({ id, ...s })),
    );
    // The exchange and the refresh (token requests) and the install front (the launch hmac's key) read it;
    // the install front reads the webhook key too, and nothing else does.
    expect(secretStatements).toEqual(
      ['ExchangeFunction', 'RefreshFunction', 'InstallFunction'].map((id) => ({
        id,
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource:
          id === 'InstallFunction'
            ? [ref('ClientSecretArn'), ref('WebhookApiKeyArn')]
            : ref('ClientSecretArn'),
      })),
    );
    expect(declaredEnv('InstallFunction').CAFE24_CLIENT_SECRET_ARN).toEqual(ref('ClientSecretArn'));
    expect(declaredEnv('InstallFunction').CAFE24_WEBHOOK_API_KEY_ARN).toEqual(ref('WebhookApiKeyArn'));
    expect(template.Parameters?.WebhookApiKeyArn?.Default).toBeUndefined();
    // Nor through a SAM policy template or a managed policy.
    for (const id of functionIds)
      expect(JSON.stringify(props(id).Policies), id).not.toMatch(/SecretsManager/);
    for (const id of functionIds) {
      for (const statement of statementsOf(id)) expect(statement.Resource, id).not.toBe('*');
    }
  });

  it('lets both functions read the database password secret only when one is given, and only that one', () => {
    expect(declaredEnv(functionIds[0] as string).PGPASSWORD_SECRET_ARN).toEqual(
      ref('DatabasePasswordSecretArn'),
    );
    const policy = template.Resources.DatabasePasswordSecretPolicy as Resource & { Condition?: string };
    expect(policy.Type).toBe('AWS::IAM::ManagedPolicy');
    expect(policy.Condition).toBe('HasDatabasePasswordSecret');
    const properties = policy.Properties as { Roles: unknown[]; PolicyDocument: { Statement: unknown[] } };
    expect(properties.Roles).toEqual(functionIds.map((id) => ref(`${id}Role`)));
    expect(properties.PolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'secretsmanager:GetSecretValue',
        Resource: ref('DatabasePasswordSecretArn'),
      },
    ]);
  });

  it('exposes only the install front over HTTP: one HTTP API, GET and the webhook POST, throttled; the exchange is unreachable', () => {
    for (const id of functionIds.filter((id) => id !== 'InstallFunction')) {
      expect(
        events(id).map((e) => e.Type),
        id,
      ).not.toEqual(expect.arrayContaining([expect.stringMatching(/Api/)]));
    }
    for (const id of functionIds) expect(props(id).FunctionUrlConfig, id).toBeUndefined();
    expect(globals.FunctionUrlConfig).toBeUndefined();
    const http = Object.entries(template.Resources)
      .filter(([, r]) => /ApiGateway|Serverless::(Http)?Api|Lambda::Url/.test(r.Type))
      .map(([id, r]) => [id, r.Type]);
    expect(http).toEqual([
      ['InstallHttpApi', 'AWS::Serverless::HttpApi'],
      ['InstallDomain', 'AWS::ApiGatewayV2::DomainName'],
      ['InstallDomainMapping', 'AWS::ApiGatewayV2::ApiMapping'],
    ]);
    expect(events('InstallFunction')).toEqual([
      { Type: 'HttpApi', Properties: { ApiId: ref('InstallHttpApi'), Method: 'GET', Path: '/{proxy+}' } },
      {
        Type: 'HttpApi',
        Properties: { ApiId: ref('InstallHttpApi'), Method: 'GET', Path: '/.well-known/jwks.json' },
      },
      {
        Type: 'HttpApi',
        Properties: { ApiId: ref('InstallHttpApi'), Method: 'POST', Path: '/webhooks/cafe24' },
      },
    ]);
    expect(template.Outputs?.Cafe24WebhookUrl?.Value).toBeDefined();
    expect(props('InstallHttpApi').DefaultRouteSettings).toMatchObject({
      ThrottlingBurstLimit: expect.any(Number),
      ThrottlingRateLimit: expect.any(Number),
    });
    // It waits for the exchange a few seconds, well within the HTTP API's 30 s.
    expect(setting('InstallFunction', 'Timeout') as number).toBeLessThan(30);
  });

  it('takes an optional custom domain (HTTPS, TLS 1.2) and outputs the two URLs to register in Cafe24 Developers', () => {
    expect(template.Parameters?.InstallDomainName?.Default).toBe('');
    expect(template.Parameters?.InstallCertificateArn?.Default).toBe('');
    for (const id of ['InstallDomain', 'InstallDomainMapping'])
      expect(resource(id).Condition, id).toBe('HasInstallDomain');
    expect(props('InstallDomain')).toMatchObject({
      DomainName: ref('InstallDomainName'),
      DomainNameConfigurations: [
        { CertificateArn: ref('InstallCertificateArn'), EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' },
      ],
    });
    expect(props('InstallDomainMapping')).toMatchObject({ ApiId: ref('InstallHttpApi'), Stage: '$default' });
    // With a domain, the API's own host is off: one host, one redirect URI.
    expect(props('InstallHttpApi').DisableExecuteApiEndpoint).toEqual({
      'Fn::If': ['HasInstallDomain', true, false],
    });
    const outputs = template.Outputs ?? {};
    const [, custom, fallback] = (outputs.Cafe24AppUrl?.Value as { 'Fn::If': [string, unknown, unknown] })[
      'Fn::If'
    ];
    expect(custom).toEqual({ 'Fn::Sub': `https://\${InstallDomainName}/install` });
    expect(fallback).toEqual({
      'Fn::Sub': `https://\${InstallHttpApi}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}/install`,
    });
    // One deploy: with no Cafe24RedirectUri the front serves <its URL>/callback, and the output says so.
    expect(template.Parameters?.Cafe24RedirectUri?.Default).toBe('');
    for (const [parameters, expected] of [
      [{ Cafe24RedirectUri: '', InstallDomainName: '' }, `https://${API_HOST}/callback`],
      [
        { Cafe24RedirectUri: '', InstallDomainName: 'cafe24.example.com' },
        'https://cafe24.example.com/callback',
      ],
      [
        { Cafe24RedirectUri: 'https://cafe24.example.com/oauth', InstallDomainName: '' },
        'https://cafe24.example.com/oauth',
      ],
    ] as const) {
      expect(evaluate(outputs.Cafe24RedirectUri?.Value, withApi(parameters))).toBe(expected);
    }
    expect(DERIVED_CALLBACK_PATH).toBe('/callback');
    for (const id of ['InstallFunction', 'ExchangeFunction']) {
      expect(declaredEnv(id).CAFE24_REDIRECT_URI, id).toEqual({
        'Fn::If': ['HasRedirectUri', ref('Cafe24RedirectUri'), { Ref: 'AWS::NoValue' }],
      });
    }
    expect(INSTALL_RESERVED_PATHS).toContain('/install');
  });

  it('alarms on dead letters, on each function’s errors and on messages older than a code lives', () => {
    const dlq = alarms.filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
    expect(dlq.map((alarm) => alarm.Dimensions)).toEqual(
      ['ExchangeDeadLetterQueue', 'RefreshDeadLetterQueue'].map((id) => [
        { Name: 'QueueName', Value: getAtt(id, 'QueueName') },
      ]),
    );
    for (const alarm of dlq)
      expect(alarm).toMatchObject({
        Namespace: 'AWS/SQS',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });

    const age = alarms.filter((a) => a.MetricName === 'ApproximateAgeOfOldestMessage');
    expect(age).toHaveLength(1);
    expect(age[0]).toMatchObject({
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: getAtt('ExchangeQueue', 'QueueName') }],
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(age[0]?.Threshold as number).toBeLessThanOrEqual(60);

    const errors = alarms.filter((a) => a.MetricName === 'Errors' && a.Namespace === 'AWS/Lambda');
    const byName = (dimensions: unknown) => JSON.stringify(dimensions);
    expect(errors.map((a) => byName(a.Dimensions)).sort()).toEqual(
      functionIds.map((id) => byName([{ Name: 'FunctionName', Value: ref(id) }])).sort(),
    );
    for (const alarm of errors)
      expect(alarm).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });

    // Alarm actions only when a topic is given.
    expect(template.Parameters?.AlarmTopicArn?.Default).toBe('');
    const notify = { 'Fn::If': ['HasAlarmTopic', [ref('AlarmTopicArn')], ref('AWS::NoValue')] };
    for (const alarm of alarms) expect(alarm.AlarmActions).toEqual(notify);
  });

  it('feeds the refresh function from its own queue with per-record failures and its own concurrency', () => {
    const sqs = events('RefreshFunction').filter((e) => e.Type === 'SQS');
    expect(sqs).toHaveLength(1);
    const source = (sqs[0] as { Properties: Props }).Properties;
    expect(source.Queue).toEqual(getAtt('RefreshQueue', 'Arn'));
    expect(source.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(source.ScalingConfig).toEqual({ MaximumConcurrency: ref('RefreshMaximumConcurrency') });
    expect(parameter(ref('RefreshMaximumConcurrency'))).toMatchObject({
      Type: 'Number',
      Default: 5,
      MinValue: 2,
    });
    expect(parameter(source.BatchSize)).toMatchObject({ Type: 'Number', MaxValue: 10 });
    expect(declaredEnv('RefreshFunction').REFRESH_CONCURRENCY).toEqual(source.BatchSize);
    // A whole lease (request timeout + 10 s) fits in the function's time, and the queue waits 6 × that.
    const timeout = setting('RefreshFunction', 'Timeout') as number;
    const requestTimeoutMs = Number(declaredEnv('RefreshFunction').CAFE24_REQUEST_TIMEOUT_MS);
    expect(timeout * 1000 - 5_000).toBeGreaterThanOrEqual(requestTimeoutMs + 10_000);
    expect(declaredEnv('ExchangeFunction').CAFE24_REQUEST_TIMEOUT_MS).toBe(String(requestTimeoutMs));
    expect(props('RefreshQueue').VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * timeout);
    // Nothing in the refresh function sends to a queue; its DLQ takes only its queue's messages.
    expect(JSON.stringify(props('RefreshFunction').Policies)).not.toMatch(/SQSSendMessagePolicy|sqs:/);
    expect(props('RefreshQueue').RedrivePolicy).toEqual({
      deadLetterTargetArn: getAtt('RefreshDeadLetterQueue', 'Arn'),
      maxReceiveCount: ref('MaxReceiveCount'),
    });
    const queueName = (props('RefreshQueue').QueueName as { 'Fn::Sub': string })['Fn::Sub'];
    expect(props('RefreshDeadLetterQueue')).toMatchObject({
      MessageRetentionPeriod: 14 * 24 * 60 * 60,
      SqsManagedSseEnabled: true,
      RedriveAllowPolicy: {
        redrivePermission: 'byQueue',
        sourceQueueArns: [
          { 'Fn::Sub': `arn:\${AWS::Partition}:sqs:\${AWS::Region}:\${AWS::AccountId}:${queueName}` },
        ],
      },
    });
  });

  it('runs the refresh schedule every 5 minutes, sending to the refresh queue only, one round under that', () => {
    const schedules = events('RefreshScheduleFunction').filter((e) => e.Type === 'Schedule');
    expect(schedules.map((e) => e.Properties.Schedule)).toEqual(['rate(5 minutes)']);
    expect(declaredEnv('RefreshScheduleFunction').REFRESH_QUEUE_URL).toEqual(ref('RefreshQueue'));
    expect(props('RefreshScheduleFunction').Policies).toEqual([
      'AWSLambdaVPCAccessExecutionRole',
      { SQSSendMessagePolicy: { QueueName: getAtt('RefreshQueue', 'QueueName') } },
    ]);
    const round = Number(declaredEnv('RefreshScheduleFunction').REFRESH_ROUND_SECONDS);
    expect(round).toBeLessThan(5 * 60);
    expect(declaredEnv('RefreshScheduleFunction').REFRESH_AHEAD_SECONDS).toBe(
      declaredEnv('RefreshFunction').REFRESH_AHEAD_SECONDS,
    );
  });

  it('alarms when a mall turns invalid, on configuration errors and on answers not from Cafe24, on the metrics the handlers write', () => {
    // EMF metrics (src/commons/metrics.ts) rather than log metric filters: no filter, one metric each.
    expect(Object.values(template.Resources).filter((r) => r.Type === 'AWS::Logs::MetricFilter')).toEqual([]);
    for (const metric of [
      METRIC.MallsTurnedInvalid,
      METRIC.RefreshConfigurationErrors,
      METRIC.Cafe24UnexpectedAnswers,
    ]) {
      const alarm = alarms.filter((a) => a.MetricName === metric);
      expect(alarm, metric).toHaveLength(1);
      expect(alarm[0]).toMatchObject({
        Namespace: METRICS_NAMESPACE,
        Dimensions: [{ Name: 'service', Value: METRICS_SERVICE }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        TreatMissingData: 'notBreaching',
      });
    }
    expect(props('RefreshFunction').LoggingConfig).toEqual({ LogGroup: ref('RefreshLogGroup') });
  });

  it('schedules the relay so that its listening runs overlap, with a small reserved concurrency', () => {
    const timeoutMs = (props('RelayFunction').Timeout as number) * 1000;
    expect(timeoutMs).toBeGreaterThanOrEqual(70_000);
    expect(timeoutMs).toBeLessThanOrEqual(75_000);
    // A run listens for its timeout minus the margin; the next starts a minute after it: they overlap.
    expect(timeoutMs - LISTEN_MARGIN_MS).toBeGreaterThan(60_000);
    const reserved = props('RelayFunction').ReservedConcurrentExecutions as number;
    expect(reserved).toBeGreaterThanOrEqual(2);
    expect(reserved).toBeLessThanOrEqual(10);
  });

  it('alarms on exchange queue age past 30 s and on the application metrics: relay heartbeat, invalid malls, refused credentials', () => {
    const age = alarms.find((a) => a.MetricName === 'ApproximateAgeOfOldestMessage');
    expect(age?.Threshold).toBe(30);
    const ours = alarms.filter((a) => a.Namespace === METRICS_NAMESPACE);
    for (const alarm of ours) {
      expect(Object.values(METRIC)).toContain(alarm.MetricName);
      // Powertools writes every metric with the service dimension: an alarm without it would never fire.
      expect(alarm.Dimensions).toEqual([{ Name: 'service', Value: METRICS_SERVICE }]);
    }
    const byMetric = (name: string) => ours.find((a) => a.MetricName === name);
    expect(byMetric(METRIC.RelayRuns)).toMatchObject({
      Statistic: 'Sum',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
    });
    expect(byMetric(METRIC.MallsTurnedInvalid)).toMatchObject({
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(byMetric(METRIC.RefreshConfigurationErrors)).toMatchObject({
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('has a dashboard whose body is JSON and names only metrics that are written', () => {
    const dashboards = Object.entries(template.Resources).filter(
      ([, r]) => r.Type === 'AWS::CloudWatch::Dashboard',
    );
    expect(dashboards).toHaveLength(1);
    const body = (dashboards[0]?.[1].Properties as Props).DashboardBody as { 'Fn::Sub': string };
    // What CloudFormation substitutes, replaced by stand-ins; the rest must be JSON as it stands.
    const parsed = JSON.parse(
      body['Fn::Sub'].replace(/\$\{([^}]+)\}/g, (_, name: string) => `sub:${name}`),
    ) as {
      widgets: Array<{ properties: { title: string; metrics: unknown[][] } }>;
    };
    const metrics = parsed.widgets.flatMap((w) =>
      w.properties.metrics.map((m) => {
        const [namespace, name, ...rest] = m.filter((part) => typeof part === 'string') as string[];
        const dimensions = Object.fromEntries(
          Array.from({ length: rest.length / 2 }, (_, i) => [rest[2 * i], rest[2 * i + 1]]),
        );
        return { namespace, name, dimensions, title: w.properties.title };
      }),
    );
    const ours = metrics.filter((m) => m.namespace === METRICS_NAMESPACE);
    for (const metric of ours) {
      expect(Object.values(METRIC)).toContain(metric.name);
      expect(metric.dimensions.service).toBe(METRICS_SERVICE);
      const expected = metric.name === METRIC.ColdStart ? ['function_name', 'service'] : ['service'];
      expect(Object.keys(metric.dimensions).sort()).toEqual(expected);
    }
    const shown = (namespace: string, name: string, dimension?: string) =>
      metrics.some(
        (m) =>
          m.namespace === namespace &&
          m.name === name &&
          (dimension === undefined || Object.values(m.dimensions).includes(dimension)),
      );
    for (const name of [
      METRIC.CodesExchanged,
      METRIC.CodesFailed,
      METRIC.CodesExpired,
      METRIC.InsertToTokenLatency,
      METRIC.RelayPublished,
      METRIC.RelayLag,
      METRIC.RefreshRefreshed,
      METRIC.RefreshSkippedFresh,
      METRIC.RefreshInvalid,
      METRIC.RefreshTransientFailure,
      METRIC.RefreshConfigurationErrors,
      METRIC.MallsTurnedInvalid,
      METRIC.MallsRemoved,
      METRIC.MallsReinstalled,
      METRIC.WebhookKeysRefused,
      METRIC.MallEventsPublished,
      METRIC.TokensUnreadable,
    ])
      expect(shown(METRICS_NAMESPACE, name), name).toBe(true);
    expect(body['Fn::Sub']).toContain('"stat": "p50"');
    expect(body['Fn::Sub']).toContain('"stat": "p99"');
    for (const queue of ['sub:ExchangeQueue.QueueName', 'sub:RefreshQueue.QueueName']) {
      expect(shown('AWS/SQS', 'ApproximateNumberOfMessagesVisible', queue), queue).toBe(true);
      expect(shown('AWS/SQS', 'ApproximateAgeOfOldestMessage', queue), queue).toBe(true);
    }
    for (const dlq of ['sub:ExchangeDeadLetterQueue.QueueName', 'sub:RefreshDeadLetterQueue.QueueName'])
      expect(shown('AWS/SQS', 'ApproximateNumberOfMessagesVisible', dlq), dlq).toBe(true);
    for (const id of functionIds)
      for (const name of ['Errors', 'Throttles', 'Duration'])
        expect(shown('AWS/Lambda', name, `sub:${id}`), `${name} ${id}`).toBe(true);
  });

  it('outputs the queue URLs, the function ARNs and the policy the database role needs to wake the relay', () => {
    const outputs = template.Outputs ?? {};
    expect(outputs.ExchangeQueueUrl?.Value).toEqual(ref('ExchangeQueue'));
    expect(outputs.ExchangeDeadLetterQueueUrl?.Value).toEqual(ref('ExchangeDeadLetterQueue'));
    expect(outputs.ExchangeFunctionArn?.Value).toEqual(getAtt('ExchangeFunction', 'Arn'));
    expect(outputs.RelayFunctionArn?.Value).toEqual(getAtt('RelayFunction', 'Arn'));
    const policy =
      (outputs.RdsInvokeRelayPolicy?.Value as { 'Fn::Sub': string } | undefined)?.['Fn::Sub'] ?? '';
    const relayArn = 'arn:aws:lambda:ap-northeast-2:123456789012:function:stack-RelayFunction-abc';
    expect(JSON.parse(policy.replace(`\${RelayFunction.Arn}`, relayArn))).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: relayArn }],
    });
  });

  it('refers only to parameters, resources, conditions and pseudo parameters that exist', () => {
    const parameters = Object.keys(template.Parameters ?? {});
    // The SAM transform adds `<Function>Role` for each function without a Role of its own.
    const generatedRoles = functionIds.filter((id) => !props(id).Role).map((id) => `${id}Role`);
    const resources = [...Object.keys(template.Resources), ...generatedRoles];
    const conditions = Object.keys(template.Conditions ?? {});
    const problems: string[] = [];
    const known = (name: string) =>
      name.startsWith('AWS::') || parameters.includes(name) || resources.includes(name);
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) {
        node.forEach(walk);
        return;
      }
      if (typeof node !== 'object' || node === null) return;
      for (const [key, value] of Object.entries(node)) {
        if (key === 'Ref' && !known(String(value))) problems.push(`Ref ${String(value)}`);
        if (key === 'Fn::GetAtt' && !resources.includes(String((value as string[])[0])))
          problems.push(`GetAtt ${String(value)}`);
        if (key === 'Fn::If' && !conditions.includes(String((value as string[])[0])))
          problems.push(`If ${String(value)}`);
        if (key === 'Fn::Sub') {
          const [text, variables] = [value].flat() as [string, Record<string, unknown> | undefined];
          for (const [, name] of text.matchAll(/\$\{([^}!]+)\}/g)) {
            const head = (name as string).split('.')[0] as string;
            if (!known(head) && !(variables && head in variables)) problems.push(`Sub \${${name}}`);
          }
        }
        walk(value);
      }
    };
    walk(template.Resources);
    walk(template.Outputs);
    walk(template.Globals);
    walk(template.Conditions);
    walk(rules);
    expect(problems).toEqual([]);
  });

  it.skipIf(!existsSync(samSchemaPath))('is valid against the SAM JSON schema', () => {
    // The schema declares draft-04; its keywords read the same in Ajv's default draft-07.
    const { $schema: _draft, ...schema } = JSON.parse(readFileSync(samSchemaPath, 'utf8')) as Props;
    const ajv = new Ajv({ strict: false, allErrors: false });
    formats.default(ajv);
    const validate = ajv.compile(schema);
    const valid = validate(template);
    expect(validate.errors ?? [], JSON.stringify(validate.errors?.slice(0, 5), null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });
});

describe('the settings the local stack runs with', () => {
  const small = (exchangeScaling: string) =>
    parseTemplate(`
Parameters:
  BatchSize: { Type: Number, Default: 7 }
  Concurrency: { Type: Number, Default: 3 }
  PoolSize: { Type: Number, Default: 2 }
  Receives: { Type: Number, Default: 6 }
Globals:
  Function:
    Timeout: 30
Resources:
  ExchangeQueue:
    Type: AWS::SQS::Queue
    Properties: { VisibilityTimeout: 180, RedrivePolicy: { maxReceiveCount: !Ref Receives } }
  RefreshQueue:
    Type: AWS::SQS::Queue
    Properties: { VisibilityTimeout: 270, RedrivePolicy: { maxReceiveCount: 8 } }
  ExchangeFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment: { Variables: { EXCHANGE_POOL_SIZE: !Ref PoolSize } }
      Events:
        Queue:
          Type: SQS
          Properties: { BatchSize: !Ref BatchSize, MaximumBatchingWindowInSeconds: 1, ${exchangeScaling} }
  RefreshFunction:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 45
      Events:
        Schedule: { Type: Schedule, Properties: { Schedule: rate(5 minutes) } }
        Queue: { Type: SQS, Properties: { BatchSize: 4, ScalingConfig: { MaximumConcurrency: 9 } } }
`);

  it('are what the template deploys: literals, parameter defaults, Globals under the function', () => {
    expect(deployedSettings(small('ScalingConfig: { MaximumConcurrency: !Ref Concurrency }'))).toEqual({
      exchange: {
        exchangeTimeoutSeconds: 30,
        visibilityTimeoutSeconds: 180,
        maxReceiveCount: 6,
        batchSize: 7,
        maximumBatchingWindowSeconds: 1,
        maximumConcurrency: 3,
        poolSize: 2,
      },
      refresh: {
        timeoutSeconds: 45,
        visibilityTimeoutSeconds: 270,
        maxReceiveCount: 8,
        batchSize: 4,
        // SQS's default, where the template says nothing.
        maximumBatchingWindowSeconds: 0,
        maximumConcurrency: 9,
      },
    });
  });

  it('stop the stack with the missing setting named, rather than run it with undefined', () => {
    expect(() => deployedSettings(small('ScalingConfig: {}'))).toThrow(
      'template.yaml: ExchangeFunction SQS ScalingConfig.MaximumConcurrency is not a number as deployed (absent)',
    );
  });

  it('are what local/stack.ts exports, read from template.yaml', () => {
    expect({ ...DEPLOYED }).toEqual(deployedSettings(template).exchange);
    expect({ ...DEPLOYED_REFRESH }).toEqual(deployedSettings(template).refresh);
  });
});

describe("the app's events", () => {
  it('lets only the relay put events, on the one bus named, and only when one is named', () => {
    expect(declaredEnv('RelayFunction').EVENT_BUS_NAME).toEqual({
      'Fn::If': ['HasEventBus', ref('EventBusName'), ref('AWS::NoValue')],
    });
    expect(template.Parameters?.EventBusName?.Default).toBe('');
    const text = (id: string) => JSON.stringify(props(id).Policies ?? []);
    for (const id of functionIds.filter((id) => id !== 'RelayFunction'))
      expect(text(id), id).not.toContain('events:');
    expect(text('RelayFunction')).toContain('"Action":"events:PutEvents"');
    expect(text('RelayFunction')).toContain('event-bus/${EventBusName}');
  });
});

describe('the launch hand-off (docs/design.md, "The app\'s entry")', () => {
  const blankIs = (name: string) => ({ 'Fn::Not': [{ 'Fn::Equals': [ref(name), ''] }] });
  const onlyWhen = (condition: string, name: string) => ({
    'Fn::If': [condition, ref(name), ref('AWS::NoValue')],
  });
  const installEnv = envJson.InstallFunction as NodeJS.ProcessEnv;

  it('takes the key as a secret ARN (never the key), the app name and the framing origins, all optional', () => {
    const parameters = template.Parameters ?? {};
    for (const name of ['LaunchSigningKeyArn', 'AppName', 'InstallFrameAncestors', 'AppReturnUrl'])
      expect(parameters[name], name).toMatchObject({ Type: 'String', Default: '' });
    expect(parameters.LaunchSigningKey).toBeUndefined();
    expect(parameters.LaunchSigningKeyArn?.NoEcho).toBeUndefined();
    const arn = new RegExp(String(parameters.LaunchSigningKeyArn?.AllowedPattern));
    expect('').toMatch(arn);
    expect('arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cafe24-launch-key-AbCdEf').toMatch(arn);
    expect('-----BEGIN PRIVATE KEY-----').not.toMatch(arn);
    expect('{"kty":"EC","crv":"P-256","d":"…"}').not.toMatch(arn);
    // As long as the configuration allows, no longer.
    expect(parameters.AppName?.MaxLength).toBe(80);
    const tooLong = { ...installEnv, APP_NAME: 'x'.repeat(81) };
    expect(() => loadConfig('install', tooLong)).toThrow(/APP_NAME/);
    expect(loadConfig('install', { ...installEnv, APP_NAME: 'x'.repeat(80) }).install.appName).toHaveLength(
      80,
    );
  });

  it('refuses at deploy time the framing origins the install function would refuse at start-up', () => {
    const pattern = new RegExp(String(template.Parameters?.InstallFrameAncestors?.AllowedPattern));
    const accepted = ['', 'https://eclogin.cafe24.com', 'https://a.example.com https://b.example.com:8443'];
    for (const value of accepted) {
      expect(value).toMatch(pattern);
      const config = loadConfig('install', { ...installEnv, INSTALL_FRAME_ANCESTORS: value });
      expect(config.install.frameAncestors).toEqual(value.split(' ').filter(Boolean));
    }
    for (const value of [
      'https://*.cafe24.com',
      'http://eclogin.cafe24.com',
      'https://eclogin.cafe24.com/',
      'https://eclogin.cafe24.com/login',
      "'self'",
      '*',
    ]) {
      expect(value, value).not.toMatch(pattern);
      expect(() => loadConfig('install', { ...installEnv, INSTALL_FRAME_ANCESTORS: value }), value).toThrow(
        /INSTALL_FRAME_ANCESTORS/,
      );
    }
  });

  it('refuses a deploy with AppReturnUrl and no LaunchSigningKeyArn, with a Rule that says what to set', () => {
    expect(Object.keys(rules)).toEqual(['LaunchSigningKeyWithAppReturnUrl']);
    const rule = rules.LaunchSigningKeyWithAppReturnUrl as {
      RuleCondition: unknown;
      Assertions: Array<{ Assert: unknown; AssertDescription: string }>;
    };
    // The same tests as the conditions the environment uses (a rule cannot name a Condition).
    expect(template.Conditions?.HasAppReturnUrl).toEqual(blankIs('AppReturnUrl'));
    expect(template.Conditions?.HasLaunchSigningKey).toEqual(blankIs('LaunchSigningKeyArn'));
    expect(rule.RuleCondition).toEqual(template.Conditions?.HasAppReturnUrl);
    expect(rule.Assertions).toHaveLength(1);
    const [assertion] = rule.Assertions;
    expect(assertion?.Assert).toEqual(template.Conditions?.HasLaunchSigningKey);
    expect(assertion?.AssertDescription).toMatch(/AppReturnUrl is set.*set LaunchSigningKeyArn/s);
    expect(assertion?.AssertDescription).toContain('cafe24-tokens launch-key');
    // Only the rule-specific functions CloudFormation allows there, on parameters that exist.
    const allowed = ['Fn::And', 'Fn::Contains', 'Fn::EachMemberEquals', 'Fn::EachMemberIn', 'Fn::Equals'];
    allowed.push('Fn::If', 'Fn::Not', 'Fn::Or', 'Fn::RefAll', 'Fn::ValueOf', 'Fn::ValueOfAll', 'Ref');
    const used = JSON.stringify(rules).match(/"(Fn::[A-Za-z]+|Ref)"/g) ?? [];
    for (const name of used) expect(allowed).toContain(JSON.parse(name));

    // What CloudFormation decides, for each way the two parameters can be given.
    const refused = (parameters: Record<string, string>) => {
      const holds = (expression: unknown) => evaluate(expression, parameters) === true;
      return holds(rule.RuleCondition) && !rule.Assertions.every(({ Assert }) => holds(Assert));
    };
    const arn = 'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cafe24-launch-key-AbCdEf';
    expect(refused({ AppReturnUrl: 'https://app.example.com/', LaunchSigningKeyArn: '' })).toBe(true);
    expect(refused({ AppReturnUrl: 'https://app.example.com/', LaunchSigningKeyArn: arn })).toBe(false);
    expect(refused({ AppReturnUrl: '', LaunchSigningKeyArn: '' })).toBe(false);
    expect(refused({ AppReturnUrl: '', LaunchSigningKeyArn: arn })).toBe(false);
    // And the configuration the install function would get agrees: the refused one would not start.
    expect(() =>
      loadConfig('install', { ...installEnv, APP_RETURN_URL: 'https://app.example.com/' }),
    ).toThrow(/LAUNCH_SIGNING_KEY/);
    const withArn = {
      ...installEnv,
      APP_RETURN_URL: 'https://app.example.com/',
      LAUNCH_SIGNING_KEY_ARN: arn,
    };
    expect(loadConfig('install', withArn).launch).toEqual({ key: { arn } });
  });

  it('gives the install function each variable only when its parameter is set', () => {
    const env = declaredEnv('InstallFunction');
    expect(env.APP_RETURN_URL).toEqual(onlyWhen('HasAppReturnUrl', 'AppReturnUrl'));
    expect(env.LAUNCH_SIGNING_KEY_ARN).toEqual(onlyWhen('HasLaunchSigningKey', 'LaunchSigningKeyArn'));
    expect(env.APP_NAME).toEqual(onlyWhen('HasAppName', 'AppName'));
    expect(env.INSTALL_FRAME_ANCESTORS).toEqual(
      onlyWhen('HasInstallFrameAncestors', 'InstallFrameAncestors'),
    );
    expect(template.Conditions?.HasAppName).toEqual(blankIs('AppName'));
    expect(template.Conditions?.HasInstallFrameAncestors).toEqual(blankIs('InstallFrameAncestors'));
    expect(env.LAUNCH_SIGNING_KEY).toBeUndefined();
    // No other function signs or serves launch tokens.
    for (const id of functionIds.filter((id) => id !== 'InstallFunction'))
      expect(JSON.stringify(props(id)), id).not.toMatch(/LAUNCH_|LaunchSigningKey|APP_NAME|FRAME_ANCESTORS/);
  });

  it('lets the install function read the signing key secret only when one is given, and only that one', () => {
    const policies = props('InstallFunction').Policies as unknown[];
    const conditional = policies.filter((policy) => JSON.stringify(policy).includes('LaunchSigningKeyArn'));
    expect(conditional).toEqual([
      {
        'Fn::If': [
          'HasLaunchSigningKey',
          {
            Statement: [
              {
                Effect: 'Allow',
                Action: 'secretsmanager:GetSecretValue',
                Resource: ref('LaunchSigningKeyArn'),
              },
            ],
          },
          ref('AWS::NoValue'),
        ],
      },
    ]);
    // Not in the unconditional statements: without the parameter the role names no such secret.
    expect(JSON.stringify(statementsOf('InstallFunction'))).not.toContain('LaunchSigningKeyArn');
  });

  it('routes GET /.well-known/jwks.json to the install function', () => {
    const routes = events('InstallFunction')
      .filter((e) => e.Type === 'HttpApi')
      .map((e) => `${String(e.Properties.Method)} ${String(e.Properties.Path)}`);
    expect(routes).toContain('GET /.well-known/jwks.json');
    expect(
      events('InstallFunction').find((e) => e.Properties.Path === '/.well-known/jwks.json')?.Properties,
    ).toEqual({
      ApiId: ref('InstallHttpApi'),
      Method: 'GET',
      Path: '/.well-known/jwks.json',
    });
    // Not a path the callback could take instead.
    expect(INSTALL_RESERVED_PATHS).toContain('/.well-known/jwks.json');
  });

  it('outputs the JWKS URL (on the custom domain when given) and the issuer, the redirect URI’s origin', () => {
    const outputs = (template.Outputs ?? {}) as Record<
      string,
      { Value: unknown; Condition?: string; Description?: string }
    >;
    const jwks = outputs.LaunchJwksUrl;
    expect(jwks?.Condition).toBe('HasAppReturnUrl');
    expect(jwks?.Value).toEqual({
      'Fn::If': [
        'HasInstallDomain',
        { 'Fn::Sub': `https://\${InstallDomainName}/.well-known/jwks.json` },
        {
          'Fn::Sub': `https://\${InstallHttpApi}.execute-api.\${AWS::Region}.\${AWS::URLSuffix}/.well-known/jwks.json`,
        },
      ],
    });
    const issuer = outputs.LaunchTokenIssuer;
    expect(issuer?.Condition).toBe('HasAppReturnUrl');
    expect(issuer?.Description).toMatch(/origin of Cafe24RedirectUri/);
    // What CloudFormation computes is what the front signs as iss: new URL(CAFE24_REDIRECT_URI).origin.
    for (const uri of [
      'https://cafe24.example.com/callback',
      'https://cafe24.example.com:8443/oauth/cafe24/callback',
      'https://abc123.execute-api.ap-northeast-2.amazonaws.com/callback?x',
    ])
      expect(evaluate(issuer?.Value, withApi({ Cafe24RedirectUri: uri, InstallDomainName: '' })), uri).toBe(
        new URL(uri).origin,
      );
    // Without one, the origin the front is reached at: the API's own, or the custom domain.
    expect(evaluate(issuer?.Value, withApi({ Cafe24RedirectUri: '', InstallDomainName: '' }))).toBe(
      `https://${API_HOST}`,
    );
    expect(
      evaluate(issuer?.Value, withApi({ Cafe24RedirectUri: '', InstallDomainName: 'cafe24.example.com' })),
    ).toBe('https://cafe24.example.com');
  });
});

/** The HTTP API's id and region a test deploys to, for the outputs on the API's own host. */
const API_HOST = 'a1b2c3d4e5.execute-api.ap-northeast-2.amazonaws.com';
const withApi = (parameters: Record<string, string>): Record<string, string> => ({
  ...parameters,
  InstallHttpApi: 'a1b2c3d4e5',
  'AWS::Region': 'ap-northeast-2',
  'AWS::URLSuffix': 'amazonaws.com',
});

/** Rule and output functions over parameter values, as CloudFormation evaluates them (the ones used here). */
function evaluate(expression: unknown, parameters: Record<string, string>): unknown {
  if (typeof expression !== 'object' || expression === null) return expression;
  if (Array.isArray(expression)) return expression.map((item) => evaluate(item, parameters));
  const [[name, argument]] = Object.entries(expression) as [[string, unknown]];
  if (name === 'Fn::If') {
    // Only the branch the condition picks is evaluated, as CloudFormation does.
    const [condition, whenTrue, whenFalse] = argument as [string, unknown, unknown];
    const holds = evaluate(template.Conditions?.[condition], parameters);
    return evaluate(holds ? whenTrue : whenFalse, parameters);
  }
  if (name === 'Fn::Sub' && typeof argument === 'string') {
    return argument.replace(/\$\{([^}]+)\}/g, (_, variable: string) => {
      if (!(variable in parameters)) throw new Error(`no value for \${${variable}}`);
      return parameters[variable] as string;
    });
  }
  const args = evaluate(argument, parameters) as unknown[];
  switch (name) {
    case 'Ref':
      if (!(String(argument) in parameters)) throw new Error(`no value for parameter ${String(argument)}`);
      return parameters[String(argument)];
    case 'Fn::Not':
      return !(args[0] as boolean);
    case 'Fn::Equals':
      return args[0] === args[1];
    case 'Fn::And':
      return args.every(Boolean);
    case 'Fn::Or':
      return args.some(Boolean);
    case 'Fn::Split':
      return String(args[1]).split(String(args[0]));
    case 'Fn::Select':
      return (args[1] as unknown[])[Number(args[0])];
    case 'Fn::Join':
      return (args[1] as unknown[]).join(String(args[0]));
    default:
      throw new Error(`evaluate: ${name} is not modelled`);
  }
}

describe('environment', () => {
  it.each(functionIds)('%s declares every variable the code reads, or it is deliberately absent', (id) => {
    const configKeys = variablesOf(functionCommand[id] as Command);
    const declared = Object.keys(declaredEnv(id));
    const absent = notDeclared[id] ?? {};
    expect(configKeys.filter((key) => !declared.includes(key) && !(key in absent))).toEqual([]);
    expect(declared.filter((key) => key in absent)).toEqual([]);
    // And nothing the code does not know (a typo would be silently ignored).
    expect(declared.filter((key) => !configKeys.includes(key) && !runtimeVariables.includes(key))).toEqual(
      [],
    );
  });

  it('connects every function to the database over TLS, the server checked against the RDS authorities', () => {
    const env = (globals.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env.PGSSLMODE).toEqual(ref('DatabaseSslMode'));
    expect(template.Parameters?.DatabaseSslMode).toMatchObject({
      Default: 'verify-full',
      AllowedValues: ['verify-full', 'verify-ca', 'require'],
    });
    // Each value is one the code reads (and none turns TLS off).
    for (const mode of template.Parameters?.DatabaseSslMode?.AllowedValues as string[])
      expect(
        loadConfig('status', { DATABASE_URL: 'postgres://h/db', PGSSLMODE: mode }).database.sslMode,
      ).toBe(mode);
    // Lambda's Node runtimes ship the RDS certificate authorities there, and load them only when told.
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/var/runtime/ca-cert.pem');
    // The local stack's PostgreSQL (env.json, sam local invoke) speaks no TLS.
    for (const id of functionIds) expect(envJson[id]?.PGSSLMODE, id).toBe('disable');
  });

  it('env.json declares exactly what the template declares, per function', () => {
    expect(Object.keys(envJson).sort()).toEqual([...functionIds].sort());
    for (const id of functionIds) {
      expect(Object.keys(envJson[id] ?? {}).sort(), id).toEqual(Object.keys(declaredEnv(id)).sort());
      for (const [key, value] of Object.entries(envJson[id] ?? {}))
        expect(typeof value, `${id}.${key}`).toBe('string');
      // Literal values in the template are what env.json says too (no drift in timeouts and the like).
      for (const [key, value] of Object.entries(declaredEnv(id))) {
        if (typeof value === 'string' && !key.startsWith('PG') && !(LOCAL_ONLY[id] ?? []).includes(key))
          expect(envJson[id]?.[key], `${id}.${key}`).toBe(value);
      }
    }
  });

  it('env.json configures each function completely for `sam local invoke`, with no AWS account', () => {
    // The sandbox's stand-in secret as a value (no Secrets Manager to read it from), the local emulators'
    // endpoints, the local KMS key by its alias: what `npm start -- --listen 0.0.0.0` serves.
    const secret = { value: new Secret(LOCAL_APP.clientSecret) };
    const exchange = loadConfig('exchange', envJson.ExchangeFunction as NodeJS.ProcessEnv);
    expect(exchange.clientSecret).toEqual(secret);
    expect(exchange.cafe24.apiBaseUrl).toContain('{mall_id}');
    expect(exchange.sealing).toEqual({ kmsKeyId: LOCAL_KMS_ALIAS });
    expect(exchange.aws.endpoints).toMatchObject({
      sqs: 'http://host.docker.internal:4566',
      kms: 'http://host.docker.internal:4599',
    });
    const relay = loadConfig('relay', envJson.RelayFunction as NodeJS.ProcessEnv);
    expect(relay.database.host).toBe('host.docker.internal');
    expect(relay.queue.url).toBe(envJson.RelayFunction?.SQS_QUEUE_URL);
    const install = loadConfig('install', envJson.InstallFunction as NodeJS.ProcessEnv);
    expect(install.clientSecret).toEqual(secret);
    expect(install.webhook.key).toEqual({ value: new Secret(LOCAL_APP.webhookApiKey) });
    expect(install.install.scopes.length).toBeGreaterThan(0);
    expect(install.exchangeQueue.queueUrl).toBe(envJson.InstallFunction?.SQS_QUEUE_URL);
    const refresh = loadConfig('refresh', envJson.RefreshFunction as NodeJS.ProcessEnv);
    expect(refresh.clientSecret).toEqual(secret);
    expect(refresh.refresh).toMatchObject({ aheadMs: 1_200_000, concurrency: 10 });
    const schedule = loadConfig('refreshSchedule', envJson.RefreshScheduleFunction as NodeJS.ProcessEnv);
    expect(schedule.refreshQueue.url).toBe(envJson.RefreshScheduleFunction?.REFRESH_QUEUE_URL);
    expect(schedule.refreshSchedule).toEqual({ aheadMs: 1_200_000, roundMs: 240_000 });
    // No ARN of an account's: nothing in env.json needs AWS credentials.
    expect(JSON.stringify(envJson)).not.toMatch(/arn:aws/);
  });

  it('has parameter defaults and patterns the code accepts', () => {
    const arnPattern = new RegExp(String(template.Parameters?.ClientSecretArn?.AllowedPattern));
    expect('arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cafe24-AbCdEf').toMatch(arnPattern);
    expect('').not.toMatch(arnPattern);
    const scopesPattern = new RegExp(String(template.Parameters?.Cafe24Scopes?.AllowedPattern));
    expect(envJson.InstallFunction?.CAFE24_SCOPES).toMatch(scopesPattern);
    expect('mall.read_order, mall.read_product').not.toMatch(scopesPattern);
    const installEnv = envJson.InstallFunction as NodeJS.ProcessEnv;
    const scopes = 'mall.read_order,mall.write_product';
    expect(loadConfig('install', { ...installEnv, CAFE24_SCOPES: scopes }).install.scopes).toHaveLength(2);
    const base = template.Parameters?.Cafe24ApiBaseUrl?.Default;
    expect(
      loadConfig('exchange', {
        ...(envJson.ExchangeFunction as NodeJS.ProcessEnv),
        CAFE24_API_BASE_URL: String(base),
      }).cafe24.apiBaseUrl,
    ).toBe('https://{mall_id}.cafe24api.com');
  });
});

describe('events/', () => {
  const event = (name: string) => JSON.parse(readFileSync(join(root, 'events', name), 'utf8')) as Props;
  type Record_ = { messageId: string; body: string; md5OfBody: string; eventSource: string };

  it.each([
    'exchange-sqs-one.json',
    'exchange-sqs-batch.json',
    'refresh-sqs-one.json',
  ])('%s is an SQS event as Lambda delivers it', (name) => {
    const records = event(name).Records as Record_[];
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) {
      expect(record.eventSource).toBe('aws:sqs');
      expect(record.md5OfBody).toBe(createHash('md5').update(record.body).digest('hex'));
    }
    expect(new Set(records.map((r) => r.messageId)).size).toBe(records.length);
  });

  it('has one well-formed exchange message alone, and a batch with exactly one malformed body', () => {
    const [one] = event('exchange-sqs-one.json').Records as Record_[];
    expect(parseMessageBody(one?.body ?? '')).toEqual({
      ok: true,
      message: { kind: 'exchange', codeId: '1' },
    });
    const batch = (event('exchange-sqs-batch.json').Records as Record_[]).map(
      (r) => parseMessageBody(r.body).ok,
    );
    expect(batch.filter((ok) => !ok)).toHaveLength(1);
    expect(batch.filter((ok) => ok).length).toBeGreaterThanOrEqual(2);
  });

  it('has the manual events, a scheduled event and the database trigger’s payload', () => {
    expect(event('exchange-manual.json')).toEqual({});
    expect(event('exchange-manual-code.json')).toEqual({ codeId: 1 });
    expect(event('relay-scheduled.json')).toMatchObject({
      source: 'aws.events',
      'detail-type': 'Scheduled Event',
    });
    expect(event('relay-rds.json')).toEqual({ source: 'rds-trigger', codeId: '1' });
    expect(event('refresh-schedule.json')).toMatchObject({
      source: 'aws.events',
      'detail-type': 'Scheduled Event',
    });
  });

  it('has one well-formed refresh message for the refresh function', () => {
    const [one] = event('refresh-sqs-one.json').Records as Record_[];
    expect(parseMessageBody(one?.body ?? '')).toEqual({
      ok: true,
      message: { kind: 'refresh', mallId: 'localmall' },
    });
  });
});

describe('the token stash bucket', () => {
  it('lets the functions that read the stash list its bucket: a missing object is NoSuchKey, not 403', () => {
    for (const id of ['ExchangeFunction', 'RefreshFunction']) {
      const statements = statementsOf(id);
      expect(
        statements.some((statement) => actions(statement).includes('s3:GetObject')),
        `${id} reads the stash`,
      ).toBe(true);
      expect(
        statements.find((statement) => actions(statement).includes('s3:ListBucket'))?.Resource,
        `${id} may list the bucket`,
      ).toEqual({ 'Fn::GetAtt': ['TokenStashBucket', 'Arn'] });
    }
  });
});

describe('the token key (docs/design.md, "Tokens encrypted at rest")', () => {
  type KeyStatement = Statement & {
    Sid?: string;
    Principal: string | { AWS: unknown };
    Condition?: unknown;
    NotAction?: unknown;
    NotPrincipal?: unknown;
  };
  const roleArn = (id: string) => getAtt(`${id}Role`, 'Arn');
  const tokenRoles = [roleArn('ExchangeFunction'), roleArn('RefreshFunction')];
  const operators = ['arn:aws:iam::123456789012:role/cafe24-ops', 'arn:aws:iam::123456789012:user/alice'];
  const existingKey = 'arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  /** The conditions CloudFormation computes for these parameter values (a CommaDelimitedList left empty is [""]). */
  const conditionsFor = (parameters: Record<string, unknown>) =>
    Object.fromEntries(
      ['CreateTokenKey', 'HasTokenKeyOperators'].map((name) => [
        name,
        evaluate(template.Conditions?.[name], parameters as Record<string, string>) === true,
      ]),
    );
  /** The stack's key policy as deployed with these operators (the key exists only with TokenKmsKeyArn empty). */
  const keyPolicy = (operatorArns: string[]): KeyStatement[] => {
    const parameters = { TokenKmsKeyArn: '', TokenKeyOperatorArns: operatorArns };
    const policy = props('TokenKey').KeyPolicy as { Statement: unknown[] };
    return decide(policy.Statement, conditionsFor(parameters), parameters) as KeyStatement[];
  };
  const principalsOf = (statement: KeyStatement): unknown[] =>
    typeof statement.Principal === 'string' ? [statement.Principal] : [statement.Principal.AWS].flat();
  const keyInUse = { 'Fn::If': ['CreateTokenKey', getAtt('TokenKey', 'Arn'), ref('TokenKmsKeyArn')] };
  // The context src/aws/kms.ts binds to every data key, as a key policy condition.
  const withContext = {
    StringEquals: Object.fromEntries(
      Object.entries(TOKEN_DATA_KEY_CONTEXT).map(([key, value]) => [`kms:EncryptionContext:${key}`, value]),
    ),
  };
  const throughS3 = { StringEquals: { 'kms:ViaService': { 'Fn::Sub': `s3.\${AWS::Region}.amazonaws.com` } } };
  /** What opens or makes a token's key (or any data under the key). */
  const cryptographic = [
    'kms:Decrypt',
    'kms:Encrypt',
    'kms:GenerateDataKey',
    'kms:GenerateDataKeyWithoutPlaintext',
    'kms:GenerateDataKeyPair',
    'kms:GenerateDataKeyPairWithoutPlaintext',
    'kms:ReEncryptFrom',
    'kms:ReEncryptTo',
  ];
  const grantsAny = (statement: Statement, wanted: string[]) =>
    actions(statement).some((pattern) => wanted.some((action) => actionMatches(pattern, action)));

  it('is a symmetric key with rotation, kept when the stack is deleted or the key replaced, unless one is given', () => {
    const key = resource('TokenKey') as Resource & { DeletionPolicy?: string; UpdateReplacePolicy?: string };
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(key.Condition).toBe('CreateTokenKey');
    // A deleted key makes every token sealed under it unreadable, for good.
    expect(key.DeletionPolicy).toBe('Retain');
    expect(key.UpdateReplacePolicy).toBe('Retain');
    expect(props('TokenKey')).toMatchObject({
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      EnableKeyRotation: true,
    });
    expect(template.Conditions?.CreateTokenKey).toEqual({ 'Fn::Equals': [ref('TokenKmsKeyArn'), ''] });
    const parameter = template.Parameters?.TokenKmsKeyArn;
    expect(parameter).toMatchObject({ Type: 'String', Default: '' });
    expect(parameter?.Description).toMatch(/Empty creates a key for this stack/);
    expect(parameter?.Description).toMatch(/symmetric.*key policy lets this stack's Exchange and Refresh/s);
    const pattern = new RegExp(String(parameter?.AllowedPattern));
    for (const value of ['', existingKey, existingKey.replace('arn:aws:', 'arn:aws-cn:')])
      expect(value).toMatch(pattern);
    for (const value of [
      '1234abcd-12ab-34cd-56ef-1234567890ab',
      'alias/cafe24-tokens',
      'arn:aws:kms:ap-northeast-2:123456789012:alias/cafe24-tokens',
      'arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:x',
      ` ${existingKey}`,
    ])
      expect(value, value).not.toMatch(pattern);
    // The code takes what the parameter lets through.
    const exchangeEnv = envJson.ExchangeFunction as NodeJS.ProcessEnv;
    expect(loadConfig('exchange', { ...exchangeEnv, TOKEN_KMS_KEY_ID: existingKey }).sealing.kmsKeyId).toBe(
      existingKey,
    );
    expect(props('TokenKeyAlias')).toEqual({
      AliasName: { 'Fn::Sub': `alias/\${AWS::StackName}-tokens` },
      TargetKeyId: ref('TokenKey'),
    });
    expect(resource('TokenKeyAlias').Condition).toBe('CreateTokenKey');
    expect(template.Outputs?.TokenKeyArn?.Value).toEqual(keyInUse);
  });

  it('lets only the exchange and refresh roles (and the operators named) make and open data keys, with the context or through S3', () => {
    expect(template.Parameters?.TokenKeyOperatorArns).toMatchObject({
      Type: 'CommaDelimitedList',
      Default: '',
    });
    const pattern = new RegExp(String(template.Parameters?.TokenKeyOperatorArns?.AllowedPattern));
    for (const value of ['', ...operators]) expect(value).toMatch(pattern);
    for (const value of [
      '*',
      '123456789012',
      'arn:aws:iam::123456789012:root',
      'arn:aws:sts::1:assumed-role/x/y',
    ])
      expect(value, value).not.toMatch(pattern);

    for (const named of [[''], operators]) {
      const statements = keyPolicy(named);
      const allowed = [...tokenRoles, ...named.filter(Boolean)];
      const using = statements.filter((s) => grantsAny(s, cryptographic));
      for (const statement of using) {
        expect(statement.Effect, statement.Sid).toBe('Allow');
        expect(allowed, statement.Sid).toEqual(expect.arrayContaining(principalsOf(statement)));
        expect(actions(statement).sort(), statement.Sid).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
        // Never unconditioned: the code's context, or S3 on the caller's behalf (the stash bucket).
        expect([withContext, throughS3], statement.Sid).toContainEqual(statement.Condition);
      }
      const granted = (principal: unknown, condition: unknown) =>
        using.some(
          (s) =>
            principalsOf(s).some((p) => isDeepStrictEqual(p, principal)) &&
            isDeepStrictEqual(s.Condition, condition),
        );
      for (const principal of allowed) {
        expect(granted(principal, withContext), JSON.stringify(principal)).toBe(true);
        expect(granted(principal, throughS3), JSON.stringify(principal)).toBe(true);
        // doctor asks whether the key exists and is enabled.
        const describes = statements.some(
          (s) =>
            principalsOf(s).some((p) => isDeepStrictEqual(p, principal)) &&
            grantsAny(s, ['kms:DescribeKey']) &&
            s.Condition === undefined,
        );
        expect(describes, JSON.stringify(principal)).toBe(true);
      }
      for (const statement of statements) {
        expect(statement.NotAction, statement.Sid).toBeUndefined();
        expect(statement.NotPrincipal, statement.Sid).toBeUndefined();
        expect(principalsOf(statement), statement.Sid).not.toContain('*');
      }
    }
  });

  it('lets the account administer the key but not seal or open anything with it', () => {
    const statements = keyPolicy(operators);
    const root = { 'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:root` };
    const admin = statements.filter((s) => principalsOf(s).some((p) => isDeepStrictEqual(p, root)));
    expect(admin).toHaveLength(1);
    for (const statement of admin) {
      expect(grantsAny(statement, cryptographic), JSON.stringify(actions(statement))).toBe(false);
      expect(actions(statement)).not.toContain('kms:*');
    }
    // Everything a key's administrator needs, so the account is never locked out of its key.
    for (const action of [
      'kms:PutKeyPolicy',
      'kms:GetKeyPolicy',
      'kms:DescribeKey',
      'kms:EnableKeyRotation',
      'kms:DisableKey',
      'kms:ScheduleKeyDeletion',
      'kms:CancelKeyDeletion',
      'kms:TagResource',
    ])
      expect(grantsAny(admin[0] as Statement, [action]), action).toBe(true);
    // No other principal holds anything but what the roles and operators are given.
    const others = statements.filter((s) => !admin.includes(s));
    const known = [...tokenRoles, ...operators];
    for (const statement of others)
      expect(known, statement.Sid).toEqual(expect.arrayContaining(principalsOf(statement)));
  });

  it('gives the relay, the refresh schedule and the install front no use of any key', () => {
    for (const id of ['RelayFunction', 'RefreshScheduleFunction', 'InstallFunction']) {
      expect(JSON.stringify(props(id).Policies), id).not.toMatch(/kms:|TokenKey|TokenKmsKeyArn/i);
      expect(declaredEnv(id).TOKEN_KMS_KEY_ID, id).toBeUndefined();
      for (const named of [[''], operators])
        for (const statement of keyPolicy(named))
          expect(JSON.stringify(principalsOf(statement)), `${id} ${statement.Sid}`).not.toContain(
            `${id}Role`,
          );
    }
    // Nor through a policy of its own attached to their roles.
    const iamPolicies = Object.values(template.Resources).filter((r) => /^AWS::IAM::/.test(r.Type));
    for (const policy of iamPolicies) expect(JSON.stringify(policy)).not.toMatch(/kms:/i);
    // The install front deletes a removed mall's stashed pair without reading it (it has no key to open it).
    const stash = statementsOf('InstallFunction').filter((s) => actions(s).some((a) => a.startsWith('s3:')));
    expect(stash).toEqual([
      {
        Effect: 'Allow',
        Action: 's3:DeleteObject',
        Resource: { 'Fn::Sub': `\${TokenStashBucket.Arn}/stash/*` },
      },
    ]);
  });

  it('tells exactly the exchange and the refresh which key seals the tokens, and nothing declares a local key', () => {
    const withKey = functionIds.filter((id) => 'TOKEN_KMS_KEY_ID' in declaredEnv(id));
    expect(withKey.sort()).toEqual(['ExchangeFunction', 'RefreshFunction']);
    for (const id of withKey) {
      expect(declaredEnv(id).TOKEN_KMS_KEY_ID, id).toEqual(keyInUse);
      expect(variablesOf(functionCommand[id] as Command), id).toContain('TOKEN_KMS_KEY_ID');
    }
    // A key in the environment is for local runs only: it is in no function's configuration.
    expect(JSON.stringify(template)).not.toContain('TOKEN_ENCRYPTION_KEY');
    for (const id of functionIds)
      expect(
        notDeclared[id]?.TOKEN_ENCRYPTION_KEY !== undefined,
        `${id} reads TOKEN_ENCRYPTION_KEY exactly when its command seals`,
      ).toBe(variablesOf(functionCommand[id] as Command).includes('TOKEN_ENCRYPTION_KEY'));
  });

  it('gives the roles an identity policy on a key of yours (TokenKmsKeyArn) only, and none naming the stack’s key', () => {
    for (const id of ['ExchangeFunction', 'RefreshFunction']) {
      const policies = props(id).Policies as unknown[];
      // With the stack's key, the roles' policies name no key: the key policy is their whole grant.
      const own = { TokenKmsKeyArn: '', TokenKeyOperatorArns: [''] };
      expect(JSON.stringify(decide(policies, conditionsFor(own), own)), id).not.toMatch(/kms:|TokenKey/);
      const given = { TokenKmsKeyArn: existingKey, TokenKeyOperatorArns: [''] };
      const statements = (decide(policies, conditionsFor(given), given) as unknown[]).flatMap((policy) =>
        typeof policy === 'object' && policy !== null && 'Statement' in policy
          ? (policy as { Statement: KeyStatement[] }).Statement
          : [],
      );
      const kms = statements.filter((s) => actions(s).some((a) => a.startsWith('kms:')));
      expect(kms, id).toEqual([
        {
          Effect: 'Allow',
          Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
          Resource: existingKey,
          Condition: withContext,
        },
        {
          Effect: 'Allow',
          Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
          Resource: existingKey,
          Condition: throughS3,
        },
        { Effect: 'Allow', Action: 'kms:DescribeKey', Resource: existingKey },
      ]);
    }
  });

  it('encrypts the stash bucket with the token key, by the stack key’s alias or the key given', () => {
    const rules = (
      props('TokenStashBucket').BucketEncryption as { ServerSideEncryptionConfiguration: unknown[] }
    ).ServerSideEncryptionConfiguration;
    const alias = (props('TokenKeyAlias').AliasName as { 'Fn::Sub': string })['Fn::Sub'];
    expect(rules).toEqual([
      {
        ServerSideEncryptionByDefault: {
          SSEAlgorithm: 'aws:kms',
          KMSMasterKeyID: {
            'Fn::If': [
              'CreateTokenKey',
              { 'Fn::Sub': `arn:\${AWS::Partition}:kms:\${AWS::Region}:\${AWS::AccountId}:${alias}` },
              ref('TokenKmsKeyArn'),
            ],
          },
        },
        BucketKeyEnabled: true,
      },
    ]);
    // Who reads or writes stashed objects is who the key lets S3 act for.
    const readersAndWriters = functionIds.filter((id) =>
      statementsOf(id).some((s) => actions(s).some((a) => a === 's3:PutObject' || a === 's3:GetObject')),
    );
    expect(readersAndWriters.sort()).toEqual(['ExchangeFunction', 'RefreshFunction']);
  });

  it('has no dependency cycle, though the key policy names the roles and the bucket is encrypted with the key', () => {
    const named = referencesIn(props('TokenKey').KeyPolicy);
    expect([...named]).toEqual(expect.arrayContaining(['ExchangeFunctionRole', 'RefreshFunctionRole']));
    expect(dependencyCycle(template)).toBeUndefined();

    // The two ways to close one, which the check catches: the bucket naming TokenKey itself, a role's
    // policy naming it.
    const byKey = structuredClone(template);
    const encryption = (byKey.Resources.TokenStashBucket?.Properties?.BucketEncryption ?? {}) as {
      ServerSideEncryptionConfiguration: Array<{ ServerSideEncryptionByDefault: Props }>;
    };
    (
      encryption.ServerSideEncryptionConfiguration[0] as { ServerSideEncryptionByDefault: Props }
    ).ServerSideEncryptionByDefault.KMSMasterKeyID = keyInUse;
    expect(dependencyCycle(byKey)).toEqual(
      expect.arrayContaining(['TokenKey', 'ExchangeFunctionRole', 'TokenStashBucket']),
    );
    const byRole = structuredClone(template);
    (byRole.Resources.RefreshFunction?.Properties?.Policies as unknown[]).push({
      Statement: [{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: getAtt('TokenKey', 'Arn') }],
    });
    expect(dependencyCycle(byRole)).toEqual(expect.arrayContaining(['TokenKey', 'RefreshFunctionRole']));
  });

  it('alarms when a stored token does not open, and shows it on the dashboard', () => {
    const alarm = alarms.filter((a) => a.MetricName === METRIC.TokensUnreadable);
    expect(alarm).toHaveLength(1);
    expect(alarm[0]).toMatchObject({
      Namespace: METRICS_NAMESPACE,
      Dimensions: [{ Name: 'service', Value: METRICS_SERVICE }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
    });
    const description = String(alarm[0]?.AlarmDescription);
    expect(description).toMatch(/tampered/);
    expect(description).toMatch(/another mall's row or column/);
    expect(description).toMatch(/key this deployment does not have/);
    expect(description).toMatch(/NOT marked invalid/);
    expect(description).toContain('TOKEN_KMS_KEY_ID');
    expect(description).toContain('cafe24-tokens doctor');
    expect(resource('TokensUnreadableAlarm').Type).toBe('AWS::CloudWatch::Alarm');
    const body = (props('Dashboard').DashboardBody as { 'Fn::Sub': string })['Fn::Sub'];
    expect(body).toContain(
      `["${METRICS_NAMESPACE}", "${METRIC.TokensUnreadable}", "service", "${METRICS_SERVICE}"`,
    );
  });
});

/** Does an IAM action pattern (`kms:Get*`, `kms:Describe?ey`) cover `action`? Case-insensitive, as IAM. */
function actionMatches(pattern: string, action: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 'i').test(action);
}

/** A template fragment as CloudFormation deploys it: each Fn::If decided (AWS::NoValue dropped), each Ref
 * to a given parameter replaced by its value; everything else as written. */
function decide(
  node: unknown,
  conditions: Record<string, boolean>,
  parameters: Record<string, unknown>,
): unknown {
  const NONE = Symbol('AWS::NoValue');
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk).filter((item) => item !== NONE);
    if (typeof value !== 'object' || value === null) return value;
    const entries = Object.entries(value);
    if (entries.length === 1) {
      const [[key, argument]] = entries as [[string, unknown]];
      if (key === 'Ref' && argument === 'AWS::NoValue') return NONE;
      if (key === 'Ref' && String(argument) in parameters) return parameters[String(argument)];
      if (key === 'Fn::If') {
        const [name, whenTrue, whenFalse] = argument as [string, unknown, unknown];
        if (!(name in conditions)) throw new Error(`decide: no value for condition ${name}`);
        return walk(conditions[name] ? whenTrue : whenFalse);
      }
    }
    return Object.fromEntries(
      entries.map(([key, item]) => [key, walk(item)] as const).filter(([, item]) => item !== NONE),
    );
  };
  return walk(node);
}

/** The logical ids a fragment names: Ref, Fn::GetAtt and Fn::Sub's `${Id}` / `${Id.Attribute}`. */
function referencesIn(node: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const item of node) referencesIn(item, found);
    return found;
  }
  if (typeof node !== 'object' || node === null) return found;
  for (const [key, value] of Object.entries(node)) {
    if (key === 'Ref') found.add(String(value));
    else if (key === 'Fn::GetAtt') found.add(String([value].flat()[0]).split('.')[0] as string);
    else if (key === 'Fn::Sub') {
      const [text, variables] = [value].flat() as [string, Record<string, unknown> | undefined];
      for (const [, name] of text.matchAll(/\$\{([^}!]+)\}/g)) {
        const head = (name as string).split('.')[0] as string;
        if (!(variables && head in variables)) found.add(head);
      }
      referencesIn(variables, found);
    } else referencesIn(value, found);
  }
  return found;
}

/**
 * A dependency cycle among the resources, as CloudFormation would meet it after the SAM transform, or
 * undefined. The transform gives each function without a Role a `<Function>Role` that waits for what the
 * function's Policies (and role settings) name, and the function waits for its role and for everything
 * else it names; a name SAM makes from a resource's (`InstallHttpApiApiGatewayDefaultStage`) counts as
 * that resource.
 */
function dependencyCycle(t: Template): string[] | undefined {
  const graph = new Map<string, Set<string>>();
  const roleKeys = ['Policies', 'PermissionsBoundary', 'AssumeRolePolicyDocument', 'RolePath'];
  for (const [id, r] of Object.entries(t.Resources)) {
    const properties = r.Properties ?? {};
    const dependsOn = [(r as Resource & { DependsOn?: string | string[] }).DependsOn ?? []].flat();
    if (r.Type === 'AWS::Serverless::Function' && properties.Role === undefined) {
      const roleProperties = Object.fromEntries(roleKeys.map((key) => [key, properties[key]]));
      const rest = Object.fromEntries(Object.entries(properties).filter(([key]) => !roleKeys.includes(key)));
      graph.set(`${id}Role`, referencesIn(roleProperties));
      graph.set(id, new Set([...referencesIn([rest, t.Globals?.Function]), ...dependsOn, `${id}Role`]));
    } else graph.set(id, new Set([...referencesIn(properties), ...dependsOn]));
  }
  const nodes = [...graph.keys()];
  const owner = (name: string) => {
    if (graph.has(name)) return name;
    if (name.startsWith('AWS::') || name in (t.Parameters ?? {})) return undefined;
    return nodes.filter((id) => name.startsWith(id)).sort((a, b) => b.length - a.length)[0];
  };
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'open') return path.slice(path.indexOf(id));
    state.set(id, 'open');
    path.push(id);
    for (const name of graph.get(id) ?? []) {
      const next = owner(name);
      if (next === undefined) continue;
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of nodes) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}
