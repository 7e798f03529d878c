-- Up Migration

-- A refresh sends the mall's refresh token only under its lease, and says so first (refresh_sending_*).
-- Every recorded answer clears it. A claim that finds a send its holder never recorded (the holder died,
-- or the database refused its rotated pair, which then waits in that process's stash) keeps it as
-- refresh_unrecorded_*: until a pair is stored, a refusal of the stored token may only mean the rotated
-- pair is still on its way, so it does not mark the mall invalid for a while (rule 9).
alter table cafe24.oauth_tokens
    add column if not exists refresh_sending_by    text,
    add column if not exists refresh_sending_at    timestamptz,
    add column if not exists refresh_unrecorded_by text,
    add column if not exists refresh_unrecorded_at timestamptz;

comment on column cafe24.oauth_tokens.refresh_sending_by is 'The lease holder sending the refresh token now; cleared when its answer is recorded.';
comment on column cafe24.oauth_tokens.refresh_unrecorded_by is 'A holder that sent the refresh token and never recorded the answer; cleared when a pair is stored or the mall is marked invalid.';

-- Down Migration

alter table cafe24.oauth_tokens
    drop column if exists refresh_unrecorded_at,
    drop column if exists refresh_unrecorded_by,
    drop column if exists refresh_sending_at,
    drop column if exists refresh_sending_by;
