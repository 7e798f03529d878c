import type { SQSBatchResponse } from 'aws-lambda';
import { type Cafe24Sandbox, type SandboxFault, startCafe24Sandbox } from '../../local/cafe24-sandbox.ts';
import { logger } from '../../src/commons/logger.ts';
import { Secret } from '../../src/commons/secret.ts';
import type { TokenCodec } from '../../src/commons/token-codec.ts';
import { loadConfig } from '../../src/config.ts';
import { createExchangeHandler } from '../../src/handlers/exchange.ts';
import { DEFAULT_SETTINGS, type InstallDeps } from '../../src/install/install.ts';
import { createExchangeRuntime, type ExchangeRuntime } from '../../src/runtime/exchange.ts';
import { tokenCodecFor } from '../../src/runtime/sealing.ts';
import { PostgresInstallStore } from '../../src/store/install-states.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { exchangeRecord, lambdaContext, sqsEvent } from './events.ts';

export const CLIENT_ID = 'test-client-id';
export const CLIENT_SECRET = 'test-client-secret-5f1c9e';
export const REDIRECT_URI = 'https://app.example.com/cafe24/callback';
export const MALL = 'testmall';

export type ExchangeStack = {
  db: TestDatabase;
  sandbox: Cafe24Sandbox;
  runtime: ExchangeRuntime;
  handler: ReturnType<typeof createExchangeHandler>;
  env: Record<string, string>;
  /** INSERTs a code as the OAuth callback does; `ageMs` backdates created_at. Returns its id. */
  insertCode(code: string, options?: { mallId?: string; ageMs?: number }): Promise<string>;
  /** A fresh code from the sandbox, stored as the callback would. */
  newCode(mallId?: string): Promise<{ id: string; code: string }>;
  codeRow(id: string): Promise<Record<string, unknown>>;
  /**
   * The mall's token row, its tokens opened as the project reads them (sealed or not); the values as
   * stored in `stored_access_token` and `stored_refresh_token`.
   */
  tokenRow(mallId?: string): Promise<Record<string, unknown> | undefined>;
  /**
   * One SQS event holding an exchange message per code id, to the real handler; a last argument
   * `{ timeoutMs }` sets the invocation's time (the deployed 75 s by default).
   */
  deliver(...args: Array<string | { timeoutMs: number }>): Promise<SQSBatchResponse>;
  /** Runs `work` while the sandbox answers every request with `fault`, then clears it. */
  duringFault<T>(fault: SandboxFault, work: () => Promise<T>): Promise<T>;
  stop(): Promise<void>;
};

/** Embedded PostgreSQL 17 database + Cafe24 sandbox + the real exchange handler, wired by env. */
export async function startExchangeStack(
  extraEnv: Record<string, string> = {},
  /** The redirect URI registered in the sandbox's Cafe24 Developers (default REDIRECT_URI). */
  options: { registeredRedirectUri?: string } = {},
): Promise<ExchangeStack> {
  const db = await createTestDatabase();
  const sandbox = await startCafe24Sandbox({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: options.registeredRedirectUri ?? REDIRECT_URI,
  });
  // The sealed pass of the suite (vitest.config.ts, project `sealed`): the same tests, tokens sealed.
  const kms = await sealingFor(extraEnv);
  const env = {
    ...kms?.env,
    DATABASE_URL: db.url,
    CAFE24_MALL_ID: MALL,
    CAFE24_CLIENT_ID: CLIENT_ID,
    CAFE24_CLIENT_SECRET: CLIENT_SECRET,
    CAFE24_REDIRECT_URI: REDIRECT_URI,
    CAFE24_API_BASE_URL: sandbox.baseUrl,
    ...extraEnv,
  };
  const runtime = createExchangeRuntime(loadConfig('exchange', env));
  let codec: TokenCodec | undefined;
  const handler = createExchangeHandler(() => runtime);
  const insertCode = async (code: string, options: { mallId?: string; ageMs?: number } = {}) => {
    const { rows } = await db.pool.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code, created_at)
       values ($1, $2, now() - $3 * interval '1 millisecond') returning id::text`,
      [options.mallId ?? MALL, code, options.ageMs ?? 0],
    );
    return rows[0].id as string;
  };
  return {
    db,
    sandbox,
    runtime,
    handler,
    env,
    insertCode,
    async newCode(mallId = MALL) {
      const code = sandbox.issueCode(mallId);
      return { id: await insertCode(code, { mallId }), code };
    },
    async codeRow(id) {
      return (await db.pool.query('select * from cafe24.oauth_authorization_codes where id = $1', [id]))
        .rows[0];
    },
    async tokenRow(mallId = MALL) {
      const row = (await db.pool.query('select * from cafe24.oauth_tokens where mall_id = $1', [mallId]))
        .rows[0];
      if (!row) return undefined;
      codec ??= tokenCodecFor(loadConfig('encrypt', env), db.pool);
      // Each token as the project reads it (what a test compares with what Cafe24 issued); a value that
      // does not open is left as it is stored.
      const open = (column: 'access_token' | 'refresh_token') =>
        codec!.open(row[column], { mallId: row.mall_id, column }).then(
          (secret) => secret.reveal(),
          () => row[column] as string,
        );
      return {
        ...row,
        access_token: await open('access_token'),
        refresh_token: await open('refresh_token'),
        stored_access_token: row.access_token,
        stored_refresh_token: row.refresh_token,
      };
    },
    async deliver(...args) {
      const codeIds = args.filter((arg) => typeof arg === 'string');
      const options = args.find((arg) => typeof arg !== 'string');
      const context = lambdaContext(undefined, options?.timeoutMs);
      return (await handler(sqsEvent(...codeIds.map(exchangeRecord)), context)) as SQSBatchResponse;
    },
    async duringFault(fault, work) {
      sandbox.setFault(fault);
      try {
        return await work();
      } finally {
        sandbox.setFault(undefined);
      }
    },
    async stop() {
      await runtime.close();
      await sandbox.stop();
      await kms?.stop();
      await db.drop();
    },
  };
}

/**
 * The install front's deps over `stack`: the real store, the exchange handler as its hand-off (the
 * queue's manual event), the sandbox as Cafe24, a short wait for the outcome. `overrides` replace fields.
 */
export function installDeps(
  stack: ExchangeStack,
  scopes: string[],
  overrides: Partial<InstallDeps> = {},
): InstallDeps {
  return {
    store: new PostgresInstallStore(stack.db.pool),
    handOff: async (codeId) => {
      await stack.handler({ codeId });
    },
    clientSecret: async () => new Secret(CLIENT_SECRET),
    settings: {
      ...DEFAULT_SETTINGS,
      outcomeWaitMs: 2_000,
      pollIntervalMs: 20,
      clientId: CLIENT_ID,
      redirectUri: REDIRECT_URI,
      apiBaseUrl: stack.sandbox.baseUrl,
      scopes,
    },
    log: logger,
    ...overrides,
  };
}

/**
 * TEST_SEALING=kms (the `sealed` project): a local KMS for the stack and TOKEN_KMS_KEY_ID, as a deployment
 * seals; undefined otherwise, or where the test configures sealing itself.
 */
async function sealingFor(
  extraEnv: Record<string, string>,
): Promise<{ env: Record<string, string>; stop(): Promise<void> } | undefined> {
  if (process.env.TEST_SEALING !== 'kms') return undefined;
  if (extraEnv.TOKEN_ENCRYPTION_KEY !== undefined || extraEnv.TOKEN_KMS_KEY_ID !== undefined)
    return undefined;
  const { startLocalKms } = await import('../../local/kms.ts');
  const kms = await startLocalKms();
  return {
    env: { TOKEN_KMS_KEY_ID: kms.keyArn, AWS_ENDPOINT_URL_KMS: kms.endpoint },
    stop: () => kms.stop(),
  };
}
