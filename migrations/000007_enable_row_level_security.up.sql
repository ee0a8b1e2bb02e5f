-- Tenant isolation in the database: row-level security on every table that
-- holds user rows, keyed on the transaction-local setting todolog.user_id.
--
-- Three kinds of role take part:
--
--   owner             whoever runs the migrations; owns every object.
--   todolog_app       commands and queries. Sees and writes only the rows
--                     of the user named by todolog.user_id, and nothing when
--                     the setting is missing or empty.
--   todolog_operator  projectors, rebuild, verify --all: reads every user's
--                     events and maintains the read tables.
--
-- Both roles are NOLOGIN and have no BYPASSRLS. The service logs in as a
-- role that is a member of both and switches per transaction with
-- set_config('role', ..., true) and set_config('todolog.user_id', ..., true),
-- which end with the transaction, so a pooled connection cannot carry one
-- user's identity into the next request (events/scope.go). The migration
-- makes the role running it a member of both; on a managed service where
-- the migrating role cannot create roles, an operator creates them first
-- (docs/operations.md, "Roles").
--
-- FORCE makes the policies bind the owner too. Only a superuser, or a role
-- with BYPASSRLS, reads past them, which is why the service never relies on
-- its login role and always switches.

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['todolog_app', 'todolog_operator'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', role_name);
            EXCEPTION
                -- Another database of the same server migrating at the same
                -- moment created it first.
                WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
        IF NOT pg_has_role(current_user, role_name, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', role_name, current_user);
        END IF;
    END LOOP;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO todolog_app, todolog_operator', current_schema());
END
$$;

-- Commands read a user's streams and append through events_append, whose
-- trigger draws a position and maintains the user's chain head.
GRANT SELECT, INSERT ON events TO todolog_app;
GRANT SELECT, INSERT, UPDATE ON event_user_heads TO todolog_app;
GRANT USAGE ON SEQUENCE events_position_seq, task_id_seq, conversation_id_seq, message_id_seq TO todolog_app;
-- Queries, and read-your-writes waits on checkpoints and parked events.
GRANT SELECT ON tasks, conversations, messages, projection_checkpoints, parked_events TO todolog_app;
-- The command topic carries commands between processes; its tables hold no
-- user_id column and are the transport's, not a user's.
GRANT SELECT, INSERT, UPDATE, DELETE ON watermill_commands, watermill_offsets_commands,
    watermill_command_replies, watermill_offsets_command_replies TO todolog_app;
GRANT USAGE ON SEQUENCE watermill_commands_offset_seq, watermill_command_replies_offset_seq TO todolog_app;

GRANT SELECT ON events, event_user_heads TO todolog_operator;
GRANT SELECT, INSERT, UPDATE, DELETE ON tasks, conversations, messages, projection_checkpoints, parked_events
    TO todolog_operator;

-- The policies. Every table with a user_id column gets the same pair; the
-- partitions of events get them too, although only the owner can reach a
-- partition directly, so that no table with user rows is left open.
-- current_setting(..., true) is NULL when the setting was never made and ''
-- after a transaction that made it ended; neither equals a user id.
DO $$
DECLARE
    table_name text;
BEGIN
    FOR table_name IN
        SELECT unnest(ARRAY['events', 'event_user_heads', 'tasks', 'conversations', 'messages', 'parked_events'])
        UNION ALL
        SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'events'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', table_name);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', table_name);
        EXECUTE format('CREATE POLICY %I ON %I TO todolog_app '
                       'USING (user_id = current_setting(''todolog.user_id'', true)) '
                       'WITH CHECK (user_id = current_setting(''todolog.user_id'', true))',
                       table_name || '_user_rows', table_name);
        EXECUTE format('CREATE POLICY %I ON %I TO todolog_operator USING (true) WITH CHECK (true)',
                       table_name || '_operator_rows', table_name);
    END LOOP;
END
$$;
