-- What the live page plays besides the live stream (`events.stream_url`):
-- the replay after the event (回放) and WebVTT captions (字幕). A table of
-- its own: set by the event's managers at any time, also once the event has
-- ended and its description is closed to edits.
CREATE TABLE event_media (
    event_id      BIGINT PRIMARY KEY REFERENCES events (id),
    replay_url    TEXT,
    captions_url  TEXT,
    updated_by    BIGINT REFERENCES users (id),
    updated_at    TIMESTAMPTZ NOT NULL
);
