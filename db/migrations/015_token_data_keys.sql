-- Up Migration

-- Adding the generated columns rewrites cafe24.oauth_tokens (one row per mall): never wait long behind a
-- running exchange's lock; a migration that times out is run again.
set local lock_timeout = '10s';

-- Envelope encryption (design: "Tokens encrypted at rest"): data keys wrapped by the KMS key
-- TOKEN_KMS_KEY_ID. Only KMS can unwrap one; each container unwraps a key once and keeps it in memory.
-- One key is current (new values are sealed under it); `cafe24-tokens rotate-key` makes a new one
-- current, re-seals every row and then deletes the retired one.
create table if not exists cafe24.token_data_keys
(
    key_id      text        primary key,
    kms_key_arn text        not null,
    wrapped     bytea       not null,
    created_at  timestamptz not null default now(),
    retired_at  timestamptz,
    constraint token_data_keys_key_id check (key_id ~ '^kms-[A-Za-z0-9_-]{16}$'),
    constraint token_data_keys_wrapped check (octet_length(wrapped) between 1 and 6144)
);

-- At most one current key: two containers that find none race, and one of them wins.
create unique index if not exists ux_token_data_keys_current on cafe24.token_data_keys ((true))
    where retired_at is null;

comment on table cafe24.token_data_keys is 'Data keys wrapped by KMS (TOKEN_KMS_KEY_ID); the tokens are sealed under them.';

-- The data key each stored token is sealed under (null: plaintext or TOKEN_ENCRYPTION_KEY), held by a
-- foreign key: a key still sealing a row cannot be deleted, and no row can be written under a deleted
-- key, whatever a container's cache still holds.
alter table cafe24.oauth_tokens
    add column if not exists access_key_id text
        generated always as (case when access_token like 'enc:v1:kms-%'
                                  then split_part(access_token, ':', 3) end) stored
        references cafe24.token_data_keys (key_id),
    add column if not exists refresh_key_id text
        generated always as (case when refresh_token like 'enc:v1:kms-%'
                                  then split_part(refresh_token, ':', 3) end) stored
        references cafe24.token_data_keys (key_id);

create index if not exists ix_oauth_tokens_access_key_id on cafe24.oauth_tokens (access_key_id)
    where access_key_id is not null;
create index if not exists ix_oauth_tokens_refresh_key_id on cafe24.oauth_tokens (refresh_key_id)
    where refresh_key_id is not null;

-- Down Migration

alter table cafe24.oauth_tokens drop column if exists access_key_id, drop column if exists refresh_key_id;
drop table if exists cafe24.token_data_keys;
