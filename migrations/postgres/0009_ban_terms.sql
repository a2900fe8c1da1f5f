-- Bans that hold for a term (10 minutes, an hour, a day) or the rest of the
-- event (`expires_at` NULL), and that a moderator can lift (`lifted_at`,
-- `lifted_by`). A ban holds while it is not lifted and not expired. A
-- `permanent` ban (administrators only) holds in every event, with no end.
ALTER TABLE bans ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE bans ADD COLUMN lifted_at TIMESTAMPTZ;
ALTER TABLE bans ADD COLUMN lifted_by BIGINT REFERENCES users (id);
ALTER TABLE bans ADD COLUMN permanent BOOLEAN NOT NULL DEFAULT FALSE;
