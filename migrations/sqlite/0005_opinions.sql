-- Opinions (意见建议) collected at events, and the adoption-feedback loop
-- around them: the unit's decision and reply, transfers between units,
-- extensions of the reply deadline, reminders (催办) and the asker's rating.
-- Every change is also written to audit_log (action `opinion.*`).

CREATE TABLE opinions (
    id             INTEGER PRIMARY KEY,
    event_id       INTEGER NOT NULL REFERENCES events (id),
    -- The unit that answers it now (the event's lead host unit until transferred).
    unit_id        INTEGER NOT NULL REFERENCES units (id),
    source         TEXT    NOT NULL CHECK (source IN ('question', 'comment', 'poll_answer', 'offline')),
    -- What it was captured from (`q:ID` for a question or comment,
    -- `p:POLL:VIEWER` for an open-text answer); NULL for offline entries.
    source_ref     TEXT,
    text           TEXT    NOT NULL,
    nickname       TEXT    NOT NULL,
    -- The asker's viewer key, so that they can rate the reply; NULL offline.
    viewer_key     TEXT,
    topic          TEXT,
    state          TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'adopted', 'partly_adopted', 'not_adopted', 'answered', 'under_study')),
    reason         TEXT,
    reply          TEXT,
    -- An approved question not answered on air: a hand-off task for the unit.
    handoff        BOOLEAN NOT NULL DEFAULT FALSE,
    -- Support: upvotes of the question it came from, plus one for the asker.
    support        INTEGER NOT NULL DEFAULT 1,
    merged_into    INTEGER REFERENCES opinions (id),
    received_at    TEXT    NOT NULL,
    due_date       TEXT,
    replied_by     INTEGER REFERENCES users (id),
    published_at   TEXT,
    rating         TEXT CHECK (rating IN ('satisfied', 'basically_satisfied', 'unsatisfied')),
    rated_at       TEXT,
    created_by     INTEGER REFERENCES users (id),
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);
-- Capturing twice never makes a second record.
CREATE UNIQUE INDEX opinions_source_ref ON opinions (source_ref) WHERE source_ref IS NOT NULL;
CREATE INDEX opinions_event ON opinions (event_id, id);
CREATE INDEX opinions_unit ON opinions (unit_id, state);

CREATE TABLE opinion_transfers (
    id           INTEGER PRIMARY KEY,
    opinion_id   INTEGER NOT NULL REFERENCES opinions (id),
    from_unit    INTEGER NOT NULL REFERENCES units (id),
    to_unit      INTEGER NOT NULL REFERENCES units (id),
    reason       TEXT    NOT NULL,
    by_user      INTEGER NOT NULL REFERENCES users (id),
    created_at   TEXT    NOT NULL
);
CREATE INDEX opinion_transfers_opinion ON opinion_transfers (opinion_id);

CREATE TABLE opinion_extensions (
    id             INTEGER PRIMARY KEY,
    opinion_id     INTEGER NOT NULL REFERENCES opinions (id),
    reason         TEXT    NOT NULL,
    requested_due  TEXT    NOT NULL,
    requested_by   INTEGER NOT NULL REFERENCES users (id),
    requested_at   TEXT    NOT NULL,
    decision       TEXT    NOT NULL DEFAULT 'pending' CHECK (decision IN ('pending', 'granted', 'refused')),
    decision_note  TEXT,
    decided_by     INTEGER REFERENCES users (id),
    decided_at     TEXT
);
CREATE INDEX opinion_extensions_opinion ON opinion_extensions (opinion_id);
-- At most one request waits for a decision per opinion.
CREATE UNIQUE INDEX opinion_extensions_pending ON opinion_extensions (opinion_id) WHERE decision = 'pending';

CREATE TABLE opinion_reminders (
    id          INTEGER PRIMARY KEY,
    opinion_id  INTEGER NOT NULL REFERENCES opinions (id),
    note        TEXT,
    sent_by     INTEGER NOT NULL REFERENCES users (id),
    sent_at     TEXT    NOT NULL
);
CREATE INDEX opinion_reminders_opinion ON opinion_reminders (opinion_id);
