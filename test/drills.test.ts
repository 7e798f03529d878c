/**
 * Fault drills (issue 5) at the exchange handler: the real handler on PostgreSQL 17 and the Cafe24
 * sandbox, one fault at a time. Each drill checks that nothing is lost, that no consumed code is sent
 * again, and that the code row says why it ended as it did. The queue-level drills (relay crash, two
 * runners, DLQ) are in drills-queue.test.ts, the Postgres restart in drills-restart.test.ts.
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxFault } from '../local/cafe24-sandbox.ts';
import { loadConfig } from '../src/config.ts';
import { createExchangeHandler } from '../src/handlers/exchange.ts';
import { createExchangeRuntime, type ExchangeRuntime } from '../src/runtime/exchange.ts';
import { captureOutput } from './support/capture.ts';
import { exchangeRecord, lambdaContext, sqsEvent, sqsRecord } from './support/events.ts';
import { CLIENT_SECRET, type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

const logs = captureOutput();
let stack: ExchangeStack;
/**
 * Codes that live 3 s instead of 60 s (sent only up to 1 s before the end) and a 500 ms request timeout:
 * "Cafe24 down for 30 s" and "slower than the timeout" play out in about two seconds each instead of a
 * minute. The sandbox keeps its own 60 s code life, so its refusals here are never "Code time expired".
 */
let brief: ExchangeStack;
const BRIEF_LIFETIME_MS = 3_000;
const BRIEF_MARGIN_MS = 1_000;

beforeAll(async () => {
  [stack, brief] = await Promise.all([
    startExchangeStack(),
    startExchangeStack({
      CODE_LIFETIME_SECONDS: String(BRIEF_LIFETIME_MS / 1000),
      CODE_EXPIRY_MARGIN_SECONDS: String(BRIEF_MARGIN_MS / 1000),
      CAFE24_REQUEST_TIMEOUT_MS: '500',
    }),
  ]);
});
afterAll(async () => {
  await Promise.all([stack?.stop(), brief?.stop()]);
});

let mallSeq = 0;
const newMall = () => `drill${++mallSeq}`;

/** The JSON log lines written so far, parsed. */
function logEntries(): Array<Record<string, unknown>> {
  return logs
    .text()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

const loggedFor = (codeId: string) => logEntries().filter((entry) => entry.codeId === codeId);

/**
 * No request reached the sandbox after the code's life (by the database's created_at). The exchange stops
 * sending its margin before the end; that margin is the time it leaves a request to arrive, so the check
 * is the life itself, not the moment of the last decision plus a guess at this machine's speed.
 */
function sentWithinLife(on: ExchangeStack, code: string, createdAt: Date, lifetimeMs: number) {
  for (const request of on.sandbox.tokenRequests({ code })) {
    expect(request.at).toBeLessThan(createdAt.getTime() + lifetimeMs);
  }
}

/**
 * A fresh code on the brief stack, delivered while the sandbox answers every request with `fault`: the
 * delivery succeeds, and the code ends expired with a last_error matching `lastError`.
 */
async function expiresDuring(fault: SandboxFault, lastError: RegExp) {
  const { id, code } = await brief.newCode(newMall());
  await brief.duringFault(fault, async () => {
    expect(await brief.deliver(id)).toEqual({ batchItemFailures: [] });
  });
  const row = await brief.codeRow(id);
  expect(row.status).toBe('expired');
  expect(row.last_error).toMatch(lastError);
  return { id, code, row };
}

describe('drill 3: Cafe24 unreachable (connections reset)', () => {
  it('retries in-process and exchanges the code once Cafe24 is back within its life', async () => {
    const { id, code } = await brief.newCode(newMall());
    // The outage ends after two refused attempts; the third goes through.
    brief.sandbox.failNext({ type: 'reset' }, 2);
    expect(await brief.deliver(id)).toEqual({ batchItemFailures: [] });

    const requests = brief.sandbox.tokenRequests({ code });
    expect(requests.map((r) => r.fault)).toEqual(['reset', 'reset', undefined]);
    expect(requests.map((r) => r.status)).toEqual([0, 0, 200]);
    expect(await brief.codeRow(id)).toMatchObject({ status: 'exchanged', attempts: 3, last_error: null });
    expect(loggedFor(id).filter((e) => e.message === 'transient failure, retrying')).toHaveLength(2);
  });

  it('records the code expired with the last reason when the outage outlasts it; nothing sent after', async () => {
    // Stands for "Cafe24 down for 30 s": an outage longer than the code's (shortened) life.
    const { id, code, row } = await expiresDuring(
      { type: 'reset' },
      /^code expired after \d+ attempt\(s\); last: request to 127\.0\.0\.1:\d+ failed: /,
    );
    const requests = brief.sandbox.tokenRequests({ code });
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(row.attempts).toBe(requests.length);
    expect(requests.every((r) => r.fault === 'reset')).toBe(true);
    sentWithinLife(brief, code, row.created_at as Date, BRIEF_LIFETIME_MS);

    // A redelivery (SQS retry, redrive) finds it done and sends nothing.
    expect(await brief.deliver(id)).toEqual({ batchItemFailures: [] });
    expect(brief.sandbox.tokenRequests({ code })).toHaveLength(requests.length);
    expect(loggedFor(id).some((e) => e.message === 'code expired' && e.reason === row.last_error)).toBe(true);
  });
});

describe('drill 4: Cafe24 slower than CAFE24_REQUEST_TIMEOUT_MS (500 ms)', () => {
  it('treats every timeout as transient and ends expired, each request sent within the life', async () => {
    const { id, code, row } = await expiresDuring(
      { type: 'delay', ms: 800 },
      /^code expired after \d+ attempt\(s\); last: no answer from 127\.0\.0\.1:\d+ within 500 ms$/,
    );
    const requests = brief.sandbox.tokenRequests({ code });
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(row.attempts).toBe(requests.length);
    sentWithinLife(brief, code, row.created_at as Date, BRIEF_LIFETIME_MS);
    // What the client never saw: the sandbox, like Cafe24, spent the code on the first request and issued
    // tokens (200), then refused every retry. The design (rule 4) retries timeouts because a request that
    // never arrived is indistinguishable from one whose answer was lost; a retry of a spent code can only
    // be refused, and the tokens it would revoke were never received. Those tokens are lost: a new install
    // is the only way, and the row says the code expired.
    await expect
      .poll(() => brief.sandbox.tokenRequests({ code }).map((r) => r.status), {
        timeout: 5_000,
        message: 'the sandbox to answer the requests the client gave up on',
      })
      .not.toContain(0);
    expect(requests.map((r) => r.status)).toEqual([200, ...requests.slice(1).map(() => 400)]);
  });

  it('records the retry after one timeout as failed with invalid_grant: the slow request spent the code', async () => {
    const { id, code } = await brief.newCode(newMall());
    brief.sandbox.failNext({ type: 'delay', ms: 800 });
    expect(await brief.deliver(id)).toEqual({ batchItemFailures: [] });
    // Rule 4 retries the timeout; Cafe24 had already spent the code, so the retry meets invalid_grant,
    // which rule 3 makes final: recorded, never retried.
    const row = await brief.codeRow(id);
    expect(row).toMatchObject({
      status: 'failed',
      attempts: 2,
      last_error:
        'Cafe24 answered HTTP 400 (invalid_grant: Code has already been used): Cafe24 refused the code',
    });
    expect(brief.sandbox.tokenRequests({ code })).toHaveLength(2);
    expect(await brief.deliver(id)).toEqual({ batchItemFailures: [] });
    expect(brief.sandbox.tokenRequests({ code })).toHaveLength(2);
    expect(await brief.tokenRow(row.mall_id as string)).toBeUndefined();
  });
});

describe('drill 5: one message delivered 10 times at once to two Lambda containers', () => {
  let containers: ExchangeRuntime[] = [];
  afterAll(async () => {
    await Promise.all(containers.map((runtime) => runtime.close()));
  });

  it('sends one token request; the deliveries that met the claim come back and find it done', async () => {
    containers = [1, 2].map(() => createExchangeRuntime(loadConfig('exchange', stack.env)));
    const handlers = containers.map((runtime) => createExchangeHandler(() => runtime));
    const mall = newMall();
    const { id, code } = await stack.newCode(mall);
    // The same body, as SQS redelivers it or a redrive sends it: each copy with its own messageId.
    const results = (await Promise.all(
      Array.from({ length: 10 }, (_, i) => handlers[i % 2]!(sqsEvent(exchangeRecord(id)), lambdaContext())),
    )) as SQSBatchResponse[];
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
    expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged', attempts: 1 });
    const toRetry = results.filter((r) => r.batchItemFailures.length > 0).length;
    for (let i = 0; i < toRetry; i++) {
      expect(await handlers[i % 2]!(sqsEvent(exchangeRecord(id)), lambdaContext())).toEqual({
        batchItemFailures: [],
      });
    }
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
    expect((await stack.tokenRow(mall))!.access_token).toBe(stack.sandbox.issuedTokens(mall)!.accessToken);
  });
});

describe('drill 6: Cafe24 answers that are not a token', () => {
  const finals = [
    {
      fault: { type: 'huge-body', bytes: 1_048_576 } as const,
      reason: 'Cafe24 answered 200 with a body over 65536 bytes',
    },
    {
      fault: { type: 'malformed-json' } as const,
      reason: 'Cafe24 answered 200 with a body that is not JSON',
    },
    {
      fault: { type: 'missing-fields' } as const,
      reason: /^Cafe24 answered 200 without a usable token: .*refresh_token/,
    },
  ];
  for (const { fault, reason } of finals) {
    it(`records a 200 with ${fault.type} as failed (the code is spent) and never resends it`, async () => {
      const mall = newMall();
      const { id, code } = await stack.newCode(mall);
      stack.sandbox.failNext(fault);
      expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
      const row = await stack.codeRow(id);
      expect(row).toMatchObject({ status: 'failed', attempts: 1 });
      expect(row.last_error).toMatch(reason);
      // Redeliveries find the recorded failure: the spent code is not sent again.
      expect(await stack.deliver(id, id)).toEqual({ batchItemFailures: [] });
      expect(stack.sandbox.tokenRequests({ code })).toHaveLength(1);
      expect(await stack.tokenRow(mall)).toBeUndefined();
      expect(loggedFor(id).some((e) => e.message === 'code failed' && e.reason === row.last_error)).toBe(
        true,
      );
    });
  }

  it('retries an HTML 502 page (transient; the code was not spent) and stores the tokens', async () => {
    const mall = newMall();
    const { id, code } = await stack.newCode(mall);
    stack.sandbox.failNext({ type: 'html', status: 502 }, 2);
    expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
    expect(stack.sandbox.tokenRequests({ code }).map((r) => r.status)).toEqual([502, 502, 200]);
    expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged', attempts: 3, last_error: null });
    expect((await stack.tokenRow(mall))!.access_token).toBe(stack.sandbox.issuedTokens(mall)!.accessToken);
    const retries = loggedFor(id).filter((e) => e.message === 'transient failure, retrying');
    expect(retries.map((e) => e.reason)).toEqual([
      'Cafe24 answered HTTP 502 (text/html body, not an OAuth error)',
      'Cafe24 answered HTTP 502 (text/html body, not an OAuth error)',
    ]);
  });

  it('records a code expired with the HTML 502 as last reason when the 502s outlast it', async () => {
    const { code, row } = await expiresDuring(
      { type: 'html', status: 502 },
      /^code expired after \d+ attempt\(s\); last: Cafe24 answered HTTP 502 \(text\/html body, not an OAuth error\)$/,
    );
    expect(brief.sandbox.tokenRequests({ code })).toHaveLength(row.attempts as number);
  });
});

describe('drill 7: a message for a code id with no row', () => {
  it('is reported as a batch item failure with the reason logged, so SQS dead-letters it', async () => {
    const before = await tableSnapshot();
    const record = exchangeRecord('987654321');
    const response = (await stack.handler(sqsEvent(record), lambdaContext())) as SQSBatchResponse;
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    expect(
      logEntries().some(
        (e) => e.messageId === record.messageId && e.reason === 'no authorization code with id 987654321',
      ),
    ).toBe(true);
    expect(await tableSnapshot()).toEqual(before);
  });
});

describe('drill 8: a code row with an empty code', () => {
  it('records failed "empty code" without a request', async () => {
    const mall = newMall();
    const ids = [
      await stack.insertCode('', { mallId: mall }),
      await stack.insertCode(' \t ', { mallId: mall }),
    ];
    expect(await stack.deliver(...ids)).toEqual({ batchItemFailures: [] });
    for (const id of ids) {
      expect(await stack.codeRow(id)).toMatchObject({
        status: 'failed',
        attempts: 0,
        last_error: 'the code row holds an empty code',
      });
      expect(loggedFor(id).some((e) => e.message === 'code failed')).toBe(true);
    }
    expect(stack.sandbox.tokenRequests({ mallId: mall })).toHaveLength(0);
  });
});

describe('drill 9: messages that are not an exchange message', () => {
  it('fails each bad record with its reason logged and changes nothing in the database', async () => {
    // A live pending code the bad messages point at: it must stay untouched.
    const { id, code } = await stack.newCode(newMall());
    const leak = 'CODE-VALUE-THAT-MUST-NOT-BE-LOGGED';
    const cases = [
      { body: 'not json {', reason: 'body is not valid JSON' },
      { body: '', reason: 'body is not valid JSON' },
      { body: `["exchange","${id}"]`, reason: 'body must be a JSON object, got an array' },
      { body: `{"codeId":"${id}"}`, reason: 'kind is required' },
      { body: '{"kind":"exchange"}', reason: 'codeId is required' },
      {
        body: '{"kind":"refresh","mallId":"m"}',
        reason: 'a refresh message on the exchange queue (send it to the refresh queue)',
      },
      {
        body: `{"kind":"purge","codeId":"${id}"}`,
        reason: 'unknown kind "purge" (expected exchange | refresh)',
      },
      {
        body: `{"kind":"EXCHANGE; drop","codeId":"${id}"}`,
        reason: 'unknown kind (expected exchange | refresh)',
      },
      { body: `{"kind":"exchange","codeId":${id}}`, reason: 'codeId must be a string' },
      {
        body: `{"kind":"exchange","codeId":"0${id}"}`,
        reason: 'codeId must be a positive integer as a decimal string',
      },
      { body: `{"kind":"exchange","codeId":"${id}","code":"${leak}"}`, reason: 'unexpected field: code' },
      {
        body: `{"kind":"exchange","codeId":"${id}","mallId":"m","x":1}`,
        reason: 'unexpected fields: mallId, x',
      },
    ];
    const records = cases.map(({ body }) => sqsRecord(body));
    const before = await tableSnapshot();
    const response = (await stack.handler(sqsEvent(...records), lambdaContext())) as SQSBatchResponse;

    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      records.map((r) => r.messageId).sort(),
    );
    const entries = logEntries();
    cases.forEach(({ reason }, index) => {
      const logged = entries.find((e) => e.messageId === records[index]!.messageId);
      expect(logged, reason).toMatchObject({ message: 'malformed message' });
      expect(logged!.reason).toMatch(new RegExp(`^${escapeRegExp(reason)}`));
    });
    expect(await tableSnapshot()).toEqual(before);
    expect(await stack.codeRow(id)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(stack.sandbox.tokenRequests({ code })).toHaveLength(0);
    expect(logs.text()).not.toContain(leak);
  });
});

describe('drill 10: mall ids full of quotes and SQL', () => {
  it('records each failed as not a valid mall id, sends nothing and leaves the tables intact', async () => {
    const malls = ["x'; drop table cafe24.oauth_tokens; --", 'a"b', 'm$$1', 'evil.example.com/x', '../x'];
    const ids = [];
    for (const mall of malls)
      ids.push(await stack.insertCode(stack.sandbox.issueCode(mall), { mallId: mall }));
    const requestsBefore = stack.sandbox.requests.length;
    const tokensBefore = await stack.db.pool.query('select count(*)::int as n from cafe24.oauth_tokens');

    expect(await stack.deliver(...ids)).toEqual({ batchItemFailures: [] });
    for (const id of ids) {
      expect(await stack.codeRow(id)).toMatchObject({
        status: 'failed',
        attempts: 0,
        last_error: expect.stringMatching(/^mall_id must be a Cafe24 mall id/),
      });
    }
    expect(stack.sandbox.requests.length).toBe(requestsBefore);
    const { rows } = await stack.db.pool.query(
      `select to_regclass('cafe24.oauth_tokens') is not null as tokens,
              to_regclass('cafe24.oauth_authorization_codes') is not null as codes,
              (select count(*)::int from cafe24.oauth_tokens) as n`,
    );
    expect(rows[0]).toEqual({ tokens: true, codes: true, n: tokensBefore.rows[0].n });
    // The console event refuses such a mall id before anything runs.
    await expect(stack.handler({ mallId: malls[0] }, lambdaContext())).rejects.toThrow(/unrecognised event/);
  });
});

describe('logs across every drill', () => {
  it('never contain a code, a token or the client secret', () => {
    const secrets = [...stack.sandbox.knownSecrets(), ...brief.sandbox.knownSecrets(), CLIENT_SECRET];
    expect(secrets.length).toBeGreaterThan(20);
    const text = logs.text();
    expect(text.length).toBeGreaterThan(1_000);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});

/** Every row of both tables, to show a drill changed nothing. */
async function tableSnapshot() {
  const codes = await stack.db.pool.query('select * from cafe24.oauth_authorization_codes order by id');
  const tokens = await stack.db.pool.query('select * from cafe24.oauth_tokens order by id');
  return { codes: codes.rows, tokens: tokens.rows };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
