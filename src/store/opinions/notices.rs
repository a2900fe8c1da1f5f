//! Telling the asker (回访): who asked an opinion (their verified identity,
//! never the number) and every attempt to tell them that the reply is out.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ids::{IdentityId, OpinionId};
use crate::domain::time::now;
use crate::store::{Store, StoreResult, on_pool};

/// One attempt to tell an asker.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Notice {
    /// The number told, masked.
    pub phone_masked: String,
    /// `log` or `webhook`.
    pub sender: String,
    pub delivered: bool,
    /// Why it was not delivered.
    pub detail: Option<String>,
    pub attempted_at: DateTime<Utc>,
}

impl Store {
    /// The verified asker of an opinion who wants to be told, if any.
    pub async fn asker_to_tell(&self, opinion: OpinionId) -> StoreResult<Option<IdentityId>> {
        const SQL: &str = "SELECT identity_id FROM opinions WHERE id = $1 AND notify AND identity_id IS NOT NULL";
        let id: Option<Option<IdentityId>> =
            on_pool!(self, read p => sqlx::query_scalar(SQL).bind(opinion).fetch_optional(p).await)?;
        Ok(id.flatten())
    }

    /// Record an attempt to tell the asker of `opinion`.
    pub async fn record_notice(
        &self,
        opinion: OpinionId,
        phone_masked: &str,
        sender: &str,
        failure: Option<&str>,
    ) -> StoreResult<()> {
        const SQL: &str =
            "INSERT INTO opinion_notices (opinion_id, phone_masked, sender, delivered, detail, attempted_at)
             VALUES ($1, $2, $3, $4, $5, $6)";
        on_pool!(self, write p => sqlx::query(SQL).bind(opinion).bind(phone_masked).bind(sender)
            .bind(failure.is_none()).bind(failure).bind(now()).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Every attempt to tell the asker of `opinion`, oldest first.
    pub async fn notices(&self, opinion: OpinionId) -> StoreResult<Vec<Notice>> {
        const SQL: &str = "SELECT phone_masked, sender, delivered, detail, attempted_at FROM opinion_notices
             WHERE opinion_id = $1 ORDER BY id";
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(opinion).fetch_all(p).await)?)
    }
}
