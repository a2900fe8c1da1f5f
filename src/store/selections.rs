//! Open days in person: an event's selection announcement (遴选公告), the
//! people who sign up, and the stratified draw among them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{OnConstraint, Store, StoreError, StoreResult, on_pool};
use crate::domain::ids::{EventId, IdentityId};
use crate::domain::selection::{Drawn, FieldRule, GroupTarget, SignUpFields};
use crate::domain::time::now;
use crate::store::tx::on_tx;

/// A selection announcement as the unit writes it.
#[derive(Debug, Clone)]
pub struct SelectionText {
    pub text: String,
    pub places: i64,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub reply_by: NaiveDate,
    pub groups: Vec<GroupTarget>,
    pub fields: SignUpFields,
}

/// An event's selection announcement and where it stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Selection {
    pub event_id: EventId,
    pub text: String,
    pub places: i64,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    /// When applicants hear back (Beijing date).
    pub reply_by: NaiveDate,
    pub groups: Vec<GroupTarget>,
    /// Which optional fields the sign-up form asks for.
    pub fields: SignUpFields,
    pub published_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The draw's seed, published with its result.
    pub seed: Option<String>,
    /// When the chosen were set, by a draw or by hand.
    pub drawn_at: Option<DateTime<Utc>>,
    /// `draw` (reproducible from `seed`) or `manual` (chosen by the unit).
    pub method: Option<String>,
}

impl Selection {
    /// Whether sign-ups are taken at `at`.
    pub fn open_at(&self, at: DateTime<Utc>) -> bool {
        self.published_at.is_some()
            && self.closed_at.is_none()
            && self.drawn_at.is_none()
            && self.opens_at <= at
            && at < self.closes_at
    }
}

#[derive(sqlx::FromRow)]
struct SelectionRow {
    event_id: EventId,
    text: String,
    places: i64,
    opens_at: DateTime<Utc>,
    closes_at: DateTime<Utc>,
    reply_by: NaiveDate,
    groups_json: String,
    street_field: String,
    reason_field: String,
    published_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    seed: Option<String>,
    drawn_at: Option<DateTime<Utc>>,
    method: Option<String>,
}

/// One person on an event's list, as the unit sees them.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Participant {
    pub id: i64,
    pub reference: String,
    pub name: String,
    pub phone_masked: String,
    pub group_name: String,
    pub street: Option<String>,
    pub reason: Option<String>,
    /// `applied`, `chosen`, `reserve` or `withdrawn`.
    pub status: String,
    /// A reserve's place in the order they move up.
    pub rank: Option<i64>,
    pub created_at: DateTime<Utc>,
    /// `applicant`, `invited` or `walk_in`.
    pub kind: String,
    pub organisation: Option<String>,
    /// When the notice was sent (or tried), and whether the sender took it.
    pub notified_at: Option<DateTime<Utc>>,
    pub notice_sent: Option<bool>,
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// A sign-up to record.
pub struct NewSignUp<'a> {
    pub event_id: EventId,
    pub reference: &'a str,
    pub name: &'a str,
    pub identity: IdentityId,
    pub phone_masked: &'a str,
    pub group: &'a str,
    pub street: Option<&'a str>,
    pub reason: Option<&'a str>,
}

impl Store {
    pub async fn selection(&self, event_id: EventId) -> StoreResult<Option<Selection>> {
        const SQL: &str = "SELECT event_id, text, places, opens_at, closes_at, reply_by, groups_json, street_field,
               reason_field, published_at, closed_at, seed, drawn_at, method FROM selections WHERE event_id = $1";
        let row: Option<SelectionRow> =
            on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_optional(p).await)?;
        row.map(|r| {
            let groups = serde_json::from_str(&r.groups_json)
                .map_err(|e| StoreError::Conflict(format!("selection {}: groups: {e}", r.event_id)))?;
            let rule = |v: &str| {
                FieldRule::parse(v)
                    .ok_or_else(|| StoreError::Conflict(format!("selection {}: unknown field rule `{v}`", r.event_id)))
            };
            let fields = SignUpFields {
                street: rule(&r.street_field)?,
                reason: rule(&r.reason_field)?,
            };
            Ok(Selection {
                event_id: r.event_id,
                text: r.text,
                places: r.places,
                opens_at: r.opens_at,
                closes_at: r.closes_at,
                reply_by: r.reply_by,
                groups,
                fields,
                published_at: r.published_at,
                closed_at: r.closed_at,
                seed: r.seed,
                drawn_at: r.drawn_at,
                method: r.method,
            })
        })
        .transpose()
    }

    /// Write (or rewrite, until the draw) an event's selection announcement.
    pub async fn save_selection(&self, event_id: EventId, s: &SelectionText) -> StoreResult<()> {
        const SQL: &str = "INSERT INTO selections (event_id, text, places, opens_at, closes_at, reply_by, groups_json,
               updated_at, street_field, reason_field) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (event_id) DO UPDATE SET text = excluded.text, places = excluded.places,
               opens_at = excluded.opens_at, closes_at = excluded.closes_at, reply_by = excluded.reply_by,
               groups_json = excluded.groups_json, updated_at = excluded.updated_at,
               street_field = excluded.street_field, reason_field = excluded.reason_field";
        let groups = serde_json::to_string(&s.groups).unwrap_or_else(|_| "[]".into());
        on_pool!(self, write p => sqlx::query(SQL).bind(event_id).bind(&s.text).bind(s.places).bind(s.opens_at)
            .bind(s.closes_at).bind(s.reply_by).bind(groups).bind(now()).bind(s.fields.street.as_str())
            .bind(s.fields.reason.as_str()).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Publish the announcement (sign-ups open in its window), or close sign-ups.
    pub async fn mark_selection(&self, event_id: EventId, publish: bool) -> StoreResult<()> {
        const PUBLISH: &str = "UPDATE selections SET published_at = COALESCE(published_at, $1) WHERE event_id = $2";
        const CLOSE: &str = "UPDATE selections SET closed_at = COALESCE(closed_at, $1) WHERE event_id = $2";
        let sql = if publish { PUBLISH } else { CLOSE };
        on_pool!(self, write p => sqlx::query(sql).bind(now()).bind(event_id).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Record a sign-up; a second one of the same number is a conflict.
    pub async fn sign_up(&self, s: NewSignUp<'_>) -> StoreResult<Participant> {
        const SQL: &str = "INSERT INTO participants (event_id, reference, name, identity_id, phone_masked, group_name,
               street, reason, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'applied', $9)";
        on_pool!(self, write p => sqlx::query(SQL).bind(s.event_id).bind(s.reference).bind(s.name).bind(s.identity)
            .bind(s.phone_masked).bind(s.group).bind(s.street).bind(s.reason).bind(now()).execute(p).await.map(|_| ()))
        .on_unique(|| "this mobile number has signed up for this event already".to_owned())?;
        self.participant(s.reference)
            .await?
            .ok_or(StoreError::NotFound("participant"))
    }

    pub async fn participant(&self, reference: &str) -> StoreResult<Option<Participant>> {
        const SQL: &str = concat!(
            "SELECT id, reference, name, phone_masked, group_name, street, reason, status, rank, created_at, kind,",
            " organisation, notified_at, notice_sent, checked_in_at FROM participants WHERE reference = $1"
        );
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(reference).fetch_optional(p).await)?)
    }

    /// Who signed the participant up (to check a withdrawal is theirs).
    pub async fn participant_identity(&self, reference: &str) -> StoreResult<Option<(EventId, Option<IdentityId>)>> {
        const SQL: &str = "SELECT event_id, identity_id FROM participants WHERE reference = $1";
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(reference).fetch_optional(p).await)?)
    }

    /// An event's list, in the order people signed up.
    pub async fn participants(&self, event_id: EventId) -> StoreResult<Vec<Participant>> {
        const SQL: &str =
            "SELECT id, reference, name, phone_masked, group_name, street, reason, status, rank, created_at,
               kind, organisation, notified_at, notice_sent, checked_in_at
             FROM participants WHERE event_id = $1 ORDER BY id";
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_all(p).await)?)
    }

    /// Record who was chosen, by a draw (with its seed) or by hand: the
    /// chosen, the reserves in order; sign-ups close. `false` when the
    /// chosen were set already.
    pub async fn record_choice(&self, event_id: EventId, seed: Option<&str>, drawn: &Drawn) -> StoreResult<bool> {
        const MARK: &str = "UPDATE selections SET seed = $1, drawn_at = $2, closed_at = COALESCE(closed_at, $2),
               method = $4 WHERE event_id = $3 AND drawn_at IS NULL";
        const CHOSEN: &str =
            "UPDATE participants SET status = 'chosen', rank = NULL WHERE event_id = $1 AND reference = $2";
        const RESERVE: &str =
            "UPDATE participants SET status = 'reserve', rank = $1 WHERE event_id = $2 AND reference = $3";
        let at = now();
        let mut tx = self.begin().await?;
        let method = if seed.is_some() { "draw" } else { "manual" };
        let marked = on_tx!(&mut tx, c => sqlx::query(MARK).bind(seed).bind(at).bind(event_id).bind(method)
            .execute(c).await.map(|r| r.rows_affected()))?;
        if marked == 0 {
            return Ok(false);
        }
        for reference in &drawn.chosen {
            on_tx!(&mut tx, c => sqlx::query(CHOSEN).bind(event_id).bind(reference).execute(c).await.map(|_| ()))?;
        }
        for (rank, reference) in drawn.reserves.iter().enumerate() {
            let rank = i64::try_from(rank).unwrap_or(i64::MAX) + 1;
            on_tx!(&mut tx, c => sqlx::query(RESERVE).bind(rank).bind(event_id).bind(reference).execute(c).await.map(|_| ()))?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Withdraw a participant; a chosen applicant's place goes to the first
    /// reserve, who is returned.
    pub async fn withdraw_participant(&self, reference: &str) -> StoreResult<Option<String>> {
        const READ: &str = "SELECT event_id, status, kind FROM participants WHERE reference = $1";
        const WITHDRAW: &str = "UPDATE participants SET status = 'withdrawn', rank = NULL, withdrawn_at = $1
             WHERE reference = $2 AND status <> 'withdrawn'";
        const NEXT: &str = "SELECT reference FROM participants WHERE event_id = $1 AND status = 'reserve'
             ORDER BY rank LIMIT 1";
        const UP: &str = "UPDATE participants SET status = 'chosen', rank = NULL WHERE reference = $1";
        let mut tx = self.begin().await?;
        let row: Option<(EventId, String, String)> =
            on_tx!(&mut tx, c => sqlx::query_as(READ).bind(reference).fetch_optional(c).await)?;
        let Some((event_id, status, kind)) = row else {
            return Err(StoreError::NotFound("participant"));
        };
        let done = on_tx!(&mut tx, c => sqlx::query(WITHDRAW).bind(now()).bind(reference).execute(c).await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::Conflict("this sign-up was withdrawn already".into()));
        }
        let mut moved = None;
        // Only a selected place passes on: an invitation or a walk-in is not
        // one of the places the selection offered.
        if status == "chosen" && kind == "applicant" {
            let next: Option<String> =
                on_tx!(&mut tx, c => sqlx::query_scalar(NEXT).bind(event_id).fetch_optional(c).await)?;
            if let Some(next) = next {
                on_tx!(&mut tx, c => sqlx::query(UP).bind(&next).execute(c).await.map(|_| ()))?;
                moved = Some(next);
            }
        }
        tx.commit().await?;
        Ok(moved)
    }

    /// Add an invited representative (定向邀请) or a walk-in (checked in at once) to the list.
    pub async fn add_participant(&self, p: NewParticipant<'_>) -> StoreResult<Participant> {
        const SQL: &str = "INSERT INTO participants (event_id, reference, name, phone_masked, phone_sealed, group_name,
               organisation, kind, status, created_at, checked_in_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'chosen', $9, $10)";
        let at = now();
        let checked_in = (p.kind == "walk_in").then_some(at);
        on_pool!(self, write c => sqlx::query(SQL).bind(p.event_id).bind(p.reference).bind(p.name).bind(p.phone_masked)
            .bind(p.phone_sealed).bind(p.group).bind(p.organisation).bind(p.kind).bind(at).bind(checked_in)
            .execute(c).await.map(|_| ()))?;
        self.participant(p.reference)
            .await?
            .ok_or(StoreError::NotFound("participant"))
    }

    /// The chosen and invited not yet notified, or whose notice the sender did
    /// not take (tried again): (reference, identity, sealed number).
    pub async fn to_notify(&self, event_id: EventId) -> StoreResult<Vec<(String, Option<IdentityId>, Option<String>)>> {
        const SQL: &str = "SELECT reference, identity_id, phone_sealed FROM participants
             WHERE event_id = $1 AND status = 'chosen' AND kind <> 'walk_in'
               AND (notified_at IS NULL OR notice_sent = FALSE) ORDER BY id";
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_all(p).await)?)
    }

    /// Record a notice: its page's token (digest), when, and whether the sender took it.
    pub async fn record_participant_notice(&self, reference: &str, token_digest: &str, sent: bool) -> StoreResult<()> {
        const SQL: &str =
            "UPDATE participants SET notice_token = $1, notified_at = $2, notice_sent = $3 WHERE reference = $4";
        on_pool!(self, write p => sqlx::query(SQL).bind(token_digest).bind(now()).bind(sent).bind(reference)
            .execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// The participant a notice page's token (digest) belongs to, and their event.
    pub async fn participant_by_notice(&self, token_digest: &str) -> StoreResult<Option<(EventId, String)>> {
        const SQL: &str = "SELECT event_id, reference FROM participants WHERE notice_token = $1";
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(token_digest).fetch_optional(p).await)?)
    }

    /// Check a chosen or invited person in at the door; `false` when they were already.
    pub async fn check_in(&self, event_id: EventId, reference: &str) -> StoreResult<bool> {
        const SQL: &str = "UPDATE participants SET checked_in_at = $1
             WHERE event_id = $2 AND reference = $3 AND status = 'chosen' AND checked_in_at IS NULL";
        let n = on_pool!(self, write p => sqlx::query(SQL).bind(now()).bind(event_id).bind(reference).execute(p).await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}

/// An invited representative or a walk-in.
pub struct NewParticipant<'a> {
    pub event_id: EventId,
    pub reference: &'a str,
    pub name: &'a str,
    pub phone_masked: &'a str,
    pub phone_sealed: Option<&'a str>,
    pub group: &'a str,
    pub organisation: Option<&'a str>,
    /// `invited` or `walk_in`.
    pub kind: &'a str,
}
