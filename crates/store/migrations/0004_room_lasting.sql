-- A live room's lasting state (JSON: title, visibility, hand mode, stage, invited, removed), written
-- through as it changes, so that a restart brings the room back.
ALTER TABLE rooms ADD COLUMN lasting TEXT;
