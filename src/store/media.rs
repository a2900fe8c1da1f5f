//! An event's replay and captions addresses (`event_media`); its live stream
//! stays with the event's description (`events.stream_url`).

use chrono::{DateTime, Utc};

use super::{Store, StoreResult, on_pool};
use crate::domain::ids::{EventId, StaffId};
use crate::domain::time::now;

/// The replay and captions of an event, as saved (none until set).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct EventMedia {
    pub replay_url: Option<String>,
    pub captions_url: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Store {
    /// The event's replay and captions; empty when never set.
    #[tracing::instrument(skip(self), err)]
    pub async fn event_media(&self, event_id: EventId) -> StoreResult<EventMedia> {
        const SQL: &str = "SELECT replay_url, captions_url, updated_at FROM event_media WHERE event_id = $1";
        let row: Option<EventMedia> =
            on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_optional(p).await)?;
        Ok(row.unwrap_or_default())
    }

    /// Set both addresses (validated already; `None` clears one).
    #[tracing::instrument(skip(self, replay_url, captions_url), err)]
    pub async fn save_event_media(
        &self,
        event_id: EventId,
        replay_url: Option<&str>,
        captions_url: Option<&str>,
        by: StaffId,
    ) -> StoreResult<EventMedia> {
        const SQL: &str = "INSERT INTO event_media (event_id, replay_url, captions_url, updated_by, updated_at)
            VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (event_id) DO UPDATE SET replay_url = excluded.replay_url,
              captions_url = excluded.captions_url, updated_by = excluded.updated_by, updated_at = excluded.updated_at
            RETURNING replay_url, captions_url, updated_at";
        Ok(
            on_pool!(self, write p => sqlx::query_as(SQL).bind(event_id).bind(replay_url).bind(captions_url)
            .bind(by).bind(now()).fetch_one(p).await)?,
        )
    }
}
