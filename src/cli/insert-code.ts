import { randomBytes } from 'node:crypto';
import { loadConfig } from '../config.ts';
import { openPool } from '../runtime/database.ts';

// Exactly the callback's INSERT (design.md): the trigger, the relay and the exchange take it from there.
const INSERT_CODE = `
insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2)
returning id::text`;

/**
 * `cafe24-tokens insert-code --mall M [--code C]`: a code row as an OAuth callback stores it, to try the
 * pipeline by hand (`npm start`'s sandbox accepts any code it has not seen). Prints the id, never the code.
 */
export async function insertCodeCommand(options: {
  mall?: string;
  code?: string;
  json?: boolean;
}): Promise<void> {
  if (options.mall === undefined) throw new Error('give --mall M: the mall the code is for');
  if (options.code !== undefined && options.code.trim() === '') throw new Error('--code must not be empty');
  const pool = openPool(loadConfig('insertCode'), { max: 1, applicationName: 'cafe24-tokens insert-code' });
  try {
    // As long as a Cafe24 code, and as unguessable.
    const code = options.code ?? randomBytes(16).toString('hex');
    const { rows } = await pool.query<{ id: string }>(INSERT_CODE, [options.mall, code]);
    const codeId = rows[0]!.id;
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ codeId, mallId: options.mall })}\n`
        : `inserted code ${codeId} (${options.mall}), pending\n`,
    );
  } finally {
    await pool.end();
  }
}
