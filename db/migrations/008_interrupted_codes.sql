-- Up Migration

-- A code recorded `failed` because its exchange was interrupted after a request (its worker gone, no
-- result recorded) may still have its tokens waiting in a stash: a later delivery or a redrive stores
-- them. That state is data, not a sentence to parse out of last_error.
alter table cafe24.oauth_authorization_codes add column if not exists interrupted_at timestamptz;

comment on column cafe24.oauth_authorization_codes.interrupted_at is 'When the code was recorded failed as interrupted (sent, no result recorded, worker gone); its tokens may wait in a stash.';

-- Rows recorded before this column, by the reason they were given then.
update cafe24.oauth_authorization_codes
   set interrupted_at = coalesce(finished_at, updated_at)
 where status = 'failed' and interrupted_at is null
   and last_error like 'exchange interrupted % s ago with no result recorded; the code cannot be sent again';

-- Down Migration

alter table cafe24.oauth_authorization_codes drop column if exists interrupted_at;
