-- Avatars' images (a JPEG per size), in the database rather than the data folder: every node of a cluster
-- serves them.
CREATE TABLE avatars (
    user_id INTEGER NOT NULL REFERENCES users(id),
    size    INTEGER NOT NULL,
    jpeg    BLOB    NOT NULL,
    PRIMARY KEY (user_id, size)
);
