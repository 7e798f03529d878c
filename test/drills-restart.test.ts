/**
 * Fault drill (issue 5): PostgreSQL restarted while token requests are in flight. The whole local
 * pipeline (relay, SQS emulator, Lambda runner, exchange handler, Cafe24 sandbox) on its own embedded
 * PostgreSQL 17, whose data survives the restart on the same port.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../local/postgres.ts';
import { type LocalStack, startLocalStack } from '../local/stack.ts';
import { captureOutput } from './support/capture.ts';
import { queueDepth } from './support/sqs.ts';
import { openedToken } from './support/tokens.ts';

const logs = captureOutput();

/** Log entries with this message, by code id. */
function loggedCodeIds(message: string): Set<string> {
  const ids = new Set<string>();
  for (const line of logs.text().split('\n')) {
    if (!line.includes(`"message":"${message}"`)) continue;
    const entry = JSON.parse(line) as { codeId?: string };
    if (entry.codeId) ids.add(entry.codeId);
  }
  return ids;
}

it('drill 2: a Postgres restart mid-exchange loses no issued token and sends no code twice', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-drill-restart-'));
  let postgres: EmbeddedPostgres | undefined = await startEmbeddedPostgres({ dataDir, persistent: true });
  const { port, dataDir: clusterDir } = postgres;
  let local: LocalStack | undefined;
  try {
    local = await startLocalStack({
      databaseUrl: postgres.url(),
      visibilityTimeoutSeconds: 1,
      // Deliveries during the outage fail; none of them may dead-letter a code.
      maxReceiveCount: 50,
      sweepIntervalMs: 1_000,
    });
    const { sandbox, pool, runtime, sqs } = local;
    // Storing is retried 300 ms (not 10 s), so the outage outlasts it and the tokens take the stash path.
    runtime.deps.policy.storeRetryMs = 300;
    // Cafe24 answers only once the database is down: the restart lands while every request is in flight
    // (each code already spent).
    let databaseDown!: () => void;
    sandbox.setFault({ type: 'hold', until: new Promise<void>((resolve) => (databaseDown = resolve)) });

    const malls = Array.from({ length: 10 }, (_, i) => `restart${i}`);
    const codes = malls.map((mall) => sandbox.issueCode(mall));
    const { rows } = await pool.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code)
       select * from unnest($1::text[], $2::text[]) returning id::text`,
      [malls, codes],
    );
    const ids = rows.map((row) => row.id as string);

    await expect
      .poll(() => codes.map((code) => sandbox.tokenRequests({ code }).length), {
        timeout: 15_000,
        message: 'every code sent',
      })
      .toEqual(codes.map(() => 1));
    await postgres.stop();
    postgres = undefined;
    databaseDown();
    // Down until each answer met the outage: every code's tokens took the stash path.
    await expect
      .poll(() => [...loggedCodeIds('storing tokens failed')].sort(), {
        timeout: 15_000,
        message: 'every answer handled while the database is down',
      })
      .toEqual([...ids].sort());
    expect(loggedCodeIds('code exchanged').size).toBe(0);
    sandbox.setFault(undefined);
    postgres = await startEmbeddedPostgres({ dataDir, port, persistent: true });

    const statuses = async () =>
      (
        await pool
          .query<{ id: string; status: string; attempts: number; last_error: string | null }>(
            `select id::text, status, attempts, last_error from cafe24.oauth_authorization_codes
              where id = any($1::bigint[]) order by id`,
            [ids],
          )
          .catch(() => ({ rows: [] }))
      ).rows;
    await expect
      .poll(async () => (await statuses()).map((row) => row.status), {
        timeout: 20_000,
        message: 'every code exchanged after the restart',
      })
      .toEqual(ids.map(() => 'exchanged'));
    await expect
      .poll(() => queueDepth(sqs.client, sqs.queueUrl), { timeout: 10_000, message: 'the queue drained' })
      .toBe(0);

    for (const row of await statuses()) expect(row).toMatchObject({ attempts: 1, last_error: null });
    for (const code of codes) expect(sandbox.tokenRequests({ code })).toHaveLength(1);
    const tokens = await pool.query<{ mall_id: string; access_token: string; code_id: string }>(
      'select mall_id, access_token, code_id::text from cafe24.oauth_tokens where mall_id = any($1::text[])',
      [malls],
    );
    expect(tokens.rows).toHaveLength(malls.length);
    for (const token of tokens.rows) {
      expect(await openedToken(local, token.mall_id, token.access_token)).toBe(
        sandbox.issuedTokens(token.mall_id)!.accessToken,
      );
    }
    expect(await runtime.deps.stash.entries()).toEqual([]);
    expect(await queueDepth(sqs.client, sqs.dlqUrl)).toBe(0);

    const text = logs.text();
    for (const secret of [...sandbox.knownSecrets(), local.env.CAFE24_CLIENT_SECRET!]) {
      expect(text).not.toContain(secret);
    }
  } finally {
    await local?.stop();
    await postgres?.stop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(clusterDir, { recursive: true, force: true });
  }
});
