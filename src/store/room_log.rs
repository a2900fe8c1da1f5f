//! The room log as read: every public change of a room in `seq` order, each
//! as it reads now (what hides, edits and answers since have made of it, and
//! its personal data masked).

use std::collections::HashMap;

use super::{Store, StoreError, StoreResult, on_pool};
use crate::domain::ids::EventId;
use crate::domain::question::{LogItem, RoomChange};

impl Store {
    /// Logged changes with `after < seq <= up_to`, in order, each as it
    /// reads now: the writer rewrites an item's earlier frames when it is
    /// hidden or edited, and the latest answer is applied here, from the
    /// item's latest frame (see `LiveTx::redact_earlier`).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn room_log(&self, event_id: EventId, after: i64, up_to: i64) -> StoreResult<Vec<(i64, RoomChange)>> {
        const SQL: &str =
            "SELECT seq, change FROM room_log WHERE event_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq";
        let rows: Vec<(i64, String)> =
            on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).bind(after).bind(up_to).fetch_all(p).await)?;
        let mut changes = parse_log(event_id, rows)?;
        if changes.iter().any(|(_, change)| change.content_of().is_some()) {
            // The latest frame of every item logged after `after`: it is at
            // or after any of the item's frames read above.
            const LATEST: &str = "SELECT l.seq, l.change FROM room_log l
                 JOIN (SELECT MAX(seq) AS seq FROM room_log
                       WHERE event_id = $1 AND seq > $2 AND item_id IS NOT NULL GROUP BY item_id) m
                 ON l.event_id = $1 AND l.seq = m.seq";
            let rows: Vec<(i64, String)> =
                on_pool!(self, read p => sqlx::query_as(LATEST).bind(event_id).bind(after).fetch_all(p).await)?;
            let latest: HashMap<LogItem, (i64, RoomChange)> = parse_log(event_id, rows)?
                .into_iter()
                .filter_map(|(seq, change)| Some((change.content_of()?, (seq, change))))
                .collect();
            for (seq, change) in &mut changes {
                let now = change.content_of().and_then(|item| latest.get(&item));
                if let Some(redacted) = now
                    .filter(|(at, _)| at > seq)
                    .and_then(|(_, now)| change.redacted_by(now))
                {
                    *change = redacted;
                }
            }
        }
        // Frames logged before public text was masked are masked as they are read.
        Ok(changes
            .into_iter()
            .map(|(seq, change)| (seq, change.masked()))
            .collect())
    }
}

/// Rows of room `event_id`'s log, parsed.
fn parse_log(event_id: EventId, rows: Vec<(i64, String)>) -> StoreResult<Vec<(i64, RoomChange)>> {
    rows.into_iter()
        .map(|(seq, json)| Ok((seq, parse_frame(&json, || format!("{event_id}/{seq}"))?)))
        .collect()
}

/// A change as the room log keeps it; `frame` names it in the error.
pub(crate) fn parse_frame(json: &str, frame: impl FnOnce() -> String) -> StoreResult<RoomChange> {
    serde_json::from_str(json).map_err(|e| StoreError::Conflict(format!("room log {} is unreadable: {e}", frame())))
}
