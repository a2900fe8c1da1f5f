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
    pub image_width: Option<i64>,
    pub image_height: Option<i64>,
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
            image_width: self.image_width.and_then(|w| u32::try_from(w).ok()),
            image_height: self.image_height.and_then(|h| u32::try_from(h).ok()),
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

/// An update with its image's size: `FROM live_updates u LEFT JOIN live_images i ON i.id = u.image_id`.
macro_rules! update_select {
    () => {
        "SELECT u.id, u.event_id, u.text, u.image_id, CAST(i.width AS BIGINT) AS image_width,
           CAST(i.height AS BIGINT) AS image_height, u.posted_by,
           u.posted_at, u.edited_at, u.withdrawn_at FROM live_updates u LEFT JOIN live_images i ON i.id = u.image_id"
    };
}
pub(crate) use update_select;

impl Store {
    /// The event's updates still public, in the order posted.
    pub async fn public_updates(&self, event_id: EventId) -> StoreResult<Vec<PublicUpdate>> {
        const SQL: &str = concat!(
            update_select!(),
            " WHERE u.event_id = $1 AND u.withdrawn_at IS NULL ORDER BY u.id"
        );
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

    /// Whether a public (not withdrawn) update shows the image.
    pub async fn image_shown(&self, id: ImageId) -> StoreResult<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM live_updates WHERE image_id = $1 AND withdrawn_at IS NULL";
        let n: i64 = on_pool!(self, read p => sqlx::query_scalar(SQL).bind(id).fetch_one(p).await)?;
        Ok(n > 0)
    }
}
