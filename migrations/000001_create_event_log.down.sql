-- Dropping the log would lose its events, so this step refuses to run on a
-- log that holds any.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM events) THEN
        RAISE EXCEPTION 'refusing to drop the event log: it holds events'
            USING HINT = 'Migrating below version 1 is only possible on an empty log; '
                         'export the events with pg_dump first if you must start over.';
    END IF;
END
$$;

DROP TABLE event_user_heads;
DROP TABLE events;
DROP SEQUENCE events_position_seq;
