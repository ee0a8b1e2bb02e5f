-- Removes the policies and privileges of the up migration. The roles stay:
-- they belong to the server, and other databases on it may use them.

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
        EXECUTE format('DROP POLICY %I ON %I', table_name || '_user_rows', table_name);
        EXECUTE format('DROP POLICY %I ON %I', table_name || '_operator_rows', table_name);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', table_name);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', table_name);
    END LOOP;
END
$$;

REVOKE ALL ON events, event_user_heads, tasks, conversations, messages, projection_checkpoints, parked_events,
    watermill_commands, watermill_offsets_commands, watermill_command_replies, watermill_offsets_command_replies
    FROM todolog_app, todolog_operator;
REVOKE ALL ON SEQUENCE events_position_seq, task_id_seq, conversation_id_seq, message_id_seq,
    watermill_commands_offset_seq, watermill_command_replies_offset_seq
    FROM todolog_app, todolog_operator;

DO $$
BEGIN
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM todolog_app, todolog_operator', current_schema());
END
$$;
