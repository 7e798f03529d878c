-- Up Migration

-- The relay's outbox as a table of its own: the relay locks outbox rows while SQS takes them, the exchange
-- claims code rows, so a relay that freezes mid-send (a GC pause, a stuck network write) never makes an
-- exchange wait. A row here is a code not yet handed to SQS; publishing deletes it.
create table if not exists cafe24.exchange_outbox
(
    code_id    bigint primary key references cafe24.oauth_authorization_codes (id) on delete cascade,
    created_at timestamptz not null default now()
);

comment on table cafe24.exchange_outbox is 'Codes not yet handed to SQS; filled by the INSERT trigger, emptied by the relay.';

-- Codes that were waiting for the relay when this migration ran keep waiting, now here.
insert into cafe24.exchange_outbox (code_id)
select id from cafe24.oauth_authorization_codes where status = 'pending' and published_at is null
    on conflict do nothing;

drop index if exists cafe24.ix_oauth_authorization_codes_unpublished;
alter table cafe24.oauth_authorization_codes drop column if exists published_at;

create or replace function cafe24.notify_authorization_code() returns trigger
    language plpgsql as
$$
begin
    insert into cafe24.exchange_outbox (code_id) values (new.id);
    -- NOTIFY is a wake-up hint, delivered at commit; the outbox stays the source of truth.
    perform pg_notify('cafe24_authorization_code', new.id::text);
    return null;
end
$$;

-- Down Migration

alter table cafe24.oauth_authorization_codes add column if not exists published_at timestamptz;
update cafe24.oauth_authorization_codes c set published_at = now()
 where not exists (select 1 from cafe24.exchange_outbox o where o.code_id = c.id);
create index if not exists ix_oauth_authorization_codes_unpublished
    on cafe24.oauth_authorization_codes (id) where published_at is null and status = 'pending';
create or replace function cafe24.notify_authorization_code() returns trigger
    language plpgsql as
$$
begin
    perform pg_notify('cafe24_authorization_code', new.id::text);
    return null;
end
$$;
drop table if exists cafe24.exchange_outbox;
