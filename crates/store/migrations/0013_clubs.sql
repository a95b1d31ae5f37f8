-- Clubs (issue 31): communities with a handle, members in roles, and followers.
CREATE TABLE clubs (
    id             INTEGER PRIMARY KEY,
    -- Kept in lower case, like usernames.
    handle         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    name           TEXT    NOT NULL,
    description    TEXT    NOT NULL DEFAULT '',
    rules          TEXT    NOT NULL DEFAULT '',
    -- open, approval or invitation
    policy         TEXT    NOT NULL,
    owner_id       INTEGER NOT NULL REFERENCES users(id),
    -- Who made it, kept when the club changes hands: the daily limit on new clubs counts these.
    created_by     INTEGER NOT NULL,
    avatar_version INTEGER NOT NULL DEFAULT 0,
    suspended_at     INTEGER,
    suspended_reason TEXT,
    created_at     INTEGER NOT NULL
);
CREATE INDEX clubs_by_creator ON clubs(created_by, created_at);
CREATE INDEX clubs_by_owner ON clubs(owner_id);

-- One row per person the club knows: a member (with a role), a pending request, a pending invitation, or a
-- ban. `id` orders members by when they arrived (the members' pages, and who succeeds an owner).
CREATE TABLE club_members (
    id         INTEGER PRIMARY KEY,
    club_id    INTEGER NOT NULL REFERENCES clubs(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    -- member, requested, invited or banned
    state      TEXT    NOT NULL,
    -- owner, admin, leader or member (for a member; 'member' otherwise)
    role       TEXT    NOT NULL,
    invited_by INTEGER,
    since      INTEGER NOT NULL,
    UNIQUE (club_id, user_id)
);
CREATE INDEX club_members_by_user ON club_members(user_id, state);
CREATE INDEX club_members_by_club ON club_members(club_id, state, id);

CREATE TABLE club_follows (
    id         INTEGER PRIMARY KEY,
    club_id    INTEGER NOT NULL REFERENCES clubs(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    UNIQUE (club_id, user_id)
);
CREATE INDEX club_follows_by_user ON club_follows(user_id);
-- A fan-out pages through a club's followers by row.
CREATE INDEX club_follows_by_club ON club_follows(club_id, id);

-- News of a club (a request to join, an invitation, an approval) names the club by handle.
ALTER TABLE notifications ADD COLUMN club TEXT;

-- A replay or clip of a club's room: who may hear it depends on the club.
ALTER TABLE recordings ADD COLUMN club_id INTEGER;

-- Search: clubs by the words of their handle (underscores separate them), name and description, prefixes
-- included, as users_fts and events_fts.
CREATE VIRTUAL TABLE clubs_fts USING fts5(handle, name, description, content='clubs', content_rowid='id',
    tokenize = "unicode61 remove_diacritics 2 separators '_'", prefix = '1 2 3');
CREATE TRIGGER clubs_fts_insert AFTER INSERT ON clubs BEGIN
    INSERT INTO clubs_fts(rowid, handle, name, description) VALUES (new.id, new.handle, new.name, new.description);
END;
CREATE TRIGGER clubs_fts_update AFTER UPDATE OF handle, name, description ON clubs BEGIN
    INSERT INTO clubs_fts(clubs_fts, rowid, handle, name, description) VALUES ('delete', old.id, old.handle, old.name, old.description);
    INSERT INTO clubs_fts(rowid, handle, name, description) VALUES (new.id, new.handle, new.name, new.description);
END;
CREATE TRIGGER clubs_fts_delete AFTER DELETE ON clubs BEGIN
    INSERT INTO clubs_fts(clubs_fts, rowid, handle, name, description) VALUES ('delete', old.id, old.handle, old.name, old.description);
END;

-- A report on a club names it by handle (its room_id is then empty).
ALTER TABLE reports ADD COLUMN club TEXT;

-- An event a club hosts: who may see it then depends on the club, as for its rooms.
ALTER TABLE events ADD COLUMN club_id INTEGER;
CREATE INDEX events_by_club ON events(club_id, starts_at) WHERE club_id IS NOT NULL;
CREATE INDEX recordings_by_club ON recordings(club_id, started_at) WHERE club_id IS NOT NULL;

-- Clubs' avatars, as people's: a JPEG per size, in the database so that every node serves them.
CREATE TABLE club_avatars (
    club_id INTEGER NOT NULL REFERENCES clubs(id),
    size    INTEGER NOT NULL,
    jpeg    BLOB    NOT NULL,
    PRIMARY KEY (club_id, size)
);
