-- Scheduled events, RSVPs, calendar feeds, notifications, web push, search and avatars (issue 10).

-- An event's ID is random, like a room's, so that a hidden event cannot be found by counting. Times are Unix
-- seconds, UTC. `sequence` counts the edits that matter to a calendar (RFC 5545 SEQUENCE). `room_id` is the
-- live room the event was started as.
CREATE TABLE events (
    id           TEXT    PRIMARY KEY,
    title        TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    starts_at    INTEGER NOT NULL,
    visibility   TEXT    NOT NULL,
    creator      INTEGER NOT NULL REFERENCES users(id),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    sequence     INTEGER NOT NULL DEFAULT 0,
    cancelled_at INTEGER,
    room_id      TEXT    REFERENCES rooms(id),
    started_at   INTEGER
);
CREATE INDEX events_by_start ON events(starts_at);
CREATE INDEX events_by_room ON events(room_id) WHERE room_id IS NOT NULL;
-- Live rooms, for the events that run long.
CREATE INDEX rooms_live ON rooms(id) WHERE ended_at IS NULL;

-- The creator (accepted from the start) and the co-hosts, who accept or not.
CREATE TABLE event_hosts (
    event_id TEXT    NOT NULL REFERENCES events(id),
    user_id  INTEGER NOT NULL REFERENCES users(id),
    accepted INTEGER NOT NULL DEFAULT 0,
    position INTEGER NOT NULL,
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX event_hosts_by_user ON event_hosts(user_id);

-- Who may see a closed event.
CREATE TABLE event_invited (
    event_id TEXT    NOT NULL REFERENCES events(id),
    user_id  INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (event_id, user_id)
);

CREATE TABLE rsvps (
    id         INTEGER PRIMARY KEY,
    event_id   TEXT    NOT NULL REFERENCES events(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    UNIQUE (event_id, user_id)
);
CREATE INDEX rsvps_by_user ON rsvps(user_id);
CREATE INDEX rsvps_by_event ON rsvps(event_id, id);

-- A personal calendar feed's secret, kept as a hash like session tokens; deleting the row revokes it.
CREATE TABLE calendar_tokens (
    user_id    INTEGER PRIMARY KEY REFERENCES users(id),
    token_hash TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- What someone is told. `subject` is what it is about (a room or an event, by ID) and `title` that thing's
-- title when it was told, so that the list reads the same after the room ends.
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    kind       TEXT    NOT NULL,
    actor      INTEGER REFERENCES users(id),
    room_id    TEXT,
    event_id   TEXT,
    title      TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    read_at    INTEGER
);
CREATE INDEX notifications_by_user ON notifications(user_id, id);
-- "Nobody is told twice about the same room within an hour" is a look-up on this.
CREATE INDEX notifications_by_room ON notifications(user_id, room_id, created_at) WHERE room_id IS NOT NULL;

CREATE TABLE push_subscriptions (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    endpoint   TEXT    NOT NULL UNIQUE,
    p256dh     TEXT    NOT NULL,
    auth       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions(user_id);

-- Kinds of notification a user does not want pushed (every kind is pushed unless turned off here).
CREATE TABLE push_muted_kinds (
    user_id INTEGER NOT NULL REFERENCES users(id),
    kind    TEXT    NOT NULL,
    PRIMARY KEY (user_id, kind)
);

-- Profiles: an avatar (its version, bumped at each upload; 0 for none) and up to two links (JSON array).
ALTER TABLE users ADD COLUMN avatar_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN links TEXT NOT NULL DEFAULT '[]';

-- Full-text search (FTS5, external content): people by username and display name, events by title and
-- description. Triggers keep them in step with their tables.
-- Underscores separate words, so that "lovelace" finds ada_lovelace; `prefix` indexes make prefix queries
-- of 1 to 3 characters as quick as whole words.
CREATE VIRTUAL TABLE users_fts USING fts5(username, display_name, content='users', content_rowid='id',
    tokenize = "unicode61 remove_diacritics 2", prefix = '1 2 3');
INSERT INTO users_fts(rowid, username, display_name) SELECT id, username, display_name FROM users;
CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_fts(rowid, username, display_name) VALUES (new.id, new.username, new.display_name);
END;
CREATE TRIGGER users_fts_update AFTER UPDATE OF username, display_name ON users BEGIN
    INSERT INTO users_fts(users_fts, rowid, username, display_name) VALUES ('delete', old.id, old.username, old.display_name);
    INSERT INTO users_fts(rowid, username, display_name) VALUES (new.id, new.username, new.display_name);
END;

CREATE VIRTUAL TABLE events_fts USING fts5(title, description, content='events', content_rowid='rowid',
    tokenize = "unicode61 remove_diacritics 2", prefix = '1 2 3');
CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN
    INSERT INTO events_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;
CREATE TRIGGER events_fts_update AFTER UPDATE OF title, description ON events BEGIN
    INSERT INTO events_fts(events_fts, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description);
    INSERT INTO events_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;
