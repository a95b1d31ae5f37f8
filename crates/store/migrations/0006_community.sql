-- Life in the room and the community's tools (issue 11): the chat's record, the moderation log, reports,
-- suspensions, the admin log, sessions' devices and deleted accounts.

-- Every chat message, as the room broadcast it. `msg_id` is the room's own number for it (what clients see);
-- it starts again after a restart, so a deletion marks the newest message of that number. Kept for reports'
-- context and for the author's export; a deleted account's messages go, except those a report needs.
CREATE TABLE chat_messages (
    id         INTEGER PRIMARY KEY,
    room_id    TEXT    NOT NULL,
    msg_id     INTEGER NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    text       TEXT    NOT NULL,
    sent_at    INTEGER NOT NULL, -- Unix milliseconds
    deleted_at INTEGER,
    deleted_by INTEGER REFERENCES users(id)
);
CREATE INDEX chat_messages_by_room ON chat_messages(room_id, sent_at);
CREATE INDEX chat_messages_by_user ON chat_messages(user_id);

-- Every moderator action in a room: who, what, to whom, when. Kept after the room ends, for the admins.
CREATE TABLE moderation_log (
    id      INTEGER PRIMARY KEY,
    room_id TEXT    NOT NULL,
    actor   INTEGER NOT NULL REFERENCES users(id),
    action  TEXT    NOT NULL,
    target  INTEGER REFERENCES users(id),
    detail  TEXT,
    at      INTEGER NOT NULL -- Unix milliseconds
);
CREATE INDEX moderation_log_by_room ON moderation_log(room_id, at);

-- A report on a person in a room (`target`), or on the room itself (no target).
CREATE TABLE reports (
    id              INTEGER PRIMARY KEY,
    reporter        INTEGER NOT NULL REFERENCES users(id),
    room_id         TEXT    NOT NULL,
    room_title      TEXT    NOT NULL,
    target          INTEGER REFERENCES users(id),
    reason          TEXT    NOT NULL,
    text            TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL, -- Unix milliseconds
    resolved_at     INTEGER,
    resolved_by     INTEGER REFERENCES users(id),
    resolution_note TEXT
);
CREATE INDEX reports_open ON reports(id) WHERE resolved_at IS NULL;
CREATE INDEX reports_by_room ON reports(room_id, created_at);
CREATE INDEX reports_by_reporter ON reports(reporter, created_at);

-- Suspension: signed out everywhere, out of every room, no sign-in; the reason is shown to them.
ALTER TABLE users ADD COLUMN suspended_at INTEGER;
ALTER TABLE users ADD COLUMN suspended_reason TEXT;
-- A deleted account keeps its row as an anonymous stand-in, so that the records that name it still join.
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
CREATE INDEX users_by_inviter ON users(invited_by);

-- What admins did, in order, from the console or `stoa admin`. The server tails it to carry out what takes
-- effect in live rooms (a suspended user thrown out, a room ended), whichever process wrote it.
CREATE TABLE admin_log (
    id         INTEGER PRIMARY KEY,
    admin      INTEGER REFERENCES users(id), -- NULL: the command line
    action     TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    detail     TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

-- Sessions, as their owner sees them: an ID to name one by (never the token's hash) and the device.
ALTER TABLE sessions ADD COLUMN public_id TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
UPDATE sessions SET public_id = lower(hex(randomblob(8)));
CREATE UNIQUE INDEX sessions_by_public_id ON sessions(public_id);
