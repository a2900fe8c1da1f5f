-- Polls of a live room and their votes. One vote per viewer per poll is the
-- primary key of poll_votes: the store enforces it, not only the memory.

CREATE TABLE polls (
    id            INTEGER PRIMARY KEY,
    event_id      INTEGER NOT NULL REFERENCES events (id),
    kind          TEXT    NOT NULL CHECK (kind IN ('single_choice', 'multiple_choice', 'rating', 'open_text')),
    title         TEXT    NOT NULL,
    options       TEXT    NOT NULL,
    max_choices   INTEGER NOT NULL,
    allow_change  BOOLEAN NOT NULL,
    results       TEXT    NOT NULL CHECK (results IN ('live', 'after_close')),
    status        TEXT    NOT NULL CHECK (status IN ('draft', 'open', 'closed')),
    created_by    INTEGER NOT NULL REFERENCES users (id),
    created_at    TEXT    NOT NULL,
    opened_at     TEXT,
    closed_at     TEXT
);
CREATE INDEX polls_event ON polls (event_id);

CREATE TABLE poll_votes (
    poll_id      INTEGER NOT NULL REFERENCES polls (id),
    viewer_key   TEXT    NOT NULL,
    text         TEXT,
    text_status  TEXT CHECK (text_status IN ('pending', 'approved', 'rejected')),
    screen_hits  TEXT,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (poll_id, viewer_key)
);

-- The options of each vote (ratings as their value 1..5).
CREATE TABLE poll_choices (
    poll_id     INTEGER NOT NULL REFERENCES polls (id),
    viewer_key  TEXT    NOT NULL,
    option      INTEGER NOT NULL,
    PRIMARY KEY (poll_id, viewer_key, option)
);
