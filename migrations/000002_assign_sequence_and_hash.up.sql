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

-- events_chain_hash returns the hash of e as the event after previous_hash
-- at sequence.
CREATE FUNCTION events_chain_hash(e events, sequence bigint, previous_hash bytea) RETURNS bytea
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    e.user_sequence := sequence;
    e.previous_hash := previous_hash;
    RETURN sha256(convert_to(events_hash_input(e), 'UTF8'));
END
$$;

-- Generic plans for the same reason as events_append below.
CREATE FUNCTION events_before_insert() RETURNS trigger
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    current_version integer;
BEGIN
    NEW.position       := nextval('events_position_seq');
    NEW.transaction_id := pg_current_xact_id();
    NEW.recorded_at    := now();

    IF NEW.stream_version IS NULL THEN
        -- Lock the user's chain head first, creating it for the user's first
        -- event: one user's appends then run one after another, so no other
        -- writer can take the version assigned here. A concurrent first
        -- writer waits on the head's unique key.
        INSERT INTO event_user_heads (user_id, last_sequence) VALUES (NEW.user_id, 0)
        ON CONFLICT (user_id) DO NOTHING;
        PERFORM 1 FROM event_user_heads WHERE user_id = NEW.user_id FOR UPDATE;
        SELECT max(stream_version) INTO current_version
          FROM events
         WHERE user_id = NEW.user_id AND stream_type = NEW.stream_type AND stream_id = NEW.stream_id;
        NEW.stream_version := coalesce(current_version, 0) + 1;
    ELSIF NEW.stream_version > 1 THEN
        -- Versions only grow, so a predecessor seen now stays. A concurrent
        -- writer of the same version is stopped by the unique key.
        PERFORM 1 FROM events
          WHERE user_id = NEW.user_id AND stream_type = NEW.stream_type
            AND stream_id = NEW.stream_id AND stream_version = NEW.stream_version - 1;
        IF NOT FOUND THEN
            SELECT max(stream_version) INTO current_version
              FROM events
             WHERE user_id = NEW.user_id AND stream_type = NEW.stream_type AND stream_id = NEW.stream_id;
            RAISE EXCEPTION 'stream %/% of user % is at version %, so version % cannot be appended',
                NEW.stream_type, NEW.stream_id, NEW.user_id, coalesce(current_version, 0), NEW.stream_version
                USING ERRCODE = 'TL409',
                      DETAIL = format('current_version=%s', coalesce(current_version, 0)),
                      HINT = 'Reread the stream and retry the command against its current version.';
        END IF;
    END IF;

    -- Advance the user's chain head in one statement: the row lock it takes
    -- serializes the user's appends until this transaction ends, which keeps
    -- the sequence gapless, and the hash is computed from the locked row.
    UPDATE event_user_heads h
       SET last_sequence = h.last_sequence + 1,
           previous_hash = h.last_hash,
           last_hash = events_chain_hash(NEW, h.last_sequence + 1, h.last_hash)
     WHERE h.user_id = NEW.user_id
    RETURNING h.last_sequence, h.previous_hash, h.last_hash
         INTO NEW.user_sequence, NEW.previous_hash, NEW.hash;
    IF NOT FOUND THEN
        INSERT INTO event_user_heads AS h (user_id, last_sequence, previous_hash, last_hash)
        VALUES (NEW.user_id, 1, NULL, events_chain_hash(NEW, 1, NULL))
        ON CONFLICT (user_id) DO UPDATE
           SET last_sequence = h.last_sequence + 1,
               previous_hash = h.last_hash,
               last_hash = events_chain_hash(NEW, h.last_sequence + 1, h.last_hash)
        RETURNING h.last_sequence, h.previous_hash, h.last_hash
             INTO NEW.user_sequence, NEW.previous_hash, NEW.hash;
    END IF;
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
-- the events in order. The lookup is skipped when p_check_duplicate is
-- false, for a command id generated just before the call; the unique key
-- still rejects a duplicate. Being a PL/pgSQL function, its statements keep
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
    p_payloads         jsonb[],
    p_check_duplicate  boolean
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
    IF p_check_duplicate THEN
        RETURN QUERY
        SELECT true, e.position, e.transaction_id, e.event_id, e.stream_type, e.stream_id,
               e.stream_version, e.user_sequence, e.recorded_at, e.command_index
          FROM events e
         WHERE e.user_id = p_user_id AND e.command_id = p_command_id
         ORDER BY e.command_index;
        IF FOUND THEN
            RETURN;
        END IF;
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
