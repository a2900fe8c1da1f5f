//! Moderation: what moderators and hosts do to a post, bans, the room's
//! settings, and the event's status as the room sees it.

use chrono::{DateTime, Utc};

use super::command::{Outcome, WriteError, refused};
use super::tx::{Decided, LiveTx, RowLock, audit_view};
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::ids::{EventId, PostId, StaffId};
use crate::domain::question::{ModAction, ModerationMode, PostKind, QuestionStatus, RoomChange, ViewerKey};
use crate::store::live::{QuestionRecord, QuestionRow};
use crate::store::tx::on_tx;
use crate::store::{StoreError, StoreResult};

impl LiveTx<'_> {
    /// `action` on one post, decided on the post as it is now: on PostgreSQL
    /// the row is held exclusively, so moderators on two nodes decide one
    /// after the other, each on the current state.
    pub(super) async fn moderate(
        &mut self,
        event_id: EventId,
        question_id: PostId,
        action: &ModAction,
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        self.moderate_as(event_id, question_id, action, staff_id, action.name())
            .await
    }

    /// [`LiveTx::moderate`], audited as `audited` (a hide within a withdrawal is `withdraw`).
    async fn moderate_as(
        &mut self,
        event_id: EventId,
        question_id: PostId,
        action: &ModAction,
        staff_id: StaffId,
        audited: &str,
    ) -> StoreResult<Decided> {
        let Some(before) = self
            .fetch::<QuestionRow>(event_id, question_id, RowLock::Update)
            .await?
        else {
            return Ok(Err(refused(ErrorCode::NotFound, "no such question in this room")));
        };
        let next = match allowed(action, &before) {
            Ok(next) => next,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let pinned = self.pinned(event_id).await?;
        self.change_post(event_id, question_id, action, next, staff_id).await?;
        let after = self
            .fetch::<QuestionRow>(event_id, question_id, RowLock::None)
            .await?
            .ok_or(StoreError::NotFound("question"))?;
        let unpin = pinned == Some(question_id) && matches!(action, ModAction::Unpin | ModAction::Hide);
        if unpin {
            self.unpin(event_id).await?;
        }
        for change in room_changes(action, &before, &after, unpin) {
            self.publish_redacting(event_id, change).await?;
        }
        let (was, is) = (Some(audit_view(&before)), Some(audit_view(&after)));
        self.audit_staff(event_id, staff_id, audited, Some(question_id.into()), was, is)
            .await?;
        Ok(Ok(Outcome::Moderated {
            before: Box::new(before),
            after: Box::new(after),
        }))
    }

    /// The pinned question of the room.
    pub(super) async fn pinned(&mut self, event_id: EventId) -> StoreResult<Option<PostId>> {
        const SQL: &str = "SELECT pinned_question_id FROM rooms WHERE event_id = $1";
        let pinned: Option<Option<PostId>> =
            on_tx!(self.tx(), c => sqlx::query_scalar(SQL).bind(event_id).fetch_optional(c).await)?;
        Ok(pinned.flatten())
    }

    async fn pin(&mut self, event_id: EventId, question_id: PostId) -> StoreResult<()> {
        const SQL: &str = "UPDATE rooms SET pinned_question_id = $1 WHERE event_id = $2";
        on_tx!(self.tx(), c => sqlx::query(SQL).bind(question_id).bind(event_id).execute(c).await.map(|_| ()))?;
        Ok(())
    }

    pub(super) async fn unpin(&mut self, event_id: EventId) -> StoreResult<()> {
        const SQL: &str = "UPDATE rooms SET pinned_question_id = NULL WHERE event_id = $1";
        on_tx!(self.tx(), c => sqlx::query(SQL).bind(event_id).execute(c).await.map(|_| ()))?;
        Ok(())
    }

    /// Write what `action` does to the post (`next`: its status after).
    async fn change_post(
        &mut self,
        event_id: EventId,
        question_id: PostId,
        action: &ModAction,
        next: QuestionStatus,
        staff_id: StaffId,
    ) -> StoreResult<()> {
        const STATUS: &str = "UPDATE questions SET status = $1, reject_reason = COALESCE($2, reject_reason), \
                              moderated_at = $3, moderated_by = $4 WHERE id = $5";
        const EDIT: &str = "UPDATE questions SET original_text = COALESCE(original_text, text), text = $1, \
                            moderated_at = $2, moderated_by = $3 WHERE id = $4";
        const ANSWER: &str = "UPDATE questions SET answered = TRUE, answer = COALESCE($1, answer), \
                              moderated_at = $2, moderated_by = $3 WHERE id = $4";
        const PROMOTE: &str =
            "UPDATE questions SET kind = 'question', moderated_at = $1, moderated_by = $2 WHERE id = $3";
        let at = self.at;
        match action {
            ModAction::Approve | ModAction::Hide | ModAction::Reject { .. } => {
                let reason = match action {
                    ModAction::Reject { reason } => Some(reason.as_str()),
                    _ => None,
                };
                on_tx!(self.tx(), c => sqlx::query(STATUS).bind(next.as_str()).bind(reason).bind(at).bind(staff_id)
                    .bind(question_id).execute(c).await.map(|_| ()))?;
            }
            ModAction::Edit { text } => {
                on_tx!(self.tx(), c => sqlx::query(EDIT).bind(text).bind(at).bind(staff_id).bind(question_id)
                    .execute(c).await.map(|_| ()))?;
            }
            ModAction::Answer { text } => {
                on_tx!(self.tx(), c => sqlx::query(ANSWER).bind(text).bind(at).bind(staff_id).bind(question_id)
                    .execute(c).await.map(|_| ()))?;
            }
            ModAction::Pin => self.pin(event_id, question_id).await?,
            ModAction::Promote => {
                on_tx!(self.tx(), c => sqlx::query(PROMOTE).bind(at).bind(staff_id).bind(question_id)
                    .execute(c).await.map(|_| ()))?;
            }
            ModAction::Unpin => {}
        }
        Ok(())
    }

    /// Ban a viewer, an address or both from the room.
    pub(super) async fn ban(
        &mut self,
        event_id: EventId,
        viewer: &Option<ViewerKey>,
        ip: &Option<String>,
        (reason, until, permanent): (&str, Option<DateTime<Utc>>, bool),
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        let (viewer, ip) = (viewer.as_ref(), ip.as_deref());
        const SQL: &str = "INSERT INTO bans (event_id, viewer_key, ip, reason, banned_by, created_at, expires_at, permanent) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        let at = self.at;
        on_tx!(self.tx(), c => sqlx::query(SQL).bind(event_id).bind(viewer.map(|v| v.0.clone())).bind(ip)
            .bind(reason).bind(staff_id).bind(at).bind(until).bind(permanent).execute(c).await.map(|_| ()))?;
        let after = serde_json::json!({ "viewer": viewer, "ip": ip, "reason": reason, "until": until,
            "permanent": permanent })
        .to_string();
        self.audit_staff(event_id, staff_id, "ban", None, None, Some(after))
            .await?;
        Ok(Ok(Outcome::Banned))
    }

    /// Lift ban `ban_id` of the room, or a permanent ban when `admin`: it
    /// stops holding at once (the rooms re-read the bans in force).
    pub(super) async fn unban(
        &mut self,
        event_id: EventId,
        ban_id: i64,
        admin: bool,
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        const SQL: &str = "UPDATE bans SET lifted_at = $1, lifted_by = $2
             WHERE id = $3 AND lifted_at IS NULL AND (event_id = $4 AND NOT permanent OR permanent AND $5)
             RETURNING viewer_key, ip, reason, permanent";
        let at = self.at;
        let lifted: Option<(Option<String>, Option<String>, String, bool)> = on_tx!(self.tx(), c => sqlx::query_as(SQL)
            .bind(at).bind(staff_id).bind(ban_id).bind(event_id).bind(admin).fetch_optional(c).await)?;
        let Some((viewer, ip, reason, permanent)) = lifted else {
            return Ok(Err(refused(
                ErrorCode::NotFound,
                "no such ban in force in this room (a permanent ban is lifted by an administrator)",
            )));
        };
        let before = serde_json::json!({ "ban_id": ban_id, "viewer": viewer, "ip": ip, "reason": reason }).to_string();
        self.audit_staff(event_id, staff_id, "unban", Some(ban_id), Some(before), None)
            .await?;
        Ok(Ok(Outcome::Unbanned { permanent }))
    }

    /// The room's moderation mode and slow mode.
    pub(super) async fn settings(
        &mut self,
        event_id: EventId,
        moderation: ModerationMode,
        slow_mode_secs: u32,
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        const BEFORE: &str = "SELECT moderation, slow_mode_secs FROM rooms WHERE event_id = $1";
        const SQL: &str = "UPDATE rooms SET moderation = $1, slow_mode_secs = $2 WHERE event_id = $3";
        let before: Option<(String, i64)> =
            on_tx!(self.tx(), c => sqlx::query_as(BEFORE).bind(event_id).fetch_optional(c).await)?;
        on_tx!(self.tx(), c => sqlx::query(SQL).bind(moderation.as_str()).bind(i64::from(slow_mode_secs))
            .bind(event_id).execute(c).await.map(|_| ()))?;
        let change = RoomChange::Settings {
            moderation,
            slow_mode_secs,
        };
        self.publish(event_id, change).await?;
        let before = before.map(|(m, s)| serde_json::json!({ "moderation": m, "slow_mode_secs": s }).to_string());
        let after = serde_json::json!({ "moderation": moderation, "slow_mode_secs": slow_mode_secs }).to_string();
        self.audit_staff(event_id, staff_id, "settings", None, before, Some(after))
            .await?;
        Ok(Ok(Outcome::SettingsChanged))
    }

    /// The kill switch: all interaction of the room paused, or resumed.
    pub(super) async fn interaction(
        &mut self,
        event_id: EventId,
        paused: bool,
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        const SQL: &str = "UPDATE rooms SET interaction_paused = $1 WHERE event_id = $2";
        on_tx!(self.tx(), c => sqlx::query(SQL).bind(paused).bind(event_id).execute(c).await.map(|_| ()))?;
        self.publish(event_id, RoomChange::Interaction { paused }).await?;
        let action = if paused { "pause" } else { "resume" };
        self.audit_staff(event_id, staff_id, action, None, None, None).await?;
        Ok(Ok(Outcome::SettingsChanged))
    }

    /// Hide every post of the room published at or after `since` (a
    /// question or comment approved then, or posted then into a
    /// post-moderated room): each as a moderator's hide, audited as
    /// `withdraw`, unpinned if pinned, its frames redacted.
    pub(super) async fn withdraw(
        &mut self,
        event_id: EventId,
        since: DateTime<Utc>,
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        const RECENT: &str = "SELECT id FROM questions
             WHERE event_id = $1 AND status = 'approved' AND COALESCE(moderated_at, created_at) >= $2 ORDER BY id";
        let ids: Vec<PostId> =
            on_tx!(self.tx(), c => sqlx::query_scalar(RECENT).bind(event_id).bind(since).fetch_all(c).await)?;
        let mut posts = Vec::with_capacity(ids.len());
        for id in ids {
            // Decided on each post as it is now; one that is no longer
            // approved (hidden meanwhile) is passed over.
            if let Ok(Outcome::Moderated { before, after }) = self
                .moderate_as(event_id, id, &ModAction::Hide, staff_id, "withdraw")
                .await?
            {
                posts.push((*before, *after));
            }
        }
        Ok(Ok(Outcome::Withdrawn { posts }))
    }

    /// Log the event's new status in its room.
    pub(super) async fn event_status(&mut self, event_id: EventId, status: EventStatus) -> StoreResult<Decided> {
        self.publish(event_id, RoomChange::EventStatus { status }).await?;
        Ok(Ok(Outcome::StatusLogged))
    }
}

/// Whether `action` may be done to `post` now; its status after if so.
fn allowed(action: &ModAction, post: &QuestionRecord) -> Result<QuestionStatus, WriteError> {
    let next = action
        .next_status(post.status)
        .map_err(|why| refused(ErrorCode::WrongStatus, why))?;
    let for_questions = matches!(action, ModAction::Pin | ModAction::Unpin | ModAction::Answer { .. });
    if post.kind == PostKind::Comment && for_questions {
        return Err(refused(
            ErrorCode::NotAQuestion,
            "comments are not pinned or answered; promote the comment to a question first",
        ));
    }
    if post.kind == PostKind::Question && *action == ModAction::Promote {
        return Err(refused(
            ErrorCode::NotAComment,
            "only comments are promoted to questions",
        ));
    }
    Ok(next)
}

/// What the room sees of `action` (in this order); `unpin`: the post was the
/// pinned question, and is no longer.
fn room_changes(action: &ModAction, before: &QuestionRecord, after: &QuestionRecord, unpin: bool) -> Vec<RoomChange> {
    let shown = after.status == QuestionStatus::Approved;
    let mut changes = match action {
        ModAction::Approve => vec![after.shown()],
        ModAction::Edit { .. } | ModAction::Answer { .. } if shown => vec![after.shown()],
        ModAction::Hide => vec![before.removed()],
        ModAction::Promote if shown => vec![before.removed(), after.shown()],
        ModAction::Pin => vec![RoomChange::Pinned {
            question_id: Some(after.id),
        }],
        _ => Vec::new(),
    };
    if unpin {
        changes.push(RoomChange::Pinned { question_id: None });
    }
    changes
}
