-- Up Migration

-- The redirect URI an install sent Cafe24 (design: "The install front"), kept with its state and then with
-- its code, so the exchange sends the same one. Without CAFE24_REDIRECT_URI the install front derives it
-- from the host it was reached at (the HTTP API's own, on a first deploy without a custom domain).
alter table cafe24.install_states add column if not exists redirect_uri text;

-- db/roles.sql's runtime role reads which migrations ran (doctor) and changes none of them.
do $migrations$
begin
    if exists (select from pg_roles where rolname = 'cafe24_runtime') then
        revoke insert, update, delete, truncate on cafe24.migrations from cafe24_runtime;
        grant select on cafe24.migrations to cafe24_runtime;
    end if;
end
$migrations$;

-- Down Migration

alter table cafe24.install_states drop column if exists redirect_uri;
