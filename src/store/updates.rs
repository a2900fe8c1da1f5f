//! The text feed (图文直播) as stored: the updates of an event and the
//! images uploaded for them. Posting, editing and withdrawing an update go
//! through the writer (`writer/updates.rs`), so they are logged in the room.

use chrono::{DateTime, Utc};

use super::{Store, StoreResult, on_pool};
use crate::domain::ids::{EventId, ImageId, StaffId, UpdateId};
use crate::domain::time::now;
use crate::domain::update::{ImageInfo, PublicUpdate};

/// An update as the store keeps it (the text as written; masked when published).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UpdateRow {
    pub id: UpdateId,
    pub event_id: EventId,
    pub text: String,
    pub image_id: Option<ImageId>,
    pub posted_by: StaffId,
    pub posted_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl UpdateRow {
    /// What every viewer sees of it (personal data masked).
    pub fn public(&self) -> PublicUpdate {
        PublicUpdate {
            id: self.id,
            text: self.text.clone(),
            image_id: self.image_id,
            posted_at: self.posted_at,
            edited: self.edited_at.is_some(),
        }
        .masked()
    }
}

/// An image as served.
#[derive(sqlx::FromRow)]
pub struct StoredImage {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

pub(crate) const UPDATE_COLUMNS: &str = "id, event_id, text, image_id, posted_by, posted_at, edited_at, withdrawn_at";

impl Store {
    /// The event's updates still public, in the order posted.
    pub async fn public_updates(&self, event_id: EventId) -> StoreResult<Vec<PublicUpdate>> {
        const SQL: &str = "SELECT id, event_id, text, image_id, posted_by, posted_at, edited_at, withdrawn_at
             FROM live_updates WHERE event_id = $1 AND withdrawn_at IS NULL ORDER BY id";
        let rows: Vec<UpdateRow> = on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_all(p).await)?;
        Ok(rows.iter().map(UpdateRow::public).collect())
    }

    /// Keep an uploaded image (checked already) of an event.
    pub async fn save_image(
        &self,
        event_id: EventId,
        info: ImageInfo,
        bytes: &[u8],
        by: StaffId,
    ) -> StoreResult<ImageId> {
        const SQL: &str =
            "INSERT INTO live_images (event_id, content_type, width, height, bytes, uploaded_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
        let (w, h) = (i64::from(info.width), i64::from(info.height));
        Ok(
            on_pool!(self, write p => sqlx::query_scalar(SQL).bind(event_id).bind(info.content_type).bind(w).bind(h)
            .bind(bytes).bind(by).bind(now()).fetch_one(p).await)?,
        )
    }

    /// An image, with the event it belongs to.
    pub async fn image(&self, id: ImageId) -> StoreResult<Option<(EventId, StoredImage)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            event_id: EventId,
            content_type: String,
            bytes: Vec<u8>,
        }
        const SQL: &str = "SELECT event_id, content_type, bytes FROM live_images WHERE id = $1";
        let row: Option<Row> = on_pool!(self, read p => sqlx::query_as(SQL).bind(id).fetch_optional(p).await)?;
        Ok(row.map(|r| {
            (
                r.event_id,
                StoredImage {
                    content_type: r.content_type,
                    bytes: r.bytes,
                },
            )
        }))
    }

    /// The event an image belongs to, when it exists.
    pub async fn image_event(&self, id: ImageId) -> StoreResult<Option<EventId>> {
        const SQL: &str = "SELECT event_id FROM live_images WHERE id = $1";
        Ok(on_pool!(self, read p => sqlx::query_scalar(SQL).bind(id).fetch_optional(p).await)?)
    }

    /// Whether a public (not withdrawn) update shows the image.
    pub async fn image_shown(&self, id: ImageId) -> StoreResult<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM live_updates WHERE image_id = $1 AND withdrawn_at IS NULL";
        let n: i64 = on_pool!(self, read p => sqlx::query_scalar(SQL).bind(id).fetch_one(p).await)?;
        Ok(n > 0)
    }
}
