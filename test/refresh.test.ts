import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { exchangeCode } from '../src/domain/exchange-code.ts';
import { flushRefreshStash, refreshMall } from '../src/domain/refresh-mall.ts';
import { freshAccessToken } from '../src/fresh-access-token.ts';
import { createRefreshHandler } from '../src/handlers/refresh.ts';
import { createRefreshRuntime, type RefreshRuntime } from '../src/runtime/refresh.ts';
import { captureOutput } from './support/capture.ts';
import { runCli } from './support/cli.ts';
import { lambdaContext, sqsEvent, sqsRecord } from './support/events.ts';
import { CLIENT_SECRET, type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

const WRONG_SECRET = 'wrong-client-secret-93d1';
const logs = captureOutput();
const cliOutput: string[] = [];
const runtimes: RefreshRuntime[] = [];
let stack: ExchangeStack;

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(async () => {
  for (const runtime of runtimes) await runtime.close();
  await stack.stop();
});

/** One more process's worth of refresh wiring: its own pool, HTTP agent and stash. */
function refreshProcess(env: Record<string, string> = {}): RefreshRuntime {
  const runtime = createRefreshRuntime(loadConfig('refresh', { ...stack.env, ...env }));
  runtimes.push(runtime);
  return runtime;
}

async function cli(args: string[], env: Record<string, string> = {}) {
  const result = await runCli(['refresh', ...args], { ...stack.env, ...env });
  cliOutput.push(result.stdout, result.stderr);
  return result;
}

/** A mall with tokens, as an install leaves it (its code exchanged at the sandbox). */
async function install(mallId: string): Promise<void> {
  const { id } = await stack.newCode(mallId);
  expect(await exchangeCode(stack.runtime.deps, id)).toMatchObject({ status: 'exchanged' });
}

/** Brings the access token's expiry within the refresh window (the sandbox's tokens stay live). */
async function makeDue(mallId: string, expiresIn = "interval '5 minutes'"): Promise<void> {
  await stack.db.pool.query(
    `update cafe24.oauth_tokens set expires_at = now() + ${expiresIn} where mall_id = $1`,
    [mallId],
  );
}

/**
 * Sessions opened since `since` whose last statement asked for a refresh lease (a holder waiting for
 * Cafe24, or a contender polling the lease), this one excepted.
 */
async function leaseClaimants(since: Date): Promise<number> {
  const { rows } = await stack.db.pool.query(
    // Each session's last statement: the claim, or (for the holder) the mark of its send that follows it.
    `select count(*)::int as n from pg_stat_activity
      where backend_start >= $1 and pid <> pg_backend_pid()
        and ((query like '%with seen as%' and query like '%refresh_locked_by%')
             or query like '%set refresh_sending_by = $2%')`,
    [since],
  );
  return rows[0].n;
}

/**
 * Runs `work` with a refresh process of its own whose lease lasts 1.5 s while the database refuses every
 * rotated pair (as right after Cafe24 answered, in an outage); the refusal ends when `work` does, pass or
 * fail. Returns that process, for what comes after the outage.
 */
async function refusingRotatedPairs(
  work: (container: RefreshRuntime) => Promise<void>,
): Promise<RefreshRuntime> {
  await stack.db.pool.query(`
    create or replace function test_refuse_refresh() returns trigger language plpgsql as $$
    begin raise exception 'simulated outage'; end $$;
    create trigger test_refuse_refresh before update on cafe24.oauth_tokens
      for each row when (new.refresh_token <> old.refresh_token) execute function test_refuse_refresh();`);
  const container = refreshProcess();
  container.deps.policy.leaseMs = 1_500;
  try {
    await work(container);
  } finally {
    await stack.db.pool.query('drop trigger test_refuse_refresh on cafe24.oauth_tokens');
  }
  return container;
}

const refreshRequests = (mallId: string) =>
  stack.sandbox.tokenRequests({ mallId }).filter((request) => request.grantType === 'refresh_token');

async function row(mallId: string) {
  return (await stack.tokenRow(mallId)) as Record<string, unknown> & {
    status: string;
    refresh_token: string;
    access_token: string;
    invalid_reason: string | null;
    expires_at: Date;
  };
}

describe('refresh on PostgreSQL 17 and the Cafe24 sandbox', () => {
  it('--due refreshes every due mall once; a refused client secret stops the run and marks no mall invalid', async () => {
    const malls = ['due1', 'due2', 'due3'];
    for (const mall of malls) {
      await install(mall);
      await makeDue(mall);
    }
    await install('notdue');

    const refused = await cli(['--due', '--concurrency', '1'], { CAFE24_CLIENT_SECRET: WRONG_SECRET });
    expect(refused.code).toBe(2);
    expect(refused.stdout).toMatch(/configuration error: .*CAFE24_CLIENT_SECRET/);
    expect(refused.stdout).toMatch(
      /stopped: configuration error \(no mall marked invalid\), 2 not attempted/,
    );
    expect(malls.flatMap(refreshRequests)).toHaveLength(1);
    const invalid = await stack.db.pool.query(
      `select mall_id from cafe24.oauth_tokens where status <> 'active'`,
    );
    expect(invalid.rows).toEqual([]);

    const ok = await cli(['--due']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('3 due: refreshed 3, skipped fresh 0, invalid 0, failed transiently 0');
    for (const mall of malls) {
      expect(ok.stdout).toMatch(new RegExp(`✓ ${mall} refreshed \\(1 request\\)`));
      expect((await row(mall)).refresh_token).toBe(stack.sandbox.issuedTokens(mall)!.refreshToken);
    }
    expect(refreshRequests('notdue')).toHaveLength(0);
    expect((await cli(['--due'])).stdout).toContain('0 due');
  });

  it('8 concurrent refreshes of one due mall (CLI processes, direct calls, SQS handler invocations) send one request and all succeed', async () => {
    await install('race8');
    await makeDue('race8');
    // Cafe24 answers once every contender has asked for the lease while the first holds it.
    let answer!: () => void;
    stack.sandbox.failNext({ type: 'hold', until: new Promise<void>((resolve) => (answer = resolve)) });
    const started = new Date();
    // Time enough for eight processes to start on a busy machine before the held request times out.
    const env = { CAFE24_REQUEST_TIMEOUT_MS: '30000' };
    // The CLI logs at WARN by default: INFO here, so a CLI that wins shows its "mall refreshed" line too.
    const clis = Array.from({ length: 3 }, () =>
      cli(['--mall', 'race8'], { ...env, POWERTOOLS_LOG_LEVEL: 'INFO' }),
    );
    const direct = Array.from({ length: 3 }, () => refreshMall(refreshProcess(env).deps, 'race8'));
    // Two Lambda containers, each handed a duplicate message of the mall.
    const handlers = Array.from({ length: 2 }, () => {
      const runtime = refreshProcess(env);
      return createRefreshHandler(() => runtime)(
        sqsEvent(sqsRecord(JSON.stringify({ kind: 'refresh', mallId: 'race8' }))),
        lambdaContext('cafe24-token-refresh', 60_000),
      );
    });
    await expect
      .poll(() => leaseClaimants(started), { timeout: 20_000, message: 'all 8 asked for the lease' })
      .toBeGreaterThanOrEqual(8);
    answer();
    const [cliResults, directResults, handlerResults] = await Promise.all([
      Promise.all(clis),
      Promise.all(direct),
      Promise.all(handlers),
    ]);

    expect(refreshRequests('race8')).toHaveLength(1);
    for (const result of cliResults) expect(result.code).toBe(0);
    for (const result of directResults) expect(['refreshed', 'skipped-fresh']).toContain(result.status);
    for (const result of handlerResults) expect(result).toEqual({ batchItemFailures: [] });
    // Exactly one of the eight stored a pair: one "mall refreshed" line among every process's logs.
    const refreshedLines = `${logs.text()}${cliOutput.join('')}`
      .split('\n')
      .filter((line) => line.includes('"message":"mall refreshed"') && line.includes('"mallId":"race8"'));
    expect(refreshedLines).toHaveLength(1);
    const stored = await row('race8');
    expect(stored.refresh_token).toBe(stack.sandbox.issuedTokens('race8')!.refreshToken);
    expect(stored).toMatchObject({ status: 'active', refresh_locked_at: null, refresh_locked_by: null });
  });

  it('--mall skips a fresh mall, --force refreshes it, and a due one is refreshed', async () => {
    await install('duemall');
    const fresh = await cli(['--mall', 'duemall']);
    expect(fresh).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('· duemall fresh, not refreshed'),
    });
    expect(refreshRequests('duemall')).toHaveLength(0);

    const forced = await cli(['--mall', 'duemall', '--force']);
    expect(forced).toMatchObject({ code: 0, stdout: expect.stringContaining('✓ duemall refreshed') });
    expect(refreshRequests('duemall')).toHaveLength(1);

    await makeDue('duemall');
    expect((await cli(['--mall', 'duemall'])).stdout).toContain('✓ duemall refreshed');
    expect(refreshRequests('duemall')).toHaveLength(2);
    expect((await row('duemall')).refresh_token).toBe(stack.sandbox.issuedTokens('duemall')!.refreshToken);
    expect((await row('duemall')).last_refreshed_at).toBeInstanceOf(Date);
  });

  it('refreshes an access token that already expired while its refresh token lives', async () => {
    await install('expired');
    await makeDue('expired', "- interval '3 hours'");
    expect(await refreshMall(refreshProcess().deps, 'expired')).toMatchObject({ status: 'refreshed' });
    expect((await row('expired')).expires_at.getTime()).toBeGreaterThan(Date.now() + 110 * 60_000);
  });

  it('invalid_grant → invalid with the reason after one request, never retried; a new install revives the mall', async () => {
    await install('revoked');
    await makeDue('revoked');
    stack.sandbox.failNext({ type: 'invalid-grant' });
    const first = await cli(['--mall', 'revoked']);
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(/✗ revoked invalid: Cafe24 refused the refresh token: .*invalid_grant/);
    expect(await row('revoked')).toMatchObject({
      status: 'invalid',
      invalid_reason: expect.stringMatching(/Invalid refresh_token.*install the app again/),
    });
    expect((await cli(['--mall', 'revoked', '--force'])).code).toBe(1);
    expect(refreshRequests('revoked')).toHaveLength(1);
    expect((await cli(['--due'])).stdout).not.toContain('revoked');

    await install('revoked');
    expect(await row('revoked')).toMatchObject({ status: 'active', invalid_reason: null });
  });

  it('a refresh whose answer is lost after Cafe24 rotated ends invalid with a reason that says so', async () => {
    await install('lostanswer');
    await makeDue('lostanswer');
    stack.sandbox.failNext({ type: 'hang-after-processing' });
    const result = await refreshMall(
      refreshProcess({ CAFE24_REQUEST_TIMEOUT_MS: '1000' }).deps,
      'lostanswer',
    );
    expect(result).toMatchObject({
      status: 'invalid',
      attempts: 2,
      reason: expect.stringMatching(/earlier attempt got no answer.*may have rotated/),
    });
    expect(refreshRequests('lostanswer')).toHaveLength(2);
  });

  it('the database failing right after Cafe24 rotated: the new pair is stashed and stored in the end (rule 8)', async () => {
    await install('dbdown');
    await makeDue('dbdown');
    const container = await refusingRotatedPairs(async (container) => {
      const result = await refreshMall(container.deps, 'dbdown');
      expect(result).toMatchObject({
        status: 'stashed',
        reason: expect.stringContaining('simulated outage'),
      });
      expect(await container.deps.stash.entries()).toEqual([{ grant: 'refresh_token', key: 'dbdown' }]);
      expect((await row('dbdown')).refresh_token).not.toBe(
        stack.sandbox.issuedTokens('dbdown')!.refreshToken,
      );
      // Still down at the next invocation: the pair goes back to the stash.
      expect(await flushRefreshStash(container.deps)).toBe(0);
    });
    expect(await refreshMall(container.deps, 'dbdown')).toMatchObject({ status: 'skipped-fresh' });
    expect((await row('dbdown')).refresh_token).toBe(stack.sandbox.issuedTokens('dbdown')!.refreshToken);
    expect(refreshRequests('dbdown')).toHaveLength(1);
    expect(await container.deps.stash.entries()).toEqual([]);
  });

  it('answers that do not refuse the refresh token never mark a mall invalid: a 404 page, a mistyped base URL', async () => {
    await install('page404');
    stack.sandbox.failNext({ type: 'html', status: 404 }, 3);
    const forced = await cli(['--mall', 'page404', '--force']);
    expect(forced.code).toBe(3);
    expect(forced.stdout).toMatch(/failed transiently .*HTTP 404 .*CAFE24_API_BASE_URL/);
    expect(await row('page404')).toMatchObject({ status: 'active', invalid_reason: null });

    // One `refresh --due` with a mistyped base URL: before, 10 of 10 live malls turned invalid for good.
    const malls = Array.from({ length: 10 }, (_, n) => `typo${n}`);
    for (const mall of malls) {
      await install(mall);
      await makeDue(mall);
    }
    const mistyped = stack.env.CAFE24_API_BASE_URL!.replace('/{mall_id}', '/api/{mall_id}');
    const wrong = await cli(['--due', '--concurrency', '5'], { CAFE24_API_BASE_URL: mistyped });
    expect(wrong.code).toBe(3);
    const invalid = await stack.db.pool.query(
      `select mall_id from cafe24.oauth_tokens where status <> 'active' and mall_id = any($1)`,
      [malls],
    );
    expect(invalid.rows).toEqual([]);
    const fixed = await cli(['--due']);
    expect(fixed.code).toBe(0);
    for (const mall of malls) expect(fixed.stdout).toMatch(new RegExp(`✓ ${mall} refreshed`));
  });

  it('8 forced refreshes started together rotate the pair once; a --force started after them rotates again', async () => {
    await install('force8');
    let answer!: () => void;
    stack.sandbox.failNext({ type: 'hold', until: new Promise<void>((resolve) => (answer = resolve)) });
    const started = new Date();
    const env = { CAFE24_REQUEST_TIMEOUT_MS: '30000' };
    const clis = Array.from({ length: 8 }, () => cli(['--mall', 'force8', '--force'], env));
    // Every process has asked for the lease (its last statement is the claim) before Cafe24 answers.
    await expect
      .poll(() => leaseClaimants(started), {
        timeout: 20_000,
        message: 'all 8 processes asked for the lease',
      })
      .toBeGreaterThanOrEqual(8);
    answer();
    const results = await Promise.all(clis);
    expect(results.map((result) => result.code)).toEqual(Array(8).fill(0));
    expect(refreshRequests('force8')).toHaveLength(1);
    expect(results.filter((result) => /✓ force8 refreshed/.test(result.stdout))).toHaveLength(1);

    expect((await cli(['--mall', 'force8', '--force'])).stdout).toMatch(/✓ force8 refreshed/);
    expect(refreshRequests('force8')).toHaveLength(2);
  });

  it('a CLI without the stash bucket does not mark invalid a mall whose rotated pair waits in another process', async () => {
    await install('stashwait');
    await makeDue('stashwait');
    const container = await refusingRotatedPairs(async (container) => {
      expect(await refreshMall(container.deps, 'stashwait')).toMatchObject({ status: 'stashed' });
    });
    // The container's lease ran out unreleased (the database refused it too), as it would minutes later.
    await stack.db.pool.query(
      `update cafe24.oauth_tokens set refresh_locked_at = now() - interval '1 hour' where mall_id = 'stashwait'`,
    );
    // Twice: a second reader (the queue's retry, another CLI) must not mark it invalid either.
    for (let reader = 0; reader < 2; reader += 1) {
      const answer = await cli(['--mall', 'stashwait']);
      expect(answer.code).toBe(3);
      expect(answer.stdout).toMatch(/not marked invalid yet .*TOKEN_STASH_BUCKET/);
      expect(await row('stashwait')).toMatchObject({ status: 'active' });
    }

    expect(await flushRefreshStash(container.deps)).toBe(1);
    expect((await row('stashwait')).refresh_token).toBe(
      stack.sandbox.issuedTokens('stashwait')!.refreshToken,
    );
    expect((await cli(['--mall', 'stashwait'])).code).toBe(0);
  });

  it('a refresh racing an exchange for the same mall: the newer token wins (rule 10)', async () => {
    await install('racex');
    await makeDue('racex');
    let answer!: () => void;
    stack.sandbox.failNext({ type: 'hold', until: new Promise<void>((resolve) => (answer = resolve)) });
    const refreshing = refreshMall(refreshProcess().deps, 'racex');
    await expect
      .poll(() => refreshRequests('racex').length, { timeout: 5_000, message: 'the refresh request sent' })
      .toBe(1);
    await install('racex'); // a new install, issued after the refresh, stored before its answer arrives
    answer();
    expect(await refreshing).toMatchObject({ status: 'refreshed', token: 'newer-token-kept' });
    const stored = await row('racex');
    expect(stored.access_token).toBe(stack.sandbox.issuedTokens('racex')!.accessToken);
    expect(stored.code_id).not.toBeNull();
  });

  it('freshAccessToken returns the stored token while valid and refreshes one about to expire', async () => {
    await install('reader');
    const config = loadConfig('refresh', stack.env);
    const stored = (await row('reader')).access_token;
    expect((await freshAccessToken(stack.db.pool, 'reader', { config })).reveal()).toBe(stored);
    await makeDue('reader', "interval '2 minutes'");
    const token = await freshAccessToken(stack.db.pool, 'reader', { config });
    expect(token.reveal()).toBe(stack.sandbox.issuedTokens('reader')!.accessToken);
    expect(token.reveal()).not.toBe(stored);
    expect(String(token)).toBe('[redacted]');
  });

  it('exits 1 for a mall with no token row and 3 when the database cannot be reached', async () => {
    expect(await cli(['--mall', 'nosuchmall'])).toMatchObject({
      code: 1,
      stdout: expect.stringContaining('✗ nosuchmall missing'),
    });
    const down = await cli(['--mall', 'duemall'], { DATABASE_URL: 'postgres://u:p@127.0.0.1:1/none' });
    expect(down).toMatchObject({
      code: 3,
      stdout: expect.stringMatching(/! duemall failed transiently.*ECONNREFUSED/),
    });
    expect((await cli(['--due'], { DATABASE_URL: 'postgres://u:p@127.0.0.1:1/none' })).code).toBe(3);
  });

  it('never lets a token or a secret reach the logs or the CLI output', () => {
    const secrets = [...stack.sandbox.knownSecrets(), CLIENT_SECRET, WRONG_SECRET];
    expect(secrets.length).toBeGreaterThan(20);
    const text = `${logs.text()}${cliOutput.join('')}`;
    expect(text).toContain('mall refreshed');
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
