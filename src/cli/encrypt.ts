import { loadConfig } from '../config.ts';
import { openPool } from '../runtime/database.ts';
import { tokenCodecFor } from '../runtime/sealing.ts';
import { resealRows, sealingCounts } from '../store/sealing.ts';

/**
 * `cafe24-tokens encrypt [--batch N] [--max-batches N]`: seals every token row still in plaintext, in
 * batches, with the configured key; safe to stop and run again, and while the pipeline runs. Prints
 * counts, never a token.
 */
export async function encryptCommand(options: { batch?: number; maxBatches?: number }): Promise<void> {
  const config = loadConfig('encrypt');
  const pool = openPool(config, { max: 2, applicationName: 'cafe24-tokens encrypt' });
  try {
    const codec = tokenCodecFor(config, pool);
    const before = await sealingCounts(pool);
    const done = await resealRows(pool, codec, {
      which: 'plaintext',
      batch: options.batch ?? 500,
      ...(options.maxBatches === undefined ? {} : { maxBatches: options.maxBatches }),
      onBatch: (progress) => process.stderr.write(`  … ${progress.sealed} row(s) sealed\n`),
    });
    const after = await sealingCounts(pool);
    process.stdout.write(
      `sealed ${done.sealed} row(s) of ${before.plaintext} in plaintext` +
        (done.changedMeanwhile > 0
          ? `; ${done.changedMeanwhile} changed meanwhile (their writer sealed them, or run again)`
          : '') +
        (done.unreadable.length > 0
          ? `; ${done.unreadable.length} left as they are, their tokens do not open (${done.unreadable.slice(0, 10).join(', ')}${done.unreadable.length > 10 ? ', …' : ''}; see cafe24-tokens doctor)`
          : '') +
        `; now ${after.sealed} sealed, ${after.plaintext} in plaintext\n`,
    );
    if (after.plaintext > 0) process.exitCode = 3;
  } finally {
    await pool.end();
  }
}
