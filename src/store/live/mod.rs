//! Reads for the live room: its state at a `seq`, the moderation queue (its
//! log is read in [`super::room_log`]).

use chrono::{DateTime, Utc};
use serde::Serialize;

pub use super::audit::AuditEntry;
use super::{Store, StoreError, StoreResult, on_pool};
use crate::domain::ids::{EventId, PostId, StaffId};
use crate::domain::masking::{Span, personal_data_spans};
use crate::domain::question::{
    ModerationMode, PostKind, PublicComment, PublicQuestion, QuestionStatus, RoomChange, ViewerKey,
};
use crate::domain::report::{Appeal, AppealStatus};

mod viewers;
pub use viewers::PostAuthor;

/// The columns of a [`QuestionRow`], as a literal for `concat!`.
macro_rules! question_columns {
    () => {
        "id, event_id, viewer_key, nickname, text, original_text, status, reject_reason, \
         screen_hits, answered, answer, upvotes, created_at, moderated_at, kind, held_by_reports, \
         appeal_text, appeal_status, appeal_reply, appealed_at, appeal_due_on, appeal_decided_at"
    };
}
pub(crate) use question_columns;

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct QuestionRow {
    id: PostId,
    event_id: EventId,
    viewer_key: String,
    nickname: String,
    text: String,
    original_text: Option<String>,
    status: String,
    reject_reason: Option<String>,
    screen_hits: Option<String>,
    answered: bool,
    answer: Option<String>,
    upvotes: i64,
    created_at: DateTime<Utc>,
    moderated_at: Option<DateTime<Utc>>,
    kind: String,
    held_by_reports: bool,
    appeal_text: Option<String>,
    appeal_status: Option<String>,
    appeal_reply: Option<String>,
    appealed_at: Option<DateTime<Utc>>,
    appeal_due_on: Option<chrono::NaiveDate>,
    appeal_decided_at: Option<DateTime<Utc>>,
}

/// Pending posts sent in a moderator's queue at once (oldest first); the rest
/// are not sent until a later join, once these are handled (the console needs paging).
pub const MAX_PENDING_IN_QUEUE: i64 = 2000;

/// How many recent comments a room shows a newcomer.
pub const RECENT_COMMENTS: usize = 200;

/// A question or comment with everything moderators see.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionRecord {
    pub id: PostId,
    /// `question` or `comment`.
    pub kind: PostKind,
    pub event_id: EventId,
    pub viewer_key: ViewerKey,
    pub nickname: String,
    pub text: String,
    /// The text as the viewer wrote it, when a moderator edited it.
    pub original_text: Option<String>,
    pub status: QuestionStatus,
    pub reject_reason: Option<String>,
    /// Sensitive-word hits (JSON array of `{word, category, start, end}`).
    pub screen_hits: serde_json::Value,
    pub answered: bool,
    pub answer: Option<String>,
    pub upvotes: i64,
    pub created_at: DateTime<Utc>,
    pub moderated_at: Option<DateTime<Utc>>,
    /// Personal data in what the viewer wrote (the original when edited),
    /// for the moderators to see marked; the public sees it masked.
    pub personal_data: Vec<Span>,
    /// Hidden at once by enough reports, pending a moderator's review.
    pub held_by_reports: bool,
    /// The asker's appeal of a rejection, if any (boxed: most posts have none).
    pub appeal: Option<Box<Appeal>>,
}

impl QuestionRow {
    pub(crate) fn into_record(self) -> StoreResult<QuestionRecord> {
        let status = QuestionStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Conflict(format!("question {} has unknown status {}", self.id, self.status)))?;
        let kind = PostKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Conflict(format!("post {} has unknown kind {}", self.id, self.kind)))?;
        let appeal = match (
            self.appeal_text,
            self.appeal_status.as_deref().and_then(AppealStatus::parse),
            self.appealed_at,
        ) {
            (Some(text), Some(status), Some(at)) => Some(Box::new(Appeal {
                text,
                status,
                reply: self.appeal_reply,
                at,
                due_on: self.appeal_due_on,
                decided_at: self.appeal_decided_at,
            })),
            _ => None,
        };
        Ok(QuestionRecord {
            id: self.id,
            kind,
            event_id: self.event_id,
            viewer_key: ViewerKey(self.viewer_key),
            nickname: self.nickname,
            status,
            reject_reason: self.reject_reason,
            screen_hits: self
                .screen_hits
                .and_then(|h| serde_json::from_str(&h).ok())
                .unwrap_or(serde_json::Value::Array(Vec::new())),
            answered: self.answered,
            answer: self.answer,
            upvotes: self.upvotes,
            created_at: self.created_at,
            moderated_at: self.moderated_at,
            personal_data: personal_data_spans(self.original_text.as_deref().unwrap_or(&self.text)),
            text: self.text,
            original_text: self.original_text,
            held_by_reports: self.held_by_reports,
            appeal,
        })
    }
}

impl QuestionRecord {
    /// The comment as every viewer sees it (personal data masked: what the
    /// big screen and the room log hold too; moderators and the author see
    /// the record itself).
    pub fn public_comment(&self) -> PublicComment {
        PublicComment {
            id: self.id,
            nickname: self.nickname.clone(),
            text: self.text.clone(),
            edited: self.original_text.is_some(),
            created_at: self.created_at,
        }
        .masked()
    }

    /// The change that shows this post as it is now.
    pub fn shown(&self) -> RoomChange {
        match self.kind {
            PostKind::Question => RoomChange::Question {
                question: self.public(),
            },
            PostKind::Comment => RoomChange::Comment {
                comment: self.public_comment(),
            },
        }
    }

    /// The change that takes this post off the public view.
    pub fn removed(&self) -> RoomChange {
        match self.kind {
            PostKind::Question => RoomChange::QuestionRemoved { question_id: self.id },
            PostKind::Comment => RoomChange::CommentRemoved { comment_id: self.id },
        }
    }

    /// The question as every viewer sees it (personal data masked).
    pub fn public(&self) -> PublicQuestion {
        PublicQuestion {
            id: self.id,
            nickname: self.nickname.clone(),
            text: self.text.clone(),
            upvotes: self.upvotes,
            answered: self.answered,
            answer: self.answer.clone(),
            edited: self.original_text.is_some(),
            created_at: self.created_at,
        }
        .masked()
    }
}

/// What every viewer may see of a room: its settings, its published
/// questions and latest comments, its opened and closed polls. Read from the
/// store when a room loads; a snapshot sends it to a new client.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublicRoom {
    pub moderation: ModerationMode,
    pub slow_mode_secs: u32,
    /// Interaction paused by a moderator: nobody may ask, comment, upvote or vote.
    pub paused: bool,
    pub pinned: Option<PostId>,
    /// Published questions, oldest first.
    pub questions: Vec<PublicQuestion>,
    /// The latest published comments (up to [`RECENT_COMMENTS`]), oldest first.
    pub comments: Vec<PublicComment>,
    /// Opened and closed polls, with the tally when it may be shown.
    pub polls: Vec<crate::domain::poll::PublicPoll>,
    /// The text feed (图文直播): updates still public, oldest first.
    pub updates: Vec<crate::domain::update::PublicUpdate>,
}

/// A room as of `seq`, read from the store: what the public sees and who is banned.
#[derive(Debug, Clone)]
pub struct RoomState {
    pub seq: i64,
    pub public: PublicRoom,
    /// The bans that hold.
    pub bans: Vec<BanRecord>,
}

/// A ban of a viewer, an address or both, in one room.
#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct BanRecord {
    pub id: i64,
    pub viewer_key: Option<String>,
    pub ip: Option<String>,
    pub reason: String,
    /// When the ban ends; `null`: at the end of the event (never, when permanent).
    pub expires_at: Option<DateTime<Utc>>,
    /// Holds in every event, not only the one it was issued in (administrators only).
    pub permanent: bool,
    pub banned_by: StaffId,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, sqlx::FromRow)]
struct RoomRow {
    last_seq: i64,
    moderation: String,
    slow_mode_secs: i64,
    interaction_paused: bool,
    pinned_question_id: Option<PostId>,
}

fn rows_to_records(rows: Vec<QuestionRow>) -> StoreResult<Vec<QuestionRecord>> {
    rows.into_iter().map(QuestionRow::into_record).collect()
}

impl Store {
    /// The room's state. `seq` is read first: anything committed after it
    /// may already show in the questions, and the room re-applies it (every
    /// change is idempotent), so nothing is missed.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn load_room(&self, event_id: EventId) -> StoreResult<RoomState> {
        on_pool!(self, write p => sqlx::query("INSERT INTO rooms (event_id) VALUES ($1) ON CONFLICT (event_id) DO NOTHING")
            .bind(event_id)
            .execute(p)
            .await
            .map(|_| ()))?;
        const ROOM: &str = "SELECT last_seq, moderation, slow_mode_secs, interaction_paused, pinned_question_id FROM rooms WHERE event_id = $1";
        let room = on_pool!(self, read p => sqlx::query_as::<_, RoomRow>(ROOM).bind(event_id).fetch_one(p).await)?;
        let questions = self.approved_questions(event_id).await?;
        const COMMENTS: &str = concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE event_id = $1 AND status = 'approved' AND kind = 'comment' ORDER BY id DESC LIMIT $2"
        );
        let recent = on_pool!(self, read p => sqlx::query_as::<_, QuestionRow>(COMMENTS).bind(event_id).bind(RECENT_COMMENTS as i64).fetch_all(p).await)?;
        let mut comments: Vec<PublicComment> = rows_to_records(recent)?
            .iter()
            .map(QuestionRecord::public_comment)
            .collect();
        comments.reverse();
        let polls = self.public_polls(event_id).await?;
        let updates = self.public_updates(event_id).await?;
        let bans = self.active_bans(event_id).await?;
        Ok(RoomState {
            seq: room.last_seq,
            public: PublicRoom {
                moderation: ModerationMode::parse(&room.moderation).unwrap_or_default(),
                slow_mode_secs: u32::try_from(room.slow_mode_secs).unwrap_or(0),
                paused: room.interaction_paused,
                pinned: room.pinned_question_id,
                questions,
                comments,
                polls,
                updates,
            },
            bans,
        })
    }

    /// The bans of a room that hold now (not lifted, not expired; its own
    /// and the permanent ones), oldest first: what a room loads, and what
    /// every node of a cluster re-reads to learn of bans issued or lifted
    /// elsewhere.
    pub async fn active_bans(&self, event_id: EventId) -> StoreResult<Vec<BanRecord>> {
        const SQL: &str = "SELECT id, viewer_key, ip, reason, expires_at, permanent, banned_by, created_at FROM bans
             WHERE (event_id = $1 OR permanent) AND lifted_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
             ORDER BY id";
        let now = Utc::now();
        Ok(on_pool!(self, read p => sqlx::query_as::<_, BanRecord>(SQL).bind(event_id).bind(now).fetch_all(p).await)?)
    }

    /// The approved questions of a room (not comments), in the order asked;
    /// a read only (unlike [`Store::load_room`], which creates the room).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn approved_questions(&self, event_id: EventId) -> StoreResult<Vec<PublicQuestion>> {
        const SQL: &str = concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE event_id = $1 AND status = 'approved' AND kind = 'question' ORDER BY id"
        );
        let rows = on_pool!(self, read p => sqlx::query_as::<_, QuestionRow>(SQL).bind(event_id).fetch_all(p).await)?;
        Ok(rows_to_records(rows)?.iter().map(QuestionRecord::public).collect())
    }

    /// What moderators work on: every pending question, and the latest
    /// rejected and hidden ones (at most `limit` of those).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn moderation_queue(&self, event_id: EventId, limit: i64) -> StoreResult<Vec<QuestionRecord>> {
        const PENDING: &str = concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE event_id = $1 AND (status = 'pending' OR appeal_status = 'open' OR held_by_reports) \
             ORDER BY id LIMIT $2"
        );
        let rows = on_pool!(self, read p => sqlx::query_as::<_, QuestionRow>(PENDING).bind(event_id).bind(MAX_PENDING_IN_QUEUE).fetch_all(p).await)?;
        const DONE: &str = concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE event_id = $1 AND status IN ('rejected', 'hidden') \
             AND COALESCE(appeal_status, '') <> 'open' AND NOT held_by_reports ORDER BY id DESC LIMIT $2"
        );
        let mut older = on_pool!(self, read p => sqlx::query_as::<_, QuestionRow>(DONE).bind(event_id).bind(limit).fetch_all(p).await)?;
        older.reverse();
        let mut all = rows_to_records(older)?;
        all.extend(rows_to_records(rows)?);
        Ok(all)
    }
}
