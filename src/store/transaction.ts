import type pg from 'pg';
import type { Pool } from './pool.ts';

/**
 * Runs `work` in one transaction on a pooled client. While checked out, a client that loses its server
 * between queries emits 'error' with no pool listener attached; that would crash the process, so it is
 * caught here, and a client that failed is destroyed instead of returned to the pool.
 */
export function withTransaction<T>(
  pool: Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  options: { readOnlySnapshot?: boolean } = {},
): Promise<T> {
  // A read-only snapshot: several reads that agree with each other (a status report).
  return transactionBegunBy(
    pool,
    options.readOnlySnapshot ? 'begin isolation level repeatable read read only' : 'begin',
    (client) => work(client),
  );
}

/**
 * The same, opened by `begin`: a query string that begins the transaction and does its first work in the
 * same round trip (the relay's outbox claim, src/store/outbox.ts); `work` gets what that query returned.
 */
export async function transactionBegunBy<T>(
  pool: Pool,
  begin: string,
  work: (client: pg.PoolClient, began: pg.QueryResult | pg.QueryResult[]) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    const began = await client.query(begin);
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
