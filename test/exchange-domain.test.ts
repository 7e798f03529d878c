import { describe, expect, it } from 'vitest';
import { TokenFailure } from '../src/commons/errors.ts';
import { Secret } from '../src/commons/secret.ts';
import { type ExchangeDeps, exchangeCode, flushStash } from '../src/domain/exchange-code.ts';
import { MemoryTokenStash } from '../src/domain/memory-stash.ts';
import type {
  ClaimResult,
  CodeStatus,
  CodeStore,
  StoreOutcome,
  TokenIssuer,
  TokenSet,
} from '../src/domain/ports.ts';
import { tokenSet } from './support/tokens.ts';

type Row = {
  id: string;
  mallId: string;
  code: string;
  ageMs: number;
  status: CodeStatus;
  claimedAgoMs?: number;
  lastError?: string;
  attempts: number;
};

/** An in-memory CodeStore with the Postgres store's semantics, for the domain's edge cases. */
class FakeCodes implements CodeStore {
  rows = new Map<string, Row>();
  stored: Array<{ codeId: string; tokens: TokenSet }> = [];
  failStores = 0;
  /** Claims that throw as a database outage would, before one succeeds. */
  failClaims = 0;
  /** While set, ready() rejects with it (KMS unavailable: the data key not at hand). */
  notReady: Error | undefined;
  async ready(): Promise<void> {
    if (this.notReady) throw this.notReady;
  }
  add(row: Partial<Row> & { id: string }) {
    this.rows.set(row.id, { mallId: 'shop', code: 'code', ageMs: 0, status: 'pending', attempts: 0, ...row });
  }
  async claim(codeId: string, lifetimeMs: number): Promise<ClaimResult> {
    if (this.failClaims > 0) {
      this.failClaims -= 1;
      throw new Error('connection terminated unexpectedly');
    }
    const row = this.rows.get(codeId);
    if (!row) return { claimed: false, status: 'missing' };
    if (row.status !== 'pending') {
      return {
        claimed: false,
        status: row.status,
        lastError: row.lastError,
        claimedAgoMs: row.claimedAgoMs,
        attempts: row.attempts,
      };
    }
    row.status = 'exchanging';
    row.claimedAgoMs = 0;
    return {
      claimed: true,
      code: {
        id: codeId,
        mallId: row.mallId,
        code: new Secret(row.code),
        redirectUri: undefined,
        remainingMs: lifetimeMs - row.ageMs,
      },
    };
  }
  async release(codeId: string) {
    const row = this.rows.get(codeId)!;
    if (row.status === 'exchanging') row.status = 'pending';
  }
  async recordAttempt(codeId: string) {
    this.rows.get(codeId)!.attempts += 1;
  }
  async recordSuccess(code: { id: string }, tokens: TokenSet): Promise<StoreOutcome> {
    if (this.failStores > 0) {
      this.failStores -= 1;
      throw new Error('connection terminated');
    }
    this.stored.push({ codeId: code.id, tokens });
    this.rows.get(code.id)!.status = 'exchanged';
    return 'stored';
  }
  async recordFailure(codeId: string, status: 'failed' | 'expired', reason: string) {
    const row = this.rows.get(codeId)!;
    row.status = status;
    row.lastError = reason;
  }
  async newestPending() {
    return undefined;
  }
}

const tokens = (): TokenSet => tokenSet({ access: 'a', refresh: 'r', mallId: 'shop' });

function setup(answers: Array<TokenSet | TokenFailure>) {
  let clock = 1_000_000;
  const codes = new FakeCodes();
  const sent: string[] = [];
  const cafe24: TokenIssuer = {
    async exchangeCode(request) {
      sent.push(request.code.reveal());
      const answer = answers.shift();
      if (!answer) throw new Error('no answer scripted');
      if (answer instanceof TokenFailure) throw answer;
      return answer;
    },
  };
  const deps: ExchangeDeps = {
    codes,
    cafe24,
    stash: new MemoryTokenStash(),
    log: { info() {}, warn() {}, error() {} },
    redirectUri: 'https://app/cb',
    policy: { codeLifetimeMs: 60_000, expiryMarginMs: 3_000, storeRetryMs: 1_000 },
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
  };
  return { codes, sent, deps, advance: (ms: number) => (clock += ms) };
}

describe('exchangeCode (domain, with fakes)', () => {
  it('retries a database outage at claim time while the code lives, then exchanges in the same call', async () => {
    const { codes, sent, deps } = setup([tokens()]);
    codes.add({ id: '1' });
    codes.failClaims = 4;
    expect(await exchangeCode(deps, '1')).toMatchObject({ status: 'exchanged', attempts: 1 });
    expect(sent).toHaveLength(1);
  });

  it('hands a database outage that outlasts the invocation back to the queue soon, nothing sent', async () => {
    const { codes, sent, deps } = setup([tokens()]);
    codes.add({ id: '1' });
    codes.failClaims = 1_000;
    const result = await exchangeCode(deps, '1', { budgetEndsAt: deps.now!() + 5_000 });
    expect(result).toMatchObject({ status: 'retry', retryAfterMs: expect.any(Number) });
    expect((result as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(5_000);
    expect(sent).toHaveLength(0);
  });

  it('hands the code back unsent while the tokens could not be sealed (the data key not at hand)', async () => {
    const { codes, sent, deps } = setup([tokens()]);
    codes.add({ id: '1' });
    codes.notReady = new Error(
      'KMS GenerateDataKey with key alias/tokens failed: ThrottlingException (transient)',
    );
    const result = await exchangeCode(deps, '1');
    expect(result).toMatchObject({
      status: 'retry',
      retryAfterMs: expect.any(Number),
      reason: expect.stringMatching(/could not be sealed .*ThrottlingException.*nothing sent; handed back/),
    });
    expect(sent).toHaveLength(0);
    expect(codes.rows.get('1')!.status).toBe('pending');
    codes.notReady = undefined;
    expect(await exchangeCode(deps, '1')).toMatchObject({ status: 'exchanged', attempts: 1 });
  });

  it("stops at the invocation's budget and gives the live code back, unsent since its last answer", async () => {
    const { codes, sent, deps } = setup(
      Array.from({ length: 20 }, () => new TokenFailure('transient', 'no answer within 10000 ms')),
    );
    codes.add({ id: '1' });
    const result = await exchangeCode(deps, '1', { budgetEndsAt: deps.now!() + 3_000 });
    expect(result).toMatchObject({ status: 'retry', reason: expect.stringMatching(/handed back/) });
    expect(codes.rows.get('1')!.status).toBe('pending');
    // Backoff 200, 400, 800 ms…: only the attempts that fit the 3 s budget were sent.
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(sent.length).toBeLessThan(5);
  });

  it('does not wait out a Retry-After that runs past the code life: records expired', async () => {
    const { codes, sent, deps } = setup([
      new TokenFailure('transient', 'HTTP 429', { retryAfterMs: 120_000 }),
    ]);
    codes.add({ id: '1', ageMs: 10_000 });
    const result = await exchangeCode(deps, '1');
    expect(result).toMatchObject({
      status: 'expired',
      reason: expect.stringMatching(/after 1 attempt\(s\); last: HTTP 429/),
    });
    expect(sent).toHaveLength(1);
    expect(codes.rows.get('1')!.attempts).toBe(1);
  });

  it('retries transient failures while the code lives, then stores', async () => {
    const { codes, sent, deps } = setup([
      new TokenFailure('transient', 'HTTP 503'),
      new TokenFailure('transient', 'connection reset'),
      tokens(),
    ]);
    codes.add({ id: '1' });
    expect(await exchangeCode(deps, '1')).toMatchObject({ status: 'exchanged', attempts: 3 });
    expect(sent).toHaveLength(3);
    expect(codes.rows.get('1')!.attempts).toBe(3);
  });

  it('never sends a code with less than the margin left', async () => {
    const { codes, sent, deps } = setup([tokens()]);
    codes.add({ id: '1', ageMs: 57_500 });
    expect(await exchangeCode(deps, '1')).toMatchObject({ status: 'expired', attempts: 0 });
    expect(sent).toEqual([]);
  });

  it('a claim in progress elsewhere asks to be retried; an abandoned one is recorded failed, never resent', async () => {
    const { codes, sent, deps } = setup([tokens()]);
    codes.add({ id: '1', status: 'exchanging', claimedAgoMs: 5_000 });
    expect(await exchangeCode(deps, '1')).toMatchObject({ status: 'retry' });
    codes.add({ id: '2', status: 'exchanging', claimedAgoMs: 10 * 60_000, attempts: 1 });
    expect(await exchangeCode(deps, '2')).toMatchObject({ status: 'already-done', state: 'failed' });
    expect(codes.rows.get('2')!.lastError).toMatch(/exchange interrupted 600 s ago/);
    // Abandoned before its first request: the code never left, so it expired rather than failed.
    codes.add({ id: '3', status: 'exchanging', claimedAgoMs: 10 * 60_000, attempts: 0 });
    expect(await exchangeCode(deps, '3')).toMatchObject({ status: 'already-done', state: 'expired' });
    expect(codes.rows.get('3')!.lastError).toMatch(/not sent: claimed 600 s ago/);
    expect(sent).toEqual([]);
  });

  it('stashes issued tokens the store cannot take, and stores them on the next delivery or invocation', async () => {
    const { codes, sent, deps } = setup([tokens(), tokens()]);
    codes.add({ id: '1' });
    codes.failStores = 100;
    expect(await exchangeCode(deps, '1')).toMatchObject({
      status: 'retry',
      reason: expect.stringMatching(/kept for the next delivery/),
    });
    expect(await deps.stash.entries()).toEqual([{ grant: 'authorization_code', key: '1' }]);

    codes.failStores = 0;
    expect(await exchangeCode(deps, '1')).toMatchObject({ status: 'exchanged', attempts: 0 });
    expect(codes.stored).toHaveLength(1);
    expect(sent).toHaveLength(1);

    codes.add({ id: '2' });
    codes.failStores = 100;
    await exchangeCode(deps, '2');
    codes.failStores = 0;
    expect(await flushStash(deps)).toBe(1);
    expect(codes.rows.get('2')!.status).toBe('exchanged');
    expect(sent).toHaveLength(2);
  });

  it('records final answers and unusable rows without retrying', async () => {
    const { codes, sent, deps } = setup([
      new TokenFailure('final', 'HTTP 400 (invalid_grant: Code time expired)'),
    ]);
    codes.add({ id: '1' });
    codes.add({ id: '2', code: '   ' });
    codes.add({ id: '3', mallId: "x'; drop table t; --" });
    expect(await exchangeCode(deps, '1')).toMatchObject({ status: 'failed', attempts: 1 });
    expect(await exchangeCode(deps, '2')).toMatchObject({
      status: 'failed',
      reason: 'the code row holds an empty code',
    });
    expect(await exchangeCode(deps, '3')).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/mall_id must be a Cafe24 mall id/),
    });
    expect(await exchangeCode(deps, '1')).toMatchObject({ status: 'already-done', state: 'failed' });
    expect(sent).toHaveLength(1);
  });
});
