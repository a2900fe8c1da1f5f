//! What the store knows of the people in a room: a viewer's own posts and
//! upvotes, where they last posted from (for bans by address), and who wrote
//! each published post (for staff).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{QuestionRecord, QuestionRow, RECENT_COMMENTS, question_columns, rows_to_records};
use crate::domain::ids::{EventId, PostId};
use crate::domain::question::ViewerKey;
use crate::store::{Store, StoreResult, on_pool};

impl Store {
    /// The viewers whose posts in the event were moderated (or posted
    /// already decided) at or after `since`: the authors who may have missed
    /// a `mine` frame from another node.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn authors_since(&self, event_id: EventId, since: DateTime<Utc>) -> StoreResult<Vec<ViewerKey>> {
        const SQL: &str = "SELECT DISTINCT viewer_key FROM questions WHERE event_id = $1 AND moderated_at >= $2";
        let keys: Vec<String> =
            on_pool!(self, read p => sqlx::query_scalar(SQL).bind(event_id).bind(since).fetch_all(p).await)?;
        Ok(keys.into_iter().map(ViewerKey).collect())
    }

    /// A viewer's own questions in a room (any status), oldest first.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn viewer_questions(&self, event_id: EventId, viewer: &ViewerKey) -> StoreResult<Vec<QuestionRecord>> {
        const SQL: &str = concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE event_id = $1 AND viewer_key = $2 ORDER BY id"
        );
        let rows = on_pool!(self, read p => sqlx::query_as::<_, QuestionRow>(SQL).bind(event_id).bind(&viewer.0).fetch_all(p).await)?;
        rows_to_records(rows)
    }

    /// The ids of the questions a viewer upvoted in a room.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn viewer_upvotes(&self, event_id: EventId, viewer: &ViewerKey) -> StoreResult<Vec<PostId>> {
        const SQL: &str = "SELECT u.question_id FROM upvotes u JOIN questions q ON q.id = u.question_id
             WHERE q.event_id = $1 AND u.viewer_key = $2 ORDER BY u.question_id";
        Ok(on_pool!(self, read p => sqlx::query_scalar(SQL).bind(event_id).bind(&viewer.0).fetch_all(p).await)?)
    }

    /// The address a viewer last posted, upvoted or voted from in a room, for
    /// bans by address (when no room here saw them join).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn viewer_last_ip(&self, event_id: EventId, viewer: &ViewerKey) -> StoreResult<Option<String>> {
        const SQL: &str = "SELECT ip FROM (
               SELECT ip, created_at AS at FROM questions WHERE event_id = $1 AND viewer_key = $2 AND ip IS NOT NULL
               UNION ALL
               SELECT u.ip, u.created_at FROM upvotes u JOIN questions q ON q.id = u.question_id
                WHERE q.event_id = $1 AND u.viewer_key = $2 AND u.ip IS NOT NULL
               UNION ALL
               SELECT v.ip, v.updated_at FROM poll_votes v JOIN polls p ON p.id = v.poll_id
                WHERE p.event_id = $1 AND v.viewer_key = $2 AND v.ip IS NOT NULL
             ) seen ORDER BY at DESC LIMIT 1";
        let ip: Option<Option<String>> =
            on_pool!(self, read p => sqlx::query_scalar(SQL).bind(event_id).bind(&viewer.0).fetch_optional(p).await)?;
        Ok(ip.flatten())
    }

    /// The author of every published post a moderator may act on: the
    /// published questions and the latest published comments (what a
    /// snapshot shows). Staff get it at join, so a reloaded console can still
    /// ban the author of a post published before it connected.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn published_authors(&self, event_id: EventId) -> StoreResult<Vec<PostAuthor>> {
        const QUESTIONS: &str = "SELECT id, viewer_key FROM questions
             WHERE event_id = $1 AND status = 'approved' AND kind = 'question' ORDER BY id";
        const COMMENTS: &str = "SELECT id, viewer_key FROM questions
             WHERE event_id = $1 AND status = 'approved' AND kind = 'comment' ORDER BY id DESC LIMIT $2";
        let mut authors: Vec<PostAuthor> =
            on_pool!(self, read p => sqlx::query_as(QUESTIONS).bind(event_id).fetch_all(p).await)?;
        let comments: Vec<PostAuthor> = on_pool!(self, read p => sqlx::query_as(COMMENTS)
            .bind(event_id).bind(RECENT_COMMENTS as i64).fetch_all(p).await)?;
        authors.extend(comments.into_iter().rev());
        Ok(authors)
    }
}

/// Who wrote a published post (its viewer key), for staff.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PostAuthor {
    pub id: PostId,
    pub viewer_key: String,
}
