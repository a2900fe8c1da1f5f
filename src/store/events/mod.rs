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
use crate::domain::event::{EventForm, EventKind, EventStatus, Schedule};
use crate::domain::identity::IdentityMode;
use crate::domain::ids::{EventId, UnitId};

mod details;
mod lifecycle;

pub use details::AnnouncedChange;
pub(super) use details::{insert_event, update_details};
pub use lifecycle::{ChangeRequest, Lifecycle};

const EVENT_SELECT: &str =
    "SELECT e.id, e.code, e.kind, e.title, e.theme_id, t.code AS theme_code, t.name AS theme_name,
    e.form, e.summary, e.starts_at, e.duration_minutes, e.venue, e.agenda, e.participation, e.stream_url,
    e.audience_limit, e.public_selection, e.identity_mode, e.status, e.announced_at, e.selection_notified_at, e.live_at,
    e.ended_at, e.materials_published_at, e.materials_url, e.video_url, e.cancel_reason, e.created_at, e.updated_at
    FROM events e LEFT JOIN themes t ON t.id = e.theme_id";

#[derive(Debug, sqlx::FromRow)]
struct EventRow {
    id: EventId,
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
    identity_mode: String,
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
    pub event_id: EventId,
    pub id: UnitId,
    pub code: String,
    pub short_name: String,
}

/// What an event is: everything its host unit describes and may edit
/// but the theme and the hosts (which the API names by code and the store
/// by id). [`Event`] shows it, [`EventDetails`] writes it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct About {
    pub kind: EventKind,
    pub title: String,
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
    /// Who may take part in the live room: `verified` viewers (the
    /// default) or anyone (`open`). Fixed once the event is announced.
    pub identity_mode: IdentityMode,
}

impl About {
    /// A new event of `kind` and `form`, nothing else said yet.
    pub fn blank(kind: EventKind, form: EventForm) -> Self {
        Self {
            kind,
            title: String::new(),
            form,
            summary: String::new(),
            starts_at: None,
            duration_minutes: None,
            venue: None,
            agenda: None,
            participation: None,
            stream_url: None,
            audience_limit: None,
            public_selection: false,
            identity_mode: IdentityMode::Verified,
        }
    }
}

/// An event with everything the API shows of it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Event {
    pub id: EventId,
    pub code: String,
    pub theme: Option<ThemeRef>,
    pub hosts: Vec<HostRef>,
    #[serde(flatten)]
    pub about: About,
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
    pub fn host_ids(&self) -> Vec<UnitId> {
        self.hosts.iter().map(|h| h.id).collect()
    }

    pub fn schedule(&self) -> Option<Schedule> {
        Schedule::new(self.about.starts_at?, self.about.duration_minutes?).ok()
    }

    pub fn facts(&self) -> EventFacts {
        EventFacts {
            kind: self.about.kind,
            form: self.about.form,
            status: self.status,
            public_selection: self.about.public_selection,
            schedule: self.schedule(),
            announced_at: self.announced_at,
            selection_notified_at: self.selection_notified_at,
            notices: Vec::new(),
            in_person: None,
            leader_attended: None,
            ended_at: self.ended_at,
            materials_published_at: self.materials_published_at,
            transcript: None,
        }
    }
}

impl EventRow {
    fn into_event(self, hosts: Vec<HostRef>) -> StoreResult<Event> {
        let bad = |what: &str, v: &str| StoreError::Conflict(format!("event {} has an unknown {what} `{v}`", self.id));
        let kind = EventKind::parse(&self.kind).ok_or_else(|| bad("kind", &self.kind))?;
        let form = EventForm::parse(&self.form).ok_or_else(|| bad("form", &self.form))?;
        let status = EventStatus::parse(&self.status).ok_or_else(|| bad("status", &self.status))?;
        let identity_mode =
            IdentityMode::parse(&self.identity_mode).ok_or_else(|| bad("identity mode", &self.identity_mode))?;
        let theme = match (self.theme_id, self.theme_code, self.theme_name) {
            (Some(id), Some(code), Some(name)) => Some(ThemeRef { id, code, name }),
            _ => None,
        };
        Ok(Event {
            id: self.id,
            code: self.code,
            theme,
            hosts,
            about: About {
                kind,
                title: self.title,
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
                identity_mode,
            },
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
    pub unit_id: Option<UnitId>,
    pub status: Option<EventStatus>,
}

/// The editable description of an event (everything but its lifecycle).
#[derive(Debug, Clone, PartialEq)]
pub struct EventDetails {
    pub theme_id: Option<i64>,
    pub host_ids: Vec<UnitId>,
    pub about: About,
}

impl Event {
    pub fn details(&self) -> EventDetails {
        EventDetails {
            theme_id: self.theme.as_ref().map(|t| t.id),
            host_ids: self.host_ids(),
            about: self.about.clone(),
        }
    }
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
    pub async fn event(&self, id: EventId) -> StoreResult<Event> {
        let sql = format!("{EVENT_SELECT} WHERE e.id = $1");
        let row = on_pool!(self, read p => sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(p).await)?
            .ok_or(StoreError::NotFound("event"))?;
        const HOSTS: &str = "SELECT h.event_id, u.id, u.code, u.short_name FROM event_hosts h
             JOIN units u ON u.id = h.unit_id WHERE h.event_id = $1 ORDER BY h.position";
        let hosts = on_pool!(self, read p => sqlx::query_as::<_, HostRef>(HOSTS).bind(id).fetch_all(p).await)?;
        row.into_event(hosts)
    }

    async fn hosts_by_event(&self) -> StoreResult<HashMap<EventId, Vec<HostRef>>> {
        const HOSTS: &str = "SELECT h.event_id, u.id, u.code, u.short_name FROM event_hosts h
             JOIN units u ON u.id = h.unit_id ORDER BY h.event_id, h.position";
        let rows = on_pool!(self, read p => sqlx::query_as::<_, HostRef>(HOSTS).fetch_all(p).await)?;
        let mut map: HashMap<EventId, Vec<HostRef>> = HashMap::new();
        for h in rows {
            map.entry(h.event_id).or_default().push(h);
        }
        Ok(map)
    }

    async fn expect_one(&self, rows: u64, id: EventId) -> StoreResult<Event> {
        let event = self.event(id).await?;
        if rows == 1 { Ok(event) } else { Err(changed_meanwhile()) }
    }
}

fn changed_meanwhile() -> StoreError {
    StoreError::Conflict("the event changed meanwhile; reload it and try again".into())
}

/// A conditional write changed its one row, or the event changed meanwhile.
fn one_changed(rows: u64) -> StoreResult<()> {
    if rows == 1 { Ok(()) } else { Err(changed_meanwhile()) }
}
