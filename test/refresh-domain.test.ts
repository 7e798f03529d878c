import { describe, expect, it, vi } from 'vitest';
import { TokenFailure } from '../src/commons/errors.ts';
import { Secret } from '../src/commons/secret.ts';
import { DataKeyUnavailable, TokenSealError } from '../src/commons/token-codec.ts';
import { MemoryTokenStash } from '../src/domain/memory-stash.ts';
import type { RefreshClaim, StoreOutcome, TokenRow, TokenSet, TokenStore } from '../src/domain/ports.ts';
import {
  accessTokenFor,
  flushRefreshStash,
  type RefreshDeps,
  refreshMall,
} from '../src/domain/refresh-mall.ts';
import { tokenSet } from './support/tokens.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

type FakeRow = {
  status: 'active' | 'invalid';
  access: string;
  refresh: string;
  issuedAt: number;
  expiresAt: number;
  refreshExpiresAt: number;
  invalidReason?: string;
  lockedBy?: string;
  lockedAt?: number;
  /** The holder sending now, and a send never recorded (as the SQL keeps them). */
  sendingBy?: string;
  sendingAt?: number;
  unrecordedBy?: string;
  unrecordedAt?: number;
  failures: number;
};

/** An in-memory TokenStore with the Postgres store's semantics (lease, guards, issued_at). */
class FakeTokens implements TokenStore {
  rows = new Map<string, FakeRow>();
  failStores = 0;
  claims = 0;
  /** While set, ready() rejects with it (KMS unavailable: a rotated pair could not be sealed). */
  notReady: Error | undefined;
  #seq = 0;
  readonly clock: () => number;
  constructor(clock: () => number) {
    this.clock = clock;
  }

  async ready(): Promise<void> {
    if (this.notReady) throw this.notReady;
  }

  add(mallId: string, row: Partial<FakeRow> = {}) {
    const t = this.clock();
    this.rows.set(mallId, {
      status: 'active',
      access: 'access-0',
      refresh: 'refresh-0',
      issuedAt: t - 2 * HOUR + 10 * MINUTE,
      expiresAt: t + 10 * MINUTE,
      refreshExpiresAt: t + 10 * DAY,
      failures: 0,
      ...row,
    });
  }

  #view(mallId: string, row: FakeRow): TokenRow {
    return {
      mallId,
      status: row.status,
      accessToken: new Secret(row.access),
      refreshToken: new Secret(row.refresh),
      issuedAt: new Date(row.issuedAt),
      expiresAt: new Date(row.expiresAt),
      refreshTokenExpiresAt: new Date(row.refreshExpiresAt),
      expiresInMs: row.expiresAt - this.clock(),
      refreshExpiresInMs: row.refreshExpiresAt - this.clock(),
      invalidReason: row.invalidReason,
      unrecordedSend:
        row.unrecordedBy === undefined
          ? undefined
          : { by: row.unrecordedBy, ageMs: this.clock() - (row.unrecordedAt ?? 0) },
    };
  }

  async claimRefresh(mallId: string, leaseMs: number): Promise<RefreshClaim> {
    this.claims += 1;
    const row = this.rows.get(mallId);
    if (!row) return { status: 'missing' };
    const seenRefreshToken = new Secret(row.refresh);
    if (row.lockedBy && this.clock() - (row.lockedAt ?? 0) < leaseMs) {
      const leaseLeftMs = row.lockedAt! + leaseMs - this.clock();
      return { status: 'locked', owner: row.lockedBy, leaseLeftMs, seenRefreshToken };
    }
    // A send its holder never recorded is kept: its rotated pair may still be on its way.
    if (row.sendingBy !== undefined) {
      Object.assign(row, { unrecordedBy: row.sendingBy, unrecordedAt: row.sendingAt });
      Object.assign(row, { sendingBy: undefined, sendingAt: undefined });
    }
    const owner = `owner-${++this.#seq}`;
    row.lockedBy = owner;
    row.lockedAt = this.clock();
    return { status: 'claimed', owner, row: this.#view(mallId, row), seenRefreshToken };
  }
  async markSending(mallId: string, owner: string) {
    const row = this.rows.get(mallId)!;
    if (row.lockedBy === owner) Object.assign(row, { sendingBy: owner, sendingAt: this.clock() });
  }
  async release(mallId: string, owner: string) {
    const row = this.rows.get(mallId);
    if (row?.lockedBy === owner) Object.assign(row, { lockedBy: undefined, sendingBy: undefined });
  }
  async read(mallId: string) {
    const row = this.rows.get(mallId);
    return row && this.#view(mallId, row);
  }
  async storeRefreshed(mallId: string, tokens: TokenSet, owner: string | undefined): Promise<StoreOutcome> {
    if (this.failStores > 0) {
      this.failStores -= 1;
      throw new Error('connection terminated');
    }
    const row = this.rows.get(mallId)!;
    let outcome: StoreOutcome = 'newer-token-kept';
    if (row.issuedAt <= tokens.issuedAt.getTime()) {
      Object.assign(row, {
        status: 'active',
        access: tokens.accessToken.reveal(),
        refresh: tokens.refreshToken.reveal(),
        issuedAt: tokens.issuedAt.getTime(),
        expiresAt: tokens.expiresAt.getTime(),
        refreshExpiresAt: tokens.refreshTokenExpiresAt.getTime(),
        invalidReason: undefined,
        failures: 0,
        sendingBy: undefined,
        unrecordedBy: undefined,
      });
      outcome = 'stored';
    }
    if (owner !== undefined && row.lockedBy === owner) row.lockedBy = undefined;
    return outcome;
  }
  async markInvalid(mallId: string, owner: string, refused: Secret, reason: string) {
    const row = this.rows.get(mallId)!;
    if (row.lockedBy !== owner || row.refresh !== refused.reveal()) {
      await this.release(mallId, owner);
      return false;
    }
    Object.assign(row, {
      status: 'invalid',
      invalidReason: reason,
      lockedBy: undefined,
      sendingBy: undefined,
      unrecordedBy: undefined,
    });
    return true;
  }
  async recordRefreshFailure(mallId: string, owner: string) {
    const row = this.rows.get(mallId)!;
    if (row.lockedBy !== owner) return;
    row.failures += 1;
    Object.assign(row, { lockedBy: undefined, sendingBy: undefined });
  }
}

let issued = 0;
function pair(at: number, mallId = 'shop'): TokenSet {
  issued += 1;
  return tokenSet({ access: `access-${issued}`, refresh: `refresh-${issued}`, mallId, issuedAt: at });
}

type Answer = TokenSet | TokenFailure | ((refreshToken: string) => TokenSet | TokenFailure);

function setup(answers: Answer[] = []) {
  let clock = 1_900_000_000_000;
  const tokens = new FakeTokens(() => clock);
  const sent: string[] = [];
  const logs: string[] = [];
  const log = (message: string, ...attributes: Record<string, unknown>[]) => {
    logs.push(`${message} ${JSON.stringify(attributes)}`);
  };
  const deps: RefreshDeps = {
    tokens,
    cafe24: {
      async refreshToken(request) {
        sent.push(request.refreshToken.reveal());
        const next = answers.shift();
        if (!next) throw new Error('no answer scripted');
        const answer = typeof next === 'function' ? next(request.refreshToken.reveal()) : next;
        if (answer instanceof TokenFailure) throw answer;
        return answer;
      },
    },
    stash: new MemoryTokenStash(),
    log: { info: log, warn: log, error: log },
    policy: { aheadMs: 20 * MINUTE, leaseMs: 15_000 },
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
  };
  tokens.add('shop');
  return { tokens, sent, logs, deps, now: () => clock, advance: (ms: number) => (clock += ms) };
}

describe('refreshMall (domain, with fakes)', () => {
  it('refreshes a due mall once and stores the rotated pair, releasing the lease', async () => {
    const t = setup();
    const next = pair(t.now());
    t.deps.cafe24 = {
      async refreshToken(request) {
        t.sent.push(request.refreshToken.reveal());
        expect(t.tokens.rows.get('shop')!.lockedBy).toBeDefined();
        return next;
      },
    };
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({
      status: 'refreshed',
      token: 'stored',
      attempts: 1,
    });
    expect(t.sent).toEqual(['refresh-0']);
    expect(t.tokens.rows.get('shop')).toMatchObject({
      refresh: next.refreshToken.reveal(),
      lockedBy: undefined,
    });
  });

  it('sends nothing more once a whole lease no longer fits before the deadline', async () => {
    const t = setup();
    t.deps.cafe24 = {
      async refreshToken(request) {
        t.sent.push(request.refreshToken.reveal());
        t.advance(10_000); // no answer within the 10 s request timeout
        throw new TokenFailure('transient', 'no answer within 10000 ms');
      },
    };
    // Room for one lease (15 s), not for a second one after the first request's 10 s.
    const result = await refreshMall(t.deps, 'shop', { deadline: t.now() + 20_000 });
    expect(result).toMatchObject({
      status: 'transient-failure',
      reason: expect.stringMatching(/too little time/),
    });
    expect(t.sent).toHaveLength(1);
    expect(await refreshMall(t.deps, 'shop', { deadline: t.now() + 1_000 })).toMatchObject({
      status: 'transient-failure',
    });
    expect(t.sent).toHaveLength(1);
  });

  it('skips a mall that is not due, unless forced', async () => {
    const t = setup([]);
    t.tokens.add('shop', { expiresAt: t.now() + HOUR });
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'skipped-fresh' });
    expect(t.sent).toEqual([]);
    const forced = setup([pair(0)]);
    forced.tokens.add('shop', { expiresAt: forced.now() + HOUR, issuedAt: -1 });
    expect(await refreshMall(forced.deps, 'shop', { force: true })).toMatchObject({ status: 'refreshed' });
    expect(forced.sent).toEqual(['refresh-0']);
  });

  it('refreshes an access token that already expired while the refresh token lives', async () => {
    const t = setup([]);
    t.tokens.add('shop', { expiresAt: t.now() - 3 * HOUR });
    t.deps.cafe24 = { refreshToken: async () => pair(t.now()) };
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'refreshed' });
  });

  it('never sends a refresh token past its expiry: the row becomes invalid with the reason', async () => {
    const t = setup([]);
    t.tokens.add('shop', { refreshExpiresAt: t.now() - 1 });
    const result = await refreshMall(t.deps, 'shop');
    expect(result).toMatchObject({ status: 'invalid', reason: expect.stringMatching(/expired .* not sent/) });
    expect(t.sent).toEqual([]);
    expect(t.tokens.rows.get('shop')).toMatchObject({ status: 'invalid' });
  });

  it('marks invalid_grant invalid after one request, and never sends that token again', async () => {
    const t = setup([
      new TokenFailure('final', 'Cafe24 answered HTTP 401 (invalid_grant: Invalid refresh_token)'),
    ]);
    const result = await refreshMall(t.deps, 'shop');
    expect(result).toMatchObject({ status: 'invalid', attempts: 1 });
    expect(t.tokens.rows.get('shop')!.invalidReason).toMatch(/invalid_grant.*install the app again/);
    expect(t.sent).toHaveLength(1);
    expect(await refreshMall(t.deps, 'shop', { force: true })).toMatchObject({ status: 'invalid' });
    expect(t.sent).toHaveLength(1);
  });

  it('does not mark invalid when another process rotated the row meanwhile (a race)', async () => {
    const t = setup();
    t.deps.cafe24 = {
      async refreshToken() {
        // Someone stored a newer pair while our request was out (their lease had expired ours).
        const row = t.tokens.rows.get('shop')!;
        Object.assign(row, { refresh: 'refresh-other', issuedAt: t.now(), expiresAt: t.now() + 2 * HOUR });
        throw new TokenFailure('final', 'Cafe24 answered HTTP 401 (invalid_grant: Invalid refresh_token)');
      },
    };
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'skipped-fresh' });
    expect(t.tokens.rows.get('shop')).toMatchObject({ status: 'active', refresh: 'refresh-other' });
  });

  it('keeps the mall active through transient failures, one lease per request, backing off', async () => {
    const t = setup();
    const outage = new TokenFailure('transient', 'Cafe24 answered HTTP 503');
    t.deps.cafe24 = {
      async refreshToken() {
        expect(t.tokens.rows.get('shop')!.lockedBy).toBeDefined();
        throw outage;
      },
    };
    const before = t.now();
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'transient-failure', attempts: 3 });
    expect(t.tokens.rows.get('shop')).toMatchObject({ status: 'active', failures: 3, lockedBy: undefined });
    expect(t.now() - before).toBeGreaterThan(400);

    const recovers = setup([outage, pair(0)]);
    recovers.tokens.add('shop', { issuedAt: -1 });
    expect(await refreshMall(recovers.deps, 'shop')).toMatchObject({ status: 'refreshed', attempts: 2 });
  });

  it('blames the app, not the mall, for refused client credentials', async () => {
    const t = setup([new TokenFailure('configuration', "Cafe24 refused the app's client credentials")]);
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'configuration-error' });
    expect(t.tokens.rows.get('shop')).toMatchObject({ status: 'active', lockedBy: undefined, failures: 0 });
    expect(t.sent).toHaveLength(1);
  });

  it('waits for another holder instead of racing it, then finds the mall fresh', async () => {
    const t = setup();
    const row = t.tokens.rows.get('shop')!;
    Object.assign(row, { lockedBy: 'someone', lockedAt: t.now() });
    const waiting = refreshMall(t.deps, 'shop');
    // The other holder finishes while we wait.
    Object.assign(row, { lockedBy: undefined, expiresAt: t.now() + 2 * HOUR, refresh: 'refresh-theirs' });
    expect(await waiting).toMatchObject({ status: 'skipped-fresh' });
    expect(t.sent).toEqual([]);
  });

  it('takes over a lease whose holder died, but not before the lease ran out', async () => {
    const t = setup([]);
    t.deps.cafe24 = { refreshToken: async () => pair(t.now()) };
    Object.assign(t.tokens.rows.get('shop')!, { lockedBy: 'dead', lockedAt: t.now() });
    const start = t.now();
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'refreshed' });
    expect(t.now() - start).toBeGreaterThanOrEqual(15_000 - 100);
    expect(t.now() - start).toBeLessThan(16_000);
  });

  it('reports locked-by-another when waiting is not allowed', async () => {
    const t = setup();
    t.deps.policy.waitMs = 0;
    Object.assign(t.tokens.rows.get('shop')!, { lockedBy: 'busy', lockedAt: t.now() });
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'locked-by-another', owner: 'busy' });
  });

  it('stashes a rotated pair the store cannot take, and the next refresh stores it before sending anything', async () => {
    const t = setup();
    const next = pair(t.now());
    t.deps.cafe24 = { refreshToken: async () => next };
    t.tokens.failStores = 1_000;
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'stashed' });
    expect(await t.deps.stash.entries()).toEqual([{ grant: 'refresh_token', key: 'shop' }]);
    expect(t.tokens.rows.get('shop')!.refresh).toBe('refresh-0');

    t.tokens.failStores = 0;
    t.deps.cafe24 = { refreshToken: async () => expect.unreachable('the dead token must not be sent') };
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'skipped-fresh' });
    expect(t.tokens.rows.get('shop')!.refresh).toBe(next.refreshToken.reveal());
    expect(await t.deps.stash.entries()).toEqual([]);
  });

  it('forced refreshes started together rotate once: one that waited is satisfied by the refresh that finished after it began', async () => {
    const t = setup();
    t.tokens.add('shop', { expiresAt: t.now() + 90 * MINUTE });
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    t.deps.cafe24 = {
      async refreshToken(request) {
        t.sent.push(request.refreshToken.reveal());
        await answered;
        return pair(t.now());
      },
    };
    // The waiters poll on real timers, so the first request is still out while they look.
    t.deps.sleep = (ms) =>
      new Promise((resolve) => setTimeout(() => resolve(void t.advance(Math.min(ms, 20))), 1));
    const first = refreshMall(t.deps, 'shop', { force: true });
    await vi.waitFor(() => expect(t.sent).toHaveLength(1));
    const others = Array.from({ length: 7 }, () => refreshMall(t.deps, 'shop', { force: true }));
    await vi.waitFor(() => expect(t.tokens.claims).toBeGreaterThanOrEqual(8));
    answer();
    const results = await Promise.all([first, ...others]);
    expect(t.sent).toHaveLength(1);
    expect(results.map((result) => result.status).sort()).toEqual([
      'refreshed',
      ...Array(7).fill('skipped-fresh'),
    ]);

    // Started after the last refresh finished: --force rotates again.
    expect(await refreshMall(t.deps, 'shop', { force: true })).toMatchObject({ status: 'refreshed' });
    expect(t.sent).toHaveLength(2);
  });

  it('a process without the stash bucket does not mark a mall invalid whose rotated pair waits in another process', async () => {
    // Two processes, one database: A refreshes, the database refuses the pair, A keeps it in memory.
    const a = setup();
    let live = 'refresh-0';
    const cafe24 = {
      async refreshToken(request: { refreshToken: Secret }) {
        a.sent.push(request.refreshToken.reveal());
        // Cafe24 rotates: the old refresh token dies at once.
        if (request.refreshToken.reveal() !== live) {
          throw new TokenFailure('final', 'Cafe24 answered HTTP 400 (invalid_grant: Invalid refresh_token)');
        }
        const next = pair(a.now());
        live = next.refreshToken.reveal();
        return next;
      },
    };
    a.deps.cafe24 = cafe24;
    const b: RefreshDeps = { ...a.deps, stash: new MemoryTokenStash() };
    a.tokens.failStores = 1_000;
    expect(await refreshMall(a.deps, 'shop')).toMatchObject({ status: 'stashed' });
    a.tokens.failStores = 0;
    a.advance(a.deps.policy.leaseMs + 1);

    // B (a CLI, freshAccessToken) takes the lease A never gave back and sends the token A rotated.
    const refused = await refreshMall(b, 'shop');
    expect(refused).toMatchObject({
      status: 'transient-failure',
      reason: expect.stringMatching(/TOKEN_STASH_BUCKET/),
    });
    expect(a.tokens.rows.get('shop')).toMatchObject({ status: 'active' });
    // Not only once: B's retry, a second CLI, a forced refresh that sends nothing, all leave it active.
    expect(await refreshMall(b, 'shop')).toMatchObject({ status: 'transient-failure' });
    expect(await refreshMall(b, 'shop', { aheadMs: 0 })).toMatchObject({ status: 'skipped-fresh' });
    expect(await refreshMall(b, 'shop')).toMatchObject({ status: 'transient-failure' });
    expect(a.tokens.rows.get('shop')).toMatchObject({ status: 'active' });

    // A stores its pair at its next invocation: the mall lives, and B refreshes it as usual.
    expect(await flushRefreshStash(a.deps)).toBe(1);
    expect(a.tokens.rows.get('shop')!.refresh).toBe(live);
    expect(await refreshMall(b, 'shop', { force: true })).toMatchObject({ status: 'refreshed' });
  });

  it('a refusal long after a send that was never recorded marks the mall invalid: its pair is gone', async () => {
    const t = setup([
      new TokenFailure('final', 'Cafe24 answered HTTP 400 (invalid_grant: Invalid refresh_token)'),
    ]);
    Object.assign(t.tokens.rows.get('shop')!, {
      unrecordedBy: 'host:1:dead',
      unrecordedAt: t.now() - 2 * HOUR,
    });
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'invalid' });
  });

  it('consults the stash before marking a mall invalid: a pair stashed while the request was out is stored', async () => {
    const t = setup();
    const rescued = pair(t.now());
    t.deps.cafe24 = {
      async refreshToken() {
        // Another container stored its rotated pair in the shared (S3) stash meanwhile.
        await t.deps.stash.put({ grant: 'refresh_token', key: 'shop', mallId: 'shop', tokens: rescued });
        throw new TokenFailure('final', 'Cafe24 answered HTTP 400 (invalid_grant: Invalid refresh_token)');
      },
    };
    expect(await refreshMall(t.deps, 'shop')).toMatchObject({ status: 'skipped-fresh' });
    expect(t.tokens.rows.get('shop')).toMatchObject({
      status: 'active',
      refresh: rescued.refreshToken.reveal(),
    });
  });

  it('records a row no refresh can serve invalid, with the reason, without sending anything', async () => {
    const t = setup();
    t.tokens.add('bad mall/id');
    t.tokens.add('empty', { refresh: ' ' });
    for (const mall of ['bad mall/id', 'empty']) {
      expect(await refreshMall(t.deps, mall)).toMatchObject({ status: 'invalid' });
    }
    expect(t.tokens.rows.get('bad mall/id')!.invalidReason).toMatch(
      /mall_id must be a Cafe24 mall id.*not sent/,
    );
    expect(t.tokens.rows.get('empty')!.invalidReason).toMatch(/no refresh token.*not sent/);
    expect(t.sent).toEqual([]);
  });

  it('flushes stashed refreshed pairs, and leaves codes to the exchange', async () => {
    const t = setup();
    const next = pair(t.now());
    await t.deps.stash.put({ grant: 'refresh_token', key: 'shop', mallId: 'shop', tokens: next });
    await t.deps.stash.put({ grant: 'authorization_code', key: '7', mallId: 'shop', tokens: pair(0) });
    expect(await flushRefreshStash(t.deps)).toBe(1);
    expect(t.tokens.rows.get('shop')!.refresh).toBe(next.refreshToken.reveal());
    expect(await t.deps.stash.entries()).toEqual([{ grant: 'authorization_code', key: '7' }]);
  });

  it('gives the lease back at once when the stash or the database fails under it', async () => {
    const t = setup();
    t.deps.stash.take = async () => {
      throw new Error('S3 unreachable');
    };
    await expect(refreshMall(t.deps, 'shop')).rejects.toThrow('S3 unreachable');
    expect(t.tokens.rows.get('shop')!.lockedBy).toBeUndefined();
    expect(t.sent).toEqual([]);
  });

  it('sends nothing while a rotated pair could not be sealed: transient, the lease back, the mall active', async () => {
    const t = setup([pair(0)]);
    t.tokens.notReady = new DataKeyUnavailable('the data key to seal tokens with is not available', {
      message: 'KMS GenerateDataKey with key alias/tokens failed: AccessDeniedException',
    });
    const result = await refreshMall(t.deps, 'shop', { force: true });
    expect(result).toMatchObject({
      status: 'transient-failure',
      reason: expect.stringMatching(/^not sent: a rotated pair could not be sealed .*AccessDeniedException/),
      attempts: 0,
    });
    expect(t.sent).toEqual([]);
    expect(t.tokens.rows.get('shop')).toMatchObject({ status: 'active', lockedBy: undefined });
    t.tokens.notReady = undefined;
    expect(await refreshMall(t.deps, 'shop', { force: true })).toMatchObject({ status: 'refreshed' });
  });

  it('a row whose tokens do not open is unreadable, never invalid; a key not at hand is transient', async () => {
    const t = setup();
    const claim = t.tokens.claimRefresh.bind(t.tokens);
    let failure: Error = new TokenSealError(
      { mallId: 'shop', column: 'refresh_token' },
      'it was changed, or sealed for another mall or column',
    );
    t.tokens.claimRefresh = async () => {
      throw failure;
    };
    expect(await refreshMall(t.deps, 'shop', { force: true })).toEqual({
      status: 'unreadable',
      mallId: 'shop',
      reason:
        'the refresh_token of mall shop could not be opened: it was changed, or sealed for another mall or column',
    });
    expect(t.logs.some((line) => line.startsWith('a stored token could not be opened'))).toBe(true);
    failure = new DataKeyUnavailable('the data key kms-AAAAAAAAAAAAAAAA of mall shop is not available', {
      message: 'KMS Decrypt failed: network error ECONNREFUSED (transient)',
    });
    expect(await refreshMall(t.deps, 'shop', { force: true })).toMatchObject({
      status: 'transient-failure',
      reason: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(t.sent).toEqual([]);
    expect(t.tokens.rows.get('shop')!.status).toBe('active');
    t.tokens.claimRefresh = claim;
  });

  it('reports a missing mall', async () => {
    const t = setup();
    expect(await refreshMall(t.deps, 'nosuch')).toEqual({ status: 'missing', mallId: 'nosuch' });
  });

  it('accessTokenFor returns the stored token while valid, and refreshes it when it is about to expire', async () => {
    const t = setup();
    t.tokens.add('shop', { expiresAt: t.now() + HOUR });
    expect((await accessTokenFor(t.deps, 'shop', 5 * MINUTE)).reveal()).toBe('access-0');
    const next = pair(t.now());
    t.deps.cafe24 = { refreshToken: async () => next };
    t.advance(HOUR - 2 * MINUTE);
    expect((await accessTokenFor(t.deps, 'shop', 5 * MINUTE)).reveal()).toBe(next.accessToken.reveal());
    t.tokens.rows.get('shop')!.status = 'invalid';
    await expect(accessTokenFor(t.deps, 'shop', 5 * MINUTE)).rejects.toThrow(
      /no valid access token.*invalid/,
    );
  });
});
