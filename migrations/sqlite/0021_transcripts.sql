-- The interview transcript (访谈实录) of an event: assembled from its text
-- feed and its published questions with their answers, edited by the unit,
-- published with the materials. An event with a text feed has its
-- materials complete only once its transcript is published.
CREATE TABLE transcripts (
    event_id      INTEGER PRIMARY KEY REFERENCES events (id),
    -- The entries as JSON [{at, kind, speaker, text}], as the unit wrote them.
    entries_json  TEXT    NOT NULL,
    assembled_at  TEXT    NOT NULL,
    updated_by    INTEGER REFERENCES users (id),
    updated_at    TEXT    NOT NULL,
    published_at  TEXT
);
