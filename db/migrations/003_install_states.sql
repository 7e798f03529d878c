-- Up Migration

-- One row per install started at GET /install: the OAuth `state`, stored only as its SHA-256, bound to
-- the browser that started it (the hash of a cookie value), single use, and short-lived.
create table if not exists cafe24.install_states
(
    state_hash   bytea       primary key,
    mall_id      text        not null,
    browser_hash bytea       not null,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    used_at      timestamptz,
    constraint install_states_state_hash_length check (octet_length(state_hash) = 32),
    constraint install_states_browser_hash_length check (octet_length(browser_hash) = 32),
    constraint install_states_expiry check (expires_at > created_at)
);

comment on table cafe24.install_states is 'OAuth state of installs in progress: sha256(state) only, never the state itself.';
comment on column cafe24.install_states.browser_hash is 'sha256 of the install cookie of the browser that started the install; the callback must present it.';
comment on column cafe24.install_states.used_at is 'Set once, by the one callback that consumed the state; a second callback finds it set and is refused.';

-- The relay's sweep deletes expired rows (deleteExpiredStates).
create index if not exists ix_install_states_expires_at on cafe24.install_states (expires_at);

-- Down Migration

drop table if exists cafe24.install_states;
