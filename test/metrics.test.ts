import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { flushMetrics, METRICS_NAMESPACE } from '../src/commons/metrics.ts';
import type { RefreshResult } from '../src/domain/refresh-mall.ts';
import { recordRefreshResult, refreshOutcome } from '../src/runtime/metrics.ts';
import { captureOutput } from './support/capture.ts';
import { dimensionsOf, type EmfLine, emfLines, metricValues } from './support/emf.ts';
import { type ExchangeStack, startExchangeStack } from './support/exchange-stack.ts';

// What the Lambda runtime sets in an on-demand container; Powertools counts a cold start only there.
vi.hoisted(() => {
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
});

const output = captureOutput();
let stack: ExchangeStack;
beforeAll(async () => {
  stack = await startExchangeStack();
});
afterAll(async () => {
  await stack.stop();
});

/** The EMF lines written since `mark` (an offset into the captured output). */
const linesSince = (mark: number): EmfLine[] => emfLines(output.text().slice(mark));

/** Every EMF line: namespace ours, dimensions the service only (no mall id, no code, no secret). */
function expectClean(lines: EmfLine[], ...forbidden: string[]) {
  for (const line of lines) {
    expect(line._aws.CloudWatchMetrics.every((set) => set.Namespace === METRICS_NAMESPACE)).toBe(true);
    const dimensions = dimensionsOf(line);
    expect(Object.keys(dimensions).sort()).toEqual(
      'function_name' in dimensions ? ['function_name', 'service'] : ['service'],
    );
    expect(dimensions.service).toBe('cafe24-token-issuer');
    for (const value of forbidden) expect(JSON.stringify(line)).not.toContain(value);
  }
}

describe('EMF metrics from the exchange Lambda, one flush per invocation', () => {
  it('an exchanged code: CodesExchanged, its Cafe24 attempt and its INSERT → token latency', async () => {
    const mark = output.text().length;
    const beforeInsert = Date.now();
    const { id, code } = await stack.newCode('emfmall1');
    expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
    const sinceInsert = Date.now() - beforeInsert;
    const lines = linesSince(mark);
    expect(metricValues(lines, 'CodesExchanged')).toEqual([1]);
    expect(metricValues(lines, 'CodesFailed')).toEqual([]);
    expect(metricValues(lines, 'MallsReinstalled')).toEqual([]);
    expect(metricValues(lines, 'Cafe24Attempts')).toEqual([1]);
    const [latency] = metricValues(lines, 'InsertToTokenLatency');
    expect(latency).toBeGreaterThanOrEqual(0);
    // From the INSERT to the tokens committed: within the time from just before the INSERT to the end of
    // the delivery (+1: whole milliseconds on this clock).
    expect(latency).toBeLessThanOrEqual(sinceInsert + 1);
    // The first invocation of the container is its cold start (Powertools' own metric, flushed at once).
    expect(metricValues(emfLines(output.text()), 'ColdStart')).toEqual([1]);
    expectClean(lines, 'emfmall1', code);
  });

  it('a failed code (invalid_grant): CodesFailed and its attempt, no latency', async () => {
    const mark = output.text().length;
    const { id, code } = await stack.newCode('emfmall2');
    stack.sandbox.failNext({ type: 'invalid-grant' });
    expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
    const lines = linesSince(mark);
    expect(metricValues(lines, 'CodesFailed')).toEqual([1]);
    expect(metricValues(lines, 'CodesExchanged')).toEqual([]);
    expect(metricValues(lines, 'Cafe24Attempts')).toEqual([1]);
    expect(metricValues(lines, 'InsertToTokenLatency')).toEqual([]);
    expectClean(lines, 'emfmall2', code);
  });

  it('an expired code: CodesExpired, no attempt', async () => {
    const mark = output.text().length;
    const code = stack.sandbox.issueCode('emfmall3');
    const id = await stack.insertCode(code, { mallId: 'emfmall3', ageMs: 61_000 });
    expect(await stack.deliver(id)).toEqual({ batchItemFailures: [] });
    const lines = linesSince(mark);
    expect(metricValues(lines, 'CodesExpired')).toEqual([1]);
    expect(metricValues(lines, 'Cafe24Attempts')).toEqual([]);
    expect(lines).toHaveLength(1);
    expectClean(lines, 'emfmall3', code);
  });

  it('a mall back from invalid by a new code: MallsReinstalled, once', async () => {
    await stack.deliver((await stack.newCode('emfmall5')).id);
    await stack.db.pool.query(`update cafe24.oauth_tokens set status = 'invalid' where mall_id = $1`, [
      'emfmall5',
    ]);
    const mark = output.text().length;
    await stack.deliver((await stack.newCode('emfmall5')).id);
    expect(metricValues(linesSince(mark), 'MallsReinstalled')).toEqual([1]);
    expect(metricValues(linesSince(mark), 'CodesExchanged')).toEqual([1]);
  });

  it('a redelivery of a finished code counts nothing again', async () => {
    const { id } = await stack.newCode('emfmall4');
    await stack.deliver(id);
    const mark = output.text().length;
    await stack.deliver(id);
    expect(linesSince(mark)).toEqual([]);
  });
});

describe('refresh outcomes from the domain results', () => {
  const results: Array<[RefreshResult, string, string[]]> = [
    [
      { status: 'refreshed', mallId: 'rm1', token: 'stored', expiresAt: '2026-01-01T00:00:00Z', attempts: 1 },
      'refreshed',
      ['RefreshRefreshed', 'Cafe24Attempts'],
    ],
    [
      { status: 'skipped-fresh', mallId: 'rm2', expiresAt: '2026-01-01T00:00:00Z' },
      'skipped-fresh',
      ['RefreshSkippedFresh'],
    ],
    [
      { status: 'invalid', mallId: 'rm3', reason: 'invalid_grant', attempts: 1, turnedInvalid: true },
      'invalid',
      ['RefreshInvalid', 'MallsTurnedInvalid', 'Cafe24Attempts'],
    ],
    // Already invalid: an outcome, not a mall turning invalid again.
    [
      { status: 'invalid', mallId: 'rm3b', reason: 'marked invalid', attempts: 0 },
      'invalid',
      ['RefreshInvalid'],
    ],
    [{ status: 'missing', mallId: 'rm4' }, 'invalid', ['RefreshInvalid']],
    [
      { status: 'transient-failure', mallId: 'rm5', reason: 'HTTP 503', attempts: 3 },
      'transient-failure',
      ['RefreshTransientFailure', 'Cafe24Attempts'],
    ],
    [
      { status: 'stashed', mallId: 'rm6', reason: 'database down', attempts: 1 },
      'transient-failure',
      ['RefreshTransientFailure', 'Cafe24Attempts', 'StashUsed'],
    ],
    [
      { status: 'locked-by-another', mallId: 'rm7', owner: 'pid 1' },
      'transient-failure',
      ['RefreshTransientFailure'],
    ],
    [
      { status: 'configuration-error', mallId: 'rm8', reason: 'invalid_client' },
      'configuration-error',
      ['RefreshConfigurationErrors'],
    ],
  ];

  it.each(results)('%o → %s', (result, outcome, names) => {
    expect(refreshOutcome(result)).toBe(outcome);
    const mark = output.text().length;
    recordRefreshResult(result);
    flushMetrics();
    const lines = linesSince(mark);
    expect(lines).toHaveLength(1);
    const written = (lines[0] as EmfLine)._aws.CloudWatchMetrics.flatMap((set) =>
      set.Metrics.map((m) => m.Name),
    );
    expect(written.sort()).toEqual([...names].sort());
    for (const name of names) {
      expect(metricValues(lines, name)).toEqual([
        name === 'Cafe24Attempts' ? (result as { attempts: number }).attempts : 1,
      ]);
    }
    expectClean(lines, result.mallId);
  });
});

describe('the refresh command', () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const refresh = (args: string[]) =>
    promisify(execFile)(process.execPath, ['src/cli/main.ts', 'refresh', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', POWERTOOLS_LOG_LEVEL: 'ERROR', ...stack.env },
    });

  it('prints its outcomes as EMF lines with --emf only, after the lines people read', async () => {
    const { id } = await stack.newCode('emfrefresh');
    await stack.deliver(id);
    const plain = await refresh(['--mall', 'emfrefresh']);
    expect(plain.stdout).toContain('· emfrefresh fresh, not refreshed');
    expect(emfLines(plain.stdout)).toEqual([]);

    const withEmf = await refresh(['--mall', 'emfrefresh', '--force', '--emf']);
    expect(withEmf.stdout.split('\n')[0]).toContain('✓ emfrefresh refreshed');
    const lines = emfLines(withEmf.stdout);
    expect(metricValues(lines, 'RefreshRefreshed')).toEqual([1]);
    expect(metricValues(lines, 'Cafe24Attempts')).toEqual([1]);
    expectClean(lines, 'emfrefresh');
  });
});
