-- Every row appended to the log gets its server-side fields here, whatever
-- client wrote it: the global position, the writing transaction's id, the
-- recorded time, the stream version (checked or assigned), the gapless
-- per-user sequence and the per-user hash chain.
--
-- The hash covers the canonical text of a JSON array of the event's content
-- and the previous event's hash; events/chain.go computes the same text, so
-- auditors can verify a chain without trusting this function.

-- PL/pgSQL rather than SQL: the trigger calls it once per row, and a SQL
-- function called from PL/pgSQL is planned anew on every call.
CREATE FUNCTION events_hash_input(e events) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN jsonb_build_array(
        e.user_id,
        e.user_sequence,
        e.event_id,
        e.stream_type,
        e.stream_id,
        e.stream_version,
        e.event_type,
        e.schema_version,
        e.payload,
        e.metadata,
        e.command_id,
        e.command_index,
        to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        encode(e.previous_hash, 'hex')
    )::text;
END
$$;

-- Generic plans for the same reason as events_append below.
CREATE FUNCTION events_before_insert() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    head_sequence   bigint;
    head_hash       bytea;
    current_version integer;
BEGIN
    -- Lock the user's chain head. The user's first event creates it; a
    -- concurrent first writer waits on the unique key, then finds the row.
    SELECT last_sequence, last_hash INTO head_sequence, head_hash
      FROM event_user_heads WHERE user_id = NEW.user_id FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO event_user_heads (user_id, last_sequence, last_hash)
        VALUES (NEW.user_id, 0, NULL)
        ON CONFLICT (user_id) DO NOTHING;
        SELECT last_sequence, last_hash INTO head_sequence, head_hash
          FROM event_user_heads WHERE user_id = NEW.user_id FOR UPDATE;
    END IF;

    -- The head lock serializes this user's writers, so the stream's current
    -- version cannot change until this transaction ends.
    SELECT max(stream_version) INTO current_version
      FROM events
     WHERE user_id = NEW.user_id
       AND stream_type = NEW.stream_type
       AND stream_id = NEW.stream_id;
    current_version := coalesce(current_version, 0);
    IF NEW.stream_version IS NULL THEN
        NEW.stream_version := current_version + 1;
    ELSIF NEW.stream_version <> current_version + 1 THEN
        RAISE EXCEPTION 'stream %/% of user % is at version %, so version % cannot be appended',
            NEW.stream_type, NEW.stream_id, NEW.user_id, current_version, NEW.stream_version
            USING ERRCODE = 'TL409',
                  DETAIL = format('current_version=%s', current_version),
                  HINT = 'Reread the stream and retry the command against its current version.';
    END IF;

    NEW.position       := nextval('events_position_seq');
    NEW.transaction_id := pg_current_xact_id();
    NEW.recorded_at    := now();
    NEW.user_sequence  := head_sequence + 1;
    NEW.previous_hash  := head_hash;
    NEW.hash           := sha256(convert_to(events_hash_input(NEW), 'UTF8'));

    UPDATE event_user_heads
       SET last_sequence = NEW.user_sequence, last_hash = NEW.hash
     WHERE user_id = NEW.user_id;
    RETURN NEW;
END
$$;

CREATE TRIGGER events_before_insert
    BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_before_insert();

-- Fire even with session_replication_role = replica, which would otherwise
-- let a superuser append rows without a sequence or a hash.
ALTER TABLE events ENABLE ALWAYS TRIGGER events_before_insert;

-- events_append is the append path of events.Append: it returns the first
-- result when the command id was already appended, and otherwise inserts
-- the events in order. Being a PL/pgSQL function, its statements keep
-- cached plans in the server session, so every call skips the planning of
-- a statement over the partitioned table without needing client-side
-- prepared statements, which a pooler in transaction mode would break.
-- plan_cache_mode is forced to generic because the plan cache otherwise
-- keeps choosing a custom plan for the lookup over 16 partitions, which
-- means planning it again on every call (measured: 245 µs per call
-- instead of 143 µs, see docs/benchmarks.md).
CREATE FUNCTION events_append(
    p_user_id          text,
    p_command_id       text,
    p_stream_type      text,
    p_stream_id        bigint,
    p_expected_version integer,
    p_metadata         jsonb,
    p_occurred_at      timestamptz,
    p_event_ids        uuid[],
    p_event_types      text[],
    p_schema_versions  integer[],
    p_payloads         jsonb[]
) RETURNS TABLE (
    duplicate      boolean,
    "position"     bigint,
    transaction_id xid8,
    event_id       uuid,
    stream_type    text,
    stream_id      bigint,
    stream_version integer,
    user_sequence  bigint,
    recorded_at    timestamptz,
    command_index  integer
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        SELECT true, e.position, e.transaction_id, e.event_id, e.stream_type, e.stream_id,
               e.stream_version, e.user_sequence, e.recorded_at, e.command_index
          FROM events e
         WHERE e.user_id = p_user_id AND e.command_id = p_command_id
         ORDER BY e.command_index;
    IF FOUND THEN
        RETURN;
    END IF;

    RETURN QUERY
        INSERT INTO events AS e (event_id, user_id, stream_type, stream_id, stream_version, event_type,
                                 schema_version, payload, metadata, command_id, command_index, occurred_at)
        SELECT n.event_id, p_user_id, p_stream_type, p_stream_id,
               CASE WHEN p_expected_version < 0 THEN NULL ELSE p_expected_version + n.ord::integer END,
               n.event_type, n.schema_version, n.payload, p_metadata, p_command_id, n.ord::integer - 1,
               p_occurred_at
          FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_payloads)
               WITH ORDINALITY AS n(event_id, event_type, schema_version, payload, ord)
         ORDER BY n.ord
        RETURNING false, e.position, e.transaction_id, e.event_id, e.stream_type, e.stream_id,
                  e.stream_version, e.user_sequence, e.recorded_at, e.command_index;
END
$$;
