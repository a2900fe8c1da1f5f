//! Reports and appeals as staff read them: each reported post with its open
//! reports (reasons, the earliest due date), and the counts the public
//! record shows. Writing them is the live writer's (`writer/reviews.rs`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreResult, on_pool};
use crate::domain::ids::{EventId, PostId};
use crate::domain::question::{PostKind, QuestionStatus};
use crate::domain::report::{Appeal, AppealStatus, ReportOutcome, ReportReason, overdue};
use crate::domain::time::local_date;
use crate::store::live::{QuestionRow, question_columns};

/// A reported post as moderators see it (the text as written: staff only).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportedPost {
    pub post_id: PostId,
    /// `question` or `comment`.
    #[schema(value_type = String)]
    pub kind: PostKind,
    pub nickname: String,
    pub text: String,
    /// `approved`, or `hidden` once the reports (or a moderator) took it down.
    #[schema(value_type = String)]
    pub status: QuestionStatus,
    /// Hidden at once by the reports, pending review.
    pub held: bool,
    /// Reports not resolved yet.
    pub open: i64,
    /// Every report of the post, resolved ones too.
    pub total: i64,
    /// Open reports per reason.
    pub reasons: Vec<ReasonCount>,
    pub first_at: DateTime<Utc>,
    /// The earliest due date of the open reports.
    pub due_on: Option<NaiveDate>,
    pub overdue: bool,
    /// How the latest resolved reports were resolved.
    pub outcome: Option<ReportOutcome>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReasonCount {
    pub reason: ReportReason,
    pub label: &'static str,
    pub count: i64,
}

/// An appealed post as moderators and the unit see it (staff only).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppealedPost {
    pub post_id: PostId,
    pub nickname: String,
    pub text: String,
    pub reject_reason: Option<String>,
    pub appeal: Appeal,
    pub overdue: bool,
}

/// What the public record says of reports and appeals.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ReviewCounts {
    /// Reports received (each viewer's report of a post counts once).
    pub reports_received: i64,
    /// Posts hidden after reports (by the threshold or a moderator), not restored.
    pub hidden_after_reports: i64,
    pub appeals_received: i64,
    /// Appeals upheld: the question was published after all.
    pub appeals_upheld: i64,
}

#[derive(sqlx::FromRow)]
struct PostRow {
    post_id: PostId,
    kind: String,
    nickname: String,
    text: String,
    status: String,
    held_by_reports: bool,
    open: i64,
    total: i64,
    first_at: DateTime<Utc>,
    due_on: Option<NaiveDate>,
    outcome: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ReasonRow {
    post_id: PostId,
    reason: String,
    count: i64,
}

impl Store {
    /// The reported posts of an event (`only_open`: those with open reports),
    /// the longest-waiting first.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn reported_posts(&self, event_id: EventId, only_open: bool) -> StoreResult<Vec<ReportedPost>> {
        self.reported(event_id, None, only_open).await
    }

    /// The reports of one post as moderators see them (none when it has none).
    pub async fn reported_post(&self, event_id: EventId, post_id: PostId) -> StoreResult<Option<ReportedPost>> {
        Ok(self.reported(event_id, Some(post_id), false).await?.pop())
    }

    /// The reported posts of an event, or of one post (`post`).
    async fn reported(
        &self,
        event_id: EventId,
        post: Option<PostId>,
        only_open: bool,
    ) -> StoreResult<Vec<ReportedPost>> {
        const POSTS: &str = "SELECT q.id AS post_id, q.kind, q.nickname, q.text, q.status, q.held_by_reports,
               SUM(CASE WHEN r.resolved_at IS NULL THEN 1 ELSE 0 END) AS open, COUNT(*) AS total,
               MIN(r.created_at) AS first_at,
               MIN(CASE WHEN r.resolved_at IS NULL THEN r.due_on END) AS due_on,
               (SELECT r2.outcome FROM reports r2 WHERE r2.post_id = q.id AND r2.resolved_at IS NOT NULL
                 ORDER BY r2.resolved_at DESC, r2.id DESC LIMIT 1) AS outcome
             FROM reports r JOIN questions q ON q.id = r.post_id
             WHERE r.event_id = $1 AND ($2 IS NULL OR r.post_id = $2)
             GROUP BY q.id, q.kind, q.nickname, q.text, q.status, q.held_by_reports
             ORDER BY MIN(r.created_at), q.id";
        const REASONS: &str = "SELECT post_id, reason, COUNT(*) AS count FROM reports
             WHERE event_id = $1 AND ($2 IS NULL OR post_id = $2) AND resolved_at IS NULL
             GROUP BY post_id, reason ORDER BY post_id, reason";
        let rows: Vec<PostRow> =
            on_pool!(self, read p => sqlx::query_as(POSTS).bind(event_id).bind(post).fetch_all(p).await)?;
        let reasons: Vec<ReasonRow> =
            on_pool!(self, read p => sqlx::query_as(REASONS).bind(event_id).bind(post).fetch_all(p).await)?;
        let today = local_date(Utc::now());
        let posts = rows
            .into_iter()
            .filter(|r| !only_open || r.open > 0)
            .map(|r| ReportedPost {
                reasons: reasons
                    .iter()
                    .filter(|c| c.post_id == r.post_id)
                    .filter_map(|c| {
                        let reason = ReportReason::parse(&c.reason)?;
                        Some(ReasonCount {
                            reason,
                            label: reason.label(),
                            count: c.count,
                        })
                    })
                    .collect(),
                post_id: r.post_id,
                kind: PostKind::parse(&r.kind).unwrap_or(PostKind::Question),
                nickname: r.nickname,
                text: r.text,
                status: QuestionStatus::parse(&r.status).unwrap_or(QuestionStatus::Hidden),
                held: r.held_by_reports,
                open: r.open,
                total: r.total,
                first_at: r.first_at,
                overdue: r.open > 0 && overdue(r.due_on, today),
                due_on: r.due_on,
                outcome: r.outcome.as_deref().and_then(ReportOutcome::parse),
            })
            .collect();
        Ok(posts)
    }

    /// The appealed posts of an event, open ones first, then by date.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn appealed_posts(&self, event_id: EventId) -> StoreResult<Vec<AppealedPost>> {
        const SQL: &str = concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE event_id = $1 AND appeal_status IS NOT NULL ORDER BY appealed_at, id"
        );
        let rows: Vec<QuestionRow> = on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_all(p).await)?;
        let today = local_date(Utc::now());
        let mut posts: Vec<AppealedPost> = rows
            .into_iter()
            .map(QuestionRow::into_record)
            .collect::<StoreResult<Vec<_>>>()?
            .into_iter()
            .filter_map(|q| {
                let appeal = *q.appeal?;
                Some(AppealedPost {
                    post_id: q.id,
                    nickname: q.nickname,
                    text: q.original_text.unwrap_or(q.text),
                    reject_reason: q.reject_reason,
                    overdue: appeal.status == AppealStatus::Open && overdue(appeal.due_on, today),
                    appeal,
                })
            })
            .collect();
        posts.sort_by_key(|p| p.appeal.status != AppealStatus::Open);
        Ok(posts)
    }

    /// The counts the public record shows.
    pub async fn review_counts(&self, event_id: EventId) -> StoreResult<ReviewCounts> {
        const SQL: &str = "SELECT
               (SELECT COUNT(*) FROM reports WHERE event_id = $1),
               (SELECT COUNT(DISTINCT r.post_id) FROM reports r JOIN questions q ON q.id = r.post_id
                 WHERE r.event_id = $1 AND q.status = 'hidden'),
               (SELECT COUNT(*) FROM questions WHERE event_id = $1 AND appeal_status IS NOT NULL),
               (SELECT COUNT(*) FROM questions WHERE event_id = $1 AND appeal_status = 'upheld')";
        let (reports_received, hidden_after_reports, appeals_received, appeals_upheld): (i64, i64, i64, i64) =
            on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_one(p).await)?;
        Ok(ReviewCounts {
            reports_received,
            hidden_after_reports,
            appeals_received,
            appeals_upheld,
        })
    }
}
