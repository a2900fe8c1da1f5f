//! The interview transcript (访谈实录) of an event as the unit keeps it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreError, StoreResult, on_pool};
use crate::domain::ids::{EventId, StaffId};
use crate::domain::time::now;
use crate::domain::transcript::TranscriptEntry;
use crate::store::tx::{AuditLine, on_tx};

/// A saved transcript.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Transcript {
    pub event_id: EventId,
    pub entries: Vec<TranscriptEntry>,
    pub assembled_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Published (公开) with the materials; none while a draft.
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    event_id: EventId,
    entries_json: String,
    assembled_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
}

impl Store {
    pub async fn transcript(&self, event_id: EventId) -> StoreResult<Option<Transcript>> {
        const SQL: &str = "SELECT event_id, entries_json, assembled_at, updated_at, published_at FROM transcripts WHERE event_id = $1";
        let row: Option<Row> = on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_optional(p).await)?;
        row.map(|r| {
            let entries = serde_json::from_str(&r.entries_json)
                .map_err(|e| StoreError::Conflict(format!("transcript of event {}: {e}", r.event_id)))?;
            Ok(Transcript {
                event_id: r.event_id,
                entries,
                assembled_at: r.assembled_at,
                updated_at: r.updated_at,
                published_at: r.published_at,
            })
        })
        .transpose()
    }

    /// Save the entries (a fresh assembly when `assembled`), audited; the
    /// publication stays as it was.
    pub async fn save_transcript(
        &self,
        event_id: EventId,
        entries: &[TranscriptEntry],
        assembled: bool,
        by: StaffId,
    ) -> StoreResult<Transcript> {
        const SQL: &str = "INSERT INTO transcripts (event_id, entries_json, assembled_at, updated_by, updated_at)
             VALUES ($1, $2, $3, $4, $3)
             ON CONFLICT (event_id) DO UPDATE SET entries_json = excluded.entries_json, updated_by = excluded.updated_by,
               updated_at = excluded.updated_at,
               assembled_at = CASE WHEN $5 THEN excluded.assembled_at ELSE transcripts.assembled_at END";
        let json = serde_json::to_string(entries).map_err(|e| StoreError::Conflict(e.to_string()))?;
        let at = now();
        let mut tx = self.begin().await?;
        on_tx!(&mut tx, c => sqlx::query(SQL).bind(event_id).bind(&json).bind(at).bind(by).bind(assembled)
            .execute(c).await.map(|_| ()))?;
        let action = if assembled {
            "transcript.assemble"
        } else {
            "transcript.save"
        };
        let after = serde_json::json!({ "entries": entries.len() }).to_string();
        tx.audit(AuditLine::staff(by, event_id, action).change(None, Some(after)), at)
            .await?;
        tx.commit().await?;
        self.transcript(event_id)
            .await?
            .ok_or(StoreError::NotFound("transcript"))
    }

    /// Publish the saved transcript (once; `false` when there is none or it was published).
    pub async fn publish_transcript(&self, event_id: EventId, by: StaffId) -> StoreResult<bool> {
        const SQL: &str = "UPDATE transcripts SET published_at = $1 WHERE event_id = $2 AND published_at IS NULL";
        let at = now();
        let mut tx = self.begin().await?;
        let n = on_tx!(&mut tx, c => sqlx::query(SQL).bind(at).bind(event_id).execute(c).await
            .map(|r| r.rows_affected()))?;
        if n == 1 {
            tx.audit(AuditLine::staff(by, event_id, "transcript.publish"), at)
                .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }
}
