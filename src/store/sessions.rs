//! Login sessions. The token goes to the client; only its SHA-256 is stored.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::users::{Account, UserRow};
use super::{Store, StoreResult, on_pool};
use crate::domain::ids::StaffId;
use crate::domain::time::now;

/// A fresh random session token (256 bits, hex).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    hex(&bytes)
}

fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    #[tracing::instrument(skip(self, token), err(level = "debug"))]
    pub async fn create_session(&self, user_id: StaffId, token: &str, expires_at: DateTime<Utc>) -> StoreResult<()> {
        const SQL: &str = "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        on_pool!(self, write p => sqlx::query(SQL)
            .bind(token_hash(token))
            .bind(user_id)
            .bind(now())
            .bind(expires_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The active account behind an unexpired session token.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn session_account(&self, token: &str) -> StoreResult<Option<(Account, DateTime<Utc>)>> {
        const SQL: &str =
            "SELECT s.expires_at, u.id, u.username, u.display_name, u.role, u.unit_id, u.active, u.created_at
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.active";
        #[derive(sqlx::FromRow)]
        struct Row {
            expires_at: DateTime<Utc>,
            #[sqlx(flatten)]
            user: UserRow,
        }
        let row = on_pool!(self, read p => sqlx::query_as::<_, Row>(SQL).bind(token_hash(token)).bind(now()).fetch_optional(p).await)?;
        row.map(|r| Ok((r.user.into_account()?, r.expires_at))).transpose()
    }

    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn delete_session(&self, token: &str) -> StoreResult<bool> {
        const SQL: &str = "DELETE FROM sessions WHERE token_hash = $1";
        let done = on_pool!(self, write p => sqlx::query(SQL).bind(token_hash(token)).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Remove expired sessions; returns how many.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn purge_expired_sessions(&self) -> StoreResult<u64> {
        const SQL: &str = "DELETE FROM sessions WHERE expires_at <= $1";
        let done = on_pool!(self, write p => sqlx::query(SQL).bind(now()).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }
}
