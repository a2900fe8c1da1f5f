//! Why a batch of live writes was not committed, whether the database is
//! unreachable (then trying the commands one by one would only wait for it
//! again), and what a caller is told.

use super::{BATCH_TIMEOUT, WriteError};
use crate::store::StoreError;

/// Why a batch was not committed.
#[derive(Debug)]
pub(super) enum BatchError {
    Store(StoreError),
    /// The transaction took longer than [`BATCH_TIMEOUT`] and was abandoned.
    TimedOut,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(e) => e.fmt(f),
            Self::TimedOut => write!(f, "the transaction took longer than {BATCH_TIMEOUT:?}"),
        }
    }
}

impl BatchError {
    /// The database cannot be reached (as opposed to one command it refused):
    /// trying the commands one by one would only wait for it again.
    pub(super) fn is_unreachable(&self) -> bool {
        match self {
            Self::TimedOut => true,
            Self::Store(StoreError::Database(e)) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::BeginFailed => true,
                // SQLite: the disk is full, or the file cannot be written at all.
                sqlx::Error::Database(db) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| SQLITE_CANNOT_WRITE.contains(&(c & 0xff))),
                // Connection exceptions, operator intervention (a restart), out of resources.
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c.starts_with("53")),
                _ => false,
            },
            Self::Store(_) => false,
        }
    }
}

/// SQLite primary result codes that refuse every write alike (retrying the
/// commands one by one would fail each): NOMEM, READONLY, IOERR, FULL, CANTOPEN.
const SQLITE_CANNOT_WRITE: [i32; 5] = [7, 8, 10, 13, 14];

pub(super) fn not_started() -> WriteError {
    WriteError::Unavailable("the database is not taking writes now; nothing was saved".into())
}

pub(super) fn unavailable(e: &BatchError) -> WriteError {
    tracing::error!(error = %e, "live write failed");
    match e {
        BatchError::TimedOut => WriteError::Unavailable(
            "the database stopped answering; the write may not have been saved: send it again".into(),
        ),
        BatchError::Store(_) => {
            WriteError::Unavailable("the database did not accept the write; nothing was saved".into())
        }
    }
}
