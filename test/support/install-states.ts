import type pg from 'pg';

/** Install states as GET /install leaves them: `expired` ones past their expiry, `live` ones not. */
export async function insertInstallStates(pool: pg.Pool, counts: { expired: number; live: number }) {
  await pool.query(
    `insert into cafe24.install_states (state_hash, mall_id, browser_hash, created_at, expires_at)
     select sha256(gen_random_uuid()::text::bytea), 'statemall', sha256(gen_random_uuid()::text::bytea),
            now() - interval '1 hour', now() + case when g <= $1::int then interval '-1 second' else interval '10 minutes' end
       from generate_series(1, $1::int + $2::int) g`,
    [counts.expired, counts.live],
  );
}

/** How many install states are past their expiry, and how many are not. */
export async function installStateCounts(pool: pg.Pool): Promise<{ expired: number; live: number }> {
  const { rows } = await pool.query(
    `select count(*) filter (where expires_at <= now())::int as expired,
            count(*) filter (where expires_at > now())::int as live
       from cafe24.install_states`,
  );
  return rows[0];
}
