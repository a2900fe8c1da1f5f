//! An event's lifecycle: announce, start and end; reschedules and
//! cancellations with their change reports; the demo's overwrite.

use chrono::{DateTime, Utc};

use super::{Event, one_changed};
use crate::domain::event::{EventStatus, Schedule, Transition};
use crate::domain::identity::IdentityMode;
use crate::domain::ids::{EventId, StaffId};
use crate::domain::time::now;
use crate::store::attendance::MessageKind;
use crate::store::owed_messages::owe_change;
use crate::store::tx::{Tx, on_tx};
use crate::store::{Store, StoreError, StoreResult, on_pool};

/// A reschedule or cancellation, with what is reported to the data bureau.
pub struct ChangeRequest<'a> {
    pub reason: &'a str,
    pub reported_by: StaffId,
    /// Where the links sent to the event's list point (the public site).
    pub link_base: &'a str,
}

impl Store {
    /// Move an event along its lifecycle (announce, start, end), stamping the time.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn transition_event(&self, id: EventId, from: EventStatus, t: Transition) -> StoreResult<Event> {
        let to = from.apply(t).map_err(|e| StoreError::Conflict(e.to_string()))?;
        let sql = match t {
            Transition::Announce => {
                "UPDATE events SET status = $1, announced_at = $2, updated_at = $2 WHERE id = $3 AND status = $4"
            }
            Transition::Start => {
                "UPDATE events SET status = $1, live_at = $2, updated_at = $2 WHERE id = $3 AND status = $4"
            }
            Transition::End => {
                "UPDATE events SET status = $1, ended_at = $2, updated_at = $2 WHERE id = $3 AND status = $4"
            }
            Transition::Reschedule | Transition::Cancel | Transition::PublishMaterials => {
                return Err(StoreError::Conflict(format!("{t:?} has its own operation")));
            }
        };
        let at = now();
        let done = on_pool!(self, write p => sqlx::query(sql).bind(to.as_str()).bind(at).bind(id).bind(from.as_str()).execute(p).await.map(|r| r.rows_affected()))?;
        self.expect_one(done, id).await
    }

    /// Record that publicly selected participants were notified.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn mark_selection_notified(&self, id: EventId, at: DateTime<Utc>) -> StoreResult<Event> {
        const SQL: &str = "UPDATE events SET selection_notified_at = $1, updated_at = $2
             WHERE id = $3 AND status IN ('draft', 'announced', 'rescheduled', 'live')";
        let done = on_pool!(self, write p => sqlx::query(SQL).bind(at).bind(now()).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        self.expect_one(done, id).await
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn publish_materials(
        &self,
        id: EventId,
        materials_url: &str,
        video_url: Option<&str>,
    ) -> StoreResult<Event> {
        const SQL: &str = "UPDATE events SET status = 'materials_published', materials_published_at = $1,
               materials_url = $2, video_url = $3, updated_at = $1
             WHERE id = $4 AND status = 'ended'";
        let done = on_pool!(self, write p => sqlx::query(SQL).bind(now()).bind(materials_url).bind(video_url).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        self.expect_one(done, id).await
    }

    /// Move an announced event to a new time and file the change report, in one transaction.
    #[tracing::instrument(skip(self, before, change), fields(id = before.id.0), err(level = "debug"))]
    pub async fn reschedule_event(
        &self,
        before: &Event,
        to: Schedule,
        change: ChangeRequest<'_>,
    ) -> StoreResult<Event> {
        const SQL: &str = "UPDATE events SET status = $1, starts_at = $2, duration_minutes = $3, updated_at = $4
             WHERE id = $5 AND status = $6 AND updated_at = $7";
        let next = next_status(before, Transition::Reschedule)?;
        let at = now();
        let after = (Some(to.starts_at), Some(i64::from(to.duration_minutes)), next);
        let report = Report::new("reschedule", before, after);
        let mut tx = self.begin().await?;
        let done = on_tx!(&mut tx, c => sqlx::query(SQL)
            .bind(next.as_str())
            .bind(to.starts_at)
            .bind(i64::from(to.duration_minutes))
            .bind(at)
            .bind(before.id)
            .bind(before.status.as_str())
            .bind(before.updated_at)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        one_changed(done)?;
        insert_change_report(&mut tx, before.id, &change, report, at).await?;
        owe_change(&mut tx, before.id, MessageKind::Reschedule, change.link_base).await?;
        tx.commit().await?;
        self.event(before.id).await
    }

    /// Cancel an event; an announced one also files a change report.
    #[tracing::instrument(skip(self, before, change), fields(id = before.id.0), err(level = "debug"))]
    pub async fn cancel_event(&self, before: &Event, change: ChangeRequest<'_>) -> StoreResult<Event> {
        const SQL: &str =
            "UPDATE events SET status = 'cancelled', cancel_reason = $1, updated_at = $2 WHERE id = $3 AND status = $4";
        next_status(before, Transition::Cancel)?;
        let at = now();
        let after = (
            before.about.starts_at,
            before.about.duration_minutes,
            EventStatus::Cancelled,
        );
        let report = Report::new("cancel", before, after);
        let mut tx = self.begin().await?;
        let done = on_tx!(&mut tx, c => sqlx::query(SQL)
            .bind(change.reason)
            .bind(at)
            .bind(before.id)
            .bind(before.status.as_str())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        one_changed(done)?;
        if before.status != EventStatus::Draft {
            insert_change_report(&mut tx, before.id, &change, report, at).await?;
        }
        owe_change(&mut tx, before.id, MessageKind::Cancel, change.link_base).await?;
        tx.commit().await?;
        self.event(before.id).await
    }
}

/// What a change report says changed: `kind`, and the schedule before and after (JSON).
struct Report {
    kind: &'static str,
    before: String,
    after: String,
}

impl Report {
    /// `after`: the event's start, duration and status after the change.
    fn new(kind: &'static str, before: &Event, after: (Option<DateTime<Utc>>, Option<i64>, EventStatus)) -> Self {
        Self {
            kind,
            before: schedule_json(before.about.starts_at, before.about.duration_minutes, before.status),
            after: schedule_json(after.0, after.1, after.2),
        }
    }
}

/// The status after `t`, or the conflict that refuses it.
fn next_status(before: &Event, t: Transition) -> StoreResult<EventStatus> {
    before.status.apply(t).map_err(|e| StoreError::Conflict(e.to_string()))
}

/// File the report of a reschedule or cancellation for the data bureau.
async fn insert_change_report(
    tx: &mut Tx<'_>,
    event_id: EventId,
    change: &ChangeRequest<'_>,
    report: Report,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    const SQL: &str =
        "INSERT INTO change_reports (event_id, kind, reason, before_json, after_json, reported_by, reported_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)";
    on_tx!(tx, c => sqlx::query(SQL)
        .bind(event_id)
        .bind(report.kind)
        .bind(change.reason)
        .bind(&report.before)
        .bind(&report.after)
        .bind(change.reported_by)
        .bind(at)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

fn schedule_json(starts_at: Option<DateTime<Utc>>, duration_minutes: Option<i64>, status: EventStatus) -> String {
    serde_json::json!({ "starts_at": starts_at, "duration_minutes": duration_minutes, "status": status }).to_string()
}

/// An event's lifecycle as a whole, for laying out the demo programme.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub status: EventStatus,
    pub announced_at: Option<DateTime<Utc>>,
    pub selection_notified_at: Option<DateTime<Utc>>,
    pub live_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub materials_published_at: Option<DateTime<Utc>>,
    pub materials_url: Option<String>,
    pub video_url: Option<String>,
}

impl Store {
    /// Overwrite an event's schedule and lifecycle without change reports.
    /// Only the demo uses this: everything real goes through the transitions.
    #[tracing::instrument(skip(self, l), err(level = "debug"))]
    pub async fn overwrite_lifecycle(&self, id: EventId, l: &Lifecycle) -> StoreResult<()> {
        const SQL: &str = "UPDATE events SET starts_at = $1, duration_minutes = $2, status = $3, announced_at = $4,
               selection_notified_at = $5, live_at = $6, ended_at = $7, materials_published_at = $8,
               materials_url = $9, video_url = $10, cancel_reason = NULL, updated_at = $11
             WHERE id = $12";
        on_pool!(self, write p => sqlx::query(SQL)
            .bind(l.starts_at)
            .bind(l.duration_minutes)
            .bind(l.status.as_str())
            .bind(l.announced_at)
            .bind(l.selection_notified_at)
            .bind(l.live_at)
            .bind(l.ended_at)
            .bind(l.materials_published_at)
            .bind(&l.materials_url)
            .bind(&l.video_url)
            .bind(now())
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Set an event's identity mode whatever its status. Only the demo uses
    /// this (`--demo-identity open` for load tests); real events fix it at
    /// their announcement.
    pub async fn overwrite_identity_mode(&self, id: EventId, mode: IdentityMode) -> StoreResult<()> {
        const SQL: &str = "UPDATE events SET identity_mode = $1 WHERE id = $2";
        on_pool!(self, write p => sqlx::query(SQL).bind(mode.as_str()).bind(id).execute(p).await.map(|_| ()))?;
        Ok(())
    }
}
