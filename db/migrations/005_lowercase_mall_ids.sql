-- Up Migration

-- Cafe24 mall ids are lower case; a callback that stored `UPPERMALL` must not make a second token row
-- beside `uppermall`. Every code is normalised as it is stored, whoever inserts it.
create or replace function cafe24.normalise_mall_id() returns trigger
    language plpgsql as
$$
begin
    new.mall_id := lower(new.mall_id);
    return new;
end
$$;

create or replace trigger oauth_authorization_codes_normalise_mall_id
    before insert or update of mall_id on cafe24.oauth_authorization_codes
    for each row execute function cafe24.normalise_mall_id();

update cafe24.oauth_authorization_codes set mall_id = lower(mall_id) where mall_id <> lower(mall_id);

-- Token rows written before: lower-cased where that makes no twin. A twin (both spellings already hold
-- tokens) is left for the operator to resolve; `cafe24-tokens status` lists both.
update cafe24.oauth_tokens t set mall_id = lower(t.mall_id)
 where t.mall_id <> lower(t.mall_id)
   and not exists (select 1 from cafe24.oauth_tokens o where o.mall_id = lower(t.mall_id));

-- Down Migration

drop trigger if exists oauth_authorization_codes_normalise_mall_id on cafe24.oauth_authorization_codes;
drop function if exists cafe24.normalise_mall_id();
