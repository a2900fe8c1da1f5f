-- The room log is the public record that every resuming client replays: a
-- hide or an edit must reach the frames logged before it. `item_id` names the
-- question or comment whose public content (nickname, text, answer) a row
-- carries (questions and comments share one id space, and a promoted comment
-- keeps its id), so a moderation finds that item's earlier frames and rewrites
-- them in its own transaction: removals for a hide, the current text for an
-- edit. A rewritten removal carries no content and no item.
ALTER TABLE room_log ADD COLUMN item_id BIGINT;

UPDATE room_log SET item_id = (change::jsonb -> 'question' ->> 'id')::bigint
 WHERE change::jsonb ->> 'type' = 'question';
UPDATE room_log SET item_id = (change::jsonb -> 'comment' ->> 'id')::bigint
 WHERE change::jsonb ->> 'type' = 'comment';

-- What was logged before this migration gets the same treatment once:
-- frames of items that are no longer public (hidden, or a comment promoted
-- to a question) become removals ...
UPDATE room_log
   SET change = '{"type":"question_removed","question_id":' || item_id || '}', item_id = NULL
 WHERE item_id IS NOT NULL AND change::jsonb ->> 'type' = 'question'
   AND item_id IN (SELECT id FROM questions WHERE status <> 'approved');
UPDATE room_log
   SET change = '{"type":"comment_removed","comment_id":' || item_id || '}', item_id = NULL
 WHERE item_id IS NOT NULL AND change::jsonb ->> 'type' = 'comment'
   AND item_id IN (SELECT id FROM questions WHERE status <> 'approved' OR kind <> 'comment');

-- ... and frames of edited or answered items carry their current text (an
-- answer only where the frame had one).
UPDATE room_log r
   SET change = jsonb_set(jsonb_set(jsonb_set(jsonb_set(r.change::jsonb,
                    '{question,nickname}', to_jsonb(q.nickname)),
                    '{question,text}', to_jsonb(q.text)),
                    '{question,edited}', to_jsonb(q.original_text IS NOT NULL)),
                    '{question,answer}',
                    CASE WHEN jsonb_typeof(r.change::jsonb -> 'question' -> 'answer') IS DISTINCT FROM 'string'
                         THEN 'null'::jsonb ELSE COALESCE(to_jsonb(q.answer), 'null'::jsonb) END)::text
  FROM questions q
 WHERE q.id = r.item_id AND r.change::jsonb ->> 'type' = 'question'
   AND (q.original_text IS NOT NULL OR q.answer IS NOT NULL);
UPDATE room_log r
   SET change = jsonb_set(jsonb_set(jsonb_set(r.change::jsonb,
                    '{comment,nickname}', to_jsonb(q.nickname)),
                    '{comment,text}', to_jsonb(q.text)),
                    '{comment,edited}', 'true'::jsonb)::text
  FROM questions q
 WHERE q.id = r.item_id AND r.change::jsonb ->> 'type' = 'comment'
   AND q.original_text IS NOT NULL;

CREATE INDEX room_log_item ON room_log (event_id, item_id, seq) WHERE item_id IS NOT NULL;
