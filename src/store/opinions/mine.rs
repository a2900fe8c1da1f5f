//! A viewer's own opinions of an event, found by their key: the public
//! answers page marks them 我的提问 (the key is the hash of the token their
//! browser keeps, never shown to anyone).

use crate::domain::ids::{EventId, OpinionId};
use crate::domain::question::ViewerKey;
use crate::store::{Store, StoreResult, on_pool};

/// One of a viewer's opinions, and the opinion it was merged into if staff
/// merged it (that one's reply answers it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct OwnOpinion {
    pub id: OpinionId,
    pub merged_into: Option<OpinionId>,
}

impl OwnOpinion {
    /// The opinion whose reply answers this one.
    pub fn answered_by(self) -> OpinionId {
        self.merged_into.unwrap_or(self.id)
    }
}

impl Store {
    /// Every opinion of `event_id` that the viewer with `key` gave, merged
    /// ones included, oldest first.
    pub async fn viewer_opinions(&self, event_id: EventId, key: &ViewerKey) -> StoreResult<Vec<OwnOpinion>> {
        const SQL: &str = "SELECT id, merged_into FROM opinions WHERE event_id = $1 AND viewer_key = $2 ORDER BY id";
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).bind(&key.0).fetch_all(p).await)?)
    }
}
