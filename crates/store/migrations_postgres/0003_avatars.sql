-- Avatars' images (a JPEG per size), in the database rather than the data folder: every node of a cluster
-- serves them.
CREATE TABLE avatars (
    user_id BIGINT NOT NULL REFERENCES users(id),
    size    BIGINT NOT NULL,
    jpeg    BYTEA  NOT NULL,
    PRIMARY KEY (user_id, size)
);
