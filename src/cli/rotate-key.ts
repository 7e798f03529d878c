import { setTimeout as sleep } from 'node:timers/promises';
import { kmsKeyWrapper } from '../aws/kms.ts';
import { stashedKeyIds } from '../aws/s3-token-stash.ts';
import { loadConfig } from '../config.ts';
import { CURRENT_KEY_RECHECK_MS, newDataKeyId } from '../domain/data-keys.ts';
import { openPool } from '../runtime/database.ts';
import { tokenCodecFor } from '../runtime/sealing.ts';
import { PostgresDataKeyStore } from '../store/data-keys.ts';
import { resealRows } from '../store/sealing.ts';

/** How long a retired key stays before it is deleted: every container has looked twice by then. */
export const ROTATION_GRACE_MS = 2 * CURRENT_KEY_RECHECK_MS;

/**
 * `cafe24-tokens rotate-key [--batch N] [--max-batches N] [--grace-seconds N] [--no-wait] [--new]
 * [--no-stash]`: a new data key from KMS becomes current (the old one retired), every row is sealed again
 * under it, and once no row and no stashed pair is sealed under a retired key (and every container has
 * taken up the new one) the retired key is deleted. Killed at any point, the next run goes on from there
 * rather than starting another rotation (`--new` starts one all the same). Prints ids and counts, never
 * key material. Exit 3: retired keys remain; run it again.
 */
export async function rotateKeyCommand(options: {
  batch?: number;
  maxBatches?: number;
  graceSeconds?: number;
  /** false (`--no-wait`): a retired key younger than the grace is kept, for a later run to delete. */
  wait?: boolean;
  /** A new data key even while an earlier rotation left retired keys (a row under one that never opens). */
  new?: boolean;
  /** false (`--no-stash`): the deployment has no stash bucket, so none is looked into before deleting. */
  stash?: boolean;
}): Promise<void> {
  const config = loadConfig('encrypt');
  const kmsKeyId = config.sealing.kmsKeyId;
  if (kmsKeyId === undefined) {
    throw new Error(
      'rotate-key rotates the data keys KMS wraps: set TOKEN_KMS_KEY_ID (a TOKEN_ENCRYPTION_KEY is for local runs and is not rotated)',
    );
  }
  // Never shorter: a running function seals under the key it found current for up to this long.
  const graceMs = Math.max(ROTATION_GRACE_MS, (options.graceSeconds ?? 0) * 1000);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const pool = openPool(config, { max: 3, applicationName: 'cafe24-tokens rotate-key' });
  const keys = new PostgresDataKeyStore(pool);
  const lock = await keys.holdRotationLock().catch(async (error: unknown) => {
    await pool.end();
    throw error;
  });
  if (!lock) {
    say(
      'another rotate-key is running (it holds the rotation lock): let it finish, then run again if need be',
    );
    process.exitCode = 3;
    await pool.end();
    return;
  }
  try {
    const unfinished = await keys.retired();
    if (unfinished.length > 0 && options.new !== true) {
      say(
        `resuming the rotation: retired key(s) ${unfinished.map((key) => key.id).join(', ')} not deleted yet`,
      );
    } else {
      const before = await keys.current();
      const made = await kmsKeyWrapper({ keyId: kmsKeyId, aws: config.aws }).generate();
      made.plaintext.fill(0);
      const id = newDataKeyId();
      await keys.rotateTo({ id, kmsKeyArn: made.keyArn, wrapped: made.wrapped });
      say(`data key ${id} is current${before ? `; ${before.id} retired` : ''} (under ${made.keyArn})`);
    }
    const current = await keys.current();
    if (!current) throw new Error('cafe24.token_data_keys has no current key');
    // A codec made now seals under the new key (another process's cache takes it up within a minute).
    const codec = tokenCodecFor(config, pool);
    const reseal = async () => {
      const done = await resealRows(pool, codec, {
        which: { notUnder: current.id },
        batch: options.batch ?? 500,
        ...(options.maxBatches === undefined ? {} : { maxBatches: options.maxBatches }),
        onBatch: (progress) =>
          process.stderr.write(`  … ${progress.sealed} row(s) sealed under ${current.id}\n`),
      });
      say(
        `sealed ${done.sealed} row(s) under ${current.id}` +
          (done.changedMeanwhile > 0
            ? `; ${done.changedMeanwhile} changed meanwhile (their writer sealed them)`
            : '') +
          (done.unreadable.length > 0
            ? `; ${done.unreadable.length} left as they are, their tokens do not open (${done.unreadable.slice(0, 10).join(', ')}; see cafe24-tokens doctor)`
            : ''),
      );
      return done;
    };
    const first = await reseal();
    if (options.maxBatches !== undefined && first.batches >= options.maxBatches) {
      say('stopped after --max-batches; run rotate-key again to go on');
      process.exitCode = 3;
      return;
    }
    // A container that looked before the rotation seals under the retired key until it looks again.
    const youngest = Math.min(...(await keys.retired()).map((key) => key.retiredMsAgo));
    if (options.wait !== false && Number.isFinite(youngest) && youngest < graceMs) {
      const waitMs = graceMs - youngest;
      say(`waiting ${Math.ceil(waitMs / 1000)} s for running functions to take up ${current.id}`);
      await sleep(waitMs);
      await reseal();
    }
    // A pair stashed under a retired key (the database refused it) opens only with that key: kept for it.
    const bucket = config.stash.bucket;
    const stashed =
      bucket === undefined ? new Map<string, number>() : await stashedKeyIds({ bucket, aws: config.aws });
    const stashUnknown = bucket === undefined && options.stash !== false;
    if (stashUnknown) {
      say(
        "TOKEN_STASH_BUCKET unset: a pair stashed under a retired key would be lost with it, so none is deleted (set it to the stack's TokenStashBucket, or --no-stash where the deployment has none)",
      );
    }
    const remaining: string[] = [];
    for (const key of await keys.retired()) {
      const inStash = stashed.get(key.id) ?? 0;
      const deletable = !stashUnknown && inStash === 0 && key.retiredMsAgo >= graceMs;
      if (deletable && (await keys.deleteRetired(key.id))) {
        say(`deleted retired key ${key.id}`);
      } else {
        remaining.push(
          `${key.id} (${key.sealing} row(s) still under it` +
            (inStash > 0 ? `, ${inStash} stashed value(s) the next refresh or delivery stores` : '') +
            ')',
        );
      }
    }
    if (remaining.length > 0) {
      say(`kept ${remaining.join(', ')}: run rotate-key again`);
      process.exitCode = 3;
    } else {
      say(`done: every token is sealed under ${current.id}, no other data key is left`);
    }
  } finally {
    await lock.release();
    await pool.end();
  }
}
