-- The ids users see (task, conversation and message ids) are drawn from these
-- sequences when a command is handled and stored in its events, so rebuilding
-- the read tables from the log reproduces them. Ids are unique across users.
--
-- The default CACHE 1 matters: each nextval then returns a value above every
-- value returned before it, so a message appended after another one in the
-- same conversation also gets a higher id.

CREATE SEQUENCE task_id_seq AS bigint;
CREATE SEQUENCE conversation_id_seq AS bigint;
CREATE SEQUENCE message_id_seq AS bigint;

-- After a down and up on a populated log the sequences continue above the
-- ids the log already holds, so no id is handed out twice. On an empty log
-- max() is NULL and setval, being strict, is not called. These scan the
-- whole log once.
SELECT setval('task_id_seq', (SELECT max(stream_id) FROM events WHERE stream_type = 'task'));
SELECT setval('conversation_id_seq', (SELECT max(stream_id) FROM events WHERE stream_type = 'conversation'));
SELECT setval('message_id_seq',
              (SELECT max((payload ->> 'message_id')::bigint) FROM events WHERE event_type = 'MessageAppended'));
