-- Sessions expire: after 30 days unused, and a year after sign-in in any case. When a session was last
-- used is kept to the hour (see SESSION_TOUCH in sqlite.rs), so that reading it is not a write per request.
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_used_at = created_at;
CREATE INDEX sessions_by_user ON sessions (user_id);
