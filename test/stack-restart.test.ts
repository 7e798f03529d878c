/**
 * Ctrl-C and `npm start` again: the embedded database keeps its tokens, and the sandbox keeps what it
 * issued beside it, so the restarted stack refreshes its malls as before (not "Invalid refresh_token").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { LOCAL_APP, type LocalStack, startLocalStack } from '../local/stack.ts';
import { captureOutput } from './support/capture.ts';
import { waitFor } from './support/wait.ts';

captureOutput();

const MALL = LOCAL_APP.mallId;

async function tokenRow(stack: LocalStack) {
  const { rows } = await stack.pool.query<{ access_token: string; status: string; invalid_reason: string }>(
    'select access_token, status, invalid_reason from cafe24.oauth_tokens where mall_id = $1',
    [MALL],
  );
  return rows[0];
}

it('a restarted stack refreshes a mall whose tokens the previous run issued', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'cafe24-stack-restart-'));
  const start = () => startLocalStack({ dataDir, acceptUnknownCodes: true, refreshScheduleIntervalMs: 200 });
  let stack: LocalStack | undefined;
  try {
    stack = await start();
    await stack.pool.query(
      `insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, md5(random()::text))`,
      [MALL],
    );
    await waitFor(async () => (await tokenRow(stack as LocalStack)) !== undefined, 15_000, 'the token row');
    const issued = (await tokenRow(stack)) as { access_token: string };
    await stack.stop();

    stack = await start();
    // The README's "make a mall due": the schedule publishes it, the refresh handler refreshes it.
    await stack.pool.query(
      `update cafe24.oauth_tokens set expires_at = now() + interval '5 minutes' where mall_id = $1`,
      [MALL],
    );
    await waitFor(
      async () => {
        const row = await tokenRow(stack as LocalStack);
        return row?.status !== 'active' || row.access_token !== issued.access_token;
      },
      15_000,
      'the refresh',
    );
    expect(await tokenRow(stack)).toMatchObject({ status: 'active', invalid_reason: null });
  } finally {
    await stack?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
