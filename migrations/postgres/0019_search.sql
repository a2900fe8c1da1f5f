-- Indexed search over opinions (issue 18, point 6): the unit workspace's
-- list and the public answers page find a query in an opinion's text, its
-- reply or the nickname.
--
-- pg_trgm's GIN indexes serve `ILIKE '%…%'` for any pattern with a run of
-- three or more characters; shorter queries are scanned for as before
-- (store/opinions/search.rs). Chinese characters make trigrams only when the
-- database's LC_CTYPE classifies them as letters (C.UTF-8, zh_CN.UTF-8 or
-- any other UTF-8 locale do; plain `C` does not, and then the index cannot
-- narrow a Chinese query: results stay right, the search is a scan).
--
-- The extension goes into `public`, whatever the search path: an extension
-- exists once per database, and a schema-per-tenant layout (the test suite
-- runs one schema per test in one database) must not put it into a schema
-- that is later dropped. pg_trgm is a trusted extension: the database's
-- owner may create it without being a superuser. If it was installed
-- before, into any schema, it is used from there.
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;

DO $$
DECLARE
    trgm_schema TEXT;
BEGIN
    SELECT n.nspname INTO trgm_schema
        FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'pg_trgm';
    EXECUTE format('CREATE INDEX opinions_text_trgm ON opinions USING gin (text %I.gin_trgm_ops)', trgm_schema);
    EXECUTE format('CREATE INDEX opinions_reply_trgm ON opinions USING gin (reply %I.gin_trgm_ops)', trgm_schema);
    EXECUTE format('CREATE INDEX opinions_nickname_trgm ON opinions USING gin (nickname %I.gin_trgm_ops)', trgm_schema);
END
$$;
