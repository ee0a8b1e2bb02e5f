-- The event log: one append-only table, hash partitioned by user_id, so that
-- every query for one user touches one partition and a distributed
-- PostgreSQL (Citus) can use user_id as its distribution column.

CREATE SEQUENCE events_position_seq AS bigint;

CREATE TABLE events (
    -- Global order of appends. Gaps are possible (rolled-back transactions
    -- consume values) and commit order may differ, which is why consumers
    -- order by transaction_id, then position.
    position       bigint      NOT NULL,
    transaction_id xid8        NOT NULL,
    event_id       uuid        NOT NULL,
    user_id        text        NOT NULL,
    stream_type    text        NOT NULL,
    stream_id      bigint      NOT NULL,
    -- 1, 2, 3… per stream; checked, or assigned when NULL, by the insert
    -- trigger. NOT NULL is checked after BEFORE triggers run.
    stream_version integer     NOT NULL,
    -- 1, 2, 3… per user without gaps; assigned by the insert trigger, as
    -- are position, transaction_id, recorded_at and the hashes.
    user_sequence  bigint      NOT NULL,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL,
    payload        jsonb       NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}',
    -- The idempotency key of the command that wrote the event, and the
    -- event's index among that command's events.
    command_id     text        NOT NULL,
    command_index  integer     NOT NULL DEFAULT 0,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    previous_hash  bytea,
    hash           bytea       NOT NULL,

    CONSTRAINT events_pkey PRIMARY KEY (user_id, user_sequence),
    CONSTRAINT events_event_id_key UNIQUE (user_id, event_id),
    CONSTRAINT events_stream_version_key UNIQUE (user_id, stream_type, stream_id, stream_version),
    CONSTRAINT events_command_key UNIQUE (user_id, command_id, command_index),
    -- Patterns use * with a length check: a bounded repetition such as
    -- {0,127} makes PostgreSQL's regex engine several times slower per row.
    CONSTRAINT events_user_id_check
        CHECK (user_id ~ '^[A-Za-z0-9][A-Za-z0-9._:@-]*$' AND length(user_id) <= 128),
    CONSTRAINT events_stream_type_check
        CHECK (stream_type ~ '^[a-z][a-z_]*$' AND length(stream_type) <= 63),
    CONSTRAINT events_stream_id_check CHECK (stream_id > 0),
    CONSTRAINT events_stream_version_check CHECK (stream_version > 0),
    CONSTRAINT events_event_type_check
        CHECK (event_type ~ '^[A-Za-z][A-Za-z0-9_.]*$' AND length(event_type) <= 128),
    CONSTRAINT events_schema_version_check CHECK (schema_version > 0),
    CONSTRAINT events_payload_check CHECK (jsonb_typeof(payload) = 'object'),
    CONSTRAINT events_metadata_check CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT events_command_id_check
        CHECK (command_id ~ '^[\x21-\x7e]+$' AND length(command_id) <= 128),
    CONSTRAINT events_command_index_check CHECK (command_index >= 0),
    CONSTRAINT events_hash_check CHECK (length(hash) = 32)
) PARTITION BY HASH (user_id);

CREATE TABLE events_p00 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 0);
CREATE TABLE events_p01 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 1);
CREATE TABLE events_p02 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 2);
CREATE TABLE events_p03 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 3);
CREATE TABLE events_p04 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 4);
CREATE TABLE events_p05 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 5);
CREATE TABLE events_p06 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 6);
CREATE TABLE events_p07 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 7);
CREATE TABLE events_p08 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 8);
CREATE TABLE events_p09 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 9);
CREATE TABLE events_p10 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 10);
CREATE TABLE events_p11 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 11);
CREATE TABLE events_p12 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 12);
CREATE TABLE events_p13 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 13);
CREATE TABLE events_p14 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 14);
CREATE TABLE events_p15 PARTITION OF events FOR VALUES WITH (MODULUS 16, REMAINDER 15);

-- Readers of the whole log page in commit-safe order: by transaction id,
-- then position, reading only transactions below the oldest open one.
CREATE INDEX events_transaction_position_idx ON events (transaction_id, position);

-- The head of each user's hash chain. A writer locks its user's row, so
-- appends of one user are serialized and user_sequence has no gaps.
-- Everything here can be recomputed from the log.
CREATE TABLE event_user_heads (
    user_id       text   PRIMARY KEY,
    last_sequence bigint NOT NULL,
    previous_hash bytea,
    last_hash     bytea
);
