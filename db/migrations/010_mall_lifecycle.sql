-- Up Migration

-- The end of a mall's life (design: "The app's lifecycle"). Cafe24's webhooks are recorded once each in
-- app_events; each change in a mall's life is a row in mall_events, written in the transaction that makes
-- the change, announced by NOTIFY, and published from the table (its outbox) to EventBridge by the relay.

create table if not exists cafe24.app_events
(
    id          bigserial   primary key,
    event_no    integer     not null,
    mall_id     text        not null,
    -- Cafe24's X-Trace-ID; a delivery without one is known by the SHA-256 of its body.
    trace_id    text,
    body_sha256 bytea       not null,
    body        jsonb       not null,
    received_at timestamptz not null default now(),
    outcome     text        not null,
    constraint app_events_body_sha256_length check (octet_length(body_sha256) = 32)
);

-- One row per delivery: a resend (the same trace id, or the same body without one) has no second effect.
create unique index if not exists ux_app_events_delivery
    on cafe24.app_events ((coalesce(trace_id, encode(body_sha256, 'hex'))));
create index if not exists ix_app_events_mall on cafe24.app_events (mall_id, received_at desc);

create table if not exists cafe24.mall_events
(
    id                 bigserial   primary key,
    mall_id            text        not null,
    kind               text        not null,
    occurred_at        timestamptz not null default now(),
    detail             jsonb       not null default '{}'::jsonb,
    -- The relay's outbox to EventBridge (EVENT_BUS_NAME): null until PutEvents accepted the event.
    published_at       timestamptz,
    publish_attempts   integer     not null default 0,
    last_publish_error text,
    constraint mall_events_kind check (kind in ('installed', 'reinstalled', 'invalid', 'removed',
                                                'expiry-extended', 'payment'))
);

create index if not exists ix_mall_events_unpublished on cafe24.mall_events (id) where published_at is null;
-- Rule 11 asks, for each claim and store, whether the mall was removed after a code was created.
create index if not exists ix_mall_events_removed
    on cafe24.mall_events (mall_id, occurred_at desc) where kind = 'removed';
create index if not exists ix_mall_events_mall on cafe24.mall_events (mall_id, id desc);

create or replace function cafe24.notify_mall_event() returns trigger
    language plpgsql as
$$
begin
    perform pg_notify('cafe24_mall_event', new.id::text);
    return null;
end;
$$;

drop trigger if exists trg_mall_events_notify on cafe24.mall_events;
create trigger trg_mall_events_notify
    after insert on cafe24.mall_events
    for each row execute function cafe24.notify_mall_event();

-- A removal stamps every code of the mall created before it that was not exchanged: the stamp is what the
-- exchange's store checks (under the code row's lock), so a code in flight never writes its tokens back.
alter table cafe24.oauth_authorization_codes
    add column if not exists mall_removed_at timestamptz;

create index if not exists ix_oauth_authorization_codes_mall
    on cafe24.oauth_authorization_codes (mall_id, created_at);

-- Down Migration

drop index if exists cafe24.ix_oauth_authorization_codes_mall;
alter table cafe24.oauth_authorization_codes drop column if exists mall_removed_at;
drop trigger if exists trg_mall_events_notify on cafe24.mall_events;
drop function if exists cafe24.notify_mall_event();
drop table if exists cafe24.mall_events;
drop table if exists cafe24.app_events;
