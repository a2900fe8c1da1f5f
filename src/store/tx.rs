//! One write transaction on either backend.
//!
//! `on_pool!` serves a statement run on a pool; a write that takes several
//! statements in one transaction holds a [`Tx`] instead, and its steps are
//! small methods that each run their SQL through `on_tx!` (the same text,
//! expanded once per backend). Dropping a `Tx` without [`Tx::commit`] rolls
//! it back.

use crate::domain::ids::{EventId, StaffId};

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Sqlite, Transaction};

use super::{Backend, Store, StoreResult, on_pool};

pub(crate) enum Tx<'c> {
    Sqlite(Transaction<'c, Sqlite>),
    Postgres(Transaction<'c, Postgres>),
}

impl<'c> From<Transaction<'c, Sqlite>> for Tx<'c> {
    fn from(tx: Transaction<'c, Sqlite>) -> Self {
        Self::Sqlite(tx)
    }
}

impl<'c> From<Transaction<'c, Postgres>> for Tx<'c> {
    fn from(tx: Transaction<'c, Postgres>) -> Self {
        Self::Postgres(tx)
    }
}

/// Run `$body` with `$c` bound to the connection of the transaction `$tx`
/// (a `&mut Tx`), once per backend: the body's value must have one type on
/// both (map a query result to `rows_affected()`, say).
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::store::tx::Tx::Sqlite(tx) => {
                let $c: &mut sqlx::SqliteConnection = &mut **tx;
                $body
            }
            $crate::store::tx::Tx::Postgres(tx) => {
                let $c: &mut sqlx::PgConnection = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// A line of the audit log, written in the transaction of what it records.
pub(crate) struct AuditLine<'a> {
    pub event_id: EventId,
    /// `staff`, `viewer` or `system`.
    pub actor_kind: &'static str,
    /// Staff id, viewer key, or the system part (`screen`).
    pub actor: Cow<'a, str>,
    pub action: &'a str,
    pub subject_id: Option<i64>,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl<'a> AuditLine<'a> {
    /// A line by `actor` (`(actor_kind, actor)`) on the event, with no subject and no change yet.
    pub(crate) fn by(actor: (&'static str, &'a str), event_id: EventId, action: &'a str) -> Self {
        Self {
            event_id,
            actor_kind: actor.0,
            actor: Cow::Borrowed(actor.1),
            action,
            subject_id: None,
            before: None,
            after: None,
        }
    }

    /// A line by staff member `staff_id`.
    pub(crate) fn staff(staff_id: StaffId, event_id: EventId, action: &'a str) -> Self {
        Self {
            actor: Cow::Owned(staff_id.to_string()),
            ..Self::by(("staff", ""), event_id, action)
        }
    }

    /// What the line is about (a question, a poll, an opinion).
    pub(crate) fn on(self, subject_id: impl Into<i64>) -> Self {
        Self {
            subject_id: Some(subject_id.into()),
            ..self
        }
    }

    /// The subject before and after, as JSON.
    pub(crate) fn change(self, before: Option<String>, after: Option<String>) -> Self {
        Self { before, after, ..self }
    }
}

impl Tx<'_> {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(tx) => tx.commit().await,
            Self::Postgres(tx) => tx.commit().await,
        }
    }

    pub(crate) async fn audit(&mut self, line: AuditLine<'_>, at: DateTime<Utc>) -> StoreResult<()> {
        const SQL: &str = "INSERT INTO audit_log (event_id, actor_kind, actor, action, subject_id, before_json, after_json, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        on_tx!(self, c => sqlx::query(SQL)
            .bind(line.event_id)
            .bind(line.actor_kind)
            .bind(line.actor.as_ref())
            .bind(line.action)
            .bind(line.subject_id)
            .bind(line.before)
            .bind(line.after)
            .bind(at)
            .execute(c)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}

impl Store {
    /// A transaction on the write side.
    pub(crate) async fn begin(&self) -> Result<Tx<'static>, sqlx::Error> {
        Ok(on_pool!(self, write p => Tx::from(p.begin().await?)))
    }
}
