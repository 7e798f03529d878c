import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startEmbeddedPostgres } from '../local/postgres.ts';
import { type LocalStack, startLocalStack } from '../local/stack.ts';
import { redrive } from '../src/aws/sqs-redrive.ts';
import { exchangeMessage } from '../src/queue/messages.ts';
import { captureOutput } from './support/capture.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { openedToken } from './support/tokens.ts';

const logs = captureOutput();
let db: TestDatabase;
let stack: LocalStack;
let mallSeq = 0;
const newMall = () => `pipe${++mallSeq}`;

beforeAll(async () => {
  db = await createTestDatabase();
  stack = await startLocalStack({
    databaseUrl: db.url,
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 2,
    sweepIntervalMs: 60_000,
  });
});
afterAll(async () => {
  await stack?.stop();
  await db?.drop();
});

async function insertCodes(malls: string[]): Promise<Array<{ id: string; code: string; mall: string }>> {
  const codes = malls.map((mall) => stack.sandbox.issueCode(mall));
  const { rows } = await db.pool.query(
    `insert into cafe24.oauth_authorization_codes (mall_id, code)
     select * from unnest($1::text[], $2::text[]) returning id::text`,
    [malls, codes],
  );
  return rows.map((row, i) => ({ id: row.id as string, code: codes[i]!, mall: malls[i]! }));
}

/** What the DLQ holds, listed by a dry-run redrive (which leaves it in place). */
async function dlqMessages() {
  const { client, dlqUrl, queueUrl } = stack.sqs;
  return (await redrive({ client, dlqUrl, queueUrl, dryRun: true, waitTimeSeconds: 0 })).messages ?? [];
}

const statusOf = async (id: string) =>
  (await db.pool.query('select status from cafe24.oauth_authorization_codes where id = $1', [id])).rows[0]
    ?.status;

const countIn = async (ids: string[], status: string) =>
  Number(
    (
      await db.pool.query(
        'select count(*) from cafe24.oauth_authorization_codes where id = any($1::bigint[]) and status = $2',
        [ids, status],
      )
    ).rows[0].count,
  );

describe('trigger → relay → SQS → runner → exchange handler', () => {
  it('turns an INSERT into a token row', async () => {
    const [entry] = await insertCodes([newMall()]);
    await expect.poll(() => statusOf(entry!.id), { timeout: 10_000 }).toBe('exchanged');
    const { rows } = await db.pool.query('select access_token from cafe24.oauth_tokens where mall_id = $1', [
      entry!.mall,
    ]);
    // Sealed at rest (the local stack's KMS), and what Cafe24 issued once opened.
    expect(rows[0].access_token).toMatch(/^enc:v1:kms-/);
    expect(await openedToken(stack, entry!.mall, rows[0].access_token)).toBe(
      stack.sandbox.issuedTokens(entry!.mall)!.accessToken,
    );
  });

  it('exchanges every code inserted while no relay ran, once one starts', async () => {
    await stack.stopRelay();
    const entries = await insertCodes(Array.from({ length: 25 }, newMall));
    // Nothing moves without a relay: the codes stay unpublished.
    expect(
      await countIn(
        entries.map((e) => e.id),
        'pending',
      ),
    ).toBe(25);
    stack.startRelay();
    await expect
      .poll(
        () =>
          countIn(
            entries.map((e) => e.id),
            'exchanged',
          ),
        { timeout: 15_000 },
      )
      .toBe(25);
    for (const entry of entries) expect(stack.sandbox.tokenRequests({ code: entry.code })).toHaveLength(1);
  });

  it('exchanges 200 codes inserted in one transaction with exactly 200 token requests', async () => {
    const entries = await insertCodes(Array.from({ length: 200 }, newMall));
    const ids = entries.map((e) => e.id);
    await expect.poll(() => countIn(ids, 'exchanged'), { timeout: 30_000 }).toBe(200);
    const { rows } = await db.pool.query(
      'select count(*) from cafe24.oauth_tokens where mall_id = any($1::text[])',
      [entries.map((e) => e.mall)],
    );
    expect(Number(rows[0].count)).toBe(200);
    const requested = entries.reduce(
      (sum, e) => sum + stack.sandbox.tokenRequests({ code: e.code }).length,
      0,
    );
    expect(requested).toBe(200);
  });

  it('dead-letters a message that keeps failing; redrive brings it back once the cause is fixed', async () => {
    // The cause: claiming codes of this mall fails in the database.
    const broken = newMall();
    const late = newMall();
    await db.pool.query(`
      create or replace function test_refuse_claim() returns trigger language plpgsql as $$
      begin raise exception 'simulated claim failure'; end $$;
      create trigger test_refuse_claim before update on cafe24.oauth_authorization_codes
        for each row when (new.mall_id in ('${broken}', '${late}') and new.status = 'exchanging')
        execute function test_refuse_claim();`);
    const [alive, dead] = await insertCodes([broken, late]);
    await expect.poll(async () => (await dlqMessages()).length, { timeout: 20_000 }).toBe(2);
    const listed = await dlqMessages();
    expect(listed.map((m) => m.codeId).sort()).toEqual([alive!.id, dead!.id].sort());
    expect(listed.every((m) => m.kind === 'exchange' && m.receiveCount >= 2)).toBe(true);
    expect(await statusOf(alive!.id)).toBe('pending');
    // Each failed attempt said why, with the code id.
    expect(logs.text()).toMatch(/database call failed, retrying.*simulated claim failure/);

    // Fixed; one of the two codes outlived its minute meanwhile.
    await db.pool.query('drop trigger test_refuse_claim on cafe24.oauth_authorization_codes');
    await db.pool.query(
      `update cafe24.oauth_authorization_codes set created_at = now() - interval '2 minutes' where id = $1`,
      [dead!.id],
    );
    const moved = await redrive({
      client: stack.sqs.client,
      dlqUrl: stack.sqs.dlqUrl,
      queueUrl: stack.sqs.queueUrl,
    });
    expect(moved).toMatchObject({ moved: 2, failed: 0 });
    await expect.poll(() => statusOf(alive!.id), { timeout: 10_000 }).toBe('exchanged');
    await expect.poll(() => statusOf(dead!.id), { timeout: 10_000 }).toBe('expired');
    expect(stack.sandbox.tokenRequests({ code: alive!.code })).toHaveLength(1);
    expect(stack.sandbox.tokenRequests({ code: dead!.code })).toHaveLength(0);
  });

  it('an SQS message for a code id that does not exist ends in the DLQ, logged', async () => {
    await stack.sqs.client.send(
      new SendMessageCommand({ QueueUrl: stack.sqs.queueUrl, MessageBody: exchangeMessage('987654') }),
    );
    await expect
      .poll(async () => (await dlqMessages()).map((m) => m.codeId), { timeout: 20_000 })
      .toContain('987654');
    expect(logs.text()).toContain('no authorization code with id 987654');
  });

  it('never logs a code, a token or the client secret', () => {
    expect(logs.text().length).toBeGreaterThan(1_000);
    for (const secret of [...stack.sandbox.knownSecrets(), stack.env.CAFE24_CLIENT_SECRET!]) {
      expect(logs.text()).not.toContain(secret);
    }
  });
});

describe('relay across a Postgres restart', () => {
  it('reconnects and later codes still flow', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-restart-'));
    let postgres = await startEmbeddedPostgres({ dataDir, persistent: true });
    const port = postgres.port;
    const local = await startLocalStack({ databaseUrl: postgres.url(), sweepIntervalMs: 60_000 });
    try {
      const insert = async (mall: string) => {
        const code = local.sandbox.issueCode(mall);
        const { rows } = await local.pool.query(
          'insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2) returning id::text',
          [mall, code],
        );
        return rows[0].id as string;
      };
      const status = async (id: string) =>
        (
          await local.pool
            .query('select status from cafe24.oauth_authorization_codes where id = $1', [id])
            .catch(() => ({ rows: [] as Array<{ status: string }> }))
        ).rows[0]?.status;

      const before = await insert('restart-a');
      await expect.poll(() => status(before), { timeout: 10_000 }).toBe('exchanged');

      await postgres.stop();
      postgres = await startEmbeddedPostgres({ dataDir, port, persistent: true });
      // The relay notices within its reconnect backoff; NOTIFY works again once it is listening.
      await expect
        .poll(() => logs.text().includes('listening again after reconnect'), {
          timeout: 20_000,
          message: 'the relay to reconnect',
        })
        .toBe(true);
      // The first INSERT after the restart may meet a pooled connection that died with the old server.
      const after = await vi.waitFor(() => insert('restart-b'), { timeout: 10_000 });
      await expect.poll(() => status(after), { timeout: 10_000 }).toBe('exchanged');
    } finally {
      await local.stop();
      await postgres.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
