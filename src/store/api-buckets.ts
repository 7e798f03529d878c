import type { BucketSettings, BucketTake, CallBucket } from '../domain/admin-ports.ts';
import type { Pool } from './pool.ts';

/**
 * One statement per take: the mall's row drained by the time since it was last touched (on the
 * database's clock, the same for every process), then one call added if it fits under `limit` and no 429
 * block is in force. The row lock orders concurrent takers; each sees the level its predecessor left.
 * `wait_ms` says when a refused take would fit.
 */
const TAKE = `
insert into cafe24.api_buckets as b (mall_id, level, updated_at, granted)
values ($1, 1, clock_timestamp(), true)
on conflict (mall_id) do update
   set level = case
         when (b.blocked_until is null or b.blocked_until <= clock_timestamp())
          and greatest(0, b.level - extract(epoch from clock_timestamp() - b.updated_at) * $2) + 1 <= $3
         then greatest(0, b.level - extract(epoch from clock_timestamp() - b.updated_at) * $2) + 1
         else greatest(0, b.level - extract(epoch from clock_timestamp() - b.updated_at) * $2)
       end,
       granted = (b.blocked_until is null or b.blocked_until <= clock_timestamp())
          and greatest(0, b.level - extract(epoch from clock_timestamp() - b.updated_at) * $2) + 1 <= $3,
       blocked_until = case when b.blocked_until > clock_timestamp() then b.blocked_until end,
       updated_at = clock_timestamp()
returning granted,
          level,
          greatest(
            coalesce(extract(epoch from blocked_until - clock_timestamp()) * 1000, 0),
            case when granted then 0 else (level + 1 - $3) / $2 * 1000 end
          )::double precision as wait_ms`;

/** Cafe24 said how full its bucket is (`X-Api-Call-Limit: used/size`): never think it emptier than that. */
const OBSERVE = `
update cafe24.api_buckets as b
   set level = greatest(greatest(0, b.level - extract(epoch from clock_timestamp() - b.updated_at) * $2), $3),
       updated_at = clock_timestamp()
 where mall_id = $1`;

/** Cafe24 answered 429: no process calls the mall until the block is over (calling would lengthen it). */
const BLOCK = `
update cafe24.api_buckets
   set blocked_until = greatest(coalesce(blocked_until, clock_timestamp()), clock_timestamp() + $2 * interval '1 millisecond')
 where mall_id = $1`;

/** `cafe24.api_buckets`: the per-mall Admin API bucket every process shares. */
export class PostgresCallBucket implements CallBucket {
  readonly #pool: Pool;
  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async take(mallId: string, settings: BucketSettings): Promise<BucketTake> {
    const limit = settings.size - settings.reserve;
    const { rows } = await this.#pool.query(TAKE, [mallId, settings.drainPerSecond, limit]);
    const row = rows[0] as { granted: boolean; level: number; wait_ms: number };
    return { granted: row.granted, level: row.level, waitMs: Math.max(0, Math.ceil(row.wait_ms)) };
  }

  async observe(mallId: string, used: number, settings: BucketSettings): Promise<void> {
    await this.#pool.query(OBSERVE, [mallId, settings.drainPerSecond, used]);
  }

  async block(mallId: string, forMs: number): Promise<void> {
    await this.#pool.query(BLOCK, [mallId, forMs]);
  }
}
