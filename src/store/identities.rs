//! Verified viewers: the one-time codes sent (and the limits on sending
//! them, counted here so they hold across restarts and nodes), the
//! identities the codes prove, and each browser's verification.
//!
//! Only keyed hashes of numbers and codes are kept, the number itself
//! sealed (see [`crate::domain::identity`]); a browser's token only as its digest.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreResult, on_pool};
use crate::domain::identity::{OneTimeCode, PhoneHash, VerificationToken, same};
use crate::domain::ids::IdentityId;
use crate::domain::question::ViewerKey;
use crate::domain::time::now;

/// Codes one number may be sent: one a minute, five an hour.
pub const CODE_INTERVAL_SECS: i64 = 60;
pub const CODES_PER_NUMBER_PER_HOUR: usize = 5;

/// A code about to be sent.
pub struct NewCode<'a> {
    pub phone: &'a PhoneHash,
    pub ip: &'a str,
    pub code_hash: &'a str,
}

/// Why no code is sent now, and when one may be.
#[derive(Debug)]
pub struct CodeRefused {
    pub message: &'static str,
    pub retry_after: Duration,
}

/// A code recorded for sending.
pub struct CodeIssued {
    pub id: i64,
    pub expires_at: DateTime<Utc>,
}

/// What a typed code turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeCheck {
    Right,
    Wrong {
        tries_left: i64,
    },
    /// No code, an expired one, or one whose tries are used up.
    Expired,
}

/// A verified viewer, as a browser's token shows them.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    #[serde(skip)]
    pub identity_id: IdentityId,
    #[serde(skip)]
    pub viewer_key: ViewerKey,
    /// `138****5678`.
    pub phone: String,
    pub expires_at: DateTime<Utc>,
}

/// What a new verification stores.
pub struct NewVerification<'a> {
    pub phone: &'a PhoneHash,
    pub masked: &'a str,
    pub sealed: &'a str,
    pub token: &'a VerificationToken,
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct PendingCode {
    id: i64,
    code_hash: String,
    expires_at: DateTime<Utc>,
    tries: i64,
}

#[derive(sqlx::FromRow)]
struct VerifiedRow {
    identity_id: IdentityId,
    viewer_key: String,
    phone_masked: String,
    expires_at: DateTime<Utc>,
}

impl Store {
    /// Record a code for `code.phone` unless the number or the address has
    /// been sent too many lately (one a minute and five an hour per number,
    /// `per_ip_per_hour` per address).
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn issue_code(
        &self,
        code: NewCode<'_>,
        per_ip_per_hour: u32,
    ) -> StoreResult<Result<CodeIssued, CodeRefused>> {
        const BY_NUMBER: &str = "SELECT sent_at FROM verification_codes WHERE phone_hash = $1 AND sent_at > $2
             ORDER BY sent_at";
        const BY_ADDRESS: &str = "SELECT sent_at FROM verification_codes WHERE ip = $1 AND sent_at > $2
             ORDER BY sent_at";
        const INSERT: &str = "INSERT INTO verification_codes (phone_hash, ip, code_hash, sent_at, expires_at, tries)
             VALUES ($1, $2, $3, $4, $5, 0) RETURNING id";
        let at = now();
        let hour_ago = at - chrono::Duration::hours(1);
        let mut tx = self.begin().await?;
        let by_number: Vec<DateTime<Utc>> = crate::store::tx::on_tx!(&mut tx, c => sqlx::query_scalar(BY_NUMBER)
            .bind(&code.phone.0).bind(hour_ago).fetch_all(c).await)?;
        let wait_until = |t: DateTime<Utc>| {
            (t - at)
                .to_std()
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_secs(1))
        };
        if let Some(&last) = by_number.last() {
            if at - last < chrono::Duration::seconds(CODE_INTERVAL_SECS) {
                return Ok(Err(CodeRefused {
                    message: "a code was sent to this number less than a minute ago; wait before asking again",
                    retry_after: wait_until(last + chrono::Duration::seconds(CODE_INTERVAL_SECS)),
                }));
            }
        }
        if by_number.len() >= CODES_PER_NUMBER_PER_HOUR {
            return Ok(Err(CodeRefused {
                message: "this number has been sent 5 codes in the last hour; try again later",
                retry_after: wait_until(by_number[0] + chrono::Duration::hours(1)),
            }));
        }
        let by_address: Vec<DateTime<Utc>> = crate::store::tx::on_tx!(&mut tx, c => sqlx::query_scalar(BY_ADDRESS)
            .bind(code.ip).bind(hour_ago).fetch_all(c).await)?;
        let cap = usize::try_from(per_ip_per_hour).unwrap_or(usize::MAX);
        if per_ip_per_hour > 0 && by_address.len() >= cap {
            return Ok(Err(CodeRefused {
                message: "too many codes were asked for from your network in the last hour; try again later",
                retry_after: wait_until(by_address[by_address.len() - cap] + chrono::Duration::hours(1)),
            }));
        }
        let expires_at = at + chrono::Duration::minutes(OneTimeCode::MINUTES);
        let id: i64 = crate::store::tx::on_tx!(&mut tx, c => sqlx::query_scalar(INSERT)
            .bind(&code.phone.0).bind(code.ip).bind(code.code_hash).bind(at).bind(expires_at)
            .fetch_one(c).await)?;
        tx.commit().await?;
        Ok(Ok(CodeIssued { id, expires_at }))
    }

    /// A code that could not be sent no longer counts against the limits.
    pub async fn withdraw_code(&self, id: i64) -> StoreResult<()> {
        const SQL: &str = "DELETE FROM verification_codes WHERE id = $1";
        on_pool!(self, write p => sqlx::query(SQL).bind(id).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Check a typed code against the latest unused code of the number.
    /// Every try counts, right or wrong; a right one is spent.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn check_code(&self, phone: &PhoneHash, code_hash: &str) -> StoreResult<CodeCheck> {
        const LATEST: &str = "SELECT id, code_hash, expires_at, tries FROM verification_codes
             WHERE phone_hash = $1 AND used_at IS NULL ORDER BY id DESC LIMIT 1";
        // One statement takes the try, so parallel guesses cannot share one.
        const TRY: &str = "UPDATE verification_codes SET tries = tries + 1
             WHERE id = $1 AND tries < $2 AND used_at IS NULL AND expires_at > $3";
        const SPEND: &str = "UPDATE verification_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL";
        let at = now();
        let latest: Option<PendingCode> = on_pool!(self, write p => sqlx::query_as(LATEST)
            .bind(&phone.0).fetch_optional(p).await)?;
        let Some(code) = latest else {
            return Ok(CodeCheck::Expired);
        };
        if code.expires_at <= at || code.tries >= OneTimeCode::TRIES {
            return Ok(CodeCheck::Expired);
        }
        let tried = on_pool!(self, write p => sqlx::query(TRY)
            .bind(code.id).bind(OneTimeCode::TRIES).bind(at).execute(p).await.map(|r| r.rows_affected()))?;
        if tried == 0 {
            return Ok(CodeCheck::Expired);
        }
        if !same(&code.code_hash, code_hash) {
            return Ok(CodeCheck::Wrong {
                tries_left: OneTimeCode::TRIES - code.tries - 1,
            });
        }
        let spent = on_pool!(self, write p => sqlx::query(SPEND)
            .bind(code.id).bind(at).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(if spent == 1 {
            CodeCheck::Right
        } else {
            CodeCheck::Expired
        })
    }

    /// The identity of the number (created on its first verification) and a
    /// new verification for the browser holding `v.token`.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn record_verification(&self, v: NewVerification<'_>) -> StoreResult<Verified> {
        const IDENTITY: &str = "INSERT INTO identities (phone_hash, phone_masked, phone_sealed, viewer_key, created_at, verified_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (phone_hash) DO UPDATE SET verified_at = excluded.verified_at, phone_sealed = excluded.phone_sealed
             RETURNING id";
        const VERIFICATION: &str =
            "INSERT INTO verifications (token_hash, identity_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        let at = now();
        let viewer_key = v.phone.viewer_key();
        let mut tx = self.begin().await?;
        let identity_id: IdentityId = crate::store::tx::on_tx!(&mut tx, c => sqlx::query_scalar(IDENTITY)
            .bind(&v.phone.0).bind(v.masked).bind(v.sealed).bind(&viewer_key.0).bind(at)
            .fetch_one(c).await)?;
        crate::store::tx::on_tx!(&mut tx, c => sqlx::query(VERIFICATION)
            .bind(v.token.digest()).bind(identity_id).bind(at).bind(v.expires_at)
            .execute(c).await.map(|_| ()))?;
        tx.commit().await?;
        Ok(Verified {
            identity_id,
            viewer_key,
            phone: v.masked.to_owned(),
            expires_at: v.expires_at,
        })
    }

    /// The verified viewer behind a browser's token, while it holds.
    pub async fn verification(&self, token: &VerificationToken) -> StoreResult<Option<Verified>> {
        const SQL: &str = "SELECT i.id AS identity_id, i.viewer_key, i.phone_masked, v.expires_at
             FROM verifications v JOIN identities i ON i.id = v.identity_id
             WHERE v.token_hash = $1 AND v.expires_at > $2";
        let row: Option<VerifiedRow> = on_pool!(self, read p => sqlx::query_as(SQL)
            .bind(token.digest()).bind(now()).fetch_optional(p).await)?;
        Ok(row.map(|r| Verified {
            identity_id: r.identity_id,
            viewer_key: ViewerKey(r.viewer_key),
            phone: r.phone_masked,
            expires_at: r.expires_at,
        }))
    }

    /// Forget a browser's verification (the viewer signs out of it).
    pub async fn end_verification(&self, token: &VerificationToken) -> StoreResult<bool> {
        const SQL: &str = "DELETE FROM verifications WHERE token_hash = $1";
        let n = on_pool!(self, write p => sqlx::query(SQL).bind(token.digest()).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The sealed number of an identity (for the unit's follow-up and the
    /// asker's notice; opened with the identity keys).
    pub async fn sealed_phone(&self, identity: IdentityId) -> StoreResult<Option<String>> {
        const SQL: &str = "SELECT phone_sealed FROM identities WHERE id = $1";
        Ok(on_pool!(self, read p => sqlx::query_scalar(SQL).bind(identity).fetch_optional(p).await)?)
    }

    /// Remove codes a day after they expired and verifications that ended.
    pub async fn purge_verification(&self) -> StoreResult<u64> {
        const CODES: &str = "DELETE FROM verification_codes WHERE expires_at < $1";
        const VERIFICATIONS: &str = "DELETE FROM verifications WHERE expires_at < $1";
        let at = now();
        let codes = on_pool!(self, write p => sqlx::query(CODES)
            .bind(at - chrono::Duration::days(1)).execute(p).await.map(|r| r.rows_affected()))?;
        let ended = on_pool!(self, write p => sqlx::query(VERIFICATIONS)
            .bind(at).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(codes + ended)
    }
}
