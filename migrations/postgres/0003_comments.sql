-- Comments (评论) share the questions table: same screen, moderation, limits,
-- bans and audit; `kind` tells them apart, and promoting a comment to a
-- question changes its kind (the audit log keeps the step).
ALTER TABLE questions ADD COLUMN kind TEXT NOT NULL DEFAULT 'question' CHECK (kind IN ('question', 'comment'));
CREATE INDEX questions_event_kind ON questions (event_id, kind, status);
