-- Staff second factor (TOTP, RFC 6238): the secret sealed with the server's
-- identity secret, a pending one during enrolment, the last time step used
-- (a code is good once), and ten single-use recovery codes kept as hashes.
ALTER TABLE users ADD COLUMN totp_sealed TEXT;
ALTER TABLE users ADD COLUMN totp_pending TEXT;
ALTER TABLE users ADD COLUMN totp_enabled_at TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;

CREATE TABLE recovery_codes (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    used_at    TEXT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
