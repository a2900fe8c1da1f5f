-- The address each upvote and poll vote came from. Until viewers have an
-- identity (a later issue), at most N viewer tokens of one address may upvote
-- a question or vote in a poll (`--votes-per-address`): counted here, in the
-- writer's transaction, so the cap holds across reconnects and across the
-- nodes of a cluster. Rows from before this migration have no address and
-- count for none.
ALTER TABLE upvotes ADD COLUMN ip TEXT;
ALTER TABLE poll_votes ADD COLUMN ip TEXT;
CREATE INDEX upvotes_question_ip ON upvotes (question_id, ip);
CREATE INDEX poll_votes_poll_ip ON poll_votes (poll_id, ip);
