/**
 * Ways the pipeline's own faults could lose a code (issue 10), each drilled on PostgreSQL 17 and the
 * sandbox through the real exchange handler.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimUnpublished } from '../src/store/outbox.ts';
import { readStatus } from '../src/store/status.ts';
import { captureOutput } from './support/capture.ts';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  type ExchangeStack,
  startExchangeStack,
} from './support/exchange-stack.ts';

const logs = captureOutput();
let stack: ExchangeStack;

beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('a relay frozen mid-send', () => {
  it('never makes an exchange wait: the relay holds outbox rows, the exchange claims code rows', async () => {
    const { id } = await stack.newCode();
    const frozen = await stack.db.pool.connect();
    try {
      // What a relay holds while SQS takes its batch, and keeps holding if it freezes right there.
      await frozen.query('begin');
      expect(await claimUnpublished(frozen, 50)).toContain(id);
      expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
      expect(await stack.codeRow(id)).toMatchObject({ status: 'exchanged' });
    } finally {
      await frozen.query('rollback');
      frozen.release();
    }
  });

  it('bounds every wait on every pool: lock, statement and idle transaction', async () => {
    const { rows } = await stack.runtime.pool.query(
      `select current_setting('lock_timeout') as lock, current_setting('statement_timeout') as statement,
              current_setting('idle_in_transaction_session_timeout') as idle`,
    );
    for (const value of Object.values(rows[0] as Record<string, string>)) expect(value).not.toBe('0');
  });
});

describe('mall ids differing in case', () => {
  it('make one token row: a mall id is stored as Cafe24 spells it, lower case', async () => {
    const upper = await stack.insertCode(stack.sandbox.issueCode('casemall'), { mallId: 'CASEMALL' });
    const lower = await stack.insertCode(stack.sandbox.issueCode('casemall'), { mallId: 'casemall' });
    expect(await stack.deliver(upper, lower)).toEqual({ batchItemFailures: [] });
    const { rows } = await stack.db.pool.query(
      `select mall_id from cafe24.oauth_tokens where lower(mall_id) = 'casemall'`,
    );
    expect(rows).toEqual([{ mall_id: 'casemall' }]);
    expect((await stack.codeRow(upper)).mall_id).toBe('casemall');
  });

  it('are lower-cased wherever one is given: configuration, manual events, the CLI', async () => {
    const manual = await stack.handler({ mallId: 'NoSuchMall' });
    expect(manual).toEqual({ status: 'nothing-pending', mallId: 'nosuchmall' });
  });
});

describe('a Cafe24 (or a proxy) that echoes the request', () => {
  it('leaves no encoding of the code, the client secret or the Basic credential in any field kept', async () => {
    // Characters that URL- and form-encoding change, so each encoding differs from the code itself.
    const code = 'Zx9/+q=w k&z~ü-echo';
    const id = await stack.insertCode(code, { mallId: 'echomall' });
    await stack.duringFault({ type: 'echo' }, async () => {
      expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
    });
    const row = await stack.codeRow(id);
    expect(row.status).toBe('failed');
    expect(row.last_error).toMatch(/^Cafe24 answered HTTP 400 \(invalid_request Basic \[redacted\]/);
    const basic = Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64');
    const report = JSON.stringify(await readStatus(stack.db.pool));
    const kept = [String(row.last_error), report, logs.text()].join('\n');
    for (const form of [
      code,
      encodeURIComponent(code),
      new URLSearchParams({ code }).toString().slice('code='.length),
      CLIENT_SECRET,
      basic,
    ]) {
      expect(kept).not.toContain(form);
    }
  });
});
