import type pg from 'pg';
import type {
  CodeOutcome,
  InstallStore,
  Launcher,
  MallAccess,
  StateConsumed,
  StateRefusal,
} from '../domain/install-ports.ts';
import type { Pool } from './pool.ts';
import { withTransaction } from './transaction.ts';

const CREATE_STATE = `
insert into cafe24.install_states (state_hash, mall_id, browser_hash, expires_at, launch, redirect_uri)
values ($1, $2, $3, now() + $4 * interval '1 millisecond', $5, $6)`;

// One conditional UPDATE: of callbacks racing on one state, exactly one gets the row back; the others
// wait for its lock, re-check `used_at is null` and find nothing.
const CONSUME_STATE = `
update cafe24.install_states
   set used_at = now()
 where state_hash = $1 and browser_hash = $2 and used_at is null and expires_at > now()
returning mall_id, launch, redirect_uri`;

const DESCRIBE_STATE = `
select browser_hash = $2 as same_browser, used_at is not null as used, expires_at <= now() as expired
  from cafe24.install_states
 where state_hash = $1`;

const INSERT_CODE = `
insert into cafe24.oauth_authorization_codes (mall_id, code, redirect_uri) values ($1, $2, $3)
returning id::text`;

const CODE_OUTCOME = `
select c.mall_id, c.status, c.last_error, t.expires_at, t.scopes, t.code_id = c.id as token_from_code
  from cafe24.oauth_authorization_codes c
  left join cafe24.oauth_tokens t on t.mall_id = c.mall_id
 where c.id = $1`;

// FOR SHARE waits for a removal's DELETE or a refresh's UPDATE of the row to commit, then reads its result.
const MALL_ACCESS = `
select status, refresh_token_expires_at > now() as refresh_alive, coalesce(scopes, '{}') as scopes
  from cafe24.oauth_tokens
 where mall_id = $1
   for share`;

const RECORD_LAUNCH = `
insert into cafe24.app_launches (query_sha256, mall_id, expires_at)
values ($1, $2, now() + $3 * interval '1 millisecond')
on conflict (query_sha256) do nothing
returning 1`;

const DELETE_EXPIRED_LAUNCHES = `
delete from cafe24.app_launches
 where expires_at <= now()`;

const DELETE_EXPIRED_STATES = `
delete from cafe24.install_states
 where expires_at <= now()`;

/** `cafe24.install_states`, and the install's view of the codes and tokens. */
export class PostgresInstallStore implements InstallStore {
  readonly #pool: Pool;
  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async createState(state: {
    stateHash: Buffer;
    browserHash: Buffer;
    mallId: string;
    launcher: Launcher;
    redirectUri: string;
    ttlMs: number;
  }): Promise<void> {
    await this.#pool.query(CREATE_STATE, [
      state.stateHash,
      state.mallId,
      state.browserHash,
      state.ttlMs,
      JSON.stringify(state.launcher),
      state.redirectUri,
    ]);
  }

  /** Consumes the state and stores the code in one transaction: both happen, or neither. */
  async consumeStateAndStoreCode(
    stateHash: Buffer,
    browserHash: Buffer,
    code: string,
  ): Promise<(StateConsumed & { ok: true; codeId: string }) | (StateConsumed & { ok: false })> {
    return withTransaction(this.#pool, async (client) => {
      const row = (await client.query(CONSUME_STATE, [stateHash, browserHash])).rows[0];
      if (row === undefined) {
        return { ok: false as const, reason: await refusal(client, stateHash, browserHash) };
      }
      // The mall comes from the state row, never from the callback's query.
      // With the redirect URI the install sent Cafe24: the exchange sends the same one.
      const inserted = await client.query(INSERT_CODE, [row.mall_id, code, row.redirect_uri]);
      return { ...consumedState(row), codeId: inserted.rows[0].id as string };
    });
  }

  /** Consumes a state without a code (Cafe24 answered with `?error=`), so it cannot be used later. */
  async consumeState(stateHash: Buffer, browserHash: Buffer): Promise<StateConsumed> {
    const row = (await this.#pool.query(CONSUME_STATE, [stateHash, browserHash])).rows[0];
    if (row !== undefined) return consumedState(row);
    return { ok: false, reason: await refusal(this.#pool, stateHash, browserHash) };
  }

  async recordLaunch(querySha256: Buffer, mallId: string, ttlMs: number): Promise<boolean> {
    return ((await this.#pool.query(RECORD_LAUNCH, [querySha256, mallId, ttlMs])).rowCount ?? 0) === 1;
  }

  async mallAccess(mallId: string): Promise<MallAccess | undefined> {
    const row = (await this.#pool.query(MALL_ACCESS, [mallId])).rows[0];
    if (!row) return undefined;
    return { status: row.status, refreshAlive: row.refresh_alive, scopes: row.scopes };
  }

  async codeOutcome(codeId: string): Promise<CodeOutcome | undefined> {
    const row = (await this.#pool.query(CODE_OUTCOME, [codeId])).rows[0];
    if (!row) return undefined;
    return {
      mallId: row.mall_id,
      status: row.status,
      lastError: row.last_error ?? undefined,
      token: row.token_from_code ? { expiresAt: row.expires_at, scopes: row.scopes ?? [] } : undefined,
    };
  }
}

/**
 * Deletes states past their expiry (used or not), and recorded launches that are stale anyway; the relay's
 * sweep calls it. Returns how many states.
 */
export async function deleteExpiredStates(pool: Pool): Promise<number> {
  await pool.query(DELETE_EXPIRED_LAUNCHES);
  return (await pool.query(DELETE_EXPIRED_STATES)).rowCount ?? 0;
}

function consumedState(row: { mall_id: string; launch: Launcher | null }): StateConsumed & { ok: true } {
  return { ok: true, mallId: row.mall_id, launcher: row.launch ?? {} };
}

async function refusal(
  db: { query(text: string, values: unknown[]): Promise<pg.QueryResult> },
  stateHash: Buffer,
  browserHash: Buffer,
): Promise<StateRefusal> {
  const row = (await db.query(DESCRIBE_STATE, [stateHash, browserHash])).rows[0];
  if (!row) return 'unknown-state';
  if (!row.same_browser) return 'wrong-browser';
  if (row.used) return 'used-state';
  return 'expired-state';
}
