import type { DataKeyStore, WrappedDataKey } from '../domain/data-keys.ts';
import type { Pool } from './pool.ts';
import { withTransaction } from './transaction.ts';

// cafe24.token_data_keys (migration 015): data keys wrapped by KMS, one of them current.

const COLUMNS = 'key_id, kms_key_arn, wrapped';

const CURRENT = `select ${COLUMNS} from cafe24.token_data_keys where retired_at is null`;
const BY_ID = `select ${COLUMNS} from cafe24.token_data_keys where key_id = $1`;
/** The partial unique index admits one current key: a second container's insert does nothing. */
const ADD_FIRST = `
insert into cafe24.token_data_keys (key_id, kms_key_arn, wrapped) values ($1, $2, $3)
on conflict ((true)) where retired_at is null do nothing`;

/** The current key retired and `key` made current, in one transaction. */
const RETIRE_CURRENT = `update cafe24.token_data_keys set retired_at = now() where retired_at is null`;
const ADD = `insert into cafe24.token_data_keys (key_id, kms_key_arn, wrapped) values ($1, $2, $3)`;

/** Retired keys, oldest first, with how long ago they were retired and how many tokens they still seal. */
const RETIRED = `
select k.key_id,
       extract(epoch from now() - k.retired_at) * 1000 as retired_ms_ago,
       (select count(*) from cafe24.oauth_tokens t
         where t.access_key_id = k.key_id or t.refresh_key_id = k.key_id)::int as sealing
  from cafe24.token_data_keys k
 where k.retired_at is not null
 order by k.retired_at`;

/** Deletes a retired key no token is sealed under (the foreign keys refuse it otherwise). */
const DELETE_RETIRED = `
delete from cafe24.token_data_keys k
 where k.key_id = $1 and k.retired_at is not null
   and not exists (select 1 from cafe24.oauth_tokens t where t.access_key_id = k.key_id)
   and not exists (select 1 from cafe24.oauth_tokens t where t.refresh_key_id = k.key_id)`;

/** One `rotate-key` at a time, for as long as its session holds this. */
const TRY_ROTATION_LOCK = `select pg_try_advisory_lock(hashtext('cafe24-tokens rotate-key')) as held`;

const RETIRED_COUNT = `select count(*)::int as retired from cafe24.token_data_keys where retired_at is not null`;

type Row = { key_id: string; kms_key_arn: string; wrapped: Buffer };
const wrappedKey = (row: Row): WrappedDataKey => ({
  id: row.key_id,
  kmsKeyArn: row.kms_key_arn,
  wrapped: row.wrapped,
});

export type RetiredDataKey = { id: string; retiredMsAgo: number; sealing: number };

export class PostgresDataKeyStore implements DataKeyStore {
  readonly #pool: Pool;
  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async current(): Promise<WrappedDataKey | undefined> {
    const row = (await this.#pool.query(CURRENT)).rows[0] as Row | undefined;
    return row && wrappedKey(row);
  }

  async byId(id: string): Promise<WrappedDataKey | undefined> {
    const row = (await this.#pool.query(BY_ID, [id])).rows[0] as Row | undefined;
    return row && wrappedKey(row);
  }

  async addFirst(key: WrappedDataKey): Promise<WrappedDataKey> {
    await this.#pool.query(ADD_FIRST, [key.id, key.kmsKeyArn, key.wrapped]);
    const current = await this.current();
    if (!current) throw new Error('cafe24.token_data_keys has no current key right after one was added');
    return current;
  }

  /**
   * The rotation's lock, held by a session of its own until `release`; undefined while another
   * `rotate-key` holds it.
   */
  async holdRotationLock(): Promise<{ release(): Promise<void> } | undefined> {
    const client = await this.#pool.connect();
    try {
      if ((await client.query(TRY_ROTATION_LOCK)).rows[0].held === true) {
        // Ending the session lets the lock go (a killed run leaves none behind).
        return { release: async () => client.release(true) };
      }
    } catch (error) {
      client.release(true);
      throw error;
    }
    client.release();
    return undefined;
  }

  /** `rotate-key`'s first step: `key` is current from now on, the one before it retired. */
  async rotateTo(key: WrappedDataKey): Promise<void> {
    await withTransaction(this.#pool, async (client) => {
      await client.query(RETIRE_CURRENT);
      await client.query(ADD, [key.id, key.kmsKeyArn, key.wrapped]);
    });
  }

  async retired(): Promise<RetiredDataKey[]> {
    const { rows } = await this.#pool.query(RETIRED);
    return rows.map((row) => ({
      id: row.key_id as string,
      retiredMsAgo: Number(row.retired_ms_ago),
      sealing: row.sealing as number,
    }));
  }

  /** Whether the retired key `id` was deleted (false: a token is still sealed under it). */
  async deleteRetired(id: string): Promise<boolean> {
    try {
      return (await this.#pool.query(DELETE_RETIRED, [id])).rowCount === 1;
    } catch (error) {
      // A row written under it since the check (foreign_key_violation): it stays, for the next run.
      if ((error as { code?: string }).code === '23503') return false;
      throw error;
    }
  }

  /** How many retired keys are not deleted yet (an unfinished rotation). */
  async retiredCount(): Promise<number> {
    return (await this.#pool.query(RETIRED_COUNT)).rows[0].retired as number;
  }
}
