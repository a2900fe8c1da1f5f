-- Announcements that hold: besides a reschedule or a cancellation, a change
-- of an announced event's place, agenda, participation, form or host units
-- is reported to the data bureau (`change`), with its reason and the values
-- before and after, and shown on the public page as 变更公告.
ALTER TABLE change_reports DROP CONSTRAINT IF EXISTS change_reports_kind_check;
ALTER TABLE change_reports ADD CONSTRAINT change_reports_kind_check
    CHECK (kind IN ('reschedule', 'cancel', 'change'));
