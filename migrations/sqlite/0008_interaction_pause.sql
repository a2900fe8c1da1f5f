-- The kill switch (即时阻断): a moderator pauses all interaction of a room —
-- asking, commenting, upvoting, voting — without ending the event, and
-- resumes it later. Kept with the room's other settings, so a reload, a
-- restart and every node of a cluster see the same.
ALTER TABLE rooms ADD COLUMN interaction_paused BOOLEAN NOT NULL DEFAULT FALSE;
