-- Up Migration

-- What refreshing needs on the seed's table: added columns only, none of the seed's is removed or retyped.
alter table cafe24.oauth_tokens
    add column if not exists refresh_locked_at  timestamptz,
    add column if not exists refresh_locked_by  text,
    add column if not exists invalid_reason     text,
    add column if not exists last_refreshed_at  timestamptz,
    add column if not exists refresh_failures   integer not null default 0,
    add column if not exists last_refresh_error text;

-- The seed's default 'active' stays; 'invalid' means the mall needs a new install.
alter table cafe24.oauth_tokens
    drop constraint if exists oauth_tokens_status_check,
    -- not valid: rows written before (with a status of their own) are left as they are; new ones are held to it.
    add constraint oauth_tokens_status_check check (status in ('active', 'invalid')) not valid;

comment on column cafe24.oauth_tokens.status is 'active: refreshed ahead of expiry; invalid: Cafe24 refused the refresh token (or it expired), a new install makes it active again.';
comment on column cafe24.oauth_tokens.refresh_locked_at is 'Per-mall refresh lease (rule 7): taken before one token request, released after it; a lease older than the request timeout plus a margin belongs to a holder that died.';
comment on column cafe24.oauth_tokens.refresh_locked_by is 'Who holds the lease (host/pid/nonce): only its holder releases it.';
comment on column cafe24.oauth_tokens.invalid_reason is 'Why the row is invalid, readable, without secrets; cleared by the next exchanged code.';
comment on column cafe24.oauth_tokens.last_refreshed_at is 'When a refreshed pair was last stored.';
comment on column cafe24.oauth_tokens.refresh_failures is 'Transient refresh failures since the last success (a provider outage never makes a row invalid).';
comment on column cafe24.oauth_tokens.last_refresh_error is 'The latest refresh failure, readable, without secrets.';

-- Finding due malls (status = 'active' and expires_at <= now() + ahead) is a range scan of this index.
create index if not exists ix_oauth_tokens_refresh_due
    on cafe24.oauth_tokens (expires_at) where status = 'active';

-- Down Migration

drop index if exists cafe24.ix_oauth_tokens_refresh_due;
alter table cafe24.oauth_tokens drop constraint if exists oauth_tokens_status_check;
alter table cafe24.oauth_tokens
    drop column if exists last_refresh_error,
    drop column if exists refresh_failures,
    drop column if exists last_refreshed_at,
    drop column if exists invalid_reason,
    drop column if exists refresh_locked_by,
    drop column if exists refresh_locked_at;
