-- Up Migration

-- Launches that opened the app without OAuth (design: "The app's entry"): each verified launch query may
-- open the app once, so a launch URL left in a browser's history or a proxy's log cannot mint launch
-- tokens for the two hours its timestamp stays valid. Only the SHA-256 of the query is kept, until the
-- launch would be stale anyway; the relay's sweep deletes the rest.
create table if not exists cafe24.app_launches
(
    query_sha256 bytea       primary key,
    mall_id      text        not null,
    used_at      timestamptz not null default now(),
    expires_at   timestamptz not null,
    constraint app_launches_query_sha256_length check (octet_length(query_sha256) = 32)
);

create index if not exists ix_app_launches_expires_at on cafe24.app_launches (expires_at);

comment on table cafe24.app_launches is 'Launch queries that opened the app (sha256 only), so each opens it once.';

-- Down Migration

drop table if exists cafe24.app_launches;
