-- Reports and appeals (举报受理). A viewer reports a published question or
-- comment with a reason from a fixed list, once per post; at a configured
-- number of distinct reporters the post is hidden at once pending review
-- (`held_by_reports`), and a moderator resolves the reports: keep (the post
-- comes back) or hide. Each report is due on the working-day calendar.
CREATE TABLE reports (
    id            INTEGER PRIMARY KEY,
    event_id      INTEGER NOT NULL REFERENCES events (id),
    post_id       INTEGER NOT NULL REFERENCES questions (id),
    reporter_key  TEXT    NOT NULL,
    reason        TEXT    NOT NULL CHECK (reason IN ('illegal', 'privacy', 'advertising', 'abuse', 'other')),
    created_at    TEXT    NOT NULL,
    due_on        TEXT,
    resolved_at   TEXT,
    resolved_by   INTEGER REFERENCES users (id),
    outcome       TEXT    CHECK (outcome IN ('kept', 'hidden')),
    UNIQUE (post_id, reporter_key)
);
CREATE INDEX reports_event ON reports (event_id, resolved_at);

ALTER TABLE questions ADD COLUMN held_by_reports BOOLEAN NOT NULL DEFAULT FALSE;

-- The asker of a rejected question may appeal once: the appeal lives on the
-- question, due on the working-day calendar, decided upheld (the question
-- is published) or dismissed, with a reply the asker sees.
ALTER TABLE questions ADD COLUMN appeal_text TEXT;
ALTER TABLE questions ADD COLUMN appeal_status TEXT CHECK (appeal_status IN ('open', 'upheld', 'dismissed'));
ALTER TABLE questions ADD COLUMN appeal_reply TEXT;
ALTER TABLE questions ADD COLUMN appealed_at TEXT;
ALTER TABLE questions ADD COLUMN appeal_due_on TEXT;
ALTER TABLE questions ADD COLUMN appeal_decided_at TEXT;
ALTER TABLE questions ADD COLUMN appeal_decided_by INTEGER REFERENCES users (id);
CREATE INDEX questions_open_appeals ON questions (event_id) WHERE appeal_status = 'open';
