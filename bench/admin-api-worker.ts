/**
 * One of bench/admin-api.ts's processes: `calls` GETs of one mall through the client, as fast as the
 * shared bucket allows; prints its timings as one JSON line. Its environment is the stack's.
 */
import pg from 'pg';
import { createCafe24Client } from '../src/client.ts';
import { logger } from '../src/commons/logger.ts';

logger.setLogLevel('ERROR');
const [mallId, calls] = [process.argv[2]!, Number(process.argv[3])];
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
// The database's share of a call: every statement's time, bucket and token read alike.
let dbMs = 0;
let statements = 0;
const query = pool.query.bind(pool);
pool.query = (async (...args: Parameters<typeof query>) => {
  const at = performance.now();
  try {
    return await (query as (...a: unknown[]) => Promise<unknown>)(...args);
  } finally {
    dbMs += performance.now() - at;
    statements += 1;
  }
}) as typeof pool.query;
const mall = createCafe24Client({ pool }).mall(mallId);
let failed = 0;
const started = performance.now();
for (let i = 0; i < calls; i += 1) {
  await mall.get('/api/v2/admin/products/count', { timeoutMs: 120_000 }).catch(() => (failed += 1));
}
process.stdout.write(
  `${JSON.stringify({ calls, failed, ms: performance.now() - started, dbMs, statements })}\n`,
);
await pool.end();
