import * as z from 'zod/mini';
import { mallApiBase } from './cafe24/api-base.ts';
import { mallIdSchema } from './commons/ids.ts';
import { Secret } from './commons/secret.ts';
import { localDataKeys } from './commons/token-codec.ts';
import { loadLaunchKeys } from './launch/keys.ts';

/** An empty variable counts as unset (SAM and env files write "" for a parameter left blank). */
const blankAsUnset = () =>
  z.transform((value: unknown) => (typeof value === 'string' && value.trim() === '' ? undefined : value));
const unsetIfBlank = <T extends z.ZodMiniType>(schema: T) => z.pipe(blankAsUnset(), z.optional(schema));

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
const optionalUrl = (what: string) => unsetIfBlank(url(what));
const requiredUrl = (what: string) =>
  z.pipe(
    blankAsUnset(),
    z.url({
      error: (issue) => (issue.input === undefined ? `is required (${what})` : `must be a URL (${what})`),
    }),
  );
/** Read by the exchange and the refresh alike: both stash what Cafe24 issued when the database cannot take it. */
const tokenStashBucket = unsetIfBlank(
  z.string().check(z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')),
);
/** A Cafe24 code's life: the exchange's deadline, and the relay's sweep's measure of a stranded code. */
const codeLifetimeSeconds = integer(1, 3_600, 60);
/** A code with less life left is not sent (the exchange) and so not published again (the relay's sweep). */
const codeExpiryMarginSeconds = integer(0, 30, 3);
const secretArn = unsetIfBlank(
  z.string().check(z.regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager secret ARN')),
);

/** A mall is due when its access token expires within this; the refresher and the schedule agree. */
const refreshAhead = integer(60, 3_600, 1_200);
/**
 * `ahead` keeps every active mall's access token valid in the table; `on-demand` keeps only refresh tokens
 * alive (a mall whose refresh token expires within REFRESH_KEEPALIVE_SECONDS), and the client and
 * freshAccessToken refresh when they need to. The schedule and the refresher must agree.
 */
const refreshMode = z._default(
  z.enum(['ahead', 'on-demand'], { error: 'must be ahead or on-demand' }),
  'ahead',
);
/** Within 1 hour and 13 days: a refresh token lives 14 days. Default 3 days. */
const refreshKeepalive = integer(3_600, 13 * 86_400, 259_200);

/**
 * The environment, by section. Each command names the sections it needs (`commands` below), so a
 * command asks for exactly what it uses: `status` needs no client secret, `redrive` no database.
 */
const sections = {
  database: {
    shape: {
      DATABASE_URL: optionalUrl('postgres://user:password@host:5432/db'),
      PGHOST: optionalText,
      PGPORT: integer(1, 65_535, 5432),
      PGUSER: optionalText,
      PGPASSWORD: optionalText,
      PGPASSWORD_SECRET_ARN: secretArn,
      PGDATABASE: optionalText,
      // TLS to the database, as libpq means it: RDS for PostgreSQL 15+ refuses connections without it.
      PGSSLMODE: unsetIfBlank(
        z.enum(['disable', 'require', 'verify-ca', 'verify-full'], {
          error: 'must be disable, require (encrypted, the server unchecked), verify-ca or verify-full',
        }),
      ),
    },
    rules: (source: Source) => [
      ...(!present(source.DATABASE_URL) && !present(source.PGHOST)
        ? ['PGHOST is required (or set DATABASE_URL)']
        : []),
      ...(present(source.PGPASSWORD) && present(source.PGPASSWORD_SECRET_ARN)
        ? ['PGPASSWORD and PGPASSWORD_SECRET_ARN are both set: keep one']
        : []),
    ],
  },
  cafe24: {
    shape: {
      CAFE24_MALL_ID: unsetIfBlank(mallIdSchema),
      CAFE24_CLIENT_ID: z
        .string({ error: 'is required: the app client id from Cafe24 Developers' })
        .check(z.trim(), z.minLength(1, 'is required: the app client id from Cafe24 Developers')),
      CAFE24_API_BASE_URL: z._default(
        z
          .string()
          .check(
            z.refine(
              (value) => URL.canParse(mallApiBase(value, 'mall')),
              'must be a URL; {mall_id} is substituted',
            ),
          ),
        'https://{mall_id}.cafe24api.com',
      ),
      CAFE24_CONNECT_TIMEOUT_MS: integer(100, 60_000, 3_000),
      CAFE24_REQUEST_TIMEOUT_MS: integer(500, 60_000, 10_000),
    },
    rules: () => [],
  },
  /**
   * Only where a code is exchanged or a callback served: a refresh sends no redirect URI. Unset, the
   * install front derives each install's from the host it was reached at (`<origin>/callback`) and keeps it
   * with the code, and the exchange sends the code's.
   */
  redirect: {
    shape: {
      CAFE24_REDIRECT_URI: optionalUrl(
        'the redirect URI registered in Cafe24 Developers, character for character',
      ),
    },
    rules: () => [],
  },
  clientSecret: {
    shape: { CAFE24_CLIENT_SECRET: optionalText, CAFE24_CLIENT_SECRET_ARN: secretArn },
    rules: (source: Source) => {
      const plain = present(source.CAFE24_CLIENT_SECRET);
      const arn = present(source.CAFE24_CLIENT_SECRET_ARN);
      if (plain && arn) return ['CAFE24_CLIENT_SECRET and CAFE24_CLIENT_SECRET_ARN are both set: keep one'];
      if (!plain && !arn) {
        return [
          'CAFE24_CLIENT_SECRET is required (or set CAFE24_CLIENT_SECRET_ARN to read it from Secrets Manager)',
        ];
      }
      return [];
    },
  },
  exchange: {
    shape: {
      CODE_LIFETIME_SECONDS: codeLifetimeSeconds,
      CODE_EXPIRY_MARGIN_SECONDS: codeExpiryMarginSeconds,
      EXCHANGE_CONCURRENCY: integer(1, 100, 10),
      // Connections held only for claim, record and store, never across a Cafe24 request.
      EXCHANGE_POOL_SIZE: integer(1, 100, 4),
      TOKEN_STASH_BUCKET: tokenStashBucket,
    },
    rules: () => [],
  },
  /** The relay's sweep records codes past their life, and publishes again lost ones still alive. */
  codes: {
    shape: {
      CODE_LIFETIME_SECONDS: codeLifetimeSeconds,
      CODE_EXPIRY_MARGIN_SECONDS: codeExpiryMarginSeconds,
    },
    rules: () => [],
  },
  refresh: {
    shape: {
      // Due when the access token (2 h) expires within this; at most half its life, or every run is due.
      REFRESH_AHEAD_SECONDS: refreshAhead,
      REFRESH_MODE: refreshMode,
      REFRESH_KEEPALIVE_SECONDS: refreshKeepalive,
      TOKEN_STASH_BUCKET: tokenStashBucket,
      // Records of one SQS batch refreshed at once by the refresh function (each holds a connection).
      REFRESH_CONCURRENCY: integer(1, 50, 5),
    },
    rules: () => [],
  },
  /** The scheduled publisher of due malls: which malls are due, and how often one may be published. */
  refreshSchedule: {
    shape: {
      REFRESH_AHEAD_SECONDS: refreshAhead,
      REFRESH_MODE: refreshMode,
      REFRESH_KEEPALIVE_SECONDS: refreshKeepalive,
      // A mall published is not published again for this long (its message is being worked on); a mall
      // still due after it (transient failures) is published again. Under the schedule's 5 minutes.
      REFRESH_ROUND_SECONDS: integer(30, 3_600, 240),
    },
    rules: () => [],
  },
  refreshQueue: { shape: { REFRESH_QUEUE_URL: requiredUrl('the refresh queue') }, rules: () => [] },
  install: {
    shape: {
      CAFE24_SCOPES: z.pipe(
        blankAsUnset(),
        z
          .string({
            error: 'is required: the scopes to ask for, comma separated (mall.read_order,mall.read_product)',
          })
          .check(
            z.regex(
              /^\s*mall\.(read|write)_[a-z]+(\s*,\s*mall\.(read|write)_[a-z]+)*\s*$/,
              'must list scopes as Cafe24 Developers does, comma separated (mall.read_order,mall.read_product)',
            ),
          ),
      ),
      APP_RETURN_URL: optionalUrl('the app that receives the operator, with ?launch=<signed token>'),
      // The app's name as the operator knows it, on the front's pages (default: "the app" / "이 앱").
      APP_NAME: unsetIfBlank(z.string().check(z.trim(), z.maxLength(80, 'must be at most 80 characters'))),
      // Origins allowed to frame the front's pages (space or comma separated); unset: none may.
      INSTALL_FRAME_ANCESTORS: optionalText,
    },
    // The callback is served at the redirect URI's path: refuse at start-up one this server cannot serve.
    rules: (source: Source) => [
      ...redirectUriProblems(source.CAFE24_REDIRECT_URI),
      ...returnUrlProblems(source.APP_RETURN_URL),
      ...frameAncestorProblems(source.INSTALL_FRAME_ANCESTORS),
    ],
  },
  /** The launch token's signing key: required when APP_RETURN_URL is set (the app gets a signed hand-off). */
  launch: {
    shape: {
      LAUNCH_SIGNING_KEY: optionalText,
      LAUNCH_SIGNING_KEY_ARN: secretArn,
    },
    rules: (source: Source) => launchKeyProblems(source),
  },
  /** Cafe24's webhooks (POST /webhooks/cafe24): the key Cafe24 Developers shows; unset, the route answers 503. */
  webhook: {
    shape: {
      CAFE24_WEBHOOK_API_KEY: optionalText,
      CAFE24_WEBHOOK_API_KEY_ARN: secretArn,
      // A removal deletes the mall's stashed pair there too.
      TOKEN_STASH_BUCKET: tokenStashBucket,
    },
    rules: (source: Source) =>
      present(source.CAFE24_WEBHOOK_API_KEY) && present(source.CAFE24_WEBHOOK_API_KEY_ARN)
        ? ['CAFE24_WEBHOOK_API_KEY and CAFE24_WEBHOOK_API_KEY_ARN are both set: keep one']
        : [],
  },
  /** The app's events (cafe24.mall_events) to EventBridge, by the relay; unset, they wait in the table. */
  events: {
    shape: {
      EVENT_BUS_NAME: unsetIfBlank(
        z.string().check(z.regex(/^[A-Za-z0-9._\-/:]{1,1600}$/, 'must be an EventBridge bus name or ARN')),
      ),
    },
    rules: () => [],
  },
  /**
   * Tokens sealed at rest (docs/design.md, "Tokens encrypted at rest"): TOKEN_KMS_KEY_ID, the KMS key that
   * wraps the data keys (docs/encryption.md), or TOKEN_ENCRYPTION_KEY, the base64 of 32 bytes (local runs
   * and tests); neither, tokens are stored in plaintext.
   */
  sealing: {
    shape: {
      TOKEN_KMS_KEY_ID: unsetIfBlank(
        z
          .string()
          .check(
            z.regex(
              /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]{1,256}|alias\/[A-Za-z0-9/_-]{1,256}|[A-Za-z0-9-]{1,256})$/,
              'must be a KMS key id, key ARN, alias name (alias/…) or alias ARN',
            ),
          ),
      ),
      TOKEN_ENCRYPTION_KEY: optionalText,
    },
    rules: (source: Source) => {
      if (!present(source.TOKEN_ENCRYPTION_KEY)) return [];
      if (present(source.TOKEN_KMS_KEY_ID)) {
        return [
          'set TOKEN_KMS_KEY_ID or TOKEN_ENCRYPTION_KEY, not both (TOKEN_ENCRYPTION_KEY is for local runs without KMS)',
        ];
      }
      try {
        localDataKeys(source.TOKEN_ENCRYPTION_KEY as string);
        return [];
      } catch (error) {
        // The message says what a key must be, never the value.
        return [(error as Error).message];
      }
    },
  },
  /** The stash bucket, for the operator's commands that look into it (`rotate-key`). */
  stash: {
    shape: { TOKEN_STASH_BUCKET: tokenStashBucket },
    rules: () => [],
  },
  /** The Admin API client (`cafe24-token-issuer/client`): the API version and our view of the mall's bucket. */
  adminApi: {
    shape: {
      // Sent as X-Cafe24-Api-Version; unset: the version set for the app in Cafe24 Developers.
      CAFE24_API_VERSION: unsetIfBlank(
        z
          .string()
          .check(
            z.regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a Cafe24 API version, yyyy-mm-dd (e.g. 2025-06-01)'),
          ),
      ),
      // Cafe24's bucket: 40 calls per mall, draining 2 a second; the client leaves `reserve` unused.
      CAFE24_API_BUCKET_SIZE: integer(1, 10_000, 40),
      CAFE24_API_DRAIN_PER_SECOND: integer(1, 1_000, 2),
      CAFE24_API_BUCKET_RESERVE: integer(0, 100, 2),
      CAFE24_API_TIMEOUT_SECONDS: integer(1, 900, 30),
    },
    rules: (source: Source) => {
      const size = Number(source.CAFE24_API_BUCKET_SIZE ?? 40);
      const reserve = Number(source.CAFE24_API_BUCKET_RESERVE ?? 2);
      return reserve >= size ? ['CAFE24_API_BUCKET_RESERVE must be smaller than CAFE24_API_BUCKET_SIZE'] : [];
    },
  },
  queue: { shape: { SQS_QUEUE_URL: requiredUrl('the exchange queue') }, rules: () => [] },
  /** The exchange queue where publishing or requeueing is a shortcut, not a duty (unset: SQS defaults). */
  exchangeQueue: {
    shape: { SQS_QUEUE_URL: optionalUrl('the exchange queue') },
    rules: () => [],
  },
  dlq: { shape: { SQS_DLQ_URL: requiredUrl('the dead-letter queue') }, rules: () => [] },
  aws: {
    shape: {
      AWS_REGION: optionalText,
      AWS_ENDPOINT_URL_SQS: optionalUrl('a local SQS endpoint'),
      AWS_ENDPOINT_URL_S3: optionalUrl('a local S3 endpoint'),
      AWS_ENDPOINT_URL_SECRETS_MANAGER: optionalUrl('a local Secrets Manager endpoint'),
      AWS_ENDPOINT_URL_EVENTBRIDGE: optionalUrl('a local EventBridge endpoint'),
      AWS_ENDPOINT_URL_KMS: optionalUrl('a local KMS endpoint'),
      AWS_ACCESS_KEY_ID: optionalText,
      AWS_PROFILE: optionalText,
      AWS_WEB_IDENTITY_TOKEN_FILE: optionalText,
      AWS_CONTAINER_CREDENTIALS_FULL_URI: optionalText,
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: optionalText,
    },
    rules: () => [],
  },
} as const;

type Sections = typeof sections;
export type SectionName = keyof Sections;
type Source = Record<string, string | undefined>;
type EnvOf<S extends SectionName> = z.output<z.ZodMiniObject<Sections[S]['shape']>>;

/** What each command needs; every command also reads `aws` (region, local endpoints). */
export const commands = {
  exchange: ['database', 'cafe24', 'redirect', 'clientSecret', 'exchange', 'exchangeQueue', 'sealing'],
  refresh: ['database', 'cafe24', 'clientSecret', 'refresh', 'sealing'],
  /** The schedule (and `refresh --due --queue`): claims the due malls of one round and publishes them. */
  refreshSchedule: ['database', 'refreshSchedule', 'refreshQueue'],
  relay: ['database', 'queue', 'codes', 'events'],
  migrate: ['database'],
  status: ['database'],
  /** The Admin API client an app creates: the refresh's needs (it refreshes on demand) and the API's. */
  client: ['database', 'cafe24', 'clientSecret', 'refresh', 'sealing', 'adminApi'],
  /** `encrypt`: seals the token rows still in plaintext with the configured key; `rotate-key` re-seals. */
  encrypt: ['database', 'sealing', 'stash'],
  /** `insert-code`: a code row as a callback inserts it, for trying the pipeline by hand. */
  insertCode: ['database'],
  redrive: ['queue', 'dlq'],
  /** `serve` and the install function; with a queue, a stored code is published at once. */
  install: [
    'database',
    'cafe24',
    'redirect',
    'clientSecret',
    'install',
    'launch',
    'webhook',
    'exchangeQueue',
  ],
} as const satisfies Record<string, readonly SectionName[]>;

export type Command = keyof typeof commands;

export type DatabaseConfig = {
  connectionString?: string;
  host?: string;
  port: number;
  user?: string;
  password?: Secret;
  /** Read from Secrets Manager instead of PGPASSWORD (an RDS-managed secret, say). */
  passwordSecretArn?: string;
  database?: string;
  /** PGSSLMODE; unset, as pg decides (no TLS unless the URL asks for it). */
  sslMode?: 'disable' | 'require' | 'verify-ca' | 'verify-full';
};

export type Cafe24Config = {
  /** The seed's CAFE24_MALL_ID: the mall a manual `{}` exchange means. */
  mallId?: string;
  clientId: string;
  apiBaseUrl: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
};

export type ClientSecretConfig = { value: Secret } | { arn: string };

export type ExchangeConfig = {
  /** A Cafe24 code lives 60 s. */
  codeLifetimeMs: number;
  expiryMarginMs: number;
  concurrency: number;
  /**
   * Connections of one container's pool. A connection is taken for a claim, an attempt's record or the
   * store transaction and given back before the Cafe24 request, so fewer than `concurrency` suffice.
   */
  poolSize: number;
  /** Where issued tokens wait when the database cannot take them; memory only without a bucket. */
  stashBucket?: string;
};

export type RefreshConfig = {
  /** A mall is due when its access token expires within this. */
  aheadMs: number;
  /** REFRESH_MODE=on-demand: also due when its refresh token expires within this (the schedule's only rule). */
  keepaliveMs?: number;
  /** Where a refreshed pair waits when the database cannot take it; memory only without a bucket. */
  stashBucket?: string;
  /** Records of one SQS batch refreshed at once. */
  concurrency: number;
};

export type RefreshScheduleConfig = {
  aheadMs: number;
  /** REFRESH_MODE=on-demand: publish only malls whose refresh token expires within this. */
  keepaliveMs?: number;
  /** A published mall is not published again within this. */
  roundMs: number;
};

export type InstallConfig = {
  /** The scopes the install asks for, as Cafe24 Developers lists them. */
  scopes: string[];
  /** Hand the operator to this app with `?launch=<JWT>` instead of showing the front's own pages. */
  returnUrl?: string;
  /** The app's name on the front's pages. */
  appName?: string;
  /** Origins allowed to frame the front's pages (`frame-ancestors`); empty: none. */
  frameAncestors: string[];
};

/** The launch token's key: the value (a PKCS#8 PEM, a private JWK or a JWK Set) or its secret's ARN. */
export type LaunchKeyConfig = { value: Secret } | { arn: string };

export type AdminApiConfig = {
  apiVersion?: string;
  bucket: { size: number; drainPerSecond: number; reserve: number };
  timeoutMs: number;
};

export type AwsConfig = {
  region?: string;
  /** Local endpoints (an emulator); unset means AWS itself. */
  endpoints: { sqs?: string; s3?: string; secretsManager?: string; eventbridge?: string; kms?: string };
  /** Credentials come from the environment (keys, a profile, a web identity, a container role). */
  credentialsInEnvironment: boolean;
};

type SectionConfigs = {
  database: DatabaseConfig;
  cafe24: Cafe24Config;
  redirect: { uri?: string };
  clientSecret: ClientSecretConfig;
  exchange: ExchangeConfig;
  codes: { lifetimeMs: number; expiryMarginMs: number };
  refresh: RefreshConfig;
  refreshSchedule: RefreshScheduleConfig;
  refreshQueue: { url: string };
  install: InstallConfig;
  /** Unset when APP_RETURN_URL is unset: the front shows its own pages and signs nothing. */
  launch: { key?: LaunchKeyConfig };
  /** Unset: the webhook route answers 503 and `doctor` names the missing key. */
  webhook: { key?: { value: Secret } | { arn: string }; stashBucket?: string };
  events: { busName?: string };
  adminApi: AdminApiConfig;
  /** Neither: tokens in plaintext. */
  sealing: { kmsKeyId?: string; encryptionKey?: Secret };
  stash: { bucket?: string };
  queue: { url: string };
  /** The exchange queue, optional: the install's hand-off and the exchange's requeue use it. */
  exchangeQueue: { queueUrl?: string };
  dlq: { url: string };
  aws: AwsConfig;
};

const build: { [S in SectionName]: (env: EnvOf<S>) => SectionConfigs[S] } = {
  database: (env) => ({
    connectionString: env.DATABASE_URL,
    host: env.PGHOST,
    port: env.PGPORT,
    user: env.PGUSER,
    password: env.PGPASSWORD === undefined ? undefined : new Secret(env.PGPASSWORD),
    passwordSecretArn: env.PGPASSWORD_SECRET_ARN,
    database: env.PGDATABASE,
    sslMode: env.PGSSLMODE,
  }),
  cafe24: (env) => ({
    mallId: env.CAFE24_MALL_ID,
    clientId: env.CAFE24_CLIENT_ID,
    apiBaseUrl: env.CAFE24_API_BASE_URL,
    connectTimeoutMs: env.CAFE24_CONNECT_TIMEOUT_MS,
    requestTimeoutMs: env.CAFE24_REQUEST_TIMEOUT_MS,
  }),
  // The section's rules guarantee exactly one of the two.
  redirect: (env) => ({ uri: env.CAFE24_REDIRECT_URI }),
  clientSecret: (env) =>
    env.CAFE24_CLIENT_SECRET === undefined
      ? { arn: String(env.CAFE24_CLIENT_SECRET_ARN) }
      : { value: new Secret(env.CAFE24_CLIENT_SECRET) },
  exchange: (env) => ({
    codeLifetimeMs: env.CODE_LIFETIME_SECONDS * 1000,
    expiryMarginMs: env.CODE_EXPIRY_MARGIN_SECONDS * 1000,
    concurrency: env.EXCHANGE_CONCURRENCY,
    poolSize: env.EXCHANGE_POOL_SIZE,
    stashBucket: env.TOKEN_STASH_BUCKET,
  }),
  codes: (env) => ({
    lifetimeMs: env.CODE_LIFETIME_SECONDS * 1000,
    expiryMarginMs: env.CODE_EXPIRY_MARGIN_SECONDS * 1000,
  }),
  refresh: (env) => ({
    aheadMs: env.REFRESH_AHEAD_SECONDS * 1000,
    ...keepaliveOf(env),
    stashBucket: env.TOKEN_STASH_BUCKET,
    concurrency: env.REFRESH_CONCURRENCY,
  }),
  refreshSchedule: (env) => ({
    aheadMs: env.REFRESH_AHEAD_SECONDS * 1000,
    ...keepaliveOf(env),
    roundMs: env.REFRESH_ROUND_SECONDS * 1000,
  }),
  refreshQueue: (env) => ({ url: env.REFRESH_QUEUE_URL }),
  install: (env) => ({
    scopes: env.CAFE24_SCOPES.split(',')
      .map((scope) => scope.trim())
      .filter(Boolean),
    returnUrl: env.APP_RETURN_URL,
    appName: env.APP_NAME,
    frameAncestors: splitList(env.INSTALL_FRAME_ANCESTORS),
  }),
  launch: (env) => ({
    ...(env.LAUNCH_SIGNING_KEY !== undefined
      ? { key: { value: new Secret(env.LAUNCH_SIGNING_KEY) } }
      : env.LAUNCH_SIGNING_KEY_ARN !== undefined
        ? { key: { arn: env.LAUNCH_SIGNING_KEY_ARN } }
        : {}),
  }),
  webhook: (env) => ({
    ...(env.CAFE24_WEBHOOK_API_KEY !== undefined
      ? { key: { value: new Secret(env.CAFE24_WEBHOOK_API_KEY) } }
      : env.CAFE24_WEBHOOK_API_KEY_ARN !== undefined
        ? { key: { arn: env.CAFE24_WEBHOOK_API_KEY_ARN } }
        : {}),
    stashBucket: env.TOKEN_STASH_BUCKET,
  }),
  events: (env) => ({ busName: env.EVENT_BUS_NAME }),
  stash: (env) => ({ bucket: env.TOKEN_STASH_BUCKET }),
  sealing: (env) => ({
    ...(env.TOKEN_KMS_KEY_ID === undefined ? {} : { kmsKeyId: env.TOKEN_KMS_KEY_ID }),
    ...(env.TOKEN_ENCRYPTION_KEY === undefined
      ? {}
      : { encryptionKey: new Secret(env.TOKEN_ENCRYPTION_KEY) }),
  }),
  adminApi: (env) => ({
    apiVersion: env.CAFE24_API_VERSION,
    bucket: {
      size: env.CAFE24_API_BUCKET_SIZE,
      drainPerSecond: env.CAFE24_API_DRAIN_PER_SECOND,
      reserve: env.CAFE24_API_BUCKET_RESERVE,
    },
    timeoutMs: env.CAFE24_API_TIMEOUT_SECONDS * 1000,
  }),
  queue: (env) => ({ url: env.SQS_QUEUE_URL }),
  exchangeQueue: (env) => ({ queueUrl: env.SQS_QUEUE_URL }),
  dlq: (env) => ({ url: env.SQS_DLQ_URL }),
  aws: (env) => ({
    region: env.AWS_REGION,
    endpoints: {
      sqs: env.AWS_ENDPOINT_URL_SQS,
      s3: env.AWS_ENDPOINT_URL_S3,
      secretsManager: env.AWS_ENDPOINT_URL_SECRETS_MANAGER,
      eventbridge: env.AWS_ENDPOINT_URL_EVENTBRIDGE,
      kms: env.AWS_ENDPOINT_URL_KMS,
    },
    credentialsInEnvironment: [
      env.AWS_ACCESS_KEY_ID,
      env.AWS_PROFILE,
      env.AWS_WEB_IDENTITY_TOKEN_FILE,
      env.AWS_CONTAINER_CREDENTIALS_FULL_URI,
      env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI,
    ].some((value) => value !== undefined),
  }),
};

/** `on-demand`: the refresh token's keep-alive window; `ahead`: none (every access token is kept valid). */
function keepaliveOf(env: { REFRESH_MODE: 'ahead' | 'on-demand'; REFRESH_KEEPALIVE_SECONDS: number }) {
  return env.REFRESH_MODE === 'on-demand' ? { keepaliveMs: env.REFRESH_KEEPALIVE_SECONDS * 1000 } : {};
}

/** Every variable `command` reads (its sections and `aws`): what a deployment of it may declare. */
export function variablesOf(command: Command): string[] {
  const names = [...commands[command], 'aws' as const].flatMap((name) => Object.keys(sections[name].shape));
  return [...new Set(names)];
}

export type ConfigFor<C extends Command> = Pick<SectionConfigs, (typeof commands)[C][number] | 'aws'>;

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

/**
 * The one configuration loader: reads what `command` needs from the environment and names every
 * problem (field or cross-field) in one ConfigError, never echoing a value.
 */
export function loadConfig<C extends Command>(
  command: C,
  source: NodeJS.ProcessEnv = process.env,
): ConfigFor<C> {
  const { parsed, problems } = problemsOf(command, source);
  if (!parsed.success || problems.length > 0) {
    // A misspelt name is the likeliest cause of a variable reported missing: said once, after the rest.
    const hints = misspeltVariables(source, variablesOf(command)).map(describeMisspelling);
    throw new ConfigError([...problems, ...hints]);
  }
  // Each section's builder reads its own variables of the parsed environment.
  const sectionOf = (name: SectionName) => (build[name] as (env: unknown) => unknown)(parsed.data);
  return Object.fromEntries(
    [...commands[command], 'aws' as const].map((name) => [name, sectionOf(name)]),
  ) as ConfigFor<C>;
}

/** Every problem of `command`'s environment, each said once (sections share variables). */
function problemsOf(command: Command, source: NodeJS.ProcessEnv) {
  const names: SectionName[] = [...commands[command], 'aws'];
  const shape = Object.assign({}, ...names.map((name) => sections[name].shape));
  const parsed = z.object(shape).safeParse(source);
  const problems = [
    ...(parsed.success
      ? []
      : parsed.error.issues.map((issue) => `${issue.path.join('.') || 'environment'} ${issue.message}`)),
    ...names.flatMap((name) => sections[name].rules(source)),
  ];
  return { parsed, problems: [...new Set(problems)] };
}

/**
 * Whether each command could start with this environment, and if not, every problem (never a value).
 * Misspellings are not repeated per command here: `misspeltVariables` names them once.
 */
export function configurationReport(
  source: NodeJS.ProcessEnv = process.env,
): Array<{ command: Command; problems: string[] }> {
  return (Object.keys(commands) as Command[]).map((command) => ({
    command,
    problems: problemsOf(command, source).problems,
  }));
}

/** Every variable some section reads. */
const KNOWN_VARIABLES: ReadonlySet<string> = new Set(
  Object.values(sections).flatMap((section) => Object.keys(section.shape)),
);

/** The AWS SDK's own per-service endpoints (`AWS_ENDPOINT_URL_SNS`, …): set on purpose, never a typo of ours. */
const SDK_ENDPOINT = /^AWS_ENDPOINT_URL_[A-Z0-9]+$/;

export type Misspelling = { variable: string; suggestion: string };

/**
 * Variables set in `source` that no section reads but that are one or two edits from one of
 * `candidates` (default: every known variable) left unset: `DATABSE_URL` for `DATABASE_URL`. The first
 * two letters must agree, so a shell's own `USER` or `HOST` is never taken for `PGUSER` or `PGHOST`.
 */
export function misspeltVariables(
  source: NodeJS.ProcessEnv = process.env,
  candidates: Iterable<string> = KNOWN_VARIABLES,
): Misspelling[] {
  const unset = [...candidates].filter((name) => !present(source[name]));
  const found: Misspelling[] = [];
  for (const variable of Object.keys(source).sort()) {
    if (KNOWN_VARIABLES.has(variable) || SDK_ENDPOINT.test(variable) || !present(source[variable])) continue;
    const nearest = unset
      .filter((name) => name.slice(0, 2) === variable.slice(0, 2))
      .map((name) => ({ name, distance: editDistance(variable, name, 2) }))
      .filter(({ distance }) => distance <= 2)
      .sort((a, b) => a.distance - b.distance)[0];
    if (nearest) found.push({ variable, suggestion: nearest.name });
  }
  return found;
}

export function describeMisspelling({ variable, suggestion }: Misspelling): string {
  return `${variable} is not a known variable: did you mean ${suggestion}?`;
}

/** Levenshtein distance, or `limit + 1` as soon as it must exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    if (Math.min(...current) > limit) return limit + 1;
    previous = current;
  }
  return previous[b.length]!;
}

/** One section on its own (`doctor` checks what is configured even when a command is not). */
export function loadSection<S extends SectionName>(
  name: S,
  source: NodeJS.ProcessEnv = process.env,
): SectionConfigs[S] | undefined {
  const parsed = z.object(sections[name].shape).safeParse(source);
  if (!parsed.success || sections[name].rules(source).length > 0) return undefined;
  return (build[name] as (env: unknown) => SectionConfigs[S])(parsed.data);
}

/** The queue URLs the environment names, by variable (every `*_QUEUE_URL` / `*_DLQ_URL` of a section). */
export function configuredQueues(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const variables = new Set(
    Object.values(sections).flatMap((section) =>
      Object.keys(section.shape).filter((key) => /_(QUEUE|DLQ)_URL$/.test(key)),
    ),
  );
  return Object.fromEntries(
    [...variables]
      .map((variable) => [variable, source[variable]?.trim()] as const)
      .filter((entry): entry is readonly [string, string] => entry[1] !== undefined && entry[1] !== ''),
  );
}

/** Paths the install server serves itself; the callback (the redirect URI's path) must be another. */
export const INSTALL_RESERVED_PATHS = [
  '/',
  '/install',
  '/healthz',
  '/.well-known/jwks.json',
  '/webhooks/cafe24',
] as const;

/** The install server serves the redirect URI's path: it must be one it can (https, or http on loopback). */
function redirectUriProblems(value: string | undefined): string[] {
  if (!value || !URL.canParse(value)) return [];
  const uri = new URL(value);
  const problems: string[] = [];
  if (!isSafeOrigin(uri)) {
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

/** Where the operator is handed on: only an https app (http on this machine), never `javascript:` or the like. */
function returnUrlProblems(value: string | undefined): string[] {
  if (!value || !URL.canParse(value)) return [];
  const url = new URL(value);
  const problems: string[] = [];
  if (!isSafeOrigin(url)) problems.push('APP_RETURN_URL must be https (http only for localhost)');
  if (url.searchParams.has('launch')) {
    problems.push('APP_RETURN_URL must not hold a launch parameter: the front adds ?launch=<token>');
  }
  if (url.hash !== '') problems.push('APP_RETURN_URL must have no fragment');
  return problems;
}

/**
 * Exact origins only: a wildcard such as `https://*.cafe24.com` would let every shop's own pages (each a
 * subdomain there) frame the front, which is what forbidding framing prevents.
 */
function frameAncestorProblems(value: string | undefined): string[] {
  return splitList(value).flatMap((origin) => {
    const shown = origin.slice(0, 80);
    if (origin.includes('*')) {
      return [
        `INSTALL_FRAME_ANCESTORS lists "${shown}": name exact origins, no wildcard (every mall is a *.cafe24.com subdomain)`,
      ];
    }
    const url = URL.canParse(origin) ? new URL(origin) : undefined;
    if (!url || !isSafeOrigin(url) || url.origin !== origin) {
      return [
        `INSTALL_FRAME_ANCESTORS lists "${shown}", which is not an https origin (https://admin.example.com, no path)`,
      ];
    }
    return [];
  });
}

function launchKeyProblems(source: Source): string[] {
  if (present(source.LAUNCH_SIGNING_KEY) && present(source.LAUNCH_SIGNING_KEY_ARN)) {
    return ['LAUNCH_SIGNING_KEY and LAUNCH_SIGNING_KEY_ARN are both set: keep one'];
  }
  if (present(source.LAUNCH_SIGNING_KEY)) {
    try {
      loadLaunchKeys(source.LAUNCH_SIGNING_KEY as string);
    } catch (error) {
      // The message names the problem and the variable, never the key.
      return [(error as Error).message];
    }
    return [];
  }
  if (present(source.APP_RETURN_URL) && !present(source.LAUNCH_SIGNING_KEY_ARN)) {
    return [
      'LAUNCH_SIGNING_KEY (or LAUNCH_SIGNING_KEY_ARN) is required when APP_RETURN_URL is set: the app is handed a signed launch token; make a key with: cafe24-tokens launch-key',
    ];
  }
  return [];
}

/** https anywhere, http only on this machine. */
function isSafeOrigin(url: URL): boolean {
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  return url.protocol === 'https:' || (url.protocol === 'http:' && loopback);
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[\s,]+/)
    .map((item) => item.trim())
    .filter(Boolean);
}

function present(value: string | undefined): boolean {
  return (value ?? '').trim() !== '';
}
