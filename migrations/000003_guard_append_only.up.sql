-- The log is append-only for every role, the table owner and superusers
-- included: privileges do not bind those, so triggers reject the change.
--
-- Row triggers on the partitioned table are cloned to every partition, which
-- covers UPDATE and DELETE aimed at a partition directly. TRUNCATE triggers
-- are not cloned, so each partition gets its own.
--
-- An operator who must rewrite history disables the guard on purpose, as
-- the table owner or a superuser, and enables it again afterwards:
--   ALTER TABLE events DISABLE TRIGGER events_append_only;
--   ALTER TABLE events_pNN DISABLE TRIGGER events_pNN_no_truncate;

CREATE FUNCTION events_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'TL403',
              HINT = 'Append a correcting event instead. See docs/operations.md for the deliberate way to disable this guard.';
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();
ALTER TABLE events ENABLE ALWAYS TRIGGER events_append_only;

DO $$
DECLARE
    table_name text;
BEGIN
    FOR table_name IN
        SELECT 'events' UNION ALL
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change()',
                       table_name || '_no_truncate', table_name);
        EXECUTE format('ALTER TABLE %I ENABLE ALWAYS TRIGGER %I',
                       table_name, table_name || '_no_truncate');
    END LOOP;
END
$$;
