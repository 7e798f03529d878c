-- Up Migration

-- Who launched the install (design: "The app's entry"): the verified launch's shop_no, user_id,
-- user_name, user_type, lang, nation and is_multi_shop, kept with the state so that the callback's page
-- speaks the launch's language and the app's launch token names the operator. Nothing secret: the hmac
-- and the timestamp are not kept. Rows of installs started before this migration have none.
alter table cafe24.install_states
    add column if not exists launch jsonb;

comment on column cafe24.install_states.launch is 'The verified app launch that started the install (operator, language; never the hmac).';

-- Down Migration

alter table cafe24.install_states
    drop column if exists launch;
