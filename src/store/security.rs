//! The security log (安全审计) and the sign-in failures behind lockouts.
//! Rows of the log are removed only by its own retention, never before
//! [`MIN_SECURITY_LOG_DAYS`].

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreResult, on_pool};
use crate::domain::ids::StaffId;
use crate::domain::security::{MIN_SECURITY_LOG_DAYS, SecurityKind};
use crate::domain::time::now;

/// One security event to record.
#[derive(Debug, Clone)]
pub struct SecurityEvent<'a> {
    pub kind: SecurityKind,
    pub actor: Option<StaffId>,
    pub subject: Option<StaffId>,
    pub username: Option<&'a str>,
    pub ip: Option<String>,
    pub detail: Option<serde_json::Value>,
}

impl<'a> SecurityEvent<'a> {
    pub fn new(kind: SecurityKind) -> Self {
        Self {
            kind,
            actor: None,
            subject: None,
            username: None,
            ip: None,
            detail: None,
        }
    }

    pub fn by(mut self, actor: StaffId) -> Self {
        self.actor = Some(actor);
        self
    }

    pub fn on(mut self, subject: StaffId) -> Self {
        self.subject = Some(subject);
        self
    }

    pub fn named(mut self, username: &'a str) -> Self {
        self.username = Some(username);
        self
    }

    pub fn from_ip(mut self, ip: impl ToString) -> Self {
        self.ip = Some(ip.to_string());
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// A row of the security log as administrators read it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct SecurityEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor_id: Option<StaffId>,
    pub actor_name: Option<String>,
    pub subject_id: Option<StaffId>,
    pub subject_name: Option<String>,
    pub username: Option<String>,
    pub ip: Option<String>,
    /// JSON text.
    pub detail: Option<String>,
}

/// What to read of the log.
#[derive(Debug, Clone, Default)]
pub struct SecurityFilter {
    pub kind: Option<SecurityKind>,
    /// Entries by or about this account.
    pub user: Option<StaffId>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// The lock on a sign-in name, when there is one now.
#[derive(Debug, Clone, Copy)]
pub struct Locked {
    pub until: DateTime<Utc>,
}

impl Store {
    /// Record a security event (its own short transaction).
    pub async fn log_security(&self, e: SecurityEvent<'_>) -> StoreResult<()> {
        const SQL: &str = "INSERT INTO security_log (at, kind, actor_id, subject_id, username, ip, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)";
        let detail = e.detail.as_ref().map(serde_json::Value::to_string);
        let username = e.username.map(|u| u.chars().take(64).collect::<String>());
        on_pool!(self, write p => sqlx::query(SQL).bind(now()).bind(e.kind.as_str()).bind(e.actor).bind(e.subject)
            .bind(username).bind(&e.ip).bind(detail).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// The log, newest first.
    pub async fn security_log(&self, f: &SecurityFilter) -> StoreResult<Vec<SecurityEntry>> {
        const SQL: &str = "SELECT l.id, l.at, l.kind, l.actor_id, a.display_name AS actor_name, l.subject_id,
               s.display_name AS subject_name, l.username, l.ip, l.detail
             FROM security_log l LEFT JOIN users a ON a.id = l.actor_id LEFT JOIN users s ON s.id = l.subject_id
             WHERE ($1 IS NULL OR l.kind = $1) AND ($2 IS NULL OR l.actor_id = $2 OR l.subject_id = $2)
               AND ($3 IS NULL OR l.at >= $3) AND ($4 IS NULL OR l.at < $4)
             ORDER BY l.id DESC LIMIT $5";
        let kind = f.kind.map(SecurityKind::as_str);
        Ok(
            on_pool!(self, read p => sqlx::query_as(SQL).bind(kind).bind(f.user).bind(f.from).bind(f.to)
            .bind(f.limit).fetch_all(p).await)?,
        )
    }

    /// Remove entries older than `days` (never fewer than 180); how many.
    pub async fn purge_security_log(&self, days: u32) -> StoreResult<u64> {
        const SQL: &str = "DELETE FROM security_log WHERE at < $1";
        let days = i64::from(days.max(MIN_SECURITY_LOG_DAYS));
        let before = now() - Duration::days(days);
        Ok(on_pool!(self, write p => sqlx::query(SQL).bind(before).execute(p).await.map(|r| r.rows_affected()))?)
    }

    /// The lock on sign-in name `key` (see `domain::security::sign_in_key`), if it holds now.
    pub async fn sign_in_lock(&self, key: &str) -> StoreResult<Option<Locked>> {
        const SQL: &str = "SELECT locked_until FROM sign_in_failures WHERE username = $1 AND locked_until > $2";
        let until: Option<Option<DateTime<Utc>>> =
            on_pool!(self, read p => sqlx::query_scalar(SQL).bind(key).bind(now()).fetch_optional(p).await)?;
        Ok(until.flatten().map(|until| Locked { until }))
    }

    /// Count a failed password for `key`: the `max`-th failure within
    /// `minutes` locks the name for `minutes` (the lock is returned).
    pub async fn sign_in_failed(&self, key: &str, max: u32, minutes: u32) -> StoreResult<Option<Locked>> {
        const READ: &str = "SELECT failures, window_start FROM sign_in_failures WHERE username = $1";
        const WRITE: &str = "INSERT INTO sign_in_failures (username, failures, window_start, locked_until)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (username) DO UPDATE SET failures = excluded.failures,
               window_start = excluded.window_start, locked_until = excluded.locked_until";
        let at = now();
        let window = Duration::minutes(i64::from(minutes.max(1)));
        let mut tx = self.begin().await?;
        let current: Option<(i64, DateTime<Utc>)> =
            crate::store::tx::on_tx!(&mut tx, c => sqlx::query_as(READ).bind(key).fetch_optional(c).await)?;
        let (failures, start) = match current {
            Some((n, start)) if at - start < window => (n + 1, start),
            _ => (1, at),
        };
        let locked = (max > 0 && failures >= i64::from(max)).then(|| Locked { until: at + window });
        // A lock starts the count afresh once it lifts.
        let (failures, start) = if locked.is_some() { (0, at) } else { (failures, start) };
        crate::store::tx::on_tx!(&mut tx, c => sqlx::query(WRITE).bind(key).bind(failures).bind(start)
            .bind(locked.map(|l| l.until)).execute(c).await.map(|_| ()))?;
        tx.commit().await?;
        Ok(locked)
    }

    /// A right password clears the name's failures.
    pub async fn sign_in_succeeded(&self, key: &str) -> StoreResult<()> {
        const SQL: &str = "DELETE FROM sign_in_failures WHERE username = $1";
        on_pool!(self, write p => sqlx::query(SQL).bind(key).execute(p).await.map(|_| ()))?;
        Ok(())
    }
}
