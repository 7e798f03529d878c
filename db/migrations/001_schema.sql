-- Up Migration

create schema if not exists cafe24;

-- The seed's table, column for column. `if not exists`: a database that already holds it keeps it and its rows.
create table if not exists cafe24.oauth_tokens
(
    id                       bigserial
        primary key,
    access_token             text                                            not null,
    expires_at               timestamp with time zone                        not null,
    refresh_token            text                                            not null,
    refresh_token_expires_at timestamp with time zone default now()          not null,
    client_id                text,
    mall_id                  text                                            not null,
    user_id                  text,
    scopes                   text[],
    token_type               text                     default 'bearer'::text not null,
    issued_at                timestamp with time zone default now()          not null,
    updated_at               timestamp with time zone default now()          not null,
    status                   text                     default 'active'::text not null
);

create unique index if not exists ux_oauth_tokens_mall_id
    on cafe24.oauth_tokens (mall_id);

-- Added columns only: none of the seed's is removed or retyped.
alter table cafe24.oauth_tokens add column if not exists shop_no text;
alter table cafe24.oauth_tokens add column if not exists code_id bigint;

comment on column cafe24.oauth_tokens.code_id is 'The authorization code that produced this token row (null for rows written before this pipeline).';

-- A callback needs nothing but: insert into cafe24.oauth_authorization_codes (mall_id, code) values ($1, $2)
create table if not exists cafe24.oauth_authorization_codes
(
    id           bigserial primary key,
    mall_id      text        not null,
    code         text        not null,
    redirect_uri text,
    created_at   timestamptz not null default now()
);

-- Pipeline state, added column by column so that an older codes table is adopted as it is.
alter table cafe24.oauth_authorization_codes
    add column if not exists status       text        not null default 'pending',
    add column if not exists attempts     integer     not null default 0,
    add column if not exists claimed_at   timestamptz,
    add column if not exists finished_at  timestamptz,
    add column if not exists published_at timestamptz,
    add column if not exists last_error   text,
    add column if not exists updated_at   timestamptz not null default now();

alter table cafe24.oauth_authorization_codes
    drop constraint if exists oauth_authorization_codes_status_check,
    add constraint oauth_authorization_codes_status_check
        check (status in ('pending', 'exchanging', 'exchanged', 'failed', 'expired'));

comment on column cafe24.oauth_authorization_codes.status is 'pending → exchanging (claimed, before the token request) → exchanged | failed | expired';
comment on column cafe24.oauth_authorization_codes.attempts is 'Token requests sent for this code (in-process retries of transient failures included).';
comment on column cafe24.oauth_authorization_codes.published_at is 'When the relay handed the code to SQS; null while unpublished.';
comment on column cafe24.oauth_authorization_codes.last_error is 'Why the code failed or expired, readable, without secrets.';

-- The relay's outbox scan and the manual "newest pending code of a mall".
create index if not exists ix_oauth_authorization_codes_unpublished
    on cafe24.oauth_authorization_codes (id) where published_at is null and status = 'pending';
create index if not exists ix_oauth_authorization_codes_mall_pending
    on cafe24.oauth_authorization_codes (mall_id, created_at desc) where status = 'pending';

-- NOTIFY is a wake-up hint for the relay, delivered at commit; the table stays the source of truth.
create or replace function cafe24.notify_authorization_code() returns trigger
    language plpgsql as
$$
begin
    perform pg_notify('cafe24_authorization_code', new.id::text);
    return null;
end
$$;

create or replace trigger oauth_authorization_codes_notify
    after insert on cafe24.oauth_authorization_codes
    for each row execute function cafe24.notify_authorization_code();

-- Down Migration

drop trigger if exists oauth_authorization_codes_notify on cafe24.oauth_authorization_codes;
drop function if exists cafe24.notify_authorization_code();
drop table if exists cafe24.oauth_authorization_codes;
-- oauth_tokens is kept: it may predate this project and holds every shop's tokens.
