-- The backchannel (issue 31): private threads of two, or a group of up to ten, and their messages.
CREATE TABLE threads (
    id              INTEGER PRIMARY KEY,
    -- 'direct' (two people) or 'group'
    kind            TEXT    NOT NULL,
    -- For a direct thread, 'LOW:HIGH' of its two members' IDs: the one thread of the two.
    pair            TEXT    UNIQUE,
    created_by      INTEGER NOT NULL,
    -- 1 when someone in it did not follow its maker: the tighter hourly limit counts these.
    to_strangers    INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    -- Unix milliseconds of its newest message: the inbox's order.
    last_message_at INTEGER NOT NULL
);

-- One row per member: 'active', 'request' (in their Requests: someone they do not follow wrote first),
-- 'declined' (hidden from them; the others are not told) or 'left' (a group they left).
CREATE TABLE thread_members (
    thread_id  INTEGER NOT NULL REFERENCES threads(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    state      TEXT    NOT NULL,
    muted      INTEGER NOT NULL DEFAULT 0,
    -- The newest message they read.
    last_read  INTEGER NOT NULL DEFAULT 0,
    -- The first message they may read (a group's later members do not read what came before them).
    first_message INTEGER NOT NULL DEFAULT 0,
    joined_at  INTEGER NOT NULL,
    PRIMARY KEY (thread_id, user_id)
);
CREATE INDEX threads_by_maker ON threads(created_by, created_at);
CREATE INDEX thread_members_by_user ON thread_members(user_id, state);

CREATE TABLE messages (
    id         INTEGER PRIMARY KEY,
    thread_id  INTEGER NOT NULL REFERENCES threads(id),
    sender_id  INTEGER NOT NULL REFERENCES users(id),
    text       TEXT    NOT NULL,
    -- Unix milliseconds.
    sent_at    INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE INDEX messages_by_thread ON messages(thread_id, id);
-- How many a person sent in the last minute: the limit's count.
CREATE INDEX messages_by_sender ON messages(sender_id, sent_at);

-- A report on a private message names it (its room_id is then empty, its target the message's writer).
ALTER TABLE reports ADD COLUMN message_id INTEGER;
