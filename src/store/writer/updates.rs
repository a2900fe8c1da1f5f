//! The text feed (图文直播) in the live writer: an update posted, edited or
//! withdrawn is one transaction with its room-log frame and its audit line.
//! An edit rewrites the update's earlier frames to the new text and a
//! withdrawal turns them into its removal, so no replay shows what was
//! taken back (the audit log keeps each version).

use super::command::{Outcome, WriteError, refused};
use super::tx::{Decided, LiveTx};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{EventId, ImageId, StaffId, UpdateId};
use crate::domain::question::RoomChange;
use crate::store::tx::on_tx;
use crate::store::updates::{UpdateRow, update_select};
use crate::store::{StoreError, StoreResult};

/// A step on the text feed, by a host or one of the unit's editors.
#[derive(Debug, Clone)]
pub enum UpdateCommand {
    Post {
        event_id: EventId,
        text: String,
        /// An image of this event, uploaded before.
        image_id: Option<ImageId>,
        staff_id: StaffId,
    },
    /// A new text (and image, or none) for a public update.
    Edit {
        event_id: EventId,
        update_id: UpdateId,
        text: String,
        image_id: Option<ImageId>,
        staff_id: StaffId,
    },
    Withdraw {
        event_id: EventId,
        update_id: UpdateId,
        staff_id: StaffId,
    },
}

impl LiveTx<'_> {
    pub(super) async fn update(&mut self, command: &UpdateCommand) -> StoreResult<Decided> {
        match command {
            UpdateCommand::Post {
                event_id,
                text,
                image_id,
                staff_id,
            } => self.post_update(*event_id, text, *image_id, *staff_id).await,
            UpdateCommand::Edit {
                event_id,
                update_id,
                text,
                image_id,
                staff_id,
            } => {
                self.edit_update(*event_id, *update_id, text, *image_id, *staff_id)
                    .await
            }
            UpdateCommand::Withdraw {
                event_id,
                update_id,
                staff_id,
            } => self.withdraw_update(*event_id, *update_id, *staff_id).await,
        }
    }

    async fn post_update(
        &mut self,
        event_id: EventId,
        text: &str,
        image_id: Option<ImageId>,
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        if !self.image_of(event_id, image_id).await? {
            return Ok(Err(refused(ErrorCode::NotFound, "no such image of this event")));
        }
        const SQL: &str = "INSERT INTO live_updates (event_id, text, image_id, posted_by, posted_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let at = self.at;
        let id: UpdateId = on_tx!(self.tx(), c => sqlx::query_scalar(SQL).bind(event_id).bind(text).bind(image_id)
            .bind(staff_id).bind(at).fetch_one(c).await)?;
        let row = self.written_update(event_id, id).await?;
        self.publish(event_id, RoomChange::Update { update: row.public() })
            .await?;
        let after = audit_value(text, image_id);
        self.audit_staff(event_id, staff_id, "update.post", Some(id.0), None, Some(after))
            .await?;
        Ok(Ok(Outcome::Updated { update: Box::new(row) }))
    }

    async fn edit_update(
        &mut self,
        event_id: EventId,
        update_id: UpdateId,
        text: &str,
        image_id: Option<ImageId>,
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        let before = match self.shown_update(event_id, update_id).await? {
            Ok(before) => before,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if !self.image_of(event_id, image_id).await? {
            return Ok(Err(refused(ErrorCode::NotFound, "no such image of this event")));
        }
        const SQL: &str = "UPDATE live_updates SET text = $1, image_id = $2, edited_at = $3 WHERE id = $4";
        let at = self.at;
        on_tx!(self.tx(), c => sqlx::query(SQL).bind(text).bind(image_id).bind(at).bind(update_id)
            .execute(c).await.map(|_| ()))?;
        let row = self.written_update(event_id, update_id).await?;
        self.publish_redacting(event_id, RoomChange::Update { update: row.public() })
            .await?;
        let was = audit_value(&before.text, before.image_id);
        let now = audit_value(text, image_id);
        self.audit_staff(
            event_id,
            staff_id,
            "update.edit",
            Some(update_id.0),
            Some(was),
            Some(now),
        )
        .await?;
        Ok(Ok(Outcome::Updated { update: Box::new(row) }))
    }

    async fn withdraw_update(
        &mut self,
        event_id: EventId,
        update_id: UpdateId,
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        let before = match self.shown_update(event_id, update_id).await? {
            Ok(before) => before,
            Err(refusal) => return Ok(Err(refusal)),
        };
        const SQL: &str = "UPDATE live_updates SET withdrawn_at = $1 WHERE id = $2";
        let at = self.at;
        on_tx!(self.tx(), c => sqlx::query(SQL).bind(at).bind(update_id).execute(c).await.map(|_| ()))?;
        self.publish_redacting(event_id, RoomChange::UpdateRemoved { update_id })
            .await?;
        let was = audit_value(&before.text, before.image_id);
        self.audit_staff(
            event_id,
            staff_id,
            "update.withdraw",
            Some(update_id.0),
            Some(was),
            None,
        )
        .await?;
        let row = self.written_update(event_id, update_id).await?;
        Ok(Ok(Outcome::Updated { update: Box::new(row) }))
    }

    /// An update still shown in the event's feed, or the refusal to touch it.
    async fn shown_update(&mut self, event_id: EventId, id: UpdateId) -> StoreResult<Result<UpdateRow, WriteError>> {
        Ok(self
            .update_row(event_id, id)
            .await?
            .filter(|u| u.withdrawn_at.is_none())
            .ok_or_else(|| refused(ErrorCode::NotFound, "no such update in this event's feed")))
    }

    /// An update this transaction has just written.
    async fn written_update(&mut self, event_id: EventId, id: UpdateId) -> StoreResult<UpdateRow> {
        self.update_row(event_id, id)
            .await?
            .ok_or(StoreError::NotFound("update"))
    }

    async fn update_row(&mut self, event_id: EventId, id: UpdateId) -> StoreResult<Option<UpdateRow>> {
        const SQL: &str = concat!(update_select!(), " WHERE u.id = $1 AND u.event_id = $2");
        Ok(on_tx!(self.tx(), c => sqlx::query_as(SQL).bind(id).bind(event_id).fetch_optional(c).await)?)
    }

    /// Whether `image` (when given) is an image of this event.
    async fn image_of(&mut self, event_id: EventId, image: Option<ImageId>) -> StoreResult<bool> {
        let Some(image) = image else {
            return Ok(true);
        };
        const SQL: &str = "SELECT COUNT(*) FROM live_images WHERE id = $1 AND event_id = $2";
        let n: i64 = on_tx!(self.tx(), c => sqlx::query_scalar(SQL).bind(image).bind(event_id).fetch_one(c).await)?;
        Ok(n == 1)
    }
}

/// An update's text and image as the audit log keeps them.
fn audit_value(text: &str, image_id: Option<ImageId>) -> String {
    serde_json::json!({ "text": text, "image_id": image_id }).to_string()
}
