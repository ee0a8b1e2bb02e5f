-- The tables of the Watermill transport for commands (commands/), in the
-- layout of watermill-sql v3's DefaultPostgreSQLSchema and
-- DefaultPostgreSQLOffsetsAdapter, for the topics "commands" and
-- "command_replies". Creating them here, rather than letting watermill-sql
-- create them on first use, gives them a migration history, lets the
-- service run without the CREATE privilege, and avoids two processes racing
-- to create the same table.
--
-- watermill-sql inserts pg_current_xact_id() as transaction_id, and
-- subscribers read in (transaction_id, offset) order, only below the oldest
-- transaction still open, so a message that commits late is not skipped.
-- Payloads are bytea, so a command whose payload is not valid JSON or UTF-8
-- still reaches the command processor, which replies with the rule it
-- breaks.

CREATE TABLE watermill_commands (
    "offset"       bigserial,
    uuid           varchar(36) NOT NULL,
    created_at     timestamp   NOT NULL DEFAULT CURRENT_TIMESTAMP,
    payload        bytea       DEFAULT NULL,
    metadata       json        DEFAULT NULL,
    transaction_id xid8        NOT NULL,
    PRIMARY KEY (transaction_id, "offset")
);

-- One row per consumer group: the last message it acknowledged.
CREATE TABLE watermill_offsets_commands (
    consumer_group                varchar(255) NOT NULL,
    offset_acked                  bigint,
    last_processed_transaction_id xid8         NOT NULL,
    PRIMARY KEY (consumer_group)
);

CREATE TABLE watermill_command_replies (
    "offset"       bigserial,
    uuid           varchar(36) NOT NULL,
    created_at     timestamp   NOT NULL DEFAULT CURRENT_TIMESTAMP,
    payload        bytea       DEFAULT NULL,
    metadata       json        DEFAULT NULL,
    transaction_id xid8        NOT NULL,
    PRIMARY KEY (transaction_id, "offset")
);

-- Each command bus has a consumer group of its own here, deleted when the
-- bus closes.
CREATE TABLE watermill_offsets_command_replies (
    consumer_group                varchar(255) NOT NULL,
    offset_acked                  bigint,
    last_processed_transaction_id xid8         NOT NULL,
    PRIMARY KEY (consumer_group)
);
