-- Least-privilege database roles for cafe24-token-issuer (docs/deploy.md, "Database roles").
--
-- Run once, as the database's master user (RDS: the quick-start stack's DatabaseMasterUser), connected to
-- the app's database, before the first `cafe24-tokens migrate`. Running it again changes nothing.
--
--   cafe24_migrator  owns the schema `cafe24` and everything in it: `cafe24-tokens migrate` connects as it.
--                    Nothing else needs CREATE, ALTER or DROP.
--   cafe24_runtime   what the functions, the relay, `doctor` and your app connect as: SELECT, INSERT,
--                    UPDATE and DELETE on the `cafe24` tables, the sequences, LISTEN (which needs no
--                    grant). No DDL, no TRUNCATE, no ownership, so no way to drop or alter a table, nor to
--                    turn off a trigger.
--
-- Neither gets a password here: set each from a secret of its own (docs/deploy.md shows the commands),
--   alter role cafe24_runtime password '…';
-- and give the functions the runtime role (the stack's DatabaseUser, DatabasePasswordSecretArn).

do $roles$
begin
    if not exists (select from pg_roles where rolname = 'cafe24_migrator') then
        create role cafe24_migrator login;
    end if;
    if not exists (select from pg_roles where rolname = 'cafe24_runtime') then
        create role cafe24_runtime login;
    end if;
    execute format('grant connect, create on database %I to cafe24_migrator', current_database());
    execute format('grant connect on database %I to cafe24_runtime', current_database());
end
$roles$;

-- RDS's master is no superuser: it may only hand the schema to a role it is a member of.
grant cafe24_migrator to current_user;

create schema if not exists cafe24 authorization cafe24_migrator;
alter schema cafe24 owner to cafe24_migrator;

-- A database migrated before as the master: its tables (with their sequences) and trigger functions go to
-- the migrator, so the next migration may alter them.
do $owners$
declare
    object record;
begin
    for object in select tablename from pg_tables where schemaname = 'cafe24' loop
        execute format('alter table cafe24.%I owner to cafe24_migrator', object.tablename);
    end loop;
    for object in select p.oid::regprocedure as signature from pg_proc p
                   where p.pronamespace = 'cafe24'::regnamespace loop
        execute format('alter function %s owner to cafe24_migrator', object.signature);
    end loop;
end
$owners$;

-- The runtime role, on what exists and on whatever a later migration creates.
grant usage on schema cafe24 to cafe24_runtime;
grant select, insert, update, delete on all tables in schema cafe24 to cafe24_runtime;
grant usage, select on all sequences in schema cafe24 to cafe24_runtime;
alter default privileges for role cafe24_migrator in schema cafe24
    grant select, insert, update, delete on tables to cafe24_runtime;
alter default privileges for role cafe24_migrator in schema cafe24
    grant usage, select on sequences to cafe24_runtime;
-- Which migrations ran: the runtime role reads it (doctor), and changes none of it.
do $migrations$
begin
    if to_regclass('cafe24.migrations') is not null then
        revoke insert, update, delete, truncate on cafe24.migrations from cafe24_runtime;
    end if;
end
$migrations$;
-- Nothing else may create objects where the functions look for theirs.
revoke create on schema public from public;
revoke create on schema cafe24 from public;
