-- A tab's live stream asks for the messages sent, or deleted, in its person's threads since a moment
-- (issue 31's "a message reaches an open tab at once"): by thread and time, and by time of deletion.
CREATE INDEX messages_by_thread_time ON messages(thread_id, sent_at);
CREATE INDEX messages_by_deletion ON messages(deleted_at);
