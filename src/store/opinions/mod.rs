//! Opinions and their feedback loop: capture from the live room, offline
//! entries, the unit's decisions and replies, transfers, merges, extensions,
//! reminders and ratings. Every change is one transaction with its audit
//! entry, and conditional on the row being as it was read (`updated_at`), so
//! two people editing at once cannot overwrite each other silently.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreError, StoreResult, on_pool};
use crate::domain::ids::{EventId, OpinionId, StaffId, UnitId};
use crate::domain::opinion::{AdoptionState, ExtensionDecision, OpinionSource, Rating, WithheldCategory};
use crate::domain::question::ViewerKey;
use crate::domain::search::SearchQuery;

mod changes;
mod followups;
mod mine;
mod notices;
mod search;

pub use followups::{Extension, Reminder, Transfer};
pub use mine::OwnOpinion;
pub use notices::Notice;

const OPINION_SELECT: &str = "SELECT o.id, o.event_id, e.title AS event_title, o.unit_id, u.code AS unit_code,
    u.short_name AS unit_name, o.source, o.text, o.nickname, o.viewer_key, o.topic, o.state, o.reason, o.reply,
    o.handoff, o.support, o.merged_into, o.received_at, o.due_date, o.replied_by, r.display_name AS replied_by_name,
    o.published_at, o.rating, o.rated_at, o.created_at, o.updated_at,
    (SELECT COUNT(*) FROM opinion_reminders m WHERE m.opinion_id = o.id) AS reminders,
    (SELECT COUNT(*) FROM opinion_extensions x WHERE x.opinion_id = o.id AND x.decision = 'pending') AS pending_extensions,
    (o.notify AND o.identity_id IS NOT NULL) AS notify,
    (SELECT n.delivered FROM opinion_notices n WHERE n.opinion_id = o.id ORDER BY n.id DESC LIMIT 1) AS told,
    o.via, o.speaker_group
    FROM opinions o JOIN events e ON e.id = o.event_id JOIN units u ON u.id = o.unit_id
    LEFT JOIN users r ON r.id = o.replied_by";

#[derive(Debug, sqlx::FromRow)]
struct OpinionRow {
    id: OpinionId,
    event_id: EventId,
    event_title: String,
    unit_id: UnitId,
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
    merged_into: Option<OpinionId>,
    received_at: DateTime<Utc>,
    due_date: Option<NaiveDate>,
    replied_by: Option<StaffId>,
    replied_by_name: Option<String>,
    published_at: Option<DateTime<Utc>>,
    rating: Option<String>,
    rated_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    reminders: i64,
    pending_extensions: i64,
    notify: bool,
    told: Option<bool>,
    via: Option<String>,
    speaker_group: Option<String>,
}

/// One opinion with everything unit staff see of it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Opinion {
    pub id: OpinionId,
    pub event_id: EventId,
    pub event_title: String,
    /// The unit answering it now (答复单位).
    pub unit_id: UnitId,
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
    pub merged_into: Option<OpinionId>,
    /// 受理日期: when it was received.
    pub received_at: DateTime<Utc>,
    /// The last day (Beijing time) the reply is due; none when the calendar
    /// does not cover that year.
    pub due_date: Option<NaiveDate>,
    pub replied_by: Option<StaffId>,
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
    /// The asker is told by text message when the reply is published (a
    /// verified asker who did not opt out when asking).
    pub notify: bool,
    /// Whether the asker was told: `true` delivered, `false` the last try
    /// failed, `null` not (yet) — the detail lists every try (回访).
    pub told: Option<bool>,
    /// How an offline opinion came: `in_person` (said at the event, typed
    /// in by staff) or `written` (from the person's notice page).
    pub via: Option<String>,
    /// The group of the representative who said or wrote it (人大代表, 家长, …).
    pub speaker_group: Option<String>,
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
            notify: self.notify,
            told: self.told,
            via: self.via,
            speaker_group: self.speaker_group,
        })
    }
}

/// The fields of an opinion that change after it is recorded; the audit log
/// keeps them before and after every change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpinionFields {
    pub unit_id: UnitId,
    pub topic: Option<String>,
    pub state: AdoptionState,
    pub reason: Option<String>,
    pub reply: Option<String>,
    pub support: i64,
    pub merged_into: Option<OpinionId>,
    pub due_date: Option<NaiveDate>,
    pub replied_by: Option<StaffId>,
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
    Staff(StaffId),
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
        from_unit: UnitId,
        to_unit: UnitId,
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
    pub event_id: Option<EventId>,
    pub unit_id: Option<UnitId>,
    pub state: Option<AdoptionState>,
    pub source: Option<OpinionSource>,
    pub topic: Option<String>,
    /// A substring of the text, the reply or the nickname (Chinese needs no
    /// word breaks); the results come best first.
    pub text: Option<SearchQuery>,
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
    pub event_id: EventId,
    pub unit_id: UnitId,
    pub text: &'a str,
    pub nickname: &'a str,
    pub topic: Option<&'a str>,
    pub received_at: DateTime<Utc>,
    pub due_date: Option<NaiveDate>,
    /// Who typed it in: a staff member, or the participant who wrote it
    /// from their notice page (by reference).
    pub author: OpinionAuthor<'a>,
    /// `in_person` or `written` (see [`Opinion::via`]).
    pub via: Option<&'a str>,
    pub speaker_group: Option<&'a str>,
}

/// Who records an opinion typed in.
#[derive(Debug, Clone, Copy)]
pub enum OpinionAuthor<'a> {
    Staff(StaffId),
    /// A person on an event's list, by their reference.
    Participant(&'a str),
}

/// Every condition of an [`OpinionFilter`] but its text, on `opinions o`:
/// the search (search.rs) and the plain list share it. `$6` (the text) is
/// the search's, `$12` is today in Beijing, `$13` and `$14` the page.
const FILTERS: &str = "($1 IS NULL OR o.event_id = $1) AND ($2 IS NULL OR o.unit_id = $2)
    AND ($3 IS NULL OR o.state = $3) AND ($4 IS NULL OR o.source = $4) AND ($5 IS NULL OR o.topic = $5)
    AND ($7 IS NULL OR o.received_at >= $7) AND ($8 IS NULL OR o.received_at < $8)
    AND ($9 = FALSE OR o.handoff = TRUE)
    AND ($10 IS NULL OR (o.published_at IS NOT NULL) = $10)
    AND ($11 = TRUE OR o.merged_into IS NULL)
    AND ($15 = FALSE OR (o.published_at IS NULL AND o.due_date < $12))";

/// Bind `$1`–`$15` of [`FILTERS`] from filter `$f`, with `$text` as `$6`.
macro_rules! bind_filter {
    ($query:expr, $f:expr, $text:expr) => {
        $query
            .bind($f.event_id)
            .bind($f.unit_id)
            .bind($f.state.map($crate::domain::opinion::AdoptionState::as_str))
            .bind($f.source.map($crate::domain::opinion::OpinionSource::as_str))
            .bind($f.topic.as_deref())
            .bind($text)
            .bind($f.from)
            .bind($f.until)
            .bind($f.handoff_only)
            .bind($f.published)
            .bind($f.include_merged)
            .bind($f.today)
            .bind($f.limit)
            .bind($f.offset)
            .bind($f.overdue_only)
    };
}
use bind_filter;

impl Store {
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn opinion(&self, id: OpinionId) -> StoreResult<Opinion> {
        let sql = format!("{OPINION_SELECT} WHERE o.id = $1");
        on_pool!(self, read p => sqlx::query_as::<_, OpinionRow>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(p).await)?
            .ok_or(StoreError::NotFound("opinion"))?
            .into_opinion()
    }

    /// Opinions matching `f`: overdue ones first, then by due date, then
    /// oldest first; with a text to find, the best matches first (search.rs).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn list_opinions(&self, f: &OpinionFilter) -> StoreResult<Vec<Opinion>> {
        if let Some(query) = &f.text {
            return self.search_opinions(f, query).await;
        }
        const ORDER: &str = " ORDER BY CASE WHEN o.published_at IS NULL AND o.due_date < $12 THEN 0 ELSE 1 END,
              o.published_at IS NOT NULL, o.due_date IS NULL, o.due_date, o.id
            LIMIT $13 OFFSET $14";
        let sql = format!("{OPINION_SELECT} WHERE {FILTERS}{ORDER}");
        let rows = on_pool!(self, read p => bind_filter!(sqlx::query_as::<_, OpinionRow>(sqlx::AssertSqlSafe(sql.clone())), f, None::<&str>)
            .fetch_all(p)
            .await)?;
        rows.into_iter().map(OpinionRow::into_opinion).collect()
    }

    /// The opinions merged into `id`.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn merged_opinions(&self, id: OpinionId) -> StoreResult<Vec<Opinion>> {
        let sql = format!("{OPINION_SELECT} WHERE o.merged_into = $1 ORDER BY o.id");
        let rows = on_pool!(self, read p => sqlx::query_as::<_, OpinionRow>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_all(p).await)?;
        rows.into_iter().map(OpinionRow::into_opinion).collect()
    }

    /// How many of an event's submissions were withheld from the public, by
    /// category (never their text).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn withheld_counts(&self, event_id: EventId) -> StoreResult<Vec<(WithheldCategory, i64)>> {
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
