-- Up Migration

-- Cafe24's Admin API limit is a leaky bucket per mall (cafe24-oauth.md, "Admin API rate limits"): every
-- process calling a mall draws from that one bucket. This table is our view of it, one row per mall,
-- shared by every process through one statement per call (src/store/api-buckets.ts): `level` calls in the
-- bucket as of `updated_at`, draining at a fixed rate; `blocked_until` when Cafe24 answered 429.
create table if not exists cafe24.api_buckets
(
    mall_id       text             primary key,
    level         double precision not null default 0,
    updated_at    timestamptz      not null default clock_timestamp(),
    -- Whether the last take was granted (read back by the statement that took it).
    granted       boolean          not null default true,
    blocked_until timestamptz,
    constraint api_buckets_level_nonnegative check (level >= 0)
);

comment on table cafe24.api_buckets is 'Our view of Cafe24''s per-mall Admin API bucket, shared by every process calling the mall.';

-- Down Migration

drop table if exists cafe24.api_buckets;
