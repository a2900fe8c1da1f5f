-- What the people on an in-person event's list are owed after a reschedule
-- (the notice again, with the new time) or a cancellation, written in the
-- change's own transaction. A sender claims a person (owed_claimed_at),
-- sends, records the message and clears the three columns; a crash between
-- the commit and the sending leaves the debt for the next sender (the next
-- notice round, or the sweep every minute on any node), and a claim older
-- than five minutes is taken over.
ALTER TABLE participants ADD COLUMN owed_message TEXT CHECK (owed_message IN ('reschedule', 'cancel'));
ALTER TABLE participants ADD COLUMN owed_link_base TEXT;
ALTER TABLE participants ADD COLUMN owed_claimed_at TEXT;
CREATE INDEX participants_owed ON participants (event_id) WHERE owed_message IS NOT NULL;
