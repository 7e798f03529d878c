import { loadConfig } from '../config.ts';
import { openPool } from '../runtime/database.ts';
import { tokenCodecFor } from '../runtime/sealing.ts';
import { sealingCounts, sealPlaintextRows } from '../store/sealing.ts';

/**
 * `cafe24-tokens encrypt [--batch N] [--max-batches N]`: seals every token row still in plaintext, in
 * batches, with the configured key; safe to stop and run again, and while the pipeline runs. Prints
 * counts, never a token.
 */
export async function encryptCommand(options: { batch?: number; maxBatches?: number }): Promise<void> {
  const config = loadConfig('encrypt');
  const pool = openPool(config, { max: 2, applicationName: 'cafe24-tokens encrypt' });
  try {
    const codec = tokenCodecFor(config);
    const before = await sealingCounts(pool);
    const done = await sealPlaintextRows(pool, codec, {
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
        `; now ${after.sealed} sealed, ${after.plaintext} in plaintext\n`,
    );
    if (after.plaintext > 0) process.exitCode = 3;
  } finally {
    await pool.end();
  }
}
