import type pg from 'pg';
import type { Pool } from './pool.ts';

/**
 * Runs `work` in one transaction on a pooled client. While checked out, a client that loses its server
 * between queries emits 'error' with no pool listener attached; that would crash the process, so it is
 * caught here, and a client that failed is destroyed instead of returned to the pool.
 */
export async function withTransaction<T>(
  pool: Pool,
  work: (client: pg.PoolClient, began: pg.QueryResult | pg.QueryResult[]) => Promise<T>,
  options: {
    readOnlySnapshot?: boolean;
    /** A query string that opens the transaction and does its first work in the same round trip. */
    begin?: string;
  } = {},
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    // A read-only snapshot: several reads that agree with each other (a status report).
    const began = await client.query(
      options.begin ??
        (options.readOnlySnapshot ? 'begin isolation level repeatable read read only' : 'begin'),
    );
    const result = await work(client, began as unknown as pg.QueryResult | pg.QueryResult[]);
    await client.query('commit');
    return result;
  } catch (error) {
    broken ??= error as Error;
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
