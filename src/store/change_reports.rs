//! 报备: reschedules and cancellations of announced events, for the data bureau.

use crate::domain::ids::{EventId, StaffId, UnitId};

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreResult, on_pool};

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: i64,
    event_id: EventId,
    event_code: String,
    event_title: String,
    kind: String,
    reason: String,
    before_json: String,
    after_json: String,
    reported_by: StaffId,
    reporter: String,
    reported_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChangeReport {
    pub id: i64,
    pub event_id: EventId,
    pub event_code: String,
    pub event_title: String,
    /// `reschedule`, `cancel`, or `change` (place, agenda, participation, form, host units).
    pub kind: String,
    pub reason: String,
    /// Time, duration and status before a reschedule or cancellation; the
    /// changed fields before a `change`.
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    /// The same after it.
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    pub reported_by: StaffId,
    /// Display name of who reported it.
    pub reporter: String,
    pub reported_at: DateTime<Utc>,
}

impl From<Row> for ChangeReport {
    fn from(r: Row) -> Self {
        let parse = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
        Self {
            id: r.id,
            event_id: r.event_id,
            event_code: r.event_code,
            event_title: r.event_title,
            kind: r.kind,
            reason: r.reason,
            before: parse(&r.before_json),
            after: parse(&r.after_json),
            reported_by: r.reported_by,
            reporter: r.reporter,
            reported_at: r.reported_at,
        }
    }
}

impl Store {
    /// Change reports, newest first; only those of `unit_id`'s events when given,
    /// only those of `event_id` when given.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn list_change_reports(
        &self,
        unit_id: Option<UnitId>,
        event_id: Option<EventId>,
    ) -> StoreResult<Vec<ChangeReport>> {
        const SQL: &str = "SELECT c.id, c.event_id, e.code AS event_code, e.title AS event_title, c.kind, c.reason,
               c.before_json, c.after_json, c.reported_by, u.display_name AS reporter, c.reported_at
             FROM change_reports c JOIN events e ON e.id = c.event_id JOIN users u ON u.id = c.reported_by
             WHERE ($1 IS NULL OR EXISTS (SELECT 1 FROM event_hosts h WHERE h.event_id = c.event_id AND h.unit_id = $1))
               AND ($2 IS NULL OR c.event_id = $2)
             ORDER BY c.reported_at DESC, c.id DESC";
        let rows =
            on_pool!(self, read p => sqlx::query_as::<_, Row>(SQL).bind(unit_id).bind(event_id).fetch_all(p).await)?;
        Ok(rows.into_iter().map(ChangeReport::from).collect())
    }
}
