-- Up Migration

-- REFRESH_MODE=on-demand: the schedule keeps only refresh tokens alive, claiming active malls whose
-- refresh token expires within REFRESH_KEEPALIVE_SECONDS; this index is that claim's range scan, as
-- ix_oauth_tokens_refresh_due (002) is the ahead mode's.
create index if not exists ix_oauth_tokens_keepalive_due
    on cafe24.oauth_tokens (refresh_token_expires_at) where status = 'active';

-- Down Migration

drop index if exists cafe24.ix_oauth_tokens_keepalive_due;
