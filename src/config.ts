import * as z from 'zod/mini';
import { Secret } from './commons/secret.ts';

/** A Cafe24 mall id: it becomes a host name label, so nothing but letters, digits, `-` and `_`. */
export const mallIdSchema = z
  .string()
  .check(z.regex(/^[a-z0-9][a-z0-9_-]{0,62}$/i, 'must be a Cafe24 mall id: letters, digits, "-" or "_"'));

/** An empty variable counts as unset (SAM and env files write "" for a parameter left blank). */
const unsetIfBlank = <T extends z.ZodMiniType>(schema: T) =>
  z.pipe(
    z.transform((value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value)),
    z.optional(schema),
  );

const optionalText = unsetIfBlank(z.string().check(z.trim()));

const integer = (min: number, max: number, fallback: number) =>
  z._default(
    z.coerce
      .number({ error: `must be a whole number from ${min} to ${max}` })
      .check(
        z.int(`must be a whole number from ${min} to ${max}`),
        z.minimum(min, `must be at least ${min}`),
        z.maximum(max, `must be at most ${max}`),
      ),
    fallback,
  );

const url = (what: string) => z.url(`must be a URL (${what})`);

/**
 * The environment, the one source of truth for configuration. Names are the design's contract;
 * the tunables after them have defaults that follow Cafe24's one-minute code life.
 */
export const envSchema = z.object({
  DATABASE_URL: unsetIfBlank(url('postgres://user:password@host:5432/db')),
  PGHOST: optionalText,
  PGPORT: integer(1, 65_535, 5432),
  PGUSER: optionalText,
  PGPASSWORD: optionalText,
  PGPASSWORD_SECRET_ARN: unsetIfBlank(
    z.string().check(z.regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager secret ARN')),
  ),
  PGDATABASE: optionalText,

  CAFE24_MALL_ID: unsetIfBlank(mallIdSchema),
  CAFE24_CLIENT_ID: z
    .string({ error: 'is required: the app client id from Cafe24 Developers' })
    .check(z.trim(), z.minLength(1, 'is required: the app client id from Cafe24 Developers')),
  CAFE24_CLIENT_SECRET: optionalText,
  CAFE24_CLIENT_SECRET_ARN: unsetIfBlank(
    z.string().check(z.regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager secret ARN')),
  ),
  CAFE24_REDIRECT_URI: url('the redirect URI registered in Cafe24 Developers, character for character'),
  CAFE24_API_BASE_URL: z._default(
    z
      .string()
      .check(
        z.refine(
          (value) => URL.canParse(value.replaceAll('{mall_id}', 'mall')),
          'must be a URL; {mall_id} is substituted',
        ),
      ),
    'https://{mall_id}.cafe24api.com',
  ),

  // The install front (src/install): the scopes it asks for and where to send the person afterwards.
  CAFE24_SCOPES: unsetIfBlank(
    z
      .string()
      .check(
        z.regex(
          /^\s*mall\.(read|write)_[a-z]+(\s*,\s*mall\.(read|write)_[a-z]+)*\s*$/,
          'must list scopes as Cafe24 Developers does, comma separated (mall.read_order,mall.read_product)',
        ),
      ),
  ),
  APP_RETURN_URL: unsetIfBlank(url('where the install sends the person, with mall_id and outcome')),

  SQS_QUEUE_URL: unsetIfBlank(url('the exchange queue')),
  SQS_DLQ_URL: unsetIfBlank(url('the dead-letter queue')),
  AWS_REGION: optionalText,
  AWS_ENDPOINT_URL_SQS: unsetIfBlank(url('a local SQS endpoint')),
  TOKEN_STASH_BUCKET: unsetIfBlank(
    z.string().check(z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')),
  ),
  AWS_ENDPOINT_URL_S3: unsetIfBlank(url('a local S3 endpoint')),

  CAFE24_CONNECT_TIMEOUT_MS: integer(100, 60_000, 3_000),
  CAFE24_REQUEST_TIMEOUT_MS: integer(500, 60_000, 10_000),
  CODE_LIFETIME_SECONDS: integer(1, 3_600, 60),
  CODE_EXPIRY_MARGIN_SECONDS: integer(0, 30, 3),
  EXCHANGE_CONCURRENCY: integer(1, 100, 10),
});

const present = (value: string | undefined) => (value ?? '').trim() !== '';

const databaseKeys = {
  DATABASE_URL: true,
  PGHOST: true,
  PGPORT: true,
  PGUSER: true,
  PGPASSWORD: true,
  PGPASSWORD_SECRET_ARN: true,
  PGDATABASE: true,
} as const;
const sqsKeys = {
  SQS_QUEUE_URL: true,
  SQS_DLQ_URL: true,
  AWS_REGION: true,
  AWS_ENDPOINT_URL_SQS: true,
} as const;

function databaseProblems(source: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  if (!present(source.DATABASE_URL) && !present(source.PGHOST))
    problems.push('PGHOST is required (or set DATABASE_URL)');
  if (present(source.PGPASSWORD) && present(source.PGPASSWORD_SECRET_ARN)) {
    problems.push('PGPASSWORD and PGPASSWORD_SECRET_ARN are both set: keep one');
  }
  return problems;
}

function secretProblems(source: NodeJS.ProcessEnv): string[] {
  const secret = present(source.CAFE24_CLIENT_SECRET);
  if (secret && present(source.CAFE24_CLIENT_SECRET_ARN)) {
    return ['CAFE24_CLIENT_SECRET and CAFE24_CLIENT_SECRET_ARN are both set: keep one'];
  }
  if (!secret && !present(source.CAFE24_CLIENT_SECRET_ARN)) {
    return [
      'CAFE24_CLIENT_SECRET is required (or set CAFE24_CLIENT_SECRET_ARN to read it from Secrets Manager)',
    ];
  }
  return [];
}

/** Parses with `schema`; every problem (field or cross-field) is named in one ConfigError, no value echoed. */
function parseEnv<T extends z.ZodMiniType>(
  schema: T,
  source: NodeJS.ProcessEnv,
  extra: string[],
): z.output<T> {
  const parsed = schema.safeParse(source);
  const problems = [
    ...(parsed.success
      ? []
      : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'} ${issue.message}`)),
    ...extra,
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return parsed.data;
}

export type Env = z.infer<typeof envSchema>;

export type Config = {
  database: {
    connectionString?: string;
    host?: string;
    port: number;
    user?: string;
    password?: Secret;
    /** Read from Secrets Manager instead of PGPASSWORD (an RDS-managed secret, say). */
    passwordSecretArn?: string;
    database?: string;
  };
  cafe24: {
    mallId?: string;
    clientId: string;
    clientSecret: { value: Secret } | { arn: string };
    redirectUri: string;
    apiBaseUrl: string;
    connectTimeoutMs: number;
    requestTimeoutMs: number;
  };
  codes: { lifetimeMs: number; expiryMarginMs: number };
  /** Where issued tokens wait when the database cannot take them; memory only without a bucket. */
  tokenStash: { bucket?: string; endpoint?: string };
  exchangeConcurrency: number;
  sqs: SqsConfig;
};

export type SqsConfig = { queueUrl?: string; dlqUrl?: string; region?: string; endpoint?: string };

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(
      `Invalid configuration; fix these environment variables:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.problems = problems;
  }
}

/** The exchange's configuration (database and Cafe24), read once; every problem named in one error. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const env = parseEnv(envSchema, source, [...databaseProblems(source), ...secretProblems(source)]);
  return {
    database: databaseFrom(env),
    cafe24: {
      mallId: env.CAFE24_MALL_ID,
      clientId: env.CAFE24_CLIENT_ID,
      clientSecret: env.CAFE24_CLIENT_SECRET
        ? { value: new Secret(env.CAFE24_CLIENT_SECRET) }
        : { arn: env.CAFE24_CLIENT_SECRET_ARN as string },
      redirectUri: env.CAFE24_REDIRECT_URI,
      apiBaseUrl: env.CAFE24_API_BASE_URL,
      connectTimeoutMs: env.CAFE24_CONNECT_TIMEOUT_MS,
      requestTimeoutMs: env.CAFE24_REQUEST_TIMEOUT_MS,
    },
    codes: {
      lifetimeMs: env.CODE_LIFETIME_SECONDS * 1000,
      expiryMarginMs: env.CODE_EXPIRY_MARGIN_SECONDS * 1000,
    },
    exchangeConcurrency: env.EXCHANGE_CONCURRENCY,
    tokenStash: { bucket: env.TOKEN_STASH_BUCKET, endpoint: env.AWS_ENDPOINT_URL_S3 },
    sqs: sqsFrom(env),
  };
}

/** For commands that need only the database (migrate, relay, status). */
export function loadDatabaseConfig(source: NodeJS.ProcessEnv = process.env): Config['database'] {
  return databaseFrom(parseEnv(z.pick(envSchema, databaseKeys), source, databaseProblems(source)));
}

/** The relay's settings (database and queue), every problem of both named at once. */
export function loadRelayConfig(source: NodeJS.ProcessEnv = process.env): {
  database: Config['database'];
  sqs: SqsConfig & { queueUrl: string };
} {
  const missing = present(source.SQS_QUEUE_URL) ? [] : ['SQS_QUEUE_URL is required'];
  const env = parseEnv(z.pick(envSchema, { ...databaseKeys, ...sqsKeys }), source, [
    ...databaseProblems(source),
    ...missing,
  ]);
  return { database: databaseFrom(env), sqs: sqsFrom(env) as SqsConfig & { queueUrl: string } };
}

/** For commands that talk to SQS; `needs` names the queues they cannot do without. */
export function loadSqsConfig(
  source: NodeJS.ProcessEnv = process.env,
  needs: Array<'SQS_QUEUE_URL' | 'SQS_DLQ_URL'> = ['SQS_QUEUE_URL'],
): SqsConfig {
  const missing = needs.filter((name) => !present(source[name])).map((name) => `${name} is required`);
  return sqsFrom(parseEnv(z.pick(envSchema, sqsKeys), source, missing));
}

export type InstallConfig = {
  database: Config['database'];
  cafe24: Pick<Config['cafe24'], 'clientId' | 'clientSecret' | 'redirectUri' | 'apiBaseUrl'> & {
    scopes: string[];
  };
  /** Redirect here (with mall_id and outcome) instead of showing the outcome page. */
  returnUrl?: string;
  /** With a queue URL, a stored code is published at once; without, the relay publishes it. */
  sqs: SqsConfig;
};

/** Paths the install server serves itself; the callback (the redirect URI's path) must be another. */
export const INSTALL_RESERVED_PATHS = ['/', '/install', '/healthz'] as const;

/**
 * `serve` and the install function: database, the app's client id and secret (the launch hmac's key),
 * the redirect URI it serves the callback of, and the scopes it asks for.
 */
export function loadInstallConfig(source: NodeJS.ProcessEnv = process.env): InstallConfig {
  const missing = present(source.CAFE24_SCOPES)
    ? []
    : [
        'CAFE24_SCOPES is required: the scopes to ask for, comma separated (mall.read_order,mall.read_product)',
      ];
  const env = parseEnv(
    z.pick(envSchema, {
      ...databaseKeys,
      ...sqsKeys,
      CAFE24_CLIENT_ID: true,
      CAFE24_CLIENT_SECRET: true,
      CAFE24_CLIENT_SECRET_ARN: true,
      CAFE24_REDIRECT_URI: true,
      CAFE24_API_BASE_URL: true,
      CAFE24_SCOPES: true,
      APP_RETURN_URL: true,
    }),
    source,
    [
      ...databaseProblems(source),
      ...secretProblems(source),
      ...missing,
      ...redirectUriProblems(source.CAFE24_REDIRECT_URI),
    ],
  );
  return {
    database: databaseFrom(env),
    cafe24: {
      clientId: env.CAFE24_CLIENT_ID,
      clientSecret: env.CAFE24_CLIENT_SECRET
        ? { value: new Secret(env.CAFE24_CLIENT_SECRET) }
        : { arn: env.CAFE24_CLIENT_SECRET_ARN as string },
      redirectUri: env.CAFE24_REDIRECT_URI,
      apiBaseUrl: env.CAFE24_API_BASE_URL,
      scopes: (env.CAFE24_SCOPES ?? '')
        .split(',')
        .map((scope) => scope.trim())
        .filter(Boolean),
    },
    returnUrl: env.APP_RETURN_URL,
    sqs: sqsFrom(env),
  };
}

/** The install server serves the redirect URI's path: it must be one it can (https, or http on loopback). */
function redirectUriProblems(value: string | undefined): string[] {
  if (!value || !URL.canParse(value)) return [];
  const uri = new URL(value);
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(uri.hostname);
  const problems: string[] = [];
  if (uri.protocol !== 'https:' && !(uri.protocol === 'http:' && loopback)) {
    problems.push('CAFE24_REDIRECT_URI must be https (http only for localhost)');
  }
  if ((INSTALL_RESERVED_PATHS as readonly string[]).includes(uri.pathname)) {
    problems.push(
      `CAFE24_REDIRECT_URI's path ${uri.pathname} is the install server's own; use another, e.g. /callback`,
    );
  }
  // The path becomes a route: nothing a router reads as a parameter or a wildcard.
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(uri.pathname)) {
    problems.push('CAFE24_REDIRECT_URI path may hold only letters, digits and . _ ~ / -');
  }
  if (uri.hash !== '' || uri.search !== '') {
    problems.push('CAFE24_REDIRECT_URI must have no query or fragment: Cafe24 appends ?code=…&state=…');
  }
  return problems;
}

function databaseFrom(env: Pick<Env, keyof typeof databaseKeys>): Config['database'] {
  return {
    connectionString: env.DATABASE_URL,
    host: env.PGHOST,
    port: env.PGPORT,
    user: env.PGUSER,
    password: env.PGPASSWORD === undefined ? undefined : new Secret(env.PGPASSWORD),
    passwordSecretArn: env.PGPASSWORD_SECRET_ARN,
    database: env.PGDATABASE,
  };
}

function sqsFrom(env: Pick<Env, keyof typeof sqsKeys>): SqsConfig {
  return {
    queueUrl: env.SQS_QUEUE_URL,
    dlqUrl: env.SQS_DLQ_URL,
    region: env.AWS_REGION,
    endpoint: env.AWS_ENDPOINT_URL_SQS,
  };
}
