-- Up Migration

-- The relay's sweep records codes nobody will finish (pending or exchanging past their life): it reads the
-- few open codes through this index, never every code the table has ever held.
create index if not exists ix_oauth_authorization_codes_open
    on cafe24.oauth_authorization_codes (created_at) where status in ('pending', 'exchanging');

-- Down Migration

drop index if exists cafe24.ix_oauth_authorization_codes_open;
