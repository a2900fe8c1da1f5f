-- Announcements that hold: besides a reschedule or a cancellation, a change
-- of an announced event's place, agenda, participation, form or host units
-- is reported to the data bureau (`change`), with its reason and the values
-- before and after, and shown on the public page as 变更公告.
CREATE TABLE change_reports_new (
    id           INTEGER PRIMARY KEY,
    event_id     INTEGER NOT NULL REFERENCES events (id),
    kind         TEXT    NOT NULL CHECK (kind IN ('reschedule', 'cancel', 'change')),
    reason       TEXT    NOT NULL,
    before_json  TEXT    NOT NULL,
    after_json   TEXT    NOT NULL,
    reported_by  INTEGER NOT NULL REFERENCES users (id),
    reported_at  TEXT    NOT NULL
);
INSERT INTO change_reports_new (id, event_id, kind, reason, before_json, after_json, reported_by, reported_at)
    SELECT id, event_id, kind, reason, before_json, after_json, reported_by, reported_at FROM change_reports;
DROP TABLE change_reports;
ALTER TABLE change_reports_new RENAME TO change_reports;
CREATE INDEX change_reports_event ON change_reports (event_id);
