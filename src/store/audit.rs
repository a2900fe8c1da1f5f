//! The audit log: what staff, viewers and the system did, written in the
//! transaction of what it records ([`super::tx::Tx::audit`]) and read here.

use crate::domain::ids::{EventId, OpinionId, StaffId};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreResult, on_pool};

impl Store {
    /// The moderation audit log of an event, oldest first.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn audit_log(&self, event_id: EventId) -> StoreResult<Vec<AuditEntry>> {
        const SQL: &str = "SELECT id, actor_kind, actor, action, subject_id, before_json, after_json, created_at
             FROM audit_log WHERE event_id = $1 ORDER BY id";
        let rows: Vec<AuditRow> = on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_all(p).await)?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }

    /// Record that `staff_id` saw opinion `opinion` with its personal data
    /// shown (个人信息保护: each unmasked view is accounted for).
    pub async fn audit_unmasked_view(
        &self,
        event_id: EventId,
        staff_id: StaffId,
        opinion: OpinionId,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let line = super::tx::AuditLine::staff(staff_id, event_id, "opinion.view_unmasked").on(opinion);
        tx.audit(line, crate::domain::time::now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether staff member `staff_id` has acted in the event (any audit entry
    /// of theirs): how a district-wide moderator or host is known to serve it.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn staff_acted_in(&self, event_id: EventId, staff_id: StaffId) -> StoreResult<bool> {
        const SQL: &str = "SELECT 1 FROM audit_log WHERE event_id = $1 AND actor_kind = 'staff' AND actor = $2 LIMIT 1";
        let found: Option<i32> = on_pool!(self, read p => sqlx::query_scalar(SQL).bind(event_id)
            .bind(staff_id.to_string()).fetch_optional(p).await)?;
        Ok(found.is_some())
    }
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    actor_kind: String,
    actor: String,
    action: String,
    subject_id: Option<i64>,
    before_json: Option<String>,
    after_json: Option<String>,
    created_at: DateTime<Utc>,
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// `staff`, `viewer` or `system`.
    pub actor_kind: String,
    /// Staff id, viewer key, or the system part (`screen`).
    pub actor: String,
    pub action: String,
    pub subject_id: Option<i64>,
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl AuditEntry {
    /// The entry with every client address (an `ip` field at any depth of
    /// `before`/`after`) masked, for readers who are not administrators.
    pub fn with_addresses_masked(mut self) -> Self {
        fn mask(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(map) => {
                    for (key, value) in map.iter_mut() {
                        match value {
                            serde_json::Value::String(ip) if key == "ip" => {
                                *ip = crate::domain::masking::mask_ip(ip);
                            }
                            _ => mask(value),
                        }
                    }
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(mask),
                _ => {}
            }
        }
        mask(&mut self.before);
        mask(&mut self.after);
        self
    }
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        let parse = |s: Option<String>| {
            s.and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(serde_json::Value::Null)
        };
        Self {
            id: r.id,
            actor_kind: r.actor_kind,
            actor: r.actor,
            action: r.action,
            subject_id: r.subject_id,
            before: parse(r.before_json),
            after: parse(r.after_json),
            created_at: r.created_at,
        }
    }
}
