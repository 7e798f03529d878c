-- Up Migration

-- The scheduled publisher of due malls: added columns only on the seed's table.
alter table cafe24.oauth_tokens
    add column if not exists refresh_queued_at timestamptz;

comment on column cafe24.oauth_tokens.refresh_queued_at is 'When the schedule last published this mall to the refresh queue; a mall is published at most once per round (REFRESH_ROUND_SECONDS), whatever the number of publishers.';

-- Due malls not yet published this round: the range scan of ix_oauth_tokens_refresh_due (status =
-- 'active', by expires_at) filtered on this column; no index of its own is needed.

-- Down Migration

alter table cafe24.oauth_tokens drop column if exists refresh_queued_at;
