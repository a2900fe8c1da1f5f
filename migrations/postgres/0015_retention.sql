-- The retention job (个人信息保护): when an event's viewers' addresses, links to
-- verified identities and the like were removed, a configured time after it ended.
ALTER TABLE events ADD COLUMN personal_data_removed_at TIMESTAMPTZ;
