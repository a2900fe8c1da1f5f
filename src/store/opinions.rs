//! Opinions and their feedback loop: capture from the live room, offline
//! entries, the unit's decisions and replies, transfers, merges, extensions,
//! reminders and ratings. Every change is one transaction with its audit
//! entry, and conditional on the row being as it was read (`updated_at`), so
//! two people editing at once cannot overwrite each other silently.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::writer::audit;
use super::{OnConstraint, Store, StoreError, StoreResult, on_pool};
use crate::domain::opinion::{AdoptionState, ExtensionDecision, OpinionSource, Rating, WithheldCategory};
use crate::domain::question::ViewerKey;
use crate::domain::time::now;

const OPINION_SELECT: &str = "SELECT o.id, o.event_id, e.title AS event_title, o.unit_id, u.code AS unit_code,
    u.short_name AS unit_name, o.source, o.text, o.nickname, o.viewer_key, o.topic, o.state, o.reason, o.reply,
    o.handoff, o.support, o.merged_into, o.received_at, o.due_date, o.replied_by, r.display_name AS replied_by_name,
    o.published_at, o.rating, o.rated_at, o.created_at, o.updated_at,
    (SELECT COUNT(*) FROM opinion_reminders m WHERE m.opinion_id = o.id) AS reminders,
    (SELECT COUNT(*) FROM opinion_extensions x WHERE x.opinion_id = o.id AND x.decision = 'pending') AS pending_extensions
    FROM opinions o JOIN events e ON e.id = o.event_id JOIN units u ON u.id = o.unit_id
    LEFT JOIN users r ON r.id = o.replied_by";

#[derive(Debug, sqlx::FromRow)]
struct OpinionRow {
    id: i64,
    event_id: i64,
    event_title: String,
    unit_id: i64,
    unit_code: String,
    unit_name: String,
    source: String,
    text: String,
    nickname: String,
    viewer_key: Option<String>,
    topic: Option<String>,
    state: String,
    reason: Option<String>,
    reply: Option<String>,
    handoff: bool,
    support: i64,
    merged_into: Option<i64>,
    received_at: DateTime<Utc>,
    due_date: Option<NaiveDate>,
    replied_by: Option<i64>,
    replied_by_name: Option<String>,
    published_at: Option<DateTime<Utc>>,
    rating: Option<String>,
    rated_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    reminders: i64,
    pending_extensions: i64,
}

/// One opinion with everything unit staff see of it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Opinion {
    pub id: i64,
    pub event_id: i64,
    pub event_title: String,
    /// The unit answering it now (答复单位).
    pub unit_id: i64,
    pub unit_code: String,
    pub unit_name: String,
    pub source: OpinionSource,
    pub text: String,
    pub nickname: String,
    /// The asker's viewer key (never the token); staff only.
    #[schema(value_type = Option<String>)]
    pub viewer_key: Option<ViewerKey>,
    pub topic: Option<String>,
    pub state: AdoptionState,
    /// Why not adopted.
    pub reason: Option<String>,
    pub reply: Option<String>,
    /// A question not answered on air, handed off to the unit.
    pub handoff: bool,
    /// The asker plus everyone who upvoted it (and the merged opinions' support).
    pub support: i64,
    pub merged_into: Option<i64>,
    /// 受理日期: when it was received.
    pub received_at: DateTime<Utc>,
    /// The last day (Beijing time) the reply is due; none when the calendar
    /// does not cover that year.
    pub due_date: Option<NaiveDate>,
    pub replied_by: Option<i64>,
    pub replied_by_name: Option<String>,
    /// 答复日期: when the reply was published.
    pub published_at: Option<DateTime<Utc>>,
    pub rating: Option<Rating>,
    pub rated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Reminders (催办) sent by the data bureau.
    pub reminders: i64,
    /// Whether an extension request waits for the bureau's decision.
    pub extension_pending: bool,
}

impl OpinionRow {
    fn into_opinion(self) -> StoreResult<Opinion> {
        let bad =
            |what: &str, v: &str| StoreError::Conflict(format!("opinion {} has an unknown {what} `{v}`", self.id));
        let source = OpinionSource::parse(&self.source).ok_or_else(|| bad("source", &self.source))?;
        let state = AdoptionState::parse(&self.state).ok_or_else(|| bad("state", &self.state))?;
        let rating = match self.rating.as_deref() {
            None => None,
            Some(r) => Some(Rating::parse(r).ok_or_else(|| bad("rating", r))?),
        };
        Ok(Opinion {
            id: self.id,
            event_id: self.event_id,
            event_title: self.event_title,
            unit_id: self.unit_id,
            unit_code: self.unit_code,
            unit_name: self.unit_name,
            source,
            text: self.text,
            nickname: self.nickname,
            viewer_key: self.viewer_key.map(ViewerKey),
            topic: self.topic,
            state,
            reason: self.reason,
            reply: self.reply,
            handoff: self.handoff,
            support: self.support,
            merged_into: self.merged_into,
            received_at: self.received_at,
            due_date: self.due_date,
            replied_by: self.replied_by,
            replied_by_name: self.replied_by_name,
            published_at: self.published_at,
            rating,
            rated_at: self.rated_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            reminders: self.reminders,
            extension_pending: self.pending_extensions > 0,
        })
    }
}

/// The fields of an opinion that change after it is recorded; the audit log
/// keeps them before and after every change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpinionFields {
    pub unit_id: i64,
    pub topic: Option<String>,
    pub state: AdoptionState,
    pub reason: Option<String>,
    pub reply: Option<String>,
    pub support: i64,
    pub merged_into: Option<i64>,
    pub due_date: Option<NaiveDate>,
    pub replied_by: Option<i64>,
    pub published_at: Option<DateTime<Utc>>,
}

impl Opinion {
    pub fn fields(&self) -> OpinionFields {
        OpinionFields {
            unit_id: self.unit_id,
            topic: self.topic.clone(),
            state: self.state,
            reason: self.reason.clone(),
            reply: self.reply.clone(),
            support: self.support,
            merged_into: self.merged_into,
            due_date: self.due_date,
            replied_by: self.replied_by,
            published_at: self.published_at,
        }
    }
}

/// Who changes an opinion, as the audit log names them.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Staff(i64),
    Viewer(&'a ViewerKey),
}

impl Actor<'_> {
    fn parts(self) -> (&'static str, String) {
        match self {
            Self::Staff(id) => ("staff", id.to_string()),
            Self::Viewer(key) => ("viewer", key.0.clone()),
        }
    }
}

/// A record written beside an opinion change, in the same transaction.
#[derive(Debug, Clone)]
pub enum SideRecord<'a> {
    None,
    Transfer {
        from_unit: i64,
        to_unit: i64,
        reason: &'a str,
    },
    ExtensionDecided {
        id: i64,
        decision: ExtensionDecision,
        note: Option<&'a str>,
    },
}

/// Which opinions to list; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct OpinionFilter {
    pub event_id: Option<i64>,
    pub unit_id: Option<i64>,
    pub state: Option<AdoptionState>,
    pub source: Option<OpinionSource>,
    pub topic: Option<String>,
    /// A substring of the text or the reply (Chinese needs no word breaks).
    pub text: Option<String>,
    /// Received at or after.
    pub from: Option<DateTime<Utc>>,
    /// Received before.
    pub until: Option<DateTime<Utc>>,
    pub handoff_only: bool,
    /// Only unpublished opinions whose due date is before `today`.
    pub overdue_only: bool,
    pub published: Option<bool>,
    /// Opinions merged into another are left out unless asked for.
    pub include_merged: bool,
    /// Today in Beijing: overdue opinions are listed first.
    pub today: NaiveDate,
    pub limit: i64,
    pub offset: i64,
}

/// A new opinion typed in by staff.
#[derive(Debug, Clone)]
pub struct NewOpinion<'a> {
    pub event_id: i64,
    pub unit_id: i64,
    pub text: &'a str,
    pub nickname: &'a str,
    pub topic: Option<&'a str>,
    pub received_at: DateTime<Utc>,
    pub due_date: Option<NaiveDate>,
    pub created_by: i64,
}

/// A request to move an opinion's reply deadline.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Extension {
    pub id: i64,
    pub opinion_id: i64,
    /// What the request is about, so that a list of requests reads on its own.
    pub event_id: i64,
    pub event_title: String,
    /// The unit that answers the opinion.
    pub unit_id: i64,
    pub unit_code: String,
    pub unit_name: String,
    pub opinion_text: String,
    /// The opinion's due date now (a grant moves it to `requested_due`).
    pub current_due: Option<NaiveDate>,
    pub reason: String,
    pub requested_due: NaiveDate,
    pub requested_by: i64,
    pub requested_at: DateTime<Utc>,
    /// `pending`, `granted` or `refused`.
    pub decision: String,
    pub decision_note: Option<String>,
    pub decided_by: Option<i64>,
    pub decided_at: Option<DateTime<Utc>>,
}

macro_rules! extension_select {
    () => {
        "SELECT x.id, x.opinion_id, o.event_id, e.title AS event_title, o.unit_id, u.code AS unit_code, u.short_name AS unit_name,
           o.text AS opinion_text, o.due_date AS current_due, x.reason, x.requested_due, x.requested_by, x.requested_at,
           x.decision, x.decision_note, x.decided_by, x.decided_at
         FROM opinion_extensions x JOIN opinions o ON o.id = x.opinion_id JOIN events e ON e.id = o.event_id
         JOIN units u ON u.id = o.unit_id"
    };
}

/// A transfer of an opinion from one unit to another.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Transfer {
    pub id: i64,
    pub opinion_id: i64,
    pub from_unit: i64,
    pub to_unit: i64,
    pub reason: String,
    pub by_user: i64,
    pub created_at: DateTime<Utc>,
}

/// A reminder (催办) from the data bureau.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Reminder {
    pub id: i64,
    pub opinion_id: i64,
    pub note: Option<String>,
    pub sent_by: i64,
    pub sent_at: DateTime<Utc>,
}

fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

fn changed_meanwhile() -> StoreError {
    StoreError::Conflict("the opinion changed meanwhile; reload it and try again".into())
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl Store {
    /// Record what citizens said in an event's live room as opinions for
    /// `unit_id`: approved questions and comments and screened open-text poll
    /// answers that are not recorded yet (rejected and hidden ones stay out;
    /// the audit log keeps them). Approved questions without an on-air answer
    /// become hand-off tasks; answered ones start as 已解答 with the answer.
    /// Idempotent; returns how many were added.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn capture_opinions(&self, event_id: i64, unit_id: i64, due_date: Option<NaiveDate>) -> StoreResult<u64> {
        const POSTS: &str = "INSERT INTO opinions (event_id, unit_id, source, source_ref, text, nickname, viewer_key,
               state, reply, handoff, support, received_at, due_date, created_at, updated_at)
             SELECT q.event_id, $2, q.kind, 'q:' || q.id, q.text, q.nickname, q.viewer_key,
               CASE WHEN q.kind = 'question' AND q.answered THEN 'answered' ELSE 'pending' END,
               CASE WHEN q.kind = 'question' AND q.answered THEN q.answer END,
               q.kind = 'question' AND NOT q.answered,
               q.upvotes + 1, q.created_at, $3, $4, $4
             FROM questions q WHERE q.event_id = $1 AND q.status = 'approved'
             ON CONFLICT (source_ref) WHERE source_ref IS NOT NULL DO NOTHING";
        const ANSWERS: &str = "INSERT INTO opinions (event_id, unit_id, source, source_ref, text, nickname, viewer_key,
               state, handoff, support, received_at, due_date, created_at, updated_at)
             SELECT p.event_id, $2, 'poll_answer', 'p:' || v.poll_id || ':' || v.viewer_key, v.text, '网友',
               v.viewer_key, 'pending', FALSE, 1, v.updated_at, $3, $4, $4
             FROM poll_votes v JOIN polls p ON p.id = v.poll_id
             WHERE p.event_id = $1 AND v.text IS NOT NULL AND v.text_status = 'approved'
             ON CONFLICT (source_ref) WHERE source_ref IS NOT NULL DO NOTHING";
        let at = now();
        let added = on_pool!(self, write p => async {
            let mut tx = p.begin().await?;
            let posts = sqlx::query(POSTS).bind(event_id).bind(unit_id).bind(due_date).bind(at).execute(&mut *tx).await?;
            let answers = sqlx::query(ANSWERS).bind(event_id).bind(unit_id).bind(due_date).bind(at).execute(&mut *tx).await?;
            let added = posts.rows_affected() + answers.rows_affected();
            if added > 0 {
                let after = serde_json::json!({ "added": added }).to_string();
                audit!(tx, event_id, "system", "capture", "opinion.capture", None::<i64>, None::<String>, Some(after), at);
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(added)
        }.await)?;
        Ok(added)
    }

    /// An opinion typed in by staff (an offline open day's paper form, a letter).
    #[tracing::instrument(skip(self, new), fields(event_id = new.event_id), err(level = "debug"))]
    pub async fn create_opinion(&self, new: &NewOpinion<'_>) -> StoreResult<Opinion> {
        let at = now();
        let id = on_pool!(self, write p => async {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO opinions (event_id, unit_id, source, text, nickname, topic, state, handoff, support,
                   received_at, due_date, created_by, created_at, updated_at)
                 VALUES ($1, $2, 'offline', $3, $4, $5, 'pending', FALSE, 1, $6, $7, $8, $9, $9) RETURNING id",
            )
            .bind(new.event_id)
            .bind(new.unit_id)
            .bind(new.text)
            .bind(new.nickname)
            .bind(new.topic)
            .bind(new.received_at)
            .bind(new.due_date)
            .bind(new.created_by)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            let after = serde_json::json!({ "text": new.text, "nickname": new.nickname, "topic": new.topic }).to_string();
            audit!(tx, new.event_id, "staff", new.created_by.to_string(), "opinion.create", Some(id), None::<String>, Some(after), at);
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        }.await)?;
        self.opinion(id).await
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn opinion(&self, id: i64) -> StoreResult<Opinion> {
        let sql = format!("{OPINION_SELECT} WHERE o.id = $1");
        on_pool!(self, read p => sqlx::query_as::<_, OpinionRow>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(p).await)?
            .ok_or(StoreError::NotFound("opinion"))?
            .into_opinion()
    }

    /// Opinions matching `f`: overdue ones first, then by due date, then oldest first.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn list_opinions(&self, f: &OpinionFilter) -> StoreResult<Vec<Opinion>> {
        const WHERE: &str = " WHERE ($1 IS NULL OR o.event_id = $1) AND ($2 IS NULL OR o.unit_id = $2)
            AND ($3 IS NULL OR o.state = $3) AND ($4 IS NULL OR o.source = $4) AND ($5 IS NULL OR o.topic = $5)
            AND ($6 IS NULL OR LOWER(o.text) LIKE $6 ESCAPE '\\' OR LOWER(COALESCE(o.reply, '')) LIKE $6 ESCAPE '\\'
                 OR LOWER(o.nickname) LIKE $6 ESCAPE '\\')
            AND ($7 IS NULL OR o.received_at >= $7) AND ($8 IS NULL OR o.received_at < $8)
            AND ($9 = FALSE OR o.handoff = TRUE)
            AND ($10 IS NULL OR (o.published_at IS NOT NULL) = $10)
            AND ($11 = TRUE OR o.merged_into IS NULL)
            AND ($15 = FALSE OR (o.published_at IS NULL AND o.due_date < $12))
            ORDER BY CASE WHEN o.published_at IS NULL AND o.due_date < $12 THEN 0 ELSE 1 END,
              o.published_at IS NOT NULL, o.due_date IS NULL, o.due_date, o.id
            LIMIT $13 OFFSET $14";
        let sql = format!("{OPINION_SELECT}{WHERE}");
        let text = f.text.as_deref().map(like_pattern);
        let rows = on_pool!(self, read p => sqlx::query_as::<_, OpinionRow>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(f.event_id)
            .bind(f.unit_id)
            .bind(f.state.map(AdoptionState::as_str))
            .bind(f.source.map(OpinionSource::as_str))
            .bind(f.topic.as_deref())
            .bind(text.as_deref())
            .bind(f.from)
            .bind(f.until)
            .bind(f.handoff_only)
            .bind(f.published)
            .bind(f.include_merged)
            .bind(f.today)
            .bind(f.limit)
            .bind(f.offset)
            .bind(f.overdue_only)
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(OpinionRow::into_opinion).collect()
    }

    /// The opinions merged into `id`.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn merged_opinions(&self, id: i64) -> StoreResult<Vec<Opinion>> {
        let sql = format!("{OPINION_SELECT} WHERE o.merged_into = $1 ORDER BY o.id");
        let rows = on_pool!(self, read p => sqlx::query_as::<_, OpinionRow>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_all(p).await)?;
        rows.into_iter().map(OpinionRow::into_opinion).collect()
    }

    /// Apply `changes` (each an opinion as read and its new fields) in one
    /// transaction with an audit entry each; refused as a whole if any of them
    /// changed since it was read. Returns the opinions as they are now.
    #[tracing::instrument(skip(self, changes, side), fields(n = changes.len()), err(level = "debug"))]
    pub async fn change_opinions(
        &self,
        changes: &[(Opinion, OpinionFields)],
        action: &str,
        actor: Actor<'_>,
        side: SideRecord<'_>,
    ) -> StoreResult<Vec<Opinion>> {
        const UPDATE: &str = "UPDATE opinions SET unit_id = $1, topic = $2, state = $3, reason = $4, reply = $5,
               support = $6, merged_into = $7, due_date = $8, replied_by = $9, published_at = $10, updated_at = $11
             WHERE id = $12 AND updated_at = $13";
        let at = now();
        let (kind, who) = actor.parts();
        on_pool!(self, write p => {
            let mut tx = p.begin().await?;
            for (before, after) in changes {
                let done = sqlx::query(UPDATE)
                    .bind(after.unit_id)
                    .bind(&after.topic)
                    .bind(after.state.as_str())
                    .bind(&after.reason)
                    .bind(&after.reply)
                    .bind(after.support)
                    .bind(after.merged_into)
                    .bind(after.due_date)
                    .bind(after.replied_by)
                    .bind(after.published_at)
                    .bind(at)
                    .bind(before.id)
                    .bind(before.updated_at)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(changed_meanwhile());
                }
                audit!(tx, before.event_id, kind, &who, action, Some(before.id), Some(json(&before.fields())), Some(json(after)), at);
            }
            match side {
                SideRecord::None => {}
                SideRecord::Transfer { from_unit, to_unit, reason } => {
                    let (opinion, _) = changes.first().ok_or_else(|| StoreError::Conflict("nothing to transfer".into()))?;
                    sqlx::query("INSERT INTO opinion_transfers (opinion_id, from_unit, to_unit, reason, by_user, created_at)
                         VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(opinion.id).bind(from_unit).bind(to_unit).bind(reason).bind(who.parse::<i64>().ok()).bind(at)
                        .execute(&mut *tx).await?;
                }
                SideRecord::ExtensionDecided { id, decision, note } => {
                    let done = sqlx::query("UPDATE opinion_extensions SET decision = $1, decision_note = $2, decided_by = $3,
                           decided_at = $4 WHERE id = $5 AND decision = 'pending'")
                        .bind(decision.as_str()).bind(note).bind(who.parse::<i64>().ok()).bind(at).bind(id)
                        .execute(&mut *tx).await?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Conflict("the extension request was decided meanwhile".into()));
                    }
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        let mut now_ = Vec::with_capacity(changes.len());
        for (before, _) in changes {
            now_.push(self.opinion(before.id).await?);
        }
        Ok(now_)
    }

    /// The asker rates a published reply, once.
    #[tracing::instrument(skip(self, viewer), err(level = "debug"))]
    pub async fn rate_opinion(&self, opinion: &Opinion, viewer: &ViewerKey, rating: Rating) -> StoreResult<Opinion> {
        let at = now();
        on_pool!(self, write p => {
            let mut tx = p.begin().await?;
            let done = sqlx::query("UPDATE opinions SET rating = $1, rated_at = $2
                 WHERE id = $3 AND viewer_key = $4 AND published_at IS NOT NULL AND rating IS NULL")
                .bind(rating.as_str()).bind(at).bind(opinion.id).bind(&viewer.0)
                .execute(&mut *tx).await?;
            if done.rows_affected() != 1 {
                return Err(StoreError::Conflict("this reply was rated already".into()));
            }
            let after = serde_json::json!({ "rating": rating }).to_string();
            audit!(tx, opinion.event_id, "viewer", &viewer.0, "opinion.rate", Some(opinion.id), None::<String>, Some(after), at);
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.opinion(opinion.id).await
    }

    /// A unit asks the bureau to move a reply deadline.
    #[tracing::instrument(skip(self, reason), err(level = "debug"))]
    pub async fn request_extension(
        &self,
        opinion: &Opinion,
        requested_due: NaiveDate,
        reason: &str,
        by: i64,
    ) -> StoreResult<Extension> {
        let at = now();
        let id = on_pool!(self, write p => async {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar("INSERT INTO opinion_extensions (opinion_id, reason, requested_due, requested_by, requested_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id")
                .bind(opinion.id).bind(reason).bind(requested_due).bind(by).bind(at)
                .fetch_one(&mut *tx).await?;
            let after = serde_json::json!({ "extension": id, "requested_due": requested_due, "reason": reason }).to_string();
            audit!(tx, opinion.event_id, "staff", by.to_string(), "opinion.extension_request", Some(opinion.id), None::<String>, Some(after), at);
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        }.await)
        .on_unique(|| "an extension request for this opinion already waits for a decision".into())?;
        self.extension(id).await
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn extension(&self, id: i64) -> StoreResult<Extension> {
        const SQL: &str = concat!(extension_select!(), " WHERE x.id = $1");
        on_pool!(self, read p => sqlx::query_as::<_, Extension>(SQL).bind(id).fetch_optional(p).await)?
            .ok_or(StoreError::NotFound("extension request"))
    }

    /// Extension requests: of one opinion, or (with `None`) every pending one.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn extensions(&self, opinion_id: Option<i64>) -> StoreResult<Vec<Extension>> {
        const SQL: &str = concat!(
            extension_select!(),
            " WHERE ($1 IS NULL AND x.decision = 'pending') OR x.opinion_id = $1 ORDER BY x.id"
        );
        Ok(on_pool!(self, read p => sqlx::query_as::<_, Extension>(SQL).bind(opinion_id).fetch_all(p).await)?)
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn transfers(&self, opinion_id: i64) -> StoreResult<Vec<Transfer>> {
        const SQL: &str = "SELECT id, opinion_id, from_unit, to_unit, reason, by_user, created_at
             FROM opinion_transfers WHERE opinion_id = $1 ORDER BY id";
        Ok(on_pool!(self, read p => sqlx::query_as::<_, Transfer>(SQL).bind(opinion_id).fetch_all(p).await)?)
    }

    /// The bureau reminds the unit (催办).
    #[tracing::instrument(skip(self, note), err(level = "debug"))]
    pub async fn remind(&self, opinion: &Opinion, note: Option<&str>, by: i64) -> StoreResult<Reminder> {
        let at = now();
        let id = on_pool!(self, write p => async {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query_scalar("INSERT INTO opinion_reminders (opinion_id, note, sent_by, sent_at)
                 VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(opinion.id).bind(note).bind(by).bind(at)
                .fetch_one(&mut *tx).await?;
            let after = serde_json::json!({ "reminder": id, "note": note }).to_string();
            audit!(tx, opinion.event_id, "staff", by.to_string(), "opinion.remind", Some(opinion.id), None::<String>, Some(after), at);
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        }.await)?;
        const SQL: &str = "SELECT id, opinion_id, note, sent_by, sent_at FROM opinion_reminders WHERE id = $1";
        on_pool!(self, read p => sqlx::query_as::<_, Reminder>(SQL).bind(id).fetch_optional(p).await)?
            .ok_or(StoreError::NotFound("reminder"))
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn reminders(&self, opinion_id: i64) -> StoreResult<Vec<Reminder>> {
        const SQL: &str =
            "SELECT id, opinion_id, note, sent_by, sent_at FROM opinion_reminders WHERE opinion_id = $1 ORDER BY id";
        Ok(on_pool!(self, read p => sqlx::query_as::<_, Reminder>(SQL).bind(opinion_id).fetch_all(p).await)?)
    }

    /// How many of an event's submissions were withheld from the public, by
    /// category (never their text).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn withheld_counts(&self, event_id: i64) -> StoreResult<Vec<(WithheldCategory, i64)>> {
        const POSTS: &str = "SELECT CASE WHEN status = 'hidden' THEN 'hidden'
                  WHEN moderated_by IS NULL THEN 'screen' ELSE 'moderator' END AS category, COUNT(*)
             FROM questions WHERE event_id = $1 AND status IN ('rejected', 'hidden') GROUP BY 1";
        const ANSWERS: &str = "SELECT CASE WHEN v.screen_hits IS NOT NULL AND v.screen_hits <> '[]' THEN 'screen'
                  ELSE 'moderator' END AS category, COUNT(*)
             FROM poll_votes v JOIN polls p ON p.id = v.poll_id
             WHERE p.event_id = $1 AND v.text_status = 'rejected' GROUP BY 1";
        let mut rows: Vec<(String, i64)> =
            on_pool!(self, read p => sqlx::query_as(POSTS).bind(event_id).fetch_all(p).await)?;
        rows.extend(
            on_pool!(self, read p => sqlx::query_as::<_, (String, i64)>(ANSWERS).bind(event_id).fetch_all(p).await)?,
        );
        let mut counts: Vec<(WithheldCategory, i64)> = WithheldCategory::ALL.iter().map(|c| (*c, 0)).collect();
        for (category, n) in rows {
            if let Some(slot) = counts.iter_mut().find(|(c, _)| c.as_str() == category) {
                slot.1 += n;
            }
        }
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn search_patterns_escape_wildcards() {
        assert_eq!(like_pattern("停车"), "%停车%");
        assert_eq!(like_pattern("50%_a\\B"), "%50\\%\\_a\\\\b%");
    }
}
