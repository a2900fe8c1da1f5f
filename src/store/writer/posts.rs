//! Posts: a viewer's question or comment, and upvotes.

use super::command::{NewQuestion, Outcome, refused};
use super::tx::{Address, AddressCap, Decided, LiveTx, too_many_from_address};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{EventId, PostId};
use crate::domain::question::{QuestionStatus, RoomChange, ViewerKey};
use crate::store::StoreResult;
use crate::store::live::{QuestionRecord, QuestionRow, question_columns};
use crate::store::tx::on_tx;

impl LiveTx<'_> {
    /// A question or comment, stored once per `client_ref`: a retry answers
    /// with the post stored the first time.
    pub(super) async fn ask(&mut self, q: &NewQuestion) -> StoreResult<Decided> {
        let Some(question) = self.insert_post(q).await? else {
            let question = self.same_post(q).await?;
            return Ok(Ok(Outcome::Asked {
                question: Box::new(question),
                duplicate: true,
            }));
        };
        if question.status == QuestionStatus::Approved {
            self.publish(q.event_id, question.shown()).await?;
        }
        if !q.hits.as_array().is_none_or(|h| h.is_empty()) || question.status == QuestionStatus::Rejected {
            let action = if question.status == QuestionStatus::Rejected {
                "screen_reject"
            } else {
                "screen_hold"
            };
            self.audit_screen(action, &question).await?;
        }
        Ok(Ok(Outcome::Asked {
            question: Box::new(question),
            duplicate: false,
        }))
    }

    /// The new post; `None` when this viewer already sent this `client_ref`.
    async fn insert_post(&mut self, q: &NewQuestion) -> StoreResult<Option<QuestionRecord>> {
        const SQL: &str = concat!(
            "INSERT INTO questions (event_id, viewer_key, nickname, text, status, reject_reason, screen_hits, \
             client_ref, ip, created_at, moderated_at, kind, identity_id, notify) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (event_id, viewer_key, client_ref) WHERE client_ref IS NOT NULL DO NOTHING RETURNING ",
            question_columns!()
        );
        let hits = (q.hits.as_array().is_some_and(|h| !h.is_empty())).then(|| q.hits.to_string());
        let at = self.at;
        let decided = (q.status != QuestionStatus::Pending).then_some(at);
        let row: Option<QuestionRow> = on_tx!(self.tx(), c => sqlx::query_as(SQL)
            .bind(q.event_id).bind(&q.viewer.0).bind(&q.nickname).bind(&q.text).bind(q.status.as_str())
            .bind(&q.reject_reason).bind(&hits).bind(&q.client_ref).bind(&q.ip).bind(at).bind(decided)
            .bind(q.kind.as_str()).bind(q.identity).bind(q.notify)
            .fetch_optional(c).await)?;
        row.map(QuestionRow::into_record).transpose()
    }

    /// The post this viewer stored with this `client_ref`.
    async fn same_post(&mut self, q: &NewQuestion) -> StoreResult<QuestionRecord> {
        const SQL: &str = concat!(
            "SELECT ",
            question_columns!(),
            " FROM questions WHERE event_id = $1 AND viewer_key = $2 AND client_ref = $3"
        );
        let row: QuestionRow = on_tx!(self.tx(), c => sqlx::query_as(SQL).bind(q.event_id).bind(&q.viewer.0)
            .bind(&q.client_ref).fetch_one(c).await)?;
        row.into_record()
    }

    /// One upvote per viewer on a published question.
    pub(super) async fn upvote(
        &mut self,
        event_id: EventId,
        question_id: PostId,
        viewer: &ViewerKey,
        from: Address<'_>,
    ) -> StoreResult<Decided> {
        const FOUND: &str = "SELECT status, kind FROM questions WHERE id = $1 AND event_id = $2";
        let found: Option<(String, String)> = on_tx!(self.tx(), c => sqlx::query_as(FOUND)
            .bind(question_id).bind(event_id).fetch_optional(c).await)?;
        match found.as_ref().map(|(s, k)| (s.as_str(), k.as_str())) {
            None => return Ok(Err(refused(ErrorCode::NotFound, "no such question in this room"))),
            Some((_, "comment")) => return Ok(Err(refused(ErrorCode::NotAQuestion, "comments are not upvoted"))),
            Some((s, _)) if s != "approved" => {
                return Ok(Err(refused(
                    ErrorCode::NotVisible,
                    "only published questions can be upvoted",
                )));
            }
            Some(_) => {}
        }
        const MINE: &str = "SELECT viewer_key FROM upvotes WHERE question_id = $1 AND viewer_key = $2";
        let mine: Option<String> = on_tx!(self.tx(), c => sqlx::query_scalar(MINE)
            .bind(question_id).bind(&viewer.0).fetch_optional(c).await)?;
        let full = mine.is_none() && self.address_full(AddressCap::Upvotes, question_id, from).await?;
        let added = if mine.is_some() || full {
            0
        } else {
            self.insert_upvote(question_id, viewer, from.ip).await?
        };
        if full {
            return Ok(Err(too_many_from_address("upvoted this question")));
        }
        if added == 0 {
            return Ok(Err(refused(
                ErrorCode::AlreadyUpvoted,
                "you have already upvoted this question",
            )));
        }
        const COUNT: &str = "UPDATE questions SET upvotes = upvotes + 1 WHERE id = $1 RETURNING upvotes";
        let upvotes: i64 = on_tx!(self.tx(), c => sqlx::query_scalar(COUNT).bind(question_id).fetch_one(c).await)?;
        self.publish(event_id, RoomChange::Upvotes { question_id, upvotes })
            .await?;
        Ok(Ok(Outcome::Upvoted { question_id, upvotes }))
    }

    /// Returns how many rows it added (0: the viewer had upvoted already).
    async fn insert_upvote(&mut self, question_id: PostId, viewer: &ViewerKey, ip: Option<&str>) -> StoreResult<u64> {
        const SQL: &str = "INSERT INTO upvotes (question_id, viewer_key, created_at, ip) VALUES ($1, $2, $3, $4) \
                           ON CONFLICT DO NOTHING";
        let at = self.at;
        Ok(
            on_tx!(self.tx(), c => sqlx::query(SQL).bind(question_id).bind(&viewer.0).bind(at).bind(ip)
            .execute(c).await.map(|r| r.rows_affected()))?,
        )
    }
}
