//! What follows an opinion's reply: extension requests, transfers between
//! units, and reminders.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Opinion;
use crate::domain::ids::{EventId, OpinionId, StaffId, UnitId};
use crate::domain::time::now;
use crate::store::tx::{AuditLine, on_tx};
use crate::store::{OnConstraint, Store, StoreError, StoreResult, on_pool};

/// A request to move an opinion's reply deadline.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Extension {
    pub id: i64,
    pub opinion_id: OpinionId,
    /// What the request is about, so that a list of requests reads on its own.
    pub event_id: EventId,
    pub event_title: String,
    /// The unit that answers the opinion.
    pub unit_id: UnitId,
    pub unit_code: String,
    pub unit_name: String,
    pub opinion_text: String,
    /// The opinion's due date now (a grant moves it to `requested_due`).
    pub current_due: Option<NaiveDate>,
    pub reason: String,
    pub requested_due: NaiveDate,
    pub requested_by: StaffId,
    pub requested_at: DateTime<Utc>,
    /// `pending`, `granted` or `refused`.
    pub decision: String,
    pub decision_note: Option<String>,
    pub decided_by: Option<StaffId>,
    pub decided_at: Option<DateTime<Utc>>,
}

macro_rules! extension_select {
    () => {
        "SELECT x.id, x.opinion_id, o.event_id, e.title AS event_title, o.unit_id, u.code AS unit_code, u.short_name AS unit_name,
           o.text AS opinion_text, o.due_date AS current_due, x.reason, x.requested_due, x.requested_by, x.requested_at,
           x.decision, x.decision_note, x.decided_by, x.decided_at
         FROM opinion_extensions x JOIN opinions o ON o.id = x.opinion_id JOIN events e ON e.id = o.event_id
         JOIN units u ON u.id = o.unit_id"
    };
}

/// A transfer of an opinion from one unit to another.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Transfer {
    pub id: i64,
    pub opinion_id: OpinionId,
    pub from_unit: UnitId,
    pub to_unit: UnitId,
    pub reason: String,
    pub by_user: StaffId,
    pub created_at: DateTime<Utc>,
}

/// A reminder (催办) from the data bureau.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Reminder {
    pub id: i64,
    pub opinion_id: OpinionId,
    pub note: Option<String>,
    pub sent_by: StaffId,
    pub sent_at: DateTime<Utc>,
}

impl Store {
    /// A unit asks the bureau to move a reply deadline.
    #[tracing::instrument(skip(self, reason), err(level = "debug"))]
    pub async fn request_extension(
        &self,
        opinion: &Opinion,
        requested_due: NaiveDate,
        reason: &str,
        by: StaffId,
    ) -> StoreResult<Extension> {
        const SQL: &str =
            "INSERT INTO opinion_extensions (opinion_id, reason, requested_due, requested_by, requested_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let at = now();
        let mut tx = self.begin().await?;
        let id: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(SQL)
            .bind(opinion.id).bind(reason).bind(requested_due).bind(by).bind(at)
            .fetch_one(c).await)
        .on_unique(|| "an extension request for this opinion already waits for a decision".into())?;
        let after =
            serde_json::json!({ "extension": id, "requested_due": requested_due, "reason": reason }).to_string();
        let line = AuditLine::staff(by, opinion.event_id, "opinion.extension_request")
            .on(opinion.id)
            .change(None, Some(after));
        tx.audit(line, at).await?;
        tx.commit().await?;
        self.extension(id).await
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn extension(&self, id: i64) -> StoreResult<Extension> {
        const SQL: &str = concat!(extension_select!(), " WHERE x.id = $1");
        on_pool!(self, read p => sqlx::query_as::<_, Extension>(SQL).bind(id).fetch_optional(p).await)?
            .ok_or(StoreError::NotFound("extension request"))
    }

    /// Extension requests: of one opinion, or (with `None`) every pending one.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn extensions(&self, opinion_id: Option<OpinionId>) -> StoreResult<Vec<Extension>> {
        const SQL: &str = concat!(
            extension_select!(),
            " WHERE ($1 IS NULL AND x.decision = 'pending') OR x.opinion_id = $1 ORDER BY x.id"
        );
        Ok(on_pool!(self, read p => sqlx::query_as::<_, Extension>(SQL).bind(opinion_id).fetch_all(p).await)?)
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn transfers(&self, opinion_id: OpinionId) -> StoreResult<Vec<Transfer>> {
        const SQL: &str = "SELECT id, opinion_id, from_unit, to_unit, reason, by_user, created_at
             FROM opinion_transfers WHERE opinion_id = $1 ORDER BY id";
        Ok(on_pool!(self, read p => sqlx::query_as::<_, Transfer>(SQL).bind(opinion_id).fetch_all(p).await)?)
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn reminders(&self, opinion_id: OpinionId) -> StoreResult<Vec<Reminder>> {
        const SQL: &str =
            "SELECT id, opinion_id, note, sent_by, sent_at FROM opinion_reminders WHERE opinion_id = $1 ORDER BY id";
        Ok(on_pool!(self, read p => sqlx::query_as::<_, Reminder>(SQL).bind(opinion_id).fetch_all(p).await)?)
    }

    /// The bureau reminds the unit (催办).
    #[tracing::instrument(skip(self, note), err(level = "debug"))]
    pub async fn remind(&self, opinion: &Opinion, note: Option<&str>, by: StaffId) -> StoreResult<Reminder> {
        const INSERT: &str = "INSERT INTO opinion_reminders (opinion_id, note, sent_by, sent_at)
             VALUES ($1, $2, $3, $4) RETURNING id";
        let at = now();
        let mut tx = self.begin().await?;
        let id: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(INSERT)
            .bind(opinion.id).bind(note).bind(by).bind(at)
            .fetch_one(c).await)?;
        let after = serde_json::json!({ "reminder": id, "note": note }).to_string();
        let line = AuditLine::staff(by, opinion.event_id, "opinion.remind")
            .on(opinion.id)
            .change(None, Some(after));
        tx.audit(line, at).await?;
        tx.commit().await?;
        const SQL: &str = "SELECT id, opinion_id, note, sent_by, sent_at FROM opinion_reminders WHERE id = $1";
        on_pool!(self, read p => sqlx::query_as::<_, Reminder>(SQL).bind(id).fetch_optional(p).await)?
            .ok_or(StoreError::NotFound("reminder"))
    }
}
