-- Drops the id sequences; the events keep the ids already allocated, and the
-- up migration restarts the sequences above them.
DROP SEQUENCE message_id_seq;
DROP SEQUENCE conversation_id_seq;
DROP SEQUENCE task_id_seq;
