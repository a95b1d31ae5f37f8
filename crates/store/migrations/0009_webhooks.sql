-- Webhooks (issue 12): URLs an admin registers for events, and every delivery with its attempts. A
-- delivery is retried with backoff for about a day; its last status and error are kept.
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    url        TEXT    NOT NULL,
    -- Space-separated event names (`room.started room.ended`).
    events     TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event       TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    -- 'pending', 'delivered' or 'failed' (every retry spent).
    state       TEXT    NOT NULL DEFAULT 'pending',
    next_at     INTEGER NOT NULL,
    last_status INTEGER,
    last_error  TEXT,
    done_at     INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_at);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries(webhook_id, id);
