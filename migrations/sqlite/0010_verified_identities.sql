-- Verified posting (后台实名、前台自愿). An event's `identity_mode` says who
-- may take part in its room: `verified` (a mainland mobile number proved by
-- a one-time code; the default, also for events from before) or `open`.
ALTER TABLE events ADD COLUMN identity_mode TEXT NOT NULL DEFAULT 'verified'
    CHECK (identity_mode IN ('verified', 'open'));

-- One verified person. The number itself is not here in the clear:
-- `phone_hash` is HMAC-SHA256 of it with the server's identity secret (one
-- number, one row), `phone_sealed` the number encrypted with a key from the
-- same secret (for the unit's follow-up call), `phone_masked` what staff see.
-- `viewer_key` is the identity's public handle in every room.
CREATE TABLE identities (
    id            INTEGER PRIMARY KEY,
    phone_hash    TEXT    NOT NULL UNIQUE,
    phone_masked  TEXT    NOT NULL,
    phone_sealed  TEXT    NOT NULL,
    viewer_key    TEXT    NOT NULL UNIQUE,
    created_at    TEXT    NOT NULL,
    verified_at   TEXT    NOT NULL
);

-- One-time codes sent: the limits per number and per address are counted
-- here, so they hold across restarts and nodes. Only the code's keyed hash
-- is kept. Removed a day after they expire.
CREATE TABLE verification_codes (
    id          INTEGER PRIMARY KEY,
    phone_hash  TEXT    NOT NULL,
    ip          TEXT    NOT NULL,
    code_hash   TEXT    NOT NULL,
    sent_at     TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    tries       INTEGER NOT NULL DEFAULT 0,
    used_at     TEXT
);
CREATE INDEX verification_codes_phone ON verification_codes (phone_hash, sent_at);
CREATE INDEX verification_codes_ip ON verification_codes (ip, sent_at);

-- A browser's verification: the SHA-256 of the token it keeps, until it expires.
CREATE TABLE verifications (
    token_hash   TEXT    PRIMARY KEY,
    identity_id  INTEGER NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    created_at   TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL
);
CREATE INDEX verifications_identity ON verifications (identity_id);

-- The verified identity a question or comment came from (none in open rooms).
ALTER TABLE questions ADD COLUMN identity_id INTEGER REFERENCES identities (id);
