-- Drops the tables of the command topic and its replies. Commands still
-- queued there are lost, so stop sending commands and let the processors
-- drain the topic first. The event log is not touched: every handled
-- command's events stay in it.
DROP TABLE watermill_offsets_command_replies;
DROP TABLE watermill_command_replies;
DROP TABLE watermill_offsets_commands;
DROP TABLE watermill_commands;
