-- The live room: per-event room settings and its log (the source of truth for
-- `seq`), questions, upvotes, bans and the moderation audit log.
-- Viewers have no table: a viewer is known by the public key of their token.

CREATE TABLE rooms (
    event_id            INTEGER PRIMARY KEY REFERENCES events (id),
    last_seq            INTEGER NOT NULL DEFAULT 0,
    moderation          TEXT    NOT NULL DEFAULT 'pre' CHECK (moderation IN ('pre', 'post')),
    slow_mode_secs      INTEGER NOT NULL DEFAULT 0,
    pinned_question_id  INTEGER
);

-- Every public change of a room, as JSON, in seq order.
CREATE TABLE room_log (
    event_id    INTEGER NOT NULL REFERENCES events (id),
    seq         INTEGER NOT NULL,
    change      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (event_id, seq)
);

CREATE TABLE questions (
    id              INTEGER PRIMARY KEY,
    event_id        INTEGER NOT NULL REFERENCES events (id),
    viewer_key      TEXT    NOT NULL,
    nickname        TEXT    NOT NULL,
    text            TEXT    NOT NULL,
    original_text   TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'hidden')),
    reject_reason   TEXT,
    screen_hits     TEXT,
    answered        BOOLEAN NOT NULL DEFAULT FALSE,
    answer          TEXT,
    upvotes         INTEGER NOT NULL DEFAULT 0,
    client_ref      TEXT,
    ip              TEXT,
    created_at      TEXT    NOT NULL,
    moderated_at    TEXT,
    moderated_by    INTEGER REFERENCES users (id)
);
CREATE INDEX questions_event_status ON questions (event_id, status);
CREATE INDEX questions_viewer ON questions (event_id, viewer_key);
-- A viewer's retry of the same request (same ref) never makes a second question.
CREATE UNIQUE INDEX questions_client_ref ON questions (event_id, viewer_key, client_ref) WHERE client_ref IS NOT NULL;

CREATE TABLE upvotes (
    question_id  INTEGER NOT NULL REFERENCES questions (id),
    viewer_key   TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    PRIMARY KEY (question_id, viewer_key)
);

CREATE TABLE bans (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL REFERENCES events (id),
    viewer_key  TEXT,
    ip          TEXT,
    reason      TEXT    NOT NULL,
    banned_by   INTEGER NOT NULL REFERENCES users (id),
    created_at  TEXT    NOT NULL
);
CREATE INDEX bans_event ON bans (event_id);

-- Who did what to what, when, with the state before and after.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL REFERENCES events (id),
    actor_kind  TEXT    NOT NULL CHECK (actor_kind IN ('staff', 'viewer', 'system')),
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    subject_id  INTEGER,
    before_json TEXT,
    after_json  TEXT,
    created_at  TEXT    NOT NULL
);
CREATE INDEX audit_log_event ON audit_log (event_id, id);
