import { createSqsClient, sqsPublisher } from '../aws/sqs.ts';
import { logger } from '../commons/logger.ts';
import type { ConfigFor } from '../config.ts';
import type { RefreshScheduleDeps } from '../domain/refresh-schedule.ts';
import type { Pool } from '../store/pool.ts';
import { PostgresTokenStore } from '../store/tokens.ts';
import { openPool } from './database.ts';

export type RefreshScheduleRuntime = {
  deps: RefreshScheduleDeps;
  pool: Pool;
  close(): Promise<void>;
};

/** The schedule's pool (one statement at a time) and its SQS publisher to the refresh queue. */
export function createRefreshScheduleRuntime(
  config: ConfigFor<'refreshSchedule'>,
  options: { pool?: Pool } = {},
): RefreshScheduleRuntime {
  const pool = options.pool ?? openPool(config, { max: 2, applicationName: 'cafe24-token-refresh-schedule' });
  const client = createSqsClient(config.aws, { requestTimeoutMs: 5_000 });
  return {
    pool,
    deps: {
      tokens: new PostgresTokenStore(pool),
      publish: sqsPublisher(client, config.refreshQueue.url),
      log: logger,
      policy: config.refreshSchedule,
    },
    async close() {
      client.destroy();
      if (!options.pool) await pool.end();
    },
  };
}
