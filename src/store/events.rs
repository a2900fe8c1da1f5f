//! Events, their host units and their lifecycle.
//!
//! Every lifecycle write is conditional on the status it was decided from
//! (`WHERE status = $from`): two staff acting at once cannot both win, the
//! loser gets a conflict instead of a silently overwritten event.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreError, StoreResult, on_pool};
use crate::domain::deadlines::EventFacts;
use crate::domain::event::{EventForm, EventKind, EventStatus, Schedule, Transition};
use crate::domain::time::now;

const EVENT_SELECT: &str =
    "SELECT e.id, e.code, e.kind, e.title, e.theme_id, t.code AS theme_code, t.name AS theme_name,
    e.form, e.summary, e.starts_at, e.duration_minutes, e.venue, e.agenda, e.participation, e.stream_url,
    e.audience_limit, e.public_selection, e.status, e.announced_at, e.selection_notified_at, e.live_at,
    e.ended_at, e.materials_published_at, e.materials_url, e.video_url, e.cancel_reason, e.created_at, e.updated_at
    FROM events e LEFT JOIN themes t ON t.id = e.theme_id";

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    id: i64,
    code: String,
    kind: String,
    title: String,
    theme_id: Option<i64>,
    theme_code: Option<String>,
    theme_name: Option<String>,
    form: String,
    summary: String,
    starts_at: Option<DateTime<Utc>>,
    duration_minutes: Option<i64>,
    venue: Option<String>,
    agenda: Option<String>,
    participation: Option<String>,
    stream_url: Option<String>,
    audience_limit: Option<i64>,
    public_selection: bool,
    status: String,
    announced_at: Option<DateTime<Utc>>,
    selection_notified_at: Option<DateTime<Utc>>,
    live_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    materials_published_at: Option<DateTime<Utc>>,
    materials_url: Option<String>,
    video_url: Option<String>,
    cancel_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ThemeRef {
    pub id: i64,
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, ToSchema)]
pub struct HostRef {
    #[serde(skip)]
    #[schema(ignore)]
    pub event_id: i64,
    pub id: i64,
    pub code: String,
    pub short_name: String,
}

/// An event with everything the API shows of it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Event {
    pub id: i64,
    pub code: String,
    pub kind: EventKind,
    pub title: String,
    pub theme: Option<ThemeRef>,
    pub hosts: Vec<HostRef>,
    pub form: EventForm,
    pub summary: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i64>,
    pub venue: Option<String>,
    pub agenda: Option<String>,
    /// 网民参与方式: how netizens take part.
    pub participation: Option<String>,
    pub stream_url: Option<String>,
    pub audience_limit: Option<i64>,
    /// Whether on-site participants are picked by public selection (公开遴选).
    pub public_selection: bool,
    pub status: EventStatus,
    pub announced_at: Option<DateTime<Utc>>,
    pub selection_notified_at: Option<DateTime<Utc>>,
    pub live_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub materials_published_at: Option<DateTime<Utc>>,
    pub materials_url: Option<String>,
    pub video_url: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Event {
    pub fn host_ids(&self) -> Vec<i64> {
        self.hosts.iter().map(|h| h.id).collect()
    }

    pub fn schedule(&self) -> Option<Schedule> {
        Schedule::new(self.starts_at?, self.duration_minutes?).ok()
    }

    pub fn facts(&self) -> EventFacts {
        EventFacts {
            kind: self.kind,
            form: self.form,
            status: self.status,
            public_selection: self.public_selection,
            schedule: self.schedule(),
            announced_at: self.announced_at,
            selection_notified_at: self.selection_notified_at,
            ended_at: self.ended_at,
            materials_published_at: self.materials_published_at,
        }
    }
}

impl EventRow {
    fn into_event(self, hosts: Vec<HostRef>) -> StoreResult<Event> {
        let bad = |what: &str, v: &str| StoreError::Conflict(format!("event {} has an unknown {what} `{v}`", self.id));
        let kind = EventKind::parse(&self.kind).ok_or_else(|| bad("kind", &self.kind))?;
        let form = EventForm::parse(&self.form).ok_or_else(|| bad("form", &self.form))?;
        let status = EventStatus::parse(&self.status).ok_or_else(|| bad("status", &self.status))?;
        let theme = match (self.theme_id, self.theme_code, self.theme_name) {
            (Some(id), Some(code), Some(name)) => Some(ThemeRef { id, code, name }),
            _ => None,
        };
        Ok(Event {
            id: self.id,
            code: self.code,
            kind,
            title: self.title,
            theme,
            hosts,
            form,
            summary: self.summary,
            starts_at: self.starts_at,
            duration_minutes: self.duration_minutes,
            venue: self.venue,
            agenda: self.agenda,
            participation: self.participation,
            stream_url: self.stream_url,
            audience_limit: self.audience_limit,
            public_selection: self.public_selection,
            status,
            announced_at: self.announced_at,
            selection_notified_at: self.selection_notified_at,
            live_at: self.live_at,
            ended_at: self.ended_at,
            materials_published_at: self.materials_published_at,
            materials_url: self.materials_url,
            video_url: self.video_url,
            cancel_reason: self.cancel_reason,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Which events to list; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub kind: Option<EventKind>,
    pub theme_code: Option<String>,
    pub unit_id: Option<i64>,
    pub status: Option<EventStatus>,
}

/// The editable description of an event (everything but its lifecycle).
#[derive(Debug, Clone, PartialEq)]
pub struct EventDetails {
    pub kind: EventKind,
    pub title: String,
    pub theme_id: Option<i64>,
    pub host_ids: Vec<i64>,
    pub form: EventForm,
    pub summary: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i64>,
    pub venue: Option<String>,
    pub agenda: Option<String>,
    pub participation: Option<String>,
    pub stream_url: Option<String>,
    pub audience_limit: Option<i64>,
    pub public_selection: bool,
}

impl Event {
    pub fn details(&self) -> EventDetails {
        EventDetails {
            kind: self.kind,
            title: self.title.clone(),
            theme_id: self.theme.as_ref().map(|t| t.id),
            host_ids: self.host_ids(),
            form: self.form,
            summary: self.summary.clone(),
            starts_at: self.starts_at,
            duration_minutes: self.duration_minutes,
            venue: self.venue.clone(),
            agenda: self.agenda.clone(),
            participation: self.participation.clone(),
            stream_url: self.stream_url.clone(),
            audience_limit: self.audience_limit,
            public_selection: self.public_selection,
        }
    }
}

/// Write `details` to event `id` (insert when `id` is `None`) inside `$tx`;
/// evaluates to the event's id. A macro so that it serves both backends'
/// transactions.
macro_rules! write_details {
    ($tx:expr, $id:expr, $code:expr, $plan_id:expr, $d:expr, $at:expr) => {{
        let d: &EventDetails = $d;
        let id: i64 = match $id {
            None => {
                sqlx::query_scalar(
                    "INSERT INTO events (code, plan_id, kind, title, theme_id, form, summary, starts_at, duration_minutes,
                       venue, agenda, participation, stream_url, audience_limit, public_selection, status, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 'draft', $16, $16)
                     RETURNING id",
                )
                .bind($code)
                .bind($plan_id)
                .bind(d.kind.as_str())
                .bind(&d.title)
                .bind(d.theme_id)
                .bind(d.form.as_str())
                .bind(&d.summary)
                .bind(d.starts_at)
                .bind(d.duration_minutes)
                .bind(&d.venue)
                .bind(&d.agenda)
                .bind(&d.participation)
                .bind(&d.stream_url)
                .bind(d.audience_limit)
                .bind(d.public_selection)
                .bind($at)
                .fetch_one(&mut *$tx)
                .await?
            }
            Some(id) => {
                sqlx::query(
                    "UPDATE events SET kind = $2, title = $3, theme_id = $4, form = $5, summary = $6, starts_at = $7,
                       duration_minutes = $8, venue = $9, agenda = $10, participation = $11, stream_url = $12,
                       audience_limit = $13, public_selection = $14, updated_at = $15
                     WHERE id = $1",
                )
                .bind(id)
                .bind(d.kind.as_str())
                .bind(&d.title)
                .bind(d.theme_id)
                .bind(d.form.as_str())
                .bind(&d.summary)
                .bind(d.starts_at)
                .bind(d.duration_minutes)
                .bind(&d.venue)
                .bind(&d.agenda)
                .bind(&d.participation)
                .bind(&d.stream_url)
                .bind(d.audience_limit)
                .bind(d.public_selection)
                .bind($at)
                .execute(&mut *$tx)
                .await?;
                sqlx::query("DELETE FROM event_hosts WHERE event_id = $1").bind(id).execute(&mut *$tx).await?;
                id
            }
        };
        for (position, unit_id) in d.host_ids.iter().enumerate() {
            sqlx::query("INSERT INTO event_hosts (event_id, unit_id, position) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(*unit_id)
                .bind(position as i64)
                .execute(&mut *$tx)
                .await?;
        }
        id
    }};
}
pub(super) use write_details;

macro_rules! insert_change_report {
    ($tx:expr, $event_id:expr, $kind:expr, $change:expr, $before:expr, $after:expr, $at:expr) => {
        sqlx::query(
            "INSERT INTO change_reports (event_id, kind, reason, before_json, after_json, reported_by, reported_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($event_id)
        .bind($kind)
        .bind($change.reason)
        .bind(&$before)
        .bind(&$after)
        .bind($change.reported_by)
        .bind($at)
        .execute(&mut *$tx)
        .await?
    };
}

/// A reschedule or cancellation, with what is reported to the data bureau.
pub struct ChangeRequest<'a> {
    pub reason: &'a str,
    pub reported_by: i64,
}

impl Store {
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn list_events(&self, filter: &EventFilter) -> StoreResult<Vec<Event>> {
        const WHERE: &str = " WHERE ($1 IS NULL OR e.kind = $1) AND ($2 IS NULL OR t.code = $2)
            AND ($3 IS NULL OR EXISTS (SELECT 1 FROM event_hosts h WHERE h.event_id = e.id AND h.unit_id = $3))
            AND ($4 IS NULL OR e.status = $4)
            ORDER BY e.starts_at IS NULL, e.starts_at, e.id";
        let sql = format!("{EVENT_SELECT}{WHERE}");
        let rows = on_pool!(self, read p => sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(filter.kind.map(EventKind::as_str))
            .bind(filter.theme_code.as_deref())
            .bind(filter.unit_id)
            .bind(filter.status.map(EventStatus::as_str))
            .fetch_all(p)
            .await)?;
        let mut hosts = self.hosts_by_event().await?;
        rows.into_iter()
            .map(|r| {
                let h = hosts.remove(&r.id).unwrap_or_default();
                r.into_event(h)
            })
            .collect()
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn event(&self, id: i64) -> StoreResult<Event> {
        let sql = format!("{EVENT_SELECT} WHERE e.id = $1");
        let row = on_pool!(self, read p => sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(p).await)?
            .ok_or(StoreError::NotFound("event"))?;
        const HOSTS: &str = "SELECT h.event_id, u.id, u.code, u.short_name FROM event_hosts h
             JOIN units u ON u.id = h.unit_id WHERE h.event_id = $1 ORDER BY h.position";
        let hosts = on_pool!(self, read p => sqlx::query_as::<_, HostRef>(HOSTS).bind(id).fetch_all(p).await)?;
        row.into_event(hosts)
    }

    async fn hosts_by_event(&self) -> StoreResult<HashMap<i64, Vec<HostRef>>> {
        const HOSTS: &str = "SELECT h.event_id, u.id, u.code, u.short_name FROM event_hosts h
             JOIN units u ON u.id = h.unit_id ORDER BY h.event_id, h.position";
        let rows = on_pool!(self, read p => sqlx::query_as::<_, HostRef>(HOSTS).fetch_all(p).await)?;
        let mut map: HashMap<i64, Vec<HostRef>> = HashMap::new();
        for h in rows {
            map.entry(h.event_id).or_default().push(h);
        }
        Ok(map)
    }

    /// A new draft event.
    #[tracing::instrument(skip(self, details), err(level = "debug"))]
    pub async fn create_event(&self, code: &str, details: &EventDetails) -> StoreResult<Event> {
        let at = now();
        let id = on_pool!(self, write p => async {
            let mut tx = p.begin().await?;
            let id = write_details!(tx, None::<i64>, code, None::<i64>, details, at);
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        }.await)
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(format!("an event with code `{code}` exists"))
            }
            _ => StoreError::Database(e),
        })?;
        self.event(id).await
    }

    /// Replace an event's description, if it is still as `expected` says.
    #[tracing::instrument(skip(self, expected, details), fields(id = expected.id), err(level = "debug"))]
    pub async fn update_event(&self, expected: &Event, details: &EventDetails) -> StoreResult<Event> {
        let at = now();
        on_pool!(self, write p => {
            let mut tx = p.begin().await?;
            let current: Option<DateTime<Utc>> = sqlx::query_scalar("SELECT updated_at FROM events WHERE id = $1")
                .bind(expected.id)
                .fetch_optional(&mut *tx)
                .await?;
            if current != Some(expected.updated_at) {
                return Err(StoreError::Conflict("the event was changed by someone else; reload it and try again".into()));
            }
            write_details!(tx, Some(expected.id), "", None::<i64>, details, at);
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.event(expected.id).await
    }

    /// Move an event along its lifecycle (announce, start, end), stamping the time.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn transition_event(&self, id: i64, from: EventStatus, t: Transition) -> StoreResult<Event> {
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
    pub async fn mark_selection_notified(&self, id: i64, at: DateTime<Utc>) -> StoreResult<Event> {
        const SQL: &str = "UPDATE events SET selection_notified_at = $1, updated_at = $2
             WHERE id = $3 AND status IN ('draft', 'announced', 'rescheduled', 'live')";
        let done = on_pool!(self, write p => sqlx::query(SQL).bind(at).bind(now()).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        self.expect_one(done, id).await
    }

    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn publish_materials(&self, id: i64, materials_url: &str, video_url: Option<&str>) -> StoreResult<Event> {
        const SQL: &str = "UPDATE events SET status = 'materials_published', materials_published_at = $1,
               materials_url = $2, video_url = $3, updated_at = $1
             WHERE id = $4 AND status = 'ended'";
        let done = on_pool!(self, write p => sqlx::query(SQL).bind(now()).bind(materials_url).bind(video_url).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        self.expect_one(done, id).await
    }

    /// Move an announced event to a new time and file the change report, in one transaction.
    #[tracing::instrument(skip(self, before, change), fields(id = before.id), err(level = "debug"))]
    pub async fn reschedule_event(
        &self,
        before: &Event,
        to: Schedule,
        change: ChangeRequest<'_>,
    ) -> StoreResult<Event> {
        let next = before
            .status
            .apply(Transition::Reschedule)
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        let at = now();
        let before_json = schedule_json(before.starts_at, before.duration_minutes, before.status);
        let after_json = schedule_json(Some(to.starts_at), Some(i64::from(to.duration_minutes)), next);
        on_pool!(self, write p => {
            let mut tx = p.begin().await?;
            let done = sqlx::query(
                "UPDATE events SET status = $1, starts_at = $2, duration_minutes = $3, updated_at = $4
                 WHERE id = $5 AND status = $6 AND updated_at = $7",
            )
            .bind(next.as_str())
            .bind(to.starts_at)
            .bind(i64::from(to.duration_minutes))
            .bind(at)
            .bind(before.id)
            .bind(before.status.as_str())
            .bind(before.updated_at)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(changed_meanwhile());
            }
            insert_change_report!(tx, before.id, "reschedule", change, before_json, after_json, at);
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.event(before.id).await
    }

    /// Cancel an event; an announced one also files a change report.
    #[tracing::instrument(skip(self, before, change), fields(id = before.id), err(level = "debug"))]
    pub async fn cancel_event(&self, before: &Event, change: ChangeRequest<'_>) -> StoreResult<Event> {
        before
            .status
            .apply(Transition::Cancel)
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        let at = now();
        let before_json = schedule_json(before.starts_at, before.duration_minutes, before.status);
        let after_json = schedule_json(before.starts_at, before.duration_minutes, EventStatus::Cancelled);
        let report = before.status != EventStatus::Draft;
        on_pool!(self, write p => {
            let mut tx = p.begin().await?;
            let done = sqlx::query(
                "UPDATE events SET status = 'cancelled', cancel_reason = $1, updated_at = $2 WHERE id = $3 AND status = $4",
            )
            .bind(change.reason)
            .bind(at)
            .bind(before.id)
            .bind(before.status.as_str())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() != 1 {
                return Err(changed_meanwhile());
            }
            if report {
                insert_change_report!(tx, before.id, "cancel", change, before_json, after_json, at);
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        self.event(before.id).await
    }

    async fn expect_one(&self, rows: u64, id: i64) -> StoreResult<Event> {
        let event = self.event(id).await?;
        if rows == 1 { Ok(event) } else { Err(changed_meanwhile()) }
    }
}

fn changed_meanwhile() -> StoreError {
    StoreError::Conflict("the event changed meanwhile; reload it and try again".into())
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
    pub async fn overwrite_lifecycle(&self, id: i64, l: &Lifecycle) -> StoreResult<()> {
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
}
