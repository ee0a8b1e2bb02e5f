-- The read side: tables the projections in projections/ maintain from the
-- event log. Every row can be derived from the log: ids come from event
-- payloads and timestamps from the events' occurred_at, never from now(), so
-- a rebuild reproduces each row exactly.
--
-- The first columns of tasks, conversations and messages are the shapes the
-- chat backend's SQLModel entities read. Columns after them serve the
-- service: stream_version and the position of the last event applied make a
-- redelivered event a no-op.
--
-- Ids are unique across users (commands draw them from one sequence per
-- kind), so id alone is the primary key. The UNIQUE (user_id, id) keys let
-- foreign keys stay within one user.

CREATE TABLE tasks (
    id             bigint      NOT NULL,
    user_id        text        NOT NULL,
    title          text        NOT NULL,
    description    text        NOT NULL DEFAULT '',
    completed      boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    -- Version of the task stream after the last event applied to the row.
    stream_version integer     NOT NULL,
    last_position  bigint      NOT NULL,

    CONSTRAINT tasks_pkey PRIMARY KEY (id),
    CONSTRAINT tasks_user_id_id_key UNIQUE (user_id, id),
    CONSTRAINT tasks_id_check CHECK (id > 0),
    CONSTRAINT tasks_stream_version_check CHECK (stream_version > 0)
);

-- A user's pending or completed tasks in id order. The (user_id, id) key
-- serves one task and all of a user's tasks.
CREATE INDEX tasks_user_id_completed_idx ON tasks (user_id, completed, id);

CREATE TABLE conversations (
    id             bigint      NOT NULL,
    user_id        text        NOT NULL,
    created_at     timestamptz NOT NULL,
    -- occurred_at of the conversation's latest event, its last message.
    updated_at     timestamptz NOT NULL,
    stream_version integer     NOT NULL,
    last_position  bigint      NOT NULL,

    CONSTRAINT conversations_pkey PRIMARY KEY (id),
    CONSTRAINT conversations_user_id_id_key UNIQUE (user_id, id),
    CONSTRAINT conversations_id_check CHECK (id > 0),
    CONSTRAINT conversations_stream_version_check CHECK (stream_version > 0)
);

-- A user's conversations, most recently active first.
CREATE INDEX conversations_user_id_updated_at_idx ON conversations (user_id, updated_at DESC, id DESC);

CREATE TABLE messages (
    id              bigint      NOT NULL,
    user_id         text        NOT NULL,
    conversation_id bigint      NOT NULL,
    role            text        NOT NULL,
    content         text        NOT NULL,
    created_at      timestamptz NOT NULL,
    -- Version of the conversation stream at this message's event, which is
    -- the message's place in its conversation.
    stream_version  integer     NOT NULL,
    position        bigint      NOT NULL,

    CONSTRAINT messages_pkey PRIMARY KEY (id),
    CONSTRAINT messages_conversation_fkey FOREIGN KEY (user_id, conversation_id)
        REFERENCES conversations (user_id, id),
    CONSTRAINT messages_role_check CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    CONSTRAINT messages_id_check CHECK (id > 0),
    CONSTRAINT messages_stream_version_check CHECK (stream_version > 0)
);

-- A conversation's messages in order: the latest N, or those after one
-- message. It also indexes the foreign key's referencing columns.
CREATE UNIQUE INDEX messages_conversation_order_key
    ON messages (user_id, conversation_id, stream_version);

-- One row per projection (the Watermill consumer group): the last event it
-- applied, in the order consumers read the log (transaction_id, then
-- position). The projector updates it in the same transaction as the read
-- tables and locks it FOR UPDATE while it works, so only one process applies
-- a projection's events at a time.
CREATE TABLE projection_checkpoints (
    projection          text        NOT NULL,
    last_transaction_id xid8        NOT NULL DEFAULT '0',
    last_position       bigint      NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL DEFAULT clock_timestamp(),

    CONSTRAINT projection_checkpoints_pkey PRIMARY KEY (projection)
);

-- Events a projection could not apply after its retries, and the same
-- user's later events, held behind them so that user's order is kept. An
-- operator retries or skips them (projections.RetryParked, SkipParked).
CREATE TABLE parked_events (
    projection      text        NOT NULL,
    position        bigint      NOT NULL,
    transaction_id  xid8        NOT NULL,
    user_id         text        NOT NULL,
    event_type      text        NOT NULL,
    error           text        NOT NULL,
    attempts        integer     NOT NULL,
    -- True while the event waits behind an earlier parked event of the same
    -- user and has not been tried itself.
    held            boolean     NOT NULL DEFAULT false,
    parked_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_attempt_at timestamptz,

    CONSTRAINT parked_events_pkey PRIMARY KEY (projection, position),
    CONSTRAINT parked_events_attempts_check CHECK (attempts >= 0)
);

-- A user's parked events of one projection, in log order.
CREATE INDEX parked_events_user_id_idx ON parked_events (projection, user_id, transaction_id, position);
