-- Every row appended to the log gets its server-side fields here, whatever
-- client wrote it: the global position, the writing transaction's id, the
-- recorded time, the stream version (checked or assigned), the gapless
-- per-user sequence and the per-user hash chain.
--
-- The hash covers the canonical text of a JSON array of the event's content
-- and the previous event's hash; events/chain.go computes the same text, so
-- auditors can verify a chain without trusting this function.

CREATE FUNCTION events_hash_input(e events) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_array(
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
    )::text
$$;

CREATE FUNCTION events_before_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
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
