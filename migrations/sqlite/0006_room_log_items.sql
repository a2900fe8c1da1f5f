-- The room log is the public record that every resuming client replays: a
-- hide or an edit must reach the frames logged before it. `item_id` names the
-- question or comment whose public content (nickname, text, answer) a row
-- carries (questions and comments share one id space, and a promoted comment
-- keeps its id), so a moderation finds that item's earlier frames and rewrites
-- them in its own transaction: removals for a hide, the current text for an
-- edit. A rewritten removal carries no content and no item.
ALTER TABLE room_log ADD COLUMN item_id INTEGER;

UPDATE room_log SET item_id = json_extract(change, '$.question.id')
 WHERE json_extract(change, '$.type') = 'question';
UPDATE room_log SET item_id = json_extract(change, '$.comment.id')
 WHERE json_extract(change, '$.type') = 'comment';

-- What was logged before this migration gets the same treatment once:
-- frames of items that are no longer public (hidden, or a comment promoted
-- to a question) become removals ...
UPDATE room_log
   SET change = '{"type":"question_removed","question_id":' || item_id || '}', item_id = NULL
 WHERE item_id IS NOT NULL AND json_extract(change, '$.type') = 'question'
   AND item_id IN (SELECT id FROM questions WHERE status <> 'approved');
UPDATE room_log
   SET change = '{"type":"comment_removed","comment_id":' || item_id || '}', item_id = NULL
 WHERE item_id IS NOT NULL AND json_extract(change, '$.type') = 'comment'
   AND item_id IN (SELECT id FROM questions WHERE status <> 'approved' OR kind <> 'comment');

-- ... and frames of edited or answered items carry their current text (an
-- answer only where the frame had one).
UPDATE room_log
   SET change = (SELECT json_set(room_log.change,
                        '$.question.nickname', q.nickname,
                        '$.question.text', q.text,
                        '$.question.edited', json(CASE WHEN q.original_text IS NULL THEN 'false' ELSE 'true' END),
                        '$.question.answer',
                        CASE WHEN json_extract(room_log.change, '$.question.answer') IS NULL THEN NULL ELSE q.answer END)
                   FROM questions q WHERE q.id = room_log.item_id)
 WHERE item_id IS NOT NULL AND json_extract(change, '$.type') = 'question'
   AND item_id IN (SELECT id FROM questions WHERE original_text IS NOT NULL OR answer IS NOT NULL);
UPDATE room_log
   SET change = (SELECT json_set(room_log.change,
                        '$.comment.nickname', q.nickname,
                        '$.comment.text', q.text,
                        '$.comment.edited', json('true'))
                   FROM questions q WHERE q.id = room_log.item_id)
 WHERE item_id IS NOT NULL AND json_extract(change, '$.type') = 'comment'
   AND item_id IN (SELECT id FROM questions WHERE original_text IS NOT NULL);

CREATE INDEX room_log_item ON room_log (event_id, item_id, seq) WHERE item_id IS NOT NULL;
