import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDuration, formatStatus } from '../src/cli/status.ts';
import { readStatus, type StatusReport } from '../src/store/status.ts';
import { createTestDatabase, pgEnv, type TestDatabase } from './support/db.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

const HOUR = 3_600;
const DAY = 24 * HOUR;
let db: TestDatabase;
let report: StatusReport;
/** Read a second after the rows were stamped: what it prints does not depend on how long the setup took. */
let pinned: StatusReport;
/** The one instant every fixture row is stamped from ("2 hours" is two hours after it). */
const STAMPED = new Date();

/** Seconds from `now` to `offsetSeconds` after STAMPED (negative once past), as the report measures them. */
const secondsUntil = (offsetSeconds: number, now = report.now) =>
  (STAMPED.getTime() + offsetSeconds * 1000 - now.getTime()) / 1000;

/** Token text that must never reach the report or the screen. */
const tokenText = (mall: string) => ({ access: `ACCESS-${mall}-s3cr3t`, refresh: `REFRESH-${mall}-s3cr3t` });

async function insertToken(mall: string, expiresIn: string, refreshExpiresIn: string, issuedAgo: string) {
  const { access, refresh } = tokenText(mall);
  await db.pool.query(
    `insert into cafe24.oauth_tokens (mall_id, access_token, refresh_token, expires_at, refresh_token_expires_at, issued_at)
     values ($1, $2, $3, $7::timestamptz + $4::interval, $7::timestamptz + $5::interval, $7::timestamptz - $6::interval)`,
    [mall, access, refresh, expiresIn, refreshExpiresIn, issuedAgo, STAMPED],
  );
}

async function insertCode(fields: {
  mall: string;
  status: string;
  createdAgo: string;
  finishedAgo?: string;
  published?: boolean;
  attempts?: number;
  lastError?: string;
}): Promise<string> {
  const { rows } = await db.pool.query(
    `insert into cafe24.oauth_authorization_codes
            (mall_id, code, status, created_at, finished_at, attempts, last_error)
     values ($1, 'CODE-' || $1 || '-s3cr3t', $2, $7::timestamptz - $3::interval, $7::timestamptz - $4::interval, $5, $6)
     returning id::text`,
    [
      fields.mall,
      fields.status,
      fields.createdAgo,
      fields.finishedAgo ?? null,
      fields.attempts ?? 0,
      fields.lastError ?? null,
      STAMPED,
    ],
  );
  // Published: the relay took it out of the outbox.
  if (fields.published)
    await db.pool.query('delete from cafe24.exchange_outbox where code_id = $1', [rows[0].id]);
  return rows[0].id;
}

const ids: Record<string, string> = {};

beforeAll(async () => {
  db = await createTestDatabase();
  await insertToken('valid', '2 hours', '14 days', '0 seconds');
  await insertToken('access-expired', '-3 minutes', '13 days 21 hours', '2 hours 3 minutes');
  await insertToken('refresh-expired', '-14 days -22 hours', '-1 day -2 hours -30 minutes', '15 days');
  await db.pool.query(
    `update cafe24.oauth_tokens set last_refreshed_at = $1::timestamptz - interval '1 minute' where mall_id = 'valid'`,
    [STAMPED],
  );
  await db.pool.query(
    `update cafe24.oauth_tokens
        set status = 'invalid', invalid_reason = $1, last_refresh_error = $1
      where mall_id = 'refresh-expired'`,
    [
      'the refresh token expired at 2026-01-01T00:00:00.000Z and was not sent;\nthe mall must install the app again',
    ],
  );
  await db.pool.query(
    `update cafe24.oauth_tokens set refresh_failures = 2, last_refresh_error = 'HTTP 503 from Cafe24'
      where mall_id = 'access-expired'`,
  );

  ids.pendingOld = await insertCode({ mall: 'valid', status: 'pending', createdAgo: '40 seconds' });
  ids.pendingPublished = await insertCode({
    mall: 'valid',
    status: 'pending',
    createdAgo: '5 seconds',
    published: true,
  });
  ids.exchanging = await insertCode({
    mall: 'valid',
    status: 'exchanging',
    createdAgo: '2 seconds',
    attempts: 1,
  });
  ids.exchanged = await insertCode({
    mall: 'valid',
    status: 'exchanged',
    createdAgo: '1 hour',
    finishedAgo: '1 hour',
    attempts: 1,
  });
  ids.failedOld = await insertCode({
    mall: 'access-expired',
    status: 'failed',
    createdAgo: '3 days',
    finishedAgo: '3 days',
    attempts: 1,
    lastError: 'invalid_grant: the code was already used',
  });
  ids.expired = await insertCode({
    mall: 'valid',
    status: 'expired',
    createdAgo: '10 minutes',
    finishedAgo: '9 minutes',
    attempts: 3,
    lastError: 'code older than 57 s after 3 transient failures (503)',
  });
  ids.failedNew = await insertCode({
    mall: 'refresh-expired',
    status: 'failed',
    createdAgo: '2 minutes',
    finishedAgo: '2 minutes',
    attempts: 1,
    lastError: 'invalid_client:\nredirect_uri mismatch',
  });
  // Two malls' lives: one removed and gone, one removed and installed again (not listed as removed).
  for (const [mall, kind, detail] of [
    ['gonemall', 'installed', {}],
    ['backmall', 'installed', {}],
    ['gonemall', 'removed', { cause: 'deleted', eventNo: 90077 }],
    ['backmall', 'removed', { cause: 'expired', eventNo: 90078 }],
    ['backmall', 'reinstalled', { previous: 'removed' }],
  ] as const)
    await db.pool.query('insert into cafe24.mall_events (mall_id, kind, detail) values ($1, $2, $3)', [
      mall,
      kind,
      detail,
    ]);
  report = await readStatus(db.pool);
  pinned = await readStatus(db.pool, { now: new Date(STAMPED.getTime() + 1_000) });
});

afterAll(async () => {
  await db?.drop();
});

describe('readStatus', () => {
  it('reports each mall with its expiries, negative once expired', () => {
    const byMall = Object.fromEntries(report.tokens.map((token) => [token.mallId, token]));
    expect(report.tokens.map((token) => token.mallId)).toEqual([
      'access-expired',
      'refresh-expired',
      'valid',
    ]);
    // Measured from the report's own instant (the database's clock), however long ago the rows were stamped.
    expect(byMall.valid!.expiresInSeconds).toBe(secondsUntil(2 * HOUR));
    expect(byMall.valid!.refreshExpiresInSeconds).toBe(secondsUntil(14 * DAY));
    expect(byMall['access-expired']!.expiresInSeconds).toBe(secondsUntil(-3 * 60));
    expect(byMall['access-expired']!.refreshExpiresInSeconds).toBe(secondsUntil(13 * DAY + 21 * HOUR));
    expect(byMall['refresh-expired']!.expiresInSeconds).toBe(secondsUntil(-(14 * DAY + 22 * HOUR)));
    expect(byMall['refresh-expired']!.refreshExpiresInSeconds).toBe(secondsUntil(-(DAY + 2.5 * HOUR)));
    expect(byMall.valid).toMatchObject({
      status: 'active',
      issuedAt: expect.any(Date),
      expiresAt: expect.any(Date),
      refreshTokenExpiresAt: expect.any(Date),
    });
    expect(Object.keys(byMall.valid!).sort()).toEqual([
      'expiresAt',
      'expiresInSeconds',
      'invalidReason',
      'issuedAt',
      'lastRefreshError',
      'lastRefreshedAt',
      'mallId',
      'refreshExpiresInSeconds',
      'refreshFailures',
      'refreshTokenExpiresAt',
      'sealed',
      'status',
    ]);
    expect(byMall.valid).toMatchObject({
      lastRefreshedAt: expect.any(Date),
      invalidReason: null,
      sealed: false,
    });
    expect(byMall['refresh-expired']).toMatchObject({
      status: 'invalid',
      lastRefreshedAt: null,
      invalidReason: expect.stringMatching(/^the refresh token expired .*install the app again$/s),
    });
    expect(byMall['access-expired']).toMatchObject({
      refreshFailures: 2,
      lastRefreshError: 'HTTP 503 from Cafe24',
    });
  });

  it('counts codes per status, the unpublished pending ones and the oldest pending age', () => {
    expect(report.codes.byStatus).toEqual({ pending: 2, exchanging: 1, exchanged: 1, failed: 2, expired: 1 });
    expect(report.codes.unpublishedPending).toBe(1);
    // Stamped 40 s before the fixtures' instant, measured from the report's.
    expect(report.codes.oldestPendingAgeSeconds).toBe(
      (report.now.getTime() - STAMPED.getTime() + 40_000) / 1000,
    );
    expect(pinned.codes.oldestPendingAgeSeconds).toBe(41);
  });

  it('lists failed and expired codes newest first, with their last error', () => {
    expect(report.recentFailures).toEqual([
      {
        id: ids.failedNew,
        mallId: 'refresh-expired',
        status: 'failed',
        attempts: 1,
        createdAt: expect.any(Date),
        finishedAt: expect.any(Date),
        lastError: 'invalid_client:\nredirect_uri mismatch',
      },
      expect.objectContaining({
        id: ids.expired,
        status: 'expired',
        attempts: 3,
        lastError: expect.any(String),
      }),
      expect.objectContaining({ id: ids.failedOld, lastError: 'invalid_grant: the code was already used' }),
    ]);
  });

  it('measures from a given instant and caps the failure list', async () => {
    const later = new Date(report.now.getTime() + 3 * HOUR * 1000);
    const capped = await readStatus(db.pool, { now: later, recentLimit: 1 });
    expect(capped.now).toEqual(later);
    const valid = capped.tokens.find((token) => token.mallId === 'valid')!;
    expect(valid.expiresInSeconds).toBe(secondsUntil(2 * HOUR, later));
    expect(capped.recentFailures.map((code) => code.id)).toEqual([ids.failedNew]);
  });

  it('reads an empty database as zeros', async () => {
    const empty = await createTestDatabase();
    try {
      const nothing = await readStatus(empty.pool);
      expect(nothing).toMatchObject({
        tokens: [],
        codes: {
          byStatus: { pending: 0, exchanging: 0, exchanged: 0, failed: 0, expired: 0 },
          unpublishedPending: 0,
          oldestPendingAgeSeconds: null,
        },
        recentFailures: [],
        removed: [],
        recentEvents: [],
      });
      expect(formatStatus(nothing)).toContain('no rows in cafe24.oauth_tokens');
      expect(formatStatus(nothing)).toContain('no events in cafe24.mall_events');
    } finally {
      await empty.drop();
    }
  });
});

describe("removed malls and the app's events", () => {
  it('lists a mall removed and not installed since, with why; the events newest first', () => {
    expect(report.removed).toEqual([{ mallId: 'gonemall', removedAt: expect.any(Date), cause: 'deleted' }]);
    expect(report.recentEvents.map((event) => `${event.mallId} ${event.kind}`)).toEqual([
      'backmall reinstalled',
      'backmall removed',
      'gonemall removed',
      'backmall installed',
      'gonemall installed',
    ]);
    expect(report.recentEvents.every((event) => event.publishedAt === null)).toBe(true);
    const text = formatStatus(report);
    expect(text).toContain('Removed (1 mall, not installed again)');
    expect(text).toMatch(/gonemall\s+\S+ \S+\s+the shop deleted the app \(90077\)/);
    expect(text).not.toMatch(/backmall\s+\S+ \S+\s+the app's term ended/);
    expect(text).toContain('Recent events (newest first, 5 shown)');
    expect(text).toMatch(/backmall\s+reinstalled\s+\S+ \S+\s+not published/);
  });
});

describe('formatStatus', () => {
  it('prints expiries in words and the failures, and never a token or a code', () => {
    const text = formatStatus(pinned);
    const line = (mall: string) =>
      text.split('\n').find((row) => row.trimStart().startsWith(`${mall} `)) ?? '';

    expect(line('valid')).toMatch(
      /active\s+expires in 1h 59m\s+refresh expires in 13d 23h\s+\S+ \S+Z\s+\d{4}-/,
    );
    expect(line('access-expired')).toMatch(/EXPIRED 3m ago\s+refresh expires in 13d 20h\s+\S+ \S+Z\s+never$/);
    expect(line('refresh-expired')).toMatch(/invalid\s+EXPIRED 14d 22h ago\s+refresh EXPIRED 1d 2h ago/);
    expect(text).toContain(
      '  ✗ refresh-expired invalid: the refresh token expired at 2026-01-01T00:00:00.000Z and was not sent; the mall must install the app again\n',
    );
    expect(text).toContain(
      '  ! access-expired 2 refresh failures since the last success: HTTP 503 from Cafe24\n',
    );
    expect(text).not.toMatch(/[✗!] valid /);
    expect(text).toContain('pending 2, exchanging 1, exchanged 1, failed 2, expired 1');
    expect(text).toContain('1 not yet published to SQS, oldest 41s old');

    const failures = text.slice(text.indexOf('Recent failures'));
    const order = [ids.failedNew, ids.expired, ids.failedOld].map((id) => failures.indexOf(`\n  ${id} `));
    expect(order.every((position) => position > 0)).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(failures).toContain('invalid_client: redirect_uri mismatch');
    expect(failures).toContain('invalid_grant: the code was already used');

    for (const mall of ['valid', 'access-expired', 'refresh-expired']) {
      const { access, refresh } = tokenText(mall);
      expect(text).not.toContain(access);
      expect(text).not.toContain(refresh);
      expect(JSON.stringify(report)).not.toContain(access);
      expect(JSON.stringify(report)).not.toContain(refresh);
    }
    expect(text).not.toContain('s3cr3t');
  });

  it.each([
    [2 * HOUR - 1, '1h 59m'],
    [14 * DAY - 1, '13d 23h'],
    [-(3 * 60 + 10), '3m'],
    [59.9, '59s'],
    [0, '0s'],
  ])('formatDuration(%d) is %s', (seconds, expected) => {
    expect(formatDuration(seconds)).toBe(expected);
  });
});

describe('cafe24-tokens status', () => {
  it('prints the report as JSON with --json and exits 0', async () => {
    const { stdout } = await run(process.execPath, ['src/cli/main.ts', 'status', '--json'], {
      cwd: root,
      env: { PATH: process.env.PATH, ...pgEnv(db.url) },
    });
    const json = JSON.parse(stdout);
    expect(json.tokens).toHaveLength(3);
    expect(json.tokens.find((token: { mallId: string }) => token.mallId === 'refresh-expired')).toMatchObject(
      {
        status: 'invalid',
        invalidReason: expect.stringContaining('install the app again'),
        lastRefreshedAt: null,
      },
    );
    expect(json.codes.byStatus.failed).toBe(2);
    expect(json.recentFailures[0].id).toBe(ids.failedNew);
    expect(stdout).not.toContain('s3cr3t');
  });

  it('prints the tables without --json', async () => {
    const { stdout } = await run(process.execPath, ['src/cli/main.ts', 'status'], {
      cwd: root,
      env: { PATH: process.env.PATH, ...pgEnv(db.url) },
    });
    expect(stdout).toMatch(/valid\s+active\s+expires in 1h 5\dm/);
    expect(stdout).toContain('Recent failures (newest first, 3 shown)');
    expect(stdout).not.toContain('s3cr3t');
  });
});
