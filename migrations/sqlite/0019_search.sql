-- Indexed search over opinions (issue 18, point 6): the unit workspace's
-- list and the public answers page find a query in an opinion's text, its
-- reply or the nickname.
--
-- An FTS5 table with the trigram tokenizer: every run of three characters is
-- a token, so any substring of three or more characters is found through the
-- index, with no word breaking (Chinese has no spaces). Case is folded, like
-- the LOWER() of the plain scan. Shorter queries (one or two characters) have
-- no trigram: the store scans for them as before (store/opinions/search.rs).
--
-- `content = 'opinions'`: an external-content table, which stores the index
-- only and reads the text from `opinions` when it needs it. The triggers
-- below keep it in step with every insert, change and deletion; an
-- external-content table must be told the old values to delete them.
CREATE VIRTUAL TABLE opinion_search USING fts5(
    text, reply, nickname,
    content = 'opinions', content_rowid = 'id',
    tokenize = 'trigram'
);

-- The opinions already there.
INSERT INTO opinion_search (opinion_search) VALUES ('rebuild');

CREATE TRIGGER opinion_search_insert AFTER INSERT ON opinions BEGIN
    INSERT INTO opinion_search (rowid, text, reply, nickname) VALUES (new.id, new.text, new.reply, new.nickname);
END;

CREATE TRIGGER opinion_search_delete AFTER DELETE ON opinions BEGIN
    INSERT INTO opinion_search (opinion_search, rowid, text, reply, nickname)
        VALUES ('delete', old.id, old.text, old.reply, old.nickname);
END;

-- Only a change of a searched column touches the index (a decision, a
-- rating or a transfer that keeps the reply costs nothing here).
CREATE TRIGGER opinion_search_update AFTER UPDATE OF text, reply, nickname ON opinions BEGIN
    INSERT INTO opinion_search (opinion_search, rowid, text, reply, nickname)
        VALUES ('delete', old.id, old.text, old.reply, old.nickname);
    INSERT INTO opinion_search (rowid, text, reply, nickname) VALUES (new.id, new.text, new.reply, new.nickname);
END;
