-- The asker hears back (回访): a verified asker is told by text message when
-- the unit publishes its answer, unless they opted out when asking
-- (`questions.notify`). Capturing a question into an opinion keeps who
-- asked (the identity, never the number) and whether to tell them; each
-- attempt to tell them is recorded with its result.
ALTER TABLE questions ADD COLUMN notify BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE opinions ADD COLUMN identity_id INTEGER REFERENCES identities (id);
ALTER TABLE opinions ADD COLUMN notify BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE opinion_notices (
    id            INTEGER PRIMARY KEY,
    opinion_id    INTEGER NOT NULL REFERENCES opinions (id),
    -- The number told, masked; the sender (`log`, `webhook`).
    phone_masked  TEXT    NOT NULL,
    sender        TEXT    NOT NULL,
    delivered     BOOLEAN NOT NULL,
    -- Why it was not delivered.
    detail        TEXT,
    attempted_at  TEXT    NOT NULL
);
CREATE INDEX opinion_notices_opinion ON opinion_notices (opinion_id, id);
