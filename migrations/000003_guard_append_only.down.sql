-- Removes the append-only guard; the events stay.
DO $$
DECLARE
    table_name text;
BEGIN
    FOR table_name IN
        SELECT 'events' UNION ALL
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', table_name || '_no_truncate', table_name);
    END LOOP;
END
$$;
DROP TRIGGER events_append_only ON events;
DROP FUNCTION events_reject_change();
