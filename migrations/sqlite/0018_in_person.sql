-- Open days in person, second part.
--
-- An event's in-person arrangements: the capacity of the place and what the
-- notice tells people to bring and how to check in.
CREATE TABLE attendance_settings (
    event_id      INTEGER PRIMARY KEY REFERENCES events (id),
    capacity      INTEGER,
    bring         TEXT,
    updated_at    TEXT    NOT NULL
);

-- Which optional sign-up fields the announcement asks for, each `hidden`,
-- `optional` or `required`.
ALTER TABLE selections ADD COLUMN street_field TEXT NOT NULL DEFAULT 'optional'
    CHECK (street_field IN ('hidden', 'optional', 'required'));
ALTER TABLE selections ADD COLUMN reason_field TEXT NOT NULL DEFAULT 'optional'
    CHECK (reason_field IN ('hidden', 'optional', 'required'));

-- How the chosen were chosen: `draw` (its seed is published) or `manual`.
ALTER TABLE selections ADD COLUMN method TEXT CHECK (method IN ('draw', 'manual'));
UPDATE selections SET method = 'draw' WHERE drawn_at IS NOT NULL;

-- Every message to a person on the list, with its result: the notice, and
-- the messages when the event is rescheduled or cancelled.
CREATE TABLE participant_messages (
    id             INTEGER PRIMARY KEY,
    participant_id INTEGER NOT NULL REFERENCES participants (id),
    kind           TEXT    NOT NULL CHECK (kind IN ('notice', 'reschedule', 'cancel')),
    delivered      BOOLEAN NOT NULL,
    detail         TEXT,
    sent_at        TEXT    NOT NULL
);
CREATE INDEX participant_messages_participant ON participant_messages (participant_id, id);

-- Whether the principal leader (主要负责同志) of a host unit took part, as
-- the unit records it.
CREATE TABLE leader_attendance (
    event_id      INTEGER NOT NULL REFERENCES events (id),
    unit_id       INTEGER NOT NULL REFERENCES units (id),
    attended      BOOLEAN NOT NULL,
    -- Their title as the unit gives it (e.g. 局长), optional.
    leader        TEXT,
    recorded_by   INTEGER REFERENCES users (id),
    recorded_at   TEXT    NOT NULL,
    PRIMARY KEY (event_id, unit_id)
);

-- What representatives said in person, or wrote from their notice page:
-- opinions typed in (`source` = 'offline') with how they came and the
-- speaker's group; the participant when it is theirs.
ALTER TABLE opinions ADD COLUMN via TEXT CHECK (via IN ('in_person', 'written'));
ALTER TABLE opinions ADD COLUMN speaker_group TEXT;
ALTER TABLE opinions ADD COLUMN participant_id INTEGER REFERENCES participants (id);

-- The highest number of viewers in the live room at once (the record's
-- 在线观看峰值; in a cluster, the cluster's total).
ALTER TABLE events ADD COLUMN peak_viewers INTEGER;
