-- Removes the trigger and its functions; the events keep their values.
DROP TRIGGER events_before_insert ON events;
DROP FUNCTION events_before_insert();
DROP FUNCTION events_chain_hash(events, bigint, bytea);
DROP FUNCTION events_hash_input(events);
DROP FUNCTION events_append(text, text, text, bigint, integer, jsonb, timestamptz, uuid[], text[], integer[], jsonb[], boolean);
