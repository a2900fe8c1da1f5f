//! Finding a text in opinions (their text, reply or nickname), best first.
//!
//! Three ways, chosen by the query's length and the backend:
//! - **Three characters or more, SQLite**: `MATCH` on the FTS5 trigram table
//!   `opinion_search` (migration 0019), ranked by its `bm25`, the text
//!   weighing more than the reply and the reply more than the nickname.
//! - **Three characters or more, PostgreSQL**: `ILIKE '%…%'`, which pg_trgm's
//!   GIN indexes on the three columns answer (a bitmap of the three).
//! - **One or two characters, both**: they make no trigram, so no index can
//!   narrow them; a plain scan with `LOWER(…) LIKE`, as before 0019. Correct,
//!   and as slow as a scan (BENCHMARKS.md, "Search").
//!
//! PostgreSQL and the scan rank alike: a match in the text before one only in
//! the reply, before one only in the nickname; then more matches in the text
//! first; then the shorter text (a match is more of it); then the older. Only
//! core functions, so the ranking needs nothing from pg_trgm's schema.
//!
//! Each way picks the page of matching ids first (`hits`), then reads the
//! full rows of that page only: the per-opinion counts of the full select are
//! not computed for every match of a common word.
//!
//! The SQL differs per backend here, unlike elsewhere in the store: full-text
//! search is where the two databases differ by design.

use super::{FILTERS, OPINION_SELECT, Opinion, OpinionFilter, OpinionRow, bind_filter};
use crate::domain::search::SearchQuery;
use crate::store::{Pool, Store, StoreResult, on_pool};

/// Which of the three ways a query goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    SqliteIndex,
    PostgresIndex,
    Scan,
}

impl Way {
    fn of(pool: &Pool, query: &SearchQuery) -> Self {
        match pool {
            _ if !query.indexed() => Self::Scan,
            Pool::Sqlite { .. } => Self::SqliteIndex,
            Pool::Postgres(_) => Self::PostgresIndex,
        }
    }

    /// The statement: `$6` the `LIKE` pattern, `$16` the FTS5 phrase
    /// (SQLite's index) or the lower-case query (the others), `$17` its
    /// length in characters.
    fn sql(self) -> String {
        let hits = match self {
            Self::SqliteIndex => format!(
                // bm25 is negative, best lowest; weights per column: text, reply, nickname.
                "SELECT o.id, bm25(opinion_search, 4.0, 2.0, 1.0) AS r1, 0 AS r2, 0 AS r3
                 FROM opinion_search JOIN opinions o ON o.id = opinion_search.rowid
                 WHERE opinion_search MATCH $16 AND {FILTERS}"
            ),
            // PostgreSQL's LIKE escape character is the backslash already; an
            // explicit ESCAPE would hide the pattern from the index behind a function.
            Self::PostgresIndex => format!(
                "SELECT o.id, CASE WHEN o.text ILIKE $6 THEN 0 WHEN o.reply ILIKE $6 THEN 1 ELSE 2 END AS r1,
                   {COUNT_AND_LENGTH}
                 FROM opinions o
                 WHERE (o.text ILIKE $6 OR o.reply ILIKE $6 OR o.nickname ILIKE $6) AND {FILTERS}"
            ),
            Self::Scan => format!(
                "SELECT o.id, CASE WHEN LOWER(o.text) LIKE $6 ESCAPE '\\' THEN 0
                     WHEN LOWER(COALESCE(o.reply, '')) LIKE $6 ESCAPE '\\' THEN 1 ELSE 2 END AS r1,
                   {COUNT_AND_LENGTH}
                 FROM opinions o
                 WHERE (LOWER(o.text) LIKE $6 ESCAPE '\\' OR LOWER(COALESCE(o.reply, '')) LIKE $6 ESCAPE '\\'
                        OR LOWER(o.nickname) LIKE $6 ESCAPE '\\') AND {FILTERS}"
            ),
        };
        format!(
            "WITH hits AS ({hits} ORDER BY r1, r2, r3, o.id LIMIT $13 OFFSET $14)
             {OPINION_SELECT} JOIN hits h ON h.id = o.id ORDER BY h.r1, h.r2, h.r3, o.id"
        )
    }

    /// `$16` for this way.
    fn needle(self, query: &SearchQuery) -> String {
        match self {
            Self::SqliteIndex => query.fts_phrase(),
            Self::PostgresIndex | Self::Scan => query.lowered(),
        }
    }
}

/// Minus the number of matches in the text (more first), and the text's length.
const COUNT_AND_LENGTH: &str = "(LENGTH(REPLACE(LOWER(o.text), $16, '')) - LENGTH(LOWER(o.text))) / $17 AS r2,
    LENGTH(o.text) AS r3";

impl Store {
    /// The opinions matching `f` that contain `query`, best first.
    pub(super) async fn search_opinions(&self, f: &OpinionFilter, query: &SearchQuery) -> StoreResult<Vec<Opinion>> {
        let way = Way::of(&self.pool, query);
        let sql = way.sql();
        let (pattern, needle, chars) = (query.like_pattern(), way.needle(query), query.chars() as i64);
        let rows = on_pool!(self, read p => bind_filter!(sqlx::query_as::<_, OpinionRow>(sqlx::AssertSqlSafe(sql.clone())), f, Some(pattern.as_str()))
            .bind(needle.as_str())
            .bind(chars)
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(OpinionRow::into_opinion).collect()
    }

    /// Tests only: the database's plan for [`Store::list_opinions`] with a
    /// text, one line per step (SQLite's `EXPLAIN QUERY PLAN`, PostgreSQL's
    /// `EXPLAIN`), to show that the index is used.
    #[doc(hidden)]
    pub async fn explain_opinion_search(&self, f: &OpinionFilter) -> StoreResult<Vec<String>> {
        let Some(query) = &f.text else {
            return Ok(Vec::new());
        };
        let way = Way::of(&self.pool, query);
        let sql = way.sql();
        let (pattern, needle, chars) = (query.like_pattern(), way.needle(query), query.chars() as i64);
        match &self.pool {
            Pool::Sqlite { read, .. } => {
                let sql = format!("EXPLAIN QUERY PLAN {sql}");
                let steps: Vec<(i64, i64, i64, String)> =
                    bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f, Some(pattern.as_str()))
                        .bind(needle.as_str())
                        .bind(chars)
                        .fetch_all(read)
                        .await?;
                Ok(steps.into_iter().map(|(_, _, _, step)| step).collect())
            }
            Pool::Postgres(pool) => {
                let sql = format!("EXPLAIN {sql}");
                Ok(
                    bind_filter!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), f, Some(pattern.as_str()))
                        .bind(needle.as_str())
                        .bind(chars)
                        .fetch_all(pool)
                        .await?,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    /// The bundled SQLite (libsqlite3-sys) has FTS5 and its trigram
    /// tokenizer, which migration 0019 needs, and a trigram `MATCH` finds
    /// Chinese substrings of three characters, not of two.
    #[tokio::test]
    async fn the_bundled_sqlite_has_fts5_with_trigrams() {
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'trigram')")
            .execute(&mut db)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t (x) VALUES ('社保中心门口停车难'), ('道路坑洼')")
            .execute(&mut db)
            .await
            .unwrap();
        let found = |q: &'static str| sqlx::query_scalar::<_, String>("SELECT x FROM t WHERE t MATCH $1").bind(q);
        assert_eq!(
            found("\"停车难\"").fetch_all(&mut db).await.unwrap(),
            ["社保中心门口停车难"]
        );
        assert!(found("\"停车\"").fetch_all(&mut db).await.unwrap().is_empty());
    }
}
