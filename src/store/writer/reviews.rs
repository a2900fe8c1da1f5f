//! Reports and appeals (举报受理) in the live writer: a viewer's report of a
//! published post (enough distinct reporters hide it at once, pending
//! review), a moderator's resolution of a post's reports, an asker's appeal
//! of a rejection and its decision. Each is audited, and what it changes in
//! the room is published like any moderation step.

use chrono::NaiveDate;

use super::command::{Outcome, WriteError, refused};
use super::tx::{Decided, LiveTx, RowLock, audit_view};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{EventId, PostId, StaffId};
use crate::domain::question::{QuestionStatus, RoomChange, ViewerKey};
use crate::domain::report::{AppealStatus, ReportOutcome, ReportReason};
use crate::store::live::{QuestionRecord, QuestionRow};
use crate::store::tx::{AuditLine, on_tx};
use crate::store::{StoreError, StoreResult};

/// A step on reports and appeals.
#[derive(Debug, Clone)]
pub enum Review {
    /// A viewer reports a published post; at `threshold` distinct open
    /// reports (0: never) the post is hidden pending review.
    Report {
        event_id: EventId,
        post_id: PostId,
        reporter: ViewerKey,
        reason: ReportReason,
        due_on: Option<NaiveDate>,
        threshold: u32,
    },
    /// A moderator resolves every open report of a post.
    Resolve {
        event_id: EventId,
        post_id: PostId,
        outcome: ReportOutcome,
        staff_id: StaffId,
    },
    /// The author of a rejected post appeals, once.
    Appeal {
        event_id: EventId,
        post_id: PostId,
        author: ViewerKey,
        text: String,
        due_on: Option<NaiveDate>,
    },
    /// A moderator (or the unit, after the event) decides an open appeal;
    /// upheld publishes the post.
    Decide {
        event_id: EventId,
        post_id: PostId,
        upheld: bool,
        reply: String,
        staff_id: StaffId,
    },
}

impl LiveTx<'_> {
    pub(super) async fn review(&mut self, review: &Review) -> StoreResult<Decided> {
        let (event_id, post_id) = match review {
            Review::Report { event_id, post_id, .. }
            | Review::Resolve { event_id, post_id, .. }
            | Review::Appeal { event_id, post_id, .. }
            | Review::Decide { event_id, post_id, .. } => (*event_id, *post_id),
        };
        // Decided on the post as it is now (held exclusively on PostgreSQL).
        let Some(before) = self.fetch::<QuestionRow>(event_id, post_id, RowLock::Update).await? else {
            return Ok(Err(refused(ErrorCode::NotFound, "no such post in this room")));
        };
        let done = match review {
            Review::Report {
                reporter,
                reason,
                due_on,
                threshold,
                ..
            } => self.report(&before, reporter, *reason, *due_on, *threshold).await?,
            Review::Resolve { outcome, staff_id, .. } => self.resolve(&before, *outcome, *staff_id).await?,
            Review::Appeal {
                author, text, due_on, ..
            } => self.appeal(&before, author, text, *due_on).await?,
            Review::Decide {
                upheld,
                reply,
                staff_id,
                ..
            } => self.decide(&before, *upheld, reply, *staff_id).await?,
        };
        if let Err(refusal) = done {
            return Ok(Err(refusal));
        }
        let after = self
            .fetch::<QuestionRow>(event_id, post_id, RowLock::None)
            .await?
            .ok_or(StoreError::NotFound("question"))?;
        Ok(Ok(Outcome::Reviewed {
            before: Box::new(before),
            after: Box::new(after),
        }))
    }

    async fn report(
        &mut self,
        post: &QuestionRecord,
        reporter: &ViewerKey,
        reason: ReportReason,
        due_on: Option<NaiveDate>,
        threshold: u32,
    ) -> StoreResult<Result<(), WriteError>> {
        const INSERT: &str = "INSERT INTO reports (event_id, post_id, reporter_key, reason, created_at, due_on)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (post_id, reporter_key) DO NOTHING RETURNING id";
        const OPEN: &str = "SELECT COUNT(*) FROM reports WHERE post_id = $1 AND resolved_at IS NULL";
        const HOLD: &str = "UPDATE questions SET status = 'hidden', held_by_reports = TRUE, moderated_at = $1,
             moderated_by = NULL WHERE id = $2";
        if post.status != QuestionStatus::Approved {
            return Ok(Err(refused(
                ErrorCode::NotVisible,
                "only published questions and comments are reported",
            )));
        }
        let at = self.at;
        let inserted: Option<i64> = on_tx!(self.tx(), c => sqlx::query_scalar(INSERT).bind(post.event_id).bind(post.id)
            .bind(&reporter.0).bind(reason.as_str()).bind(at).bind(due_on).fetch_optional(c).await)?;
        if inserted.is_none() {
            return Ok(Err(refused(
                ErrorCode::AlreadyReported,
                "you have reported this post already",
            )));
        }
        let after = serde_json::json!({ "reason": reason }).to_string();
        let line = AuditLine::by(("viewer", &reporter.0), post.event_id, "report")
            .on(post.id)
            .change(None, Some(after));
        self.tx().audit(line, at).await?;
        let open: i64 = on_tx!(self.tx(), c => sqlx::query_scalar(OPEN).bind(post.id).fetch_one(c).await)?;
        if threshold == 0 || open < i64::from(threshold) {
            return Ok(Ok(()));
        }
        on_tx!(self.tx(), c => sqlx::query(HOLD).bind(at).bind(post.id).execute(c).await.map(|_| ()))?;
        self.take_down(post).await?;
        let held = serde_json::json!({ "reports": open }).to_string();
        let line = AuditLine::by(("system", "reports"), post.event_id, "report_hold")
            .on(post.id)
            .change(Some(audit_view(post)), Some(held));
        self.tx().audit(line, at).await?;
        Ok(Ok(()))
    }

    async fn resolve(
        &mut self,
        post: &QuestionRecord,
        outcome: ReportOutcome,
        staff_id: StaffId,
    ) -> StoreResult<Result<(), WriteError>> {
        const RESOLVE: &str = "UPDATE reports SET resolved_at = $1, resolved_by = $2, outcome = $3
             WHERE post_id = $4 AND resolved_at IS NULL";
        const RESTORE: &str = "UPDATE questions SET status = 'approved', held_by_reports = FALSE, moderated_at = $1,
             moderated_by = $2 WHERE id = $3";
        const HIDE: &str = "UPDATE questions SET status = 'hidden', held_by_reports = FALSE, moderated_at = $1,
             moderated_by = $2 WHERE id = $3";
        let at = self.at;
        let resolved = on_tx!(self.tx(), c => sqlx::query(RESOLVE).bind(at).bind(staff_id).bind(outcome.as_str())
            .bind(post.id).execute(c).await.map(|r| r.rows_affected()))?;
        if resolved == 0 {
            return Ok(Err(refused(ErrorCode::NotFound, "this post has no open reports")));
        }
        let shown = post.status == QuestionStatus::Approved;
        match outcome {
            ReportOutcome::Kept if post.held_by_reports => {
                on_tx!(self.tx(), c => sqlx::query(RESTORE).bind(at).bind(staff_id).bind(post.id)
                    .execute(c).await.map(|_| ()))?;
                let restored = self
                    .fetch::<QuestionRow>(post.event_id, post.id, RowLock::None)
                    .await?
                    .ok_or(StoreError::NotFound("question"))?;
                self.publish(post.event_id, restored.shown()).await?;
            }
            ReportOutcome::Kept => {}
            ReportOutcome::Hidden => {
                on_tx!(self.tx(), c => sqlx::query(HIDE).bind(at).bind(staff_id).bind(post.id)
                    .execute(c).await.map(|_| ()))?;
                if shown {
                    self.take_down(post).await?;
                }
            }
        }
        let after = serde_json::json!({ "outcome": outcome, "reports": resolved }).to_string();
        self.audit_staff(
            post.event_id,
            staff_id,
            "resolve_reports",
            Some(post.id.into()),
            None,
            Some(after),
        )
        .await?;
        Ok(Ok(()))
    }

    async fn appeal(
        &mut self,
        post: &QuestionRecord,
        author: &ViewerKey,
        text: &str,
        due_on: Option<NaiveDate>,
    ) -> StoreResult<Result<(), WriteError>> {
        const APPEAL: &str = "UPDATE questions SET appeal_text = $1, appeal_status = 'open', appealed_at = $2,
             appeal_due_on = $3 WHERE id = $4 AND appeal_status IS NULL";
        if post.viewer_key != *author {
            return Ok(Err(refused(ErrorCode::NotFound, "no such question of yours")));
        }
        if post.appeal.is_some() {
            return Ok(Err(refused(ErrorCode::AlreadyAppealed, "a rejection is appealed once")));
        }
        if post.status != QuestionStatus::Rejected {
            return Ok(Err(refused(ErrorCode::WrongStatus, "only a rejected post is appealed")));
        }
        let at = self.at;
        on_tx!(self.tx(), c => sqlx::query(APPEAL).bind(text).bind(at).bind(due_on).bind(post.id)
            .execute(c).await.map(|_| ()))?;
        let line = AuditLine::by(("viewer", &author.0), post.event_id, "appeal")
            .on(post.id)
            .change(None, Some(serde_json::json!({ "text": text }).to_string()));
        self.tx().audit(line, at).await?;
        Ok(Ok(()))
    }

    async fn decide(
        &mut self,
        post: &QuestionRecord,
        upheld: bool,
        reply: &str,
        staff_id: StaffId,
    ) -> StoreResult<Result<(), WriteError>> {
        const DECIDE: &str = "UPDATE questions SET appeal_status = $1, appeal_reply = $2, appeal_decided_at = $3,
             appeal_decided_by = $4 WHERE id = $5";
        const PUBLISH: &str =
            "UPDATE questions SET status = 'approved', moderated_at = $1, moderated_by = $2 WHERE id = $3";
        if post.appeal.as_ref().is_none_or(|a| a.status != AppealStatus::Open) {
            return Ok(Err(refused(ErrorCode::WrongStatus, "this post has no open appeal")));
        }
        let at = self.at;
        let status = if upheld {
            AppealStatus::Upheld
        } else {
            AppealStatus::Dismissed
        };
        on_tx!(self.tx(), c => sqlx::query(DECIDE).bind(status.as_str()).bind(reply).bind(at).bind(staff_id)
            .bind(post.id).execute(c).await.map(|_| ()))?;
        if upheld {
            on_tx!(self.tx(), c => sqlx::query(PUBLISH).bind(at).bind(staff_id).bind(post.id)
                .execute(c).await.map(|_| ()))?;
            let published = self
                .fetch::<QuestionRow>(post.event_id, post.id, RowLock::None)
                .await?
                .ok_or(StoreError::NotFound("question"))?;
            self.publish(post.event_id, published.shown()).await?;
        }
        let action = if upheld { "appeal_upheld" } else { "appeal_dismissed" };
        let after = serde_json::json!({ "reply": reply }).to_string();
        self.audit_staff(
            post.event_id,
            staff_id,
            action,
            Some(post.id.into()),
            Some(audit_view(post)),
            Some(after),
        )
        .await?;
        Ok(Ok(()))
    }

    /// A published post leaves every screen (unpinned if it was pinned), its
    /// earlier frames redacted.
    async fn take_down(&mut self, post: &QuestionRecord) -> StoreResult<()> {
        let unpin = self.pinned(post.event_id).await? == Some(post.id);
        if unpin {
            self.unpin(post.event_id).await?;
        }
        self.publish_redacting(post.event_id, post.removed()).await?;
        if unpin {
            self.publish(post.event_id, RoomChange::Pinned { question_id: None })
                .await?;
        }
        Ok(())
    }
}
