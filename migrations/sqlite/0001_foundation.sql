-- Foundation: units, themes, plans, events with their hosts, staff accounts,
-- sessions and change reports. Times are UTC, RFC 3339 text on SQLite.

CREATE TABLE units (
    id          INTEGER PRIMARY KEY,
    code        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    short_name  TEXT    NOT NULL,
    supervisor  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TEXT    NOT NULL
);

CREATE TABLE themes (
    id        INTEGER PRIMARY KEY,
    code      TEXT    NOT NULL UNIQUE,
    name      TEXT    NOT NULL,
    position  INTEGER NOT NULL
);

CREATE TABLE plans (
    id           INTEGER PRIMARY KEY,
    code         TEXT    NOT NULL UNIQUE,
    title        TEXT    NOT NULL,
    year         INTEGER NOT NULL,
    imported_at  TEXT    NOT NULL
);

CREATE TABLE events (
    id                     INTEGER PRIMARY KEY,
    code                   TEXT    NOT NULL UNIQUE,
    plan_id                INTEGER REFERENCES plans (id),
    kind                   TEXT    NOT NULL CHECK (kind IN ('open_day', 'lecture')),
    title                  TEXT    NOT NULL,
    theme_id               INTEGER REFERENCES themes (id),
    form                   TEXT    NOT NULL CHECK (form IN ('online', 'offline', 'online_offline')),
    summary                TEXT    NOT NULL DEFAULT '',
    starts_at              TEXT,
    duration_minutes       INTEGER,
    venue                  TEXT,
    agenda                 TEXT,
    participation          TEXT,
    stream_url             TEXT,
    audience_limit         INTEGER,
    public_selection       BOOLEAN NOT NULL DEFAULT FALSE,
    status                 TEXT    NOT NULL DEFAULT 'draft' CHECK (status IN
                             ('draft', 'announced', 'rescheduled', 'live', 'ended', 'materials_published', 'cancelled')),
    announced_at           TEXT,
    selection_notified_at  TEXT,
    live_at                TEXT,
    ended_at               TEXT,
    materials_published_at TEXT,
    materials_url          TEXT,
    video_url              TEXT,
    cancel_reason          TEXT,
    created_at             TEXT    NOT NULL,
    updated_at             TEXT    NOT NULL
);
CREATE INDEX events_starts_at ON events (starts_at);

-- Host units of an event, in the plan's order.
CREATE TABLE event_hosts (
    event_id  INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    unit_id   INTEGER NOT NULL REFERENCES units (id),
    position  INTEGER NOT NULL,
    PRIMARY KEY (event_id, unit_id)
);
CREATE INDEX event_hosts_unit ON event_hosts (unit_id);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    display_name   TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'unit_staff', 'moderator', 'host')),
    unit_id        INTEGER REFERENCES units (id),
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TEXT    NOT NULL,
    CHECK (role <> 'unit_staff' OR unit_id IS NOT NULL)
);

-- Only a SHA-256 of each session token is kept: a copy of the table opens no session.
CREATE TABLE sessions (
    token_hash  TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- 报备: every reschedule or cancellation of an announced event.
CREATE TABLE change_reports (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER NOT NULL REFERENCES events (id),
    kind         TEXT    NOT NULL CHECK (kind IN ('reschedule', 'cancel')),
    reason       TEXT    NOT NULL,
    before_json  TEXT    NOT NULL,
    after_json   TEXT    NOT NULL,
    reported_by  INTEGER NOT NULL REFERENCES users (id),
    reported_at  TEXT    NOT NULL
);
CREATE INDEX change_reports_event ON change_reports (event_id);
