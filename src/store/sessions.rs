//! Login sessions. The token goes to the client; only its SHA-256 is stored.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::users::{Account, UserRow};
use super::{Store, StoreResult, on_pool};
use crate::domain::identity::hex;
use crate::domain::ids::StaffId;
use crate::domain::time::now;

/// A fresh random session token (256 bits, hex).
pub fn new_token() -> String {
    crate::domain::random::hex_token::<32>()
}

pub(super) fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// What a session token stands for now.
#[derive(Debug)]
pub enum SessionLookup {
    Active(Box<Account>, DateTime<Utc>),
    /// The session ran out (idle too long, or past its end): sign in again.
    Expired,
    /// No such session (signed out, ended, never issued).
    Unknown,
}

/// A session as its owner (or an administrator) sees it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct SessionInfo {
    /// The first 16 characters of the token's SHA-256: names the session, opens nothing.
    pub id: String,
    pub user_id: StaffId,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub idle_until: Option<DateTime<Utc>>,
    pub ip: Option<String>,
}

/// A new session's terms.
pub struct NewSession<'a> {
    pub user_id: StaffId,
    pub token: &'a str,
    pub expires_at: DateTime<Utc>,
    /// Ends after this long without activity (`None`: only at `expires_at`).
    pub idle: Option<chrono::Duration>,
    pub ip: Option<String>,
}

/// Activity moves a session's idle end on at most this often (a write per
/// request would be wasted).
const TOUCH_EVERY_SECS: i64 = 30;

impl Store {
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn create_session(&self, s: NewSession<'_>) -> StoreResult<()> {
        const SQL: &str = "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, idle_secs, idle_until,
             last_seen_at, ip) VALUES ($1, $2, $3, $4, $5, $6, $3, $7)";
        let at = now();
        let idle_secs = s.idle.map(|d| d.num_seconds());
        let idle_until = s.idle.map(|d| at + d);
        on_pool!(self, write p => sqlx::query(SQL)
            .bind(token_hash(s.token))
            .bind(s.user_id)
            .bind(at)
            .bind(s.expires_at)
            .bind(idle_secs)
            .bind(idle_until)
            .bind(&s.ip)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The active account behind an unexpired session token; `None` when
    /// there is none (for whatever reason). `touch`: this is activity (a
    /// request, a console frame) that moves the idle end on.
    pub async fn session_account(&self, token: &str) -> StoreResult<Option<(Account, DateTime<Utc>)>> {
        Ok(match self.session(token, false).await? {
            SessionLookup::Active(account, expires) => Some((*account, expires)),
            _ => None,
        })
    }

    /// What a session token stands for; `touch` counts this as activity.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn session(&self, token: &str, touch: bool) -> StoreResult<SessionLookup> {
        const SQL: &str = "SELECT s.expires_at, s.idle_secs, s.idle_until, s.last_seen_at,
               u.id, u.username, u.display_name, u.role, u.unit_id, u.active, u.created_at, u.must_change_password, (u.totp_enabled_at IS NOT NULL) AS second_factor
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1";
        const TOUCH: &str = "UPDATE sessions SET last_seen_at = $1, idle_until = $2 WHERE token_hash = $3";
        #[derive(sqlx::FromRow)]
        struct Row {
            expires_at: DateTime<Utc>,
            idle_secs: Option<i64>,
            idle_until: Option<DateTime<Utc>>,
            last_seen_at: Option<DateTime<Utc>>,
            #[sqlx(flatten)]
            user: UserRow,
        }
        let hash = token_hash(token);
        let row = on_pool!(self, read p => sqlx::query_as::<_, Row>(SQL).bind(&hash).fetch_optional(p).await)?;
        let Some(row) = row else {
            return Ok(SessionLookup::Unknown);
        };
        let at = now();
        if row.expires_at <= at || row.idle_until.is_some_and(|idle| idle <= at) {
            return Ok(SessionLookup::Expired);
        }
        let account = row.user.into_account()?;
        if !account.active {
            return Ok(SessionLookup::Unknown);
        }
        let stale = row
            .last_seen_at
            .is_none_or(|seen| at - seen >= chrono::Duration::seconds(TOUCH_EVERY_SECS));
        if touch && stale {
            let idle_until = row.idle_secs.map(|secs| at + chrono::Duration::seconds(secs));
            on_pool!(self, write p => sqlx::query(TOUCH).bind(at).bind(idle_until).bind(&hash)
                .execute(p).await.map(|_| ()))?;
        }
        Ok(SessionLookup::Active(Box::new(account), row.expires_at))
    }

    /// The sessions of an account that have not run out, the newest first.
    pub async fn sessions_of(&self, user_id: StaffId) -> StoreResult<Vec<SessionInfo>> {
        const SQL: &str = "SELECT SUBSTR(token_hash, 1, 16) AS id, user_id, created_at, last_seen_at, expires_at,
               idle_until, ip
             FROM sessions WHERE user_id = $1 AND expires_at > $2 AND (idle_until IS NULL OR idle_until > $2)
             ORDER BY created_at DESC";
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(user_id).bind(now()).fetch_all(p).await)?)
    }

    /// End session `id` (see [`SessionInfo::id`]) of an account; whether there was one.
    pub async fn end_session(&self, user_id: StaffId, id: &str) -> StoreResult<bool> {
        const SQL: &str = "DELETE FROM sessions WHERE user_id = $1 AND SUBSTR(token_hash, 1, 16) = $2";
        if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        let n = on_pool!(self, write p => sqlx::query(SQL).bind(user_id).bind(id).execute(p).await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// End every session of an account but `keep` (a token); how many.
    pub async fn end_sessions(&self, user_id: StaffId, keep: Option<&str>) -> StoreResult<u64> {
        const SQL: &str = "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2";
        let keep = keep.map(token_hash).unwrap_or_default();
        Ok(
            on_pool!(self, write p => sqlx::query(SQL).bind(user_id).bind(keep).execute(p).await
            .map(|r| r.rows_affected()))?,
        )
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn delete_session(&self, token: &str) -> StoreResult<bool> {
        const SQL: &str = "DELETE FROM sessions WHERE token_hash = $1";
        let done = on_pool!(self, write p => sqlx::query(SQL).bind(token_hash(token)).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Remove sessions that ran out; returns how many.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn purge_expired_sessions(&self) -> StoreResult<u64> {
        const SQL: &str = "DELETE FROM sessions WHERE expires_at <= $1 OR idle_until <= $1";
        let done = on_pool!(self, write p => sqlx::query(SQL).bind(now()).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }
}
