-- Staff accounts a district can defend (网络安全等级保护 level 2).
--
-- The security log: sign-ins and their failures, lockouts, password and
-- account changes, sessions ended, unmasked views and exports of personal
-- data, settings and event changes. Kept at least 180 days; only its own
-- retention (`--security-log-days`, never below 180) removes rows.
CREATE TABLE security_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    -- Who did it (none: an anonymous sign-in attempt, or the system).
    actor_id    INTEGER REFERENCES users (id),
    -- The account it concerns.
    subject_id  INTEGER REFERENCES users (id),
    -- The name typed at a sign-in (an account may not exist by that name).
    username    TEXT,
    ip          TEXT,
    -- What changed, as JSON.
    detail      TEXT
);
CREATE INDEX security_log_at ON security_log (at);
CREATE INDEX security_log_kind ON security_log (kind, at);

-- Failed sign-ins per name as typed (lowercased), whether or not an account
-- has that name, so a lockout says nothing about which accounts exist.
CREATE TABLE sign_in_failures (
    username      TEXT    PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  TEXT    NOT NULL,
    locked_until  TEXT
);

-- An administrator's reset gives a one-time password, changed at the next sign-in.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;

-- Sessions end after `idle_secs` without a request or a console frame
-- (`idle_until`), besides their absolute end; the address they began from.
ALTER TABLE sessions ADD COLUMN idle_secs INTEGER;
ALTER TABLE sessions ADD COLUMN idle_until TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
