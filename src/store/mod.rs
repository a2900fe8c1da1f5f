//! Storage: one layer over SQLite (the default) and PostgreSQL.
//!
//! Both backends use sqlx's native drivers, not `sqlx::Any`: the `on_pool!`
//! macro expands each query once per backend, so every statement is
//! type-checked against both drivers, timestamps keep their real types
//! (`TIMESTAMPTZ` on PostgreSQL) and nothing is lost to `Any`'s lowest common
//! denominator. SQL is written once in the dialect both accept (`$1`
//! parameters, `RETURNING`, `ON CONFLICT`); migrations live in one folder per
//! backend because DDL differs.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::domain::names::names;

pub mod attendance;
pub mod audit;
pub mod change_reports;
pub mod events;
pub mod identities;
pub(crate) mod ids;
pub mod live;
pub mod media;
pub mod opinions;
pub mod owed_messages;
pub mod plans;
pub mod polls;
pub mod retention;
pub mod reviews;
pub(crate) mod room_log;
pub mod second_factor;
pub mod security;
pub mod selections;
pub mod sessions;
pub mod themes;
pub mod transcripts;
pub(crate) mod tx;
pub mod units;
pub mod updates;
pub mod users;
pub mod writer;

/// The connection pools of one backend.
#[derive(Clone, Debug)]
pub enum Pool {
    /// SQLite allows one writer at a time: writes go through a pool of one
    /// connection, so they queue in the pool instead of failing with
    /// `SQLITE_BUSY`; reads use the other pool (WAL lets them run beside a write).
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
    },
    Postgres(PgPool),
}

/// Run `$body` with `$p` bound to the right pool of the store's backend.
/// `read` and `write` choose the pool (they are the same on PostgreSQL).
macro_rules! on_pool {
    ($store:expr, read $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite { read: $p, .. } => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
    ($store:expr, write $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite { write: $p, .. } => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}
pub(crate) use on_pool;

names! {
    /// Which database a [`Store`] runs on. Most code never asks: `on_pool!`
    /// runs one SQL text on either. What differs is said here once: row locks
    /// and advisory locks exist only on PostgreSQL, and only PostgreSQL can be
    /// shared by several nodes.
    pub enum Backend {
        Sqlite = "sqlite",
        Postgres = "postgres",
    }
}

impl Backend {
    /// Several writers (nodes) may hold rows at once, so decisions that
    /// depend on a row lock it.
    pub fn has_row_locks(self) -> bool {
        self == Self::Postgres
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// Set when a live write failed, cleared by the next commit: `/readyz`
    /// is not ready in between.
    write_failing: Arc<AtomicBool>,
}

// Store functions are `#[instrument(err(level = "debug"))]`: a `NotFound` is
// an anonymous caller's 404, not the service's fault, and a real database
// error is logged once where it is handled (`ApiError::internal`, the
// writer), not once per layer it passes through.

/// Errors of the storage layer, in terms a handler can map.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The row changed under us, or a unique value is taken.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(#[from] crate::domain::values::Invalid),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Turn a unique-constraint violation into a domain conflict with `message`.
pub(crate) trait OnConstraint<T> {
    fn on_unique(self, message: impl FnOnce() -> String) -> StoreResult<T>;
}

impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_unique(self, message: impl FnOnce() -> String) -> StoreResult<T> {
        self.map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
            _ => StoreError::Database(e),
        })
    }
}

impl Store {
    /// Connect to `url` (`sqlite://path` or `postgres://…`); SQLite creates
    /// the file and its folder on first use.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid PostgreSQL URL")?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .context("connecting to PostgreSQL")?;
            Pool::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .context("DATABASE_URL is not a valid SQLite URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            if let Some(dir) = options.get_filename().parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating the data folder {}", dir.display()))?;
            }
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .with_context(|| format!("opening SQLite database {}", options.get_filename().display()))?;
            let read = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options.read_only(true))
                .await?;
            Pool::Sqlite { read, write }
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite: or postgres:// (got a URL with another scheme)");
        };
        Ok(Self {
            pool,
            write_failing: Arc::default(),
        })
    }

    /// Apply the migrations of this backend that are not applied yet.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite { write, .. } => sqlx::migrate!("./migrations/sqlite").run(write).await,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        }
        .context("running database migrations")
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite { .. } => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// A round trip to the database, for readiness.
    pub async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, read p => sqlx::query("SELECT 1").execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Whether the last write failed (and none committed since).
    pub fn writes_failing(&self) -> bool {
        self.write_failing.load(Ordering::Relaxed)
    }

    /// Record whether a write committed; logs once when writes start failing and once when they recover.
    pub(crate) fn note_write(&self, committed: bool) {
        let was_failing = self.write_failing.swap(!committed, Ordering::Relaxed);
        match (was_failing, committed) {
            (false, false) => {
                tracing::error!("the database refused a write; not ready until a write commits again")
            }
            (true, true) => tracing::info!("the database takes writes again; ready"),
            _ => {}
        }
    }

    /// One small real commit on the write side, given at most `timeout`:
    /// SQLite rewrites the user version in its header, PostgreSQL takes a
    /// transaction id. Like a failed batch, a failed probe closes its
    /// connection (see `writer::apply_batch`).
    pub(crate) async fn probe_write(&self, timeout: Duration) -> StoreResult<()> {
        let probe = async {
            match &self.pool {
                Pool::Sqlite { write, .. } => {
                    let mut conn = write.acquire().await?;
                    let result = async {
                        let mut tx = conn.begin().await?;
                        let version: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(&mut *tx).await?;
                        sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA user_version = {version}")))
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await
                    }
                    .await;
                    if result.is_err() {
                        conn.close_on_drop();
                    }
                    result
                }
                Pool::Postgres(pool) => {
                    let mut conn = pool.acquire().await?;
                    let result = async {
                        let mut tx = conn.begin().await?;
                        sqlx::query("SELECT txid_current()").execute(&mut *tx).await?;
                        tx.commit().await
                    }
                    .await;
                    if result.is_err() {
                        conn.close_on_drop();
                    }
                    result
                }
            }
        };
        match tokio::time::timeout(timeout, probe).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
        }
    }

    /// Tests only: make the SQLite write connection's database full, as a
    /// full disk would (`PRAGMA max_page_count` at the current size: no page
    /// can be added), or give it room again (`full: false`). The cap belongs
    /// to that one connection; a connection opened later has none. Does
    /// nothing on PostgreSQL.
    #[doc(hidden)]
    pub async fn fill_sqlite_for_tests(&self, full: bool) -> StoreResult<()> {
        if let Pool::Sqlite { write, .. } = &self.pool {
            let mut conn = write.acquire().await?;
            let pages: i64 = if full {
                sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut *conn).await?
            } else {
                i64::from(u32::MAX - 1)
            };
            sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}
