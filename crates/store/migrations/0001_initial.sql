-- Stoa's first schema. Migrations are embedded in the binary and never edited once released: add a new file.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT    NOT NULL,
    bio           TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    invited_by    INTEGER REFERENCES users(id),
    invite_code   TEXT,
    created_at    INTEGER NOT NULL
);

-- created_by is NULL for invites made by the admin CLI or at bootstrap; those do not count against a quota.
CREATE TABLE invites (
    code        TEXT    PRIMARY KEY,
    created_by  INTEGER REFERENCES users(id),
    uses_left   INTEGER NOT NULL,
    makes_admin INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);
CREATE INDEX invites_by_creator ON invites(created_by);

-- Only a hash of each token is kept, so a copy of the database does not hand out live sessions.
CREATE TABLE sessions (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL
);

CREATE TABLE follows (
    id         INTEGER PRIMARY KEY,
    follower   INTEGER NOT NULL REFERENCES users(id),
    followee   INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    UNIQUE (follower, followee)
);
CREATE INDEX follows_by_followee ON follows(followee, id);

CREATE TABLE blocks (
    blocker    INTEGER NOT NULL REFERENCES users(id),
    blocked    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (blocker, blocked)
);
CREATE INDEX blocks_by_blocked ON blocks(blocked);

CREATE TABLE rooms (
    id         TEXT    PRIMARY KEY,
    title      TEXT    NOT NULL,
    visibility TEXT    NOT NULL,
    creator    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    ended_at   INTEGER
);

CREATE TABLE room_invites (
    room_id TEXT    NOT NULL REFERENCES rooms(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
