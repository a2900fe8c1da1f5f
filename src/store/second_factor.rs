//! A staff member's second factor as stored: the TOTP secret sealed with
//! the server's identity secret, the last step used (a code counts once),
//! the recovery codes as hashes.

use super::{Store, StoreResult, on_pool};
use crate::domain::ids::StaffId;
use crate::domain::time::now;

/// An account's second factor.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct FactorState {
    /// The enrolled secret, sealed.
    pub sealed: Option<String>,
    /// A secret shown for enrolment, not yet confirmed with a code.
    pub pending: Option<String>,
    pub last_step: Option<i64>,
}

impl Store {
    pub async fn second_factor(&self, user: StaffId) -> StoreResult<FactorState> {
        const SQL: &str = "SELECT totp_sealed AS sealed, totp_pending AS pending, totp_last_step AS last_step
             FROM users WHERE id = $1";
        let row: Option<FactorState> =
            on_pool!(self, read p => sqlx::query_as(SQL).bind(user).fetch_optional(p).await)?;
        Ok(row.unwrap_or_default())
    }

    /// Keep a new secret for enrolment (replacing an earlier unconfirmed one).
    pub async fn begin_enrolment(&self, user: StaffId, sealed: &str) -> StoreResult<()> {
        const SQL: &str = "UPDATE users SET totp_pending = $1 WHERE id = $2";
        on_pool!(self, write p => sqlx::query(SQL).bind(sealed).bind(user).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// The pending secret becomes the account's second factor, with new
    /// recovery codes (their hashes); `step` was just used.
    pub async fn confirm_enrolment(&self, user: StaffId, recovery: &[String], step: i64) -> StoreResult<bool> {
        const ENABLE: &str = "UPDATE users SET totp_sealed = totp_pending, totp_pending = NULL, totp_enabled_at = $1,
               totp_last_step = $2 WHERE id = $3 AND totp_pending IS NOT NULL";
        const CLEAR: &str = "DELETE FROM recovery_codes WHERE user_id = $1";
        const CODE: &str = "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)";
        let mut tx = self.begin().await?;
        let enabled = crate::store::tx::on_tx!(&mut tx, c => sqlx::query(ENABLE).bind(now()).bind(step).bind(user)
            .execute(c).await.map(|r| r.rows_affected()))?;
        if enabled == 0 {
            return Ok(false);
        }
        crate::store::tx::on_tx!(&mut tx, c => sqlx::query(CLEAR).bind(user).execute(c).await.map(|_| ()))?;
        for hash in recovery {
            crate::store::tx::on_tx!(&mut tx, c => sqlx::query(CODE).bind(user).bind(hash).execute(c).await.map(|_| ()))?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Spend time step `step` of the account's codes: `false` when it (or a
    /// later one) was used already, so a code cannot be replayed.
    pub async fn use_step(&self, user: StaffId, step: i64) -> StoreResult<bool> {
        const SQL: &str = "UPDATE users SET totp_last_step = $1
             WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)";
        let n = on_pool!(self, write p => sqlx::query(SQL).bind(step).bind(user).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Spend a recovery code (its hash); whether it was there, unused.
    pub async fn use_recovery_code(&self, user: StaffId, hash: &str) -> StoreResult<bool> {
        const SQL: &str =
            "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL";
        let n = on_pool!(self, write p => sqlx::query(SQL).bind(now()).bind(user).bind(hash).execute(p).await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Remove an account's second factor (an administrator's reset).
    pub async fn reset_second_factor(&self, user: StaffId) -> StoreResult<()> {
        const USER: &str = "UPDATE users SET totp_sealed = NULL, totp_pending = NULL, totp_enabled_at = NULL,
               totp_last_step = NULL WHERE id = $1";
        const CODES: &str = "DELETE FROM recovery_codes WHERE user_id = $1";
        let mut tx = self.begin().await?;
        crate::store::tx::on_tx!(&mut tx, c => sqlx::query(USER).bind(user).execute(c).await.map(|_| ()))?;
        crate::store::tx::on_tx!(&mut tx, c => sqlx::query(CODES).bind(user).execute(c).await.map(|_| ()))?;
        tx.commit().await?;
        Ok(())
    }
}
