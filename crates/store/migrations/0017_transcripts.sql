-- A replay's transcript (issue 33 §1): each caption line said while it recorded, from its start, naming
-- its speaker. It goes with its replay, and a person's lines go with their account.
CREATE TABLE transcript_lines (
    recording_id TEXT    NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    at_ms        INTEGER NOT NULL,
    end_ms       INTEGER NOT NULL,
    speaker_id   INTEGER NOT NULL REFERENCES users(id),
    text         TEXT    NOT NULL
);
CREATE INDEX transcript_by_recording ON transcript_lines(recording_id, at_ms);
CREATE INDEX transcript_by_speaker ON transcript_lines(speaker_id);
