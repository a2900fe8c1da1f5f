-- Open days in person: the selection announcement (遴选公告) of an event,
-- the people who sign up, and the draw that chooses among them.
CREATE TABLE selections (
    event_id      INTEGER PRIMARY KEY REFERENCES events (id),
    text          TEXT    NOT NULL,
    places        INTEGER NOT NULL,
    opens_at      TEXT    NOT NULL,
    closes_at     TEXT    NOT NULL,
    -- When applicants hear back (a Beijing date).
    reply_by      TEXT    NOT NULL,
    -- The groups wanted and their shares, as JSON [{name, share}].
    groups_json   TEXT    NOT NULL,
    published_at  TEXT,
    closed_at     TEXT,
    -- The draw: its seed (published with the result) and when it ran.
    seed          TEXT,
    drawn_at      TEXT,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE participants (
    id            INTEGER PRIMARY KEY,
    event_id      INTEGER NOT NULL REFERENCES events (id),
    -- What they keep to withdraw or look up their place.
    reference     TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    -- The verified number behind the sign-up (one sign-up per number).
    identity_id   INTEGER REFERENCES identities (id),
    phone_masked  TEXT    NOT NULL,
    group_name    TEXT    NOT NULL,
    street        TEXT,
    reason        TEXT,
    -- `applicant` (signed up), `invited` (定向邀请) or `walk_in` (added at the door).
    kind          TEXT    NOT NULL DEFAULT 'applicant' CHECK (kind IN ('applicant', 'invited', 'walk_in')),
    organisation  TEXT,
    -- The number for the notice, sealed (an invitation has no verification).
    phone_sealed  TEXT,
    status        TEXT    NOT NULL CHECK (status IN ('applied', 'chosen', 'reserve', 'withdrawn')),
    -- The order reserves move up in.
    rank          INTEGER,
    created_at    TEXT    NOT NULL,
    withdrawn_at  TEXT,
    -- The notice: the SHA-256 of the token of the person's notice page, when
    -- it was sent and whether the sender took it; the check-in at the door.
    notice_token  TEXT    UNIQUE,
    notified_at   TEXT,
    notice_sent   BOOLEAN,
    checked_in_at TEXT
);
CREATE UNIQUE INDEX participants_identity ON participants (event_id, identity_id) WHERE identity_id IS NOT NULL;
CREATE INDEX participants_event ON participants (event_id, status);
