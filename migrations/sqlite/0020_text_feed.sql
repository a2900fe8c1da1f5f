-- The studio's text feed (图文直播): short updates from the hosts and the
-- unit's editors during the event, each optionally with one image, logged
-- in the room like every public change. Edits and withdrawals keep the row
-- (the audit log has each version); a withdrawn update is public no more.
CREATE TABLE live_images (
    id            INTEGER PRIMARY KEY,
    event_id      INTEGER NOT NULL REFERENCES events (id),
    content_type  TEXT    NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'image/webp', 'image/gif')),
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    bytes         BLOB    NOT NULL,
    uploaded_by   INTEGER NOT NULL REFERENCES users (id),
    created_at    TEXT    NOT NULL
);
CREATE INDEX live_images_event ON live_images (event_id);

CREATE TABLE live_updates (
    id            INTEGER PRIMARY KEY,
    event_id      INTEGER NOT NULL REFERENCES events (id),
    text          TEXT    NOT NULL,
    image_id      INTEGER REFERENCES live_images (id),
    posted_by     INTEGER NOT NULL REFERENCES users (id),
    posted_at     TEXT    NOT NULL,
    edited_at     TEXT,
    withdrawn_at  TEXT
);
CREATE INDEX live_updates_event ON live_updates (event_id, id);
