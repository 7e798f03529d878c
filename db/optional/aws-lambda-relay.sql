-- Opt-in (RDS for PostgreSQL with the aws_lambda extension): each INSERT into the codes table also
-- invokes the relay Lambda asynchronously. Applied by `cafe24-tokens migrate --aws-lambda-function NAME`;
-- re-running is a no-op. NOTIFY stays: a relay process may listen as well.

create table if not exists cafe24.relay_lambda
(
    singleton     boolean primary key default true check (singleton),
    function_name text not null,
    region        text
);

comment on table cafe24.relay_lambda is 'The relay Lambda that the INSERT trigger invokes through aws_lambda.invoke (one row).';

-- Runs inside the caller's transaction, before commit: it must never make the INSERT fail, and the
-- relay it wakes may not see the rows yet (it waits for them, and the schedule sweeps what it misses).
create or replace function cafe24.invoke_relay_lambda() returns trigger
    language plpgsql as
$$
declare
    target  cafe24.relay_lambda;
    newest  bigint;
begin
    select * into target from cafe24.relay_lambda;
    if not found then
        return null;
    end if;
    select max(id) into newest from inserted_codes;
    begin
        perform aws_lambda.invoke(
            target.function_name,
            json_build_object('source', 'rds-trigger', 'codeId', newest::text),
            target.region,
            'Event');
    exception when others then
        raise warning 'cafe24: could not invoke relay Lambda % (%: %); the relay schedule will publish code %',
            target.function_name, sqlstate, sqlerrm, newest;
    end;
    return null;
end
$$;

-- Once per statement: a callback inserting many codes wakes the relay once.
create or replace trigger oauth_authorization_codes_invoke_relay
    after insert on cafe24.oauth_authorization_codes
    referencing new table as inserted_codes
    for each statement execute function cafe24.invoke_relay_lambda();
