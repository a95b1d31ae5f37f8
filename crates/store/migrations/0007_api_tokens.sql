-- Personal access tokens (issue 12): named, scoped, optionally expiring, revocable. Only a hash of each is
-- kept, as for sessions. `scopes` is space-separated (`rooms:read listen`).
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX api_tokens_by_user ON api_tokens(user_id);
