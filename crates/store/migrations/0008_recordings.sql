-- Replays, clips and report windows (issue 12): audio files in the data folder's `recordings/`, and who may
-- hear them. A recording keeps the room's visibility and, for closed rooms, who could see the room, since
-- the room's own state ends with it.
CREATE TABLE recordings (
    id          TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('replay', 'clip', 'report')),
    room_id     TEXT    NOT NULL REFERENCES rooms(id),
    title       TEXT    NOT NULL,
    visibility  TEXT    NOT NULL,
    host_id     INTEGER NOT NULL REFERENCES users(id),
    made_by     INTEGER NOT NULL REFERENCES users(id),
    -- Space-separated user IDs who may hear a closed room's recording (its moderators and invited).
    allowed     TEXT    NOT NULL DEFAULT '',
    file        TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    -- NULL while a replay is being recorded.
    duration_ms INTEGER,
    report_id   INTEGER REFERENCES reports(id)
);
CREATE INDEX recordings_by_room ON recordings(room_id, kind);
CREATE INDEX recordings_by_host ON recordings(host_id, kind);
CREATE INDEX recordings_by_report ON recordings(report_id);
