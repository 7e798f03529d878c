import { loadConfig } from '../config.ts';
import { createRefreshRuntime } from '../runtime/refresh.ts';
import { PostgresLifecycleStore } from '../store/lifecycle.ts';

/**
 * `cafe24-tokens forget --mall M`: removes a mall by hand, as Cafe24's 90077 would (design: "The app's
 * lifecycle"). Its tokens are revoked at Cafe24 first, best effort (a dead token cannot be revoked, and a
 * failed revoke does not keep the mall); then, in one transaction, the token row and the mall's open
 * install states go, its unexchanged codes are stamped (rule 11) and a `removed` event (`forgotten`) is
 * written. Exit 0 once removed.
 */
export async function forgetCommand(options: { mall: string; revoke?: boolean }): Promise<void> {
  const runtime = createRefreshRuntime(loadConfig('refresh'));
  try {
    const mallId = options.mall;
    const row = await runtime.deps.tokens.read(mallId);
    if (row && options.revoke !== false) {
      for (const [hint, token] of [
        ['refresh_token', row.refreshToken],
        ['access_token', row.accessToken],
      ] as const) {
        const answer = await runtime.tokenClient.revoke(mallId, token, hint);
        process.stdout.write(
          `${answer.ok ? '✓' : '!'} revoke ${hint.replace('_', ' ')} at Cafe24: ${answer.detail}` +
            `${answer.ok ? '' : ' (best effort: the mall is removed all the same)'}\n`,
        );
      }
    }
    const removal = await new PostgresLifecycleStore(runtime.pool).forget(mallId);
    await runtime.deps.stash.take('refresh_token', mallId).catch(() => undefined);
    process.stdout.write(
      removal.tokensDeleted
        ? `✓ ${mallId} removed: its tokens are deleted; event ${removal.eventId} (removed, forgotten)\n`
        : `✓ ${mallId} had no token row; the removal is recorded (event ${removal.eventId}): codes created before it are never exchanged\n`,
    );
  } finally {
    await runtime.close();
  }
}
