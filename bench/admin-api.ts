/**
 * The shared bucket's numbers (issue 19): `processes` processes calling one mall through the client as
 * fast as they can, `calls` each, against the sandbox's Cafe24 bucket (40, draining 2 a second): the 429s
 * Cafe24 answered (target 0), the calls a second against the drain rate (target ≥ 90 % of it once the
 * bucket's first 38 are spent), and the database's time per call. Prints numbers; asserts nothing.
 *
 *   node bench/admin-api.ts [--processes 8] [--calls 25]
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { startEmbeddedPostgres } from '../local/postgres.ts';
import { LOCAL_APP, startLocalStack } from '../local/stack.ts';
import { logger } from '../src/commons/logger.ts';
import { round } from './stats.ts';

const { values } = parseArgs({
  options: { processes: { type: 'string', default: '8' }, calls: { type: 'string', default: '25' } },
});
const processes = Number(values.processes);
const calls = Number(values.calls);
const run = promisify(execFile);

logger.setLogLevel('ERROR');
const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-bench-admin-'));
const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
const stack = await startLocalStack({ databaseUrl: postgres.url() });
try {
  const mallId = 'benchapimall';
  await stack.pool.query('insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2)', [
    mallId,
    stack.sandbox.issueCode(mallId),
  ]);
  for (let waited = 0; ; waited += 100) {
    const { rows } = await stack.pool.query('select 1 from cafe24.oauth_tokens where mall_id = $1', [mallId]);
    if (rows.length > 0) break;
    if (waited > 60_000) throw new Error('the mall was not installed within a minute');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const worker = fileURLToPath(new URL('./admin-api-worker.ts', import.meta.url));
  const env = { ...process.env, ...stack.env, CAFE24_CLIENT_SECRET: LOCAL_APP.clientSecret };
  const started = performance.now();
  const reports = await Promise.all(
    Array.from({ length: processes }, async () => {
      const { stdout } = await run(process.execPath, [worker, mallId, String(calls)], { env });
      return JSON.parse(stdout) as {
        calls: number;
        failed: number;
        ms: number;
        dbMs: number;
        statements: number;
      };
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const answers = stack.sandbox.adminRequests({ mallId });
  const total = processes * calls;
  // After the bucket's first 38 (its size less the client's reserve), calls can go at the drain rate only.
  const beyondBurst = Math.max(0, answers.filter((a) => a.status === 200).length - 38);
  const first = Math.min(...answers.map((a) => a.at));
  const last = Math.max(...answers.map((a) => a.at));
  const drainSeconds = (last - first) / 1000;
  const dbMs = reports.reduce((sum, r) => sum + r.dbMs, 0);
  console.log(
    JSON.stringify(
      {
        processes,
        callsEach: calls,
        calls: total,
        failed: reports.reduce((sum, r) => sum + r.failed, 0),
        answers429: answers.filter((a) => a.status === 429).length,
        seconds: round(seconds, 1),
        callsPerSecondBeyondBurst: drainSeconds > 0 ? round(beyondBurst / drainSeconds, 2) : undefined,
        ofDrainRate: drainSeconds > 0 ? `${round((beyondBurst / drainSeconds / 2) * 100, 1)} %` : undefined,
        databaseMsPerCall: round(dbMs / total, 2),
        statementsPerCall: round(reports.reduce((sum, r) => sum + r.statements, 0) / total, 2),
      },
      null,
      2,
    ),
  );
} finally {
  await stack.stop();
  await postgres.stop();
  await rm(dataDir, { recursive: true, force: true });
}
