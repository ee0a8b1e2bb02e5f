-- Drops the read side only. The event log keeps every event, and migrating
-- up again followed by a rebuild restores these tables from it.
DROP TABLE parked_events;
DROP TABLE projection_checkpoints;
DROP TABLE messages;
DROP TABLE conversations;
DROP TABLE tasks;
