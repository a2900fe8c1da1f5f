//! `/api/events`: the programme's events, their lifecycle and deadlines.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::{CurrentStaff, MaybeStaff};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::lookup::{self, managed_event, unknown};
use crate::domain::deadlines::{Deadline, deadlines as compute_deadlines};
use crate::domain::error_code::ErrorCode;
use crate::domain::event::{AnnouncementDraft, EventForm, EventKind, EventStatus, Schedule, Transition};
use crate::domain::identity::IdentityMode;
use crate::domain::ids::EventId;
use crate::domain::plan::parse_local_or_rfc3339;
use crate::domain::security::SecurityKind;
use crate::domain::staff::Staff;
use crate::domain::time::{now, to_local_string};
use crate::domain::values::{Code, Invalid, optional_text, optional_url, required_text};
use crate::store::attendance::ListFacts;
use crate::store::events::{About, ChangeRequest, Event, EventDetails, EventFilter};
use crate::store::security::SecurityEvent;
use serde_json::json;

/// An event with its deadlines and its times in Beijing time.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    #[serde(flatten)]
    pub event: Event,
    /// `starts_at` in Asia/Shanghai (`+08:00`).
    pub starts_at_local: Option<String>,
    pub ends_at: Option<DateTime<Utc>>,
    pub ends_at_local: Option<String>,
    pub deadlines: Vec<Deadline>,
}

/// An event as the caller may see it, with its deadlines judged on its list.
pub async fn view(state: &AppState, event: Event, viewer: Option<&Staff>) -> ApiResult<EventView> {
    let lists = state.store.list_facts(Some(event.id)).await?;
    Ok(view_with(state, event, viewer, &lists))
}

/// [`view`] with the lists read already (for many events at once).
pub fn view_with(state: &AppState, mut event: Event, viewer: Option<&Staff>, lists: &ListFacts) -> EventView {
    if event.status == EventStatus::Draft && viewer.is_none() {
        // A draft's time and arrangements are not public until announced.
        event.about.starts_at = None;
        event.about.duration_minutes = None;
        event.about.venue = None;
        event.about.agenda = None;
        event.about.participation = None;
        event.about.stream_url = None;
    }
    let schedule = event.schedule();
    let deadlines = if event.status == EventStatus::Draft && viewer.is_none() {
        Vec::new()
    } else {
        compute_deadlines(&lists.facts(&event, None), &state.calendar, now())
    };
    EventView {
        starts_at_local: event.about.starts_at.map(to_local_string),
        ends_at: schedule.map(|s| s.ends_at()),
        ends_at_local: schedule.map(|s| to_local_string(s.ends_at())),
        deadlines,
        event,
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `open_day` or `lecture`.
    pub kind: Option<EventKind>,
    /// Theme code, e.g. `business-environment`.
    pub theme: Option<String>,
    /// Host unit code, e.g. `rsj`.
    pub unit: Option<String>,
    pub status: Option<EventStatus>,
}

/// List the programme's events (drafts show no time or arrangements to the public).
#[utoipa::path(get, path = "/api/events", tag = "events", params(ListQuery),
    responses((status = 200, body = Vec<EventView>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    MaybeStaff(viewer): MaybeStaff,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<EventView>>> {
    let unit_id = match q.unit.as_deref() {
        Some(code) => {
            let code = Code::parse("unit", code).map_err(|_| unknown("unit", code))?;
            Some(lookup::unit(&state, code.as_str()).await?.id)
        }
        None => None,
    };
    let theme_code = match q.theme.as_deref() {
        Some(t) => Some(
            Code::parse("theme", t)
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadQuery, e.to_string()))?,
        ),
        None => None,
    };
    let filter = EventFilter {
        kind: q.kind,
        theme_code: theme_code.map(|c| c.to_string()),
        unit_id,
        status: q.status,
    };
    let events = state.store.list_events(&filter).await?;
    let lists = state.store.list_facts(None).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|e| view_with(&state, e, viewer.as_ref(), &lists))
            .collect(),
    ))
}

/// One event with its deadlines.
#[utoipa::path(get, path = "/api/events/{id}", tag = "events", params(("id" = i64, Path)),
    responses((status = 200, body = EventView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    MaybeStaff(viewer): MaybeStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<EventView>> {
    let event = state.store.event(id).await?;
    Ok(Json(view(&state, event, viewer.as_ref()).await?))
}

/// One change of an announced event, as the public page shows it (变更公告).
#[derive(Serialize, ToSchema)]
pub struct PublicChange {
    /// `reschedule`, `cancel` or `change` (place, agenda, participation, form, host units).
    pub kind: String,
    pub reason: String,
    /// The changed values before and after.
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// The changes of an announced event since its announcement, newest first (变更公告).
#[utoipa::path(get, path = "/api/events/{id}/changes", tag = "events", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PublicChange>), (status = 404, body = ErrorBody)))]
pub async fn changes(State(state): State<AppState>, Path(id): Path<EventId>) -> ApiResult<Json<Vec<PublicChange>>> {
    let event = state.store.event(id).await?;
    if event.status == EventStatus::Draft {
        return Ok(Json(Vec::new()));
    }
    let reports = state.store.list_change_reports(None, Some(id)).await?;
    Ok(Json(
        reports
            .into_iter()
            .map(|r| PublicChange {
                kind: r.kind,
                reason: r.reason,
                before: r.before,
                after: r.after,
                at: r.reported_at,
            })
            .collect(),
    ))
}

/// The plan's deadlines for one event: due date and state (met, late, open, overdue, …).
#[utoipa::path(get, path = "/api/events/{id}/deadlines", tag = "events", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Deadline>), (status = 404, body = ErrorBody)))]
pub async fn deadlines(
    State(state): State<AppState>,
    MaybeStaff(viewer): MaybeStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Vec<Deadline>>> {
    let event = state.store.event(id).await?;
    Ok(Json(view(&state, event, viewer.as_ref()).await?.deadlines))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventBody {
    /// Stable code: lowercase letters, digits and `-`.
    pub code: String,
    pub kind: EventKind,
    pub title: String,
    /// Theme code; open days only.
    pub theme: Option<String>,
    /// Host unit codes, in order.
    pub host_units: Vec<String>,
    pub form: EventForm,
    pub summary: Option<String>,
    /// RFC 3339, or a local Beijing time like `2024-10-14T09:30:00`.
    pub starts_at: Option<String>,
    pub duration_minutes: Option<i64>,
    pub venue: Option<String>,
    pub agenda: Option<String>,
    pub participation: Option<String>,
    pub stream_url: Option<String>,
    pub audience_limit: Option<i64>,
    #[serde(default)]
    pub public_selection: bool,
    /// Who may take part in the live room; `verified` when not given.
    pub identity_mode: Option<IdentityMode>,
}

/// Create a draft event (admins; unit staff for an event their unit hosts).
#[utoipa::path(post, path = "/api/events", tag = "events", request_body = NewEventBody,
    responses((status = 201, body = EventView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Json(body): Json<NewEventBody>,
) -> ApiResult<(StatusCode, Json<EventView>)> {
    let code = Code::parse("code", &body.code)?;
    let patch = EventPatch {
        kind: Some(body.kind),
        title: Some(body.title),
        theme: Some(body.theme),
        host_units: Some(body.host_units),
        form: Some(body.form),
        summary: body.summary,
        starts_at: Some(body.starts_at),
        duration_minutes: Some(body.duration_minutes),
        venue: Some(body.venue),
        agenda: Some(body.agenda),
        participation: Some(body.participation),
        stream_url: Some(body.stream_url),
        audience_limit: Some(body.audience_limit),
        public_selection: Some(body.public_selection),
        identity_mode: body.identity_mode,
        change_reason: None,
    };
    let blank = EventDetails {
        theme_id: None,
        host_ids: Vec::new(),
        about: About::blank(body.kind, body.form),
    };
    let details = apply_patch(&state, blank, patch).await?;
    if !staff.0.manages(&details.host_ids) {
        return Err(ApiError::forbidden("you may create events only for your own unit"));
    }
    // The lead host (主责单位) answers for the event's deadlines and
    // opinions: unit staff create events that their own unit leads.
    if !staff.0.is_admin() && details.host_ids.first() != staff.0.unit_id.as_ref() {
        return Err(lead_unit_forbidden());
    }
    let event = state.store.create_event(code.as_str(), &details).await?;
    tracing::info!(event_id = event.id.0, by = staff.0.id.0, "event created");
    Ok((StatusCode::CREATED, Json(view(&state, event, Some(&staff.0)).await?)))
}

/// A partial update: absent fields stay; `null` clears an optional field.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    pub kind: Option<EventKind>,
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub theme: Option<Option<String>>,
    pub host_units: Option<Vec<String>>,
    pub form: Option<EventForm>,
    pub summary: Option<String>,
    /// Only while the event is a draft; an announced event is rescheduled instead.
    #[serde(default, deserialize_with = "present")]
    pub starts_at: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub duration_minutes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    pub venue: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub agenda: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub participation: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub stream_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub audience_limit: Option<Option<i64>>,
    pub public_selection: Option<bool>,
    /// `verified` or `open`; only while the event is a draft (the
    /// announcement tells netizens how they take part).
    pub identity_mode: Option<IdentityMode>,
    /// Why an announced event's place, agenda, participation, form or host
    /// units change: required then; the change is reported to the data
    /// bureau and shown on the public page (变更公告).
    pub change_reason: Option<String>,
}

/// A field that is present (possibly `null`) becomes `Some(..)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Edit an event's description.
#[utoipa::path(patch, path = "/api/events/{id}", tag = "events", params(("id" = i64, Path)), request_body = EventPatch,
    responses((status = 200, body = EventView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn update(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(mut patch): Json<EventPatch>,
) -> ApiResult<Json<EventView>> {
    let event = managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    let patch_reason = patch.change_reason.take();
    if matches!(
        event.status,
        EventStatus::Ended | EventStatus::MaterialsPublished | EventStatus::Cancelled
    ) {
        return Err(ApiError::conflict(
            ErrorCode::EventClosed,
            format!("an event that is {} can no longer be edited", event.status.as_str()),
        ));
    }
    let details = apply_patch(&state, event.details(), patch).await?;
    let moved = (details.about.starts_at, details.about.duration_minutes)
        != (event.about.starts_at, event.about.duration_minutes);
    if details.about.identity_mode != event.about.identity_mode && event.status != EventStatus::Draft {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "the identity mode is fixed once the event is announced: the announcement told netizens how they take part",
        ));
    }
    if moved && event.status != EventStatus::Draft {
        return Err(ApiError::conflict(
            ErrorCode::UseReschedule,
            "the event is announced: change its time with POST /api/events/{id}/reschedule and a reason",
        ));
    }
    if !staff.0.manages(&details.host_ids) {
        return Err(ApiError::forbidden("your unit must stay among the event's hosts"));
    }
    if !staff.0.is_admin() && details.host_ids.first() != event.host_ids().first() {
        return Err(lead_unit_forbidden());
    }
    if matches!(
        event.status,
        EventStatus::Announced | EventStatus::Rescheduled | EventStatus::Live
    ) {
        // What was announced stays announced: an edit may not take away a
        // part the announcement must state.
        let draft = AnnouncementDraft {
            starts_at: details.about.starts_at,
            duration_minutes: details.about.duration_minutes,
            agenda: details.about.agenda.as_deref(),
            participation: details.about.participation.as_deref(),
            host_count: details.host_ids.len(),
        };
        let missing = draft.missing();
        if !missing.is_empty() {
            let labels: Vec<_> = missing.iter().map(|m| m.label()).collect();
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::AnnouncementIncomplete,
                format!("the event is announced: it must keep stating {}", labels.join(", ")),
            )
            .with_details(serde_json::json!({ "missing": missing })));
        }
    }
    let reason = match patch_reason.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => Some(required_text("change_reason", r, 500)?),
        None => None,
    };
    let report = match (announced_changes(&state, &event, &details).await?, &reason) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Invalid::new(
                "change_reason",
                "the event is announced: state why it changes (it is reported to the data bureau and shown as 变更公告)",
            )
            .into());
        }
        (Some((before, after)), Some(reason)) => Some(crate::store::events::AnnouncedChange {
            reason,
            reported_by: staff.0.id,
            before: before.to_string(),
            after: after.to_string(),
        }),
    };
    let updated = state.store.update_event(&event, &details, report).await?;
    let changed = SecurityEvent::new(SecurityKind::EventChanged)
        .by(staff.0.id)
        .detail(serde_json::json!({
            "event": event.id, "status": event.status, "before": event.about, "after": updated.about,
        }));
    state.store.log_security(changed).await?;
    Ok(Json(view(&state, updated, Some(&staff.0)).await?))
}

/// What an edit changes of an announced event's announcement (place,
/// agenda, participation, form, host units), before and after; `None` for
/// a draft or when none of these changes.
async fn announced_changes(
    state: &AppState,
    event: &Event,
    details: &EventDetails,
) -> ApiResult<Option<(serde_json::Value, serde_json::Value)>> {
    if !matches!(
        event.status,
        EventStatus::Announced | EventStatus::Rescheduled | EventStatus::Live
    ) {
        return Ok(None);
    }
    let (a, b) = (&event.about, &details.about);
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    let mut note = |field: &str, was: serde_json::Value, is: serde_json::Value| {
        if was != is {
            before.insert(field.to_owned(), was);
            after.insert(field.to_owned(), is);
        }
    };
    note("venue", json!(a.venue), json!(b.venue));
    note("agenda", json!(a.agenda), json!(b.agenda));
    note("participation", json!(a.participation), json!(b.participation));
    note("form", json!(a.form), json!(b.form));
    if details.host_ids != event.host_ids() {
        let units = state.store.list_units().await?;
        let names = |ids: &[crate::domain::ids::UnitId]| -> Vec<String> {
            ids.iter()
                .filter_map(|id| units.iter().find(|u| u.id == *id).map(|u| u.short_name.clone()))
                .collect()
        };
        note(
            "host_units",
            json!(names(&event.host_ids())),
            json!(names(&details.host_ids)),
        );
    }
    Ok((!before.is_empty()).then_some((serde_json::Value::Object(before), serde_json::Value::Object(after))))
}

async fn apply_patch(state: &AppState, mut d: EventDetails, p: EventPatch) -> ApiResult<EventDetails> {
    if let Some(kind) = p.kind {
        d.about.kind = kind;
    }
    if let Some(title) = p.title {
        d.about.title = required_text("title", &title, 200)?;
    }
    if let Some(theme) = p.theme {
        d.theme_id = match theme.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(code) => {
                let themes = state.store.list_themes().await?;
                Some(
                    themes
                        .iter()
                        .find(|t| t.code == code)
                        .ok_or_else(|| unknown("theme", code))?
                        .id,
                )
            }
        };
    }
    if let Some(codes) = p.host_units {
        if codes.is_empty() {
            return Err(Invalid::new("host_units", "an event needs at least one host unit").into());
        }
        let mut ids = Vec::with_capacity(codes.len());
        for code in &codes {
            let code = Code::parse("host_units", code)?;
            let id = lookup::unit(state, code.as_str()).await?.id;
            if ids.contains(&id) {
                return Err(Invalid::new("host_units", format!("`{code}` is listed twice")).into());
            }
            ids.push(id);
        }
        d.host_ids = ids;
    }
    if let Some(form) = p.form {
        d.about.form = form;
    }
    if let Some(mode) = p.identity_mode {
        d.about.identity_mode = mode;
    }
    if let Some(summary) = p.summary {
        d.about.summary = optional_text("summary", Some(&summary), 4000)?.unwrap_or_default();
    }
    if let Some(starts_at) = p.starts_at {
        d.about.starts_at = starts_at.as_deref().map(parse_local_or_rfc3339).transpose()?;
    }
    if let Some(minutes) = p.duration_minutes {
        if let Some(m) = minutes {
            Schedule::new(now(), m)?;
        }
        d.about.duration_minutes = minutes;
    }
    if let Some(v) = p.venue {
        d.about.venue = optional_text("venue", v.as_deref(), 200)?;
    }
    if let Some(v) = p.agenda {
        d.about.agenda = optional_text("agenda", v.as_deref(), 4000)?;
    }
    if let Some(v) = p.participation {
        d.about.participation = optional_text("participation", v.as_deref(), 2000)?;
    }
    if let Some(v) = p.stream_url {
        d.about.stream_url = optional_url("stream_url", v.as_deref())?;
    }
    if let Some(limit) = p.audience_limit {
        if limit.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
            return Err(Invalid::new("audience_limit", "must be between 1 and 1000000").into());
        }
        d.about.audience_limit = limit;
    }
    if let Some(v) = p.public_selection {
        d.about.public_selection = v;
    }
    if d.about.title.is_empty() {
        return Err(Invalid::new("title", "must not be empty").into());
    }
    if d.host_ids.is_empty() {
        return Err(Invalid::new("host_units", "an event needs at least one host unit").into());
    }
    Ok(d)
}

/// Moving an event's accountability to another unit is the data bureau's decision.
fn lead_unit_forbidden() -> ApiError {
    ApiError::forbidden(
        "only the data bureau's administrators may change an event's lead host unit (the first of host_units)",
    )
    .with_details(serde_json::json!({ "field": "host_units" }))
}

/// Why [`managed_event`] refuses a change to an event.
const NOT_YOURS: &str = "only the data bureau and the event's host units may change this event";

/// Publish the announcement (公告). Refused, naming the missing parts, unless it
/// states time, duration, agenda, how netizens take part and the host units.
#[utoipa::path(post, path = "/api/events/{id}/announce", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = EventView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn announce(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<EventView>> {
    let event = managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    event.status.apply(Transition::Announce)?;
    let draft = AnnouncementDraft {
        starts_at: event.about.starts_at,
        duration_minutes: event.about.duration_minutes,
        agenda: event.about.agenda.as_deref(),
        participation: event.about.participation.as_deref(),
        host_count: event.hosts.len(),
    };
    let missing = draft.missing();
    if !missing.is_empty() {
        let labels: Vec<_> = missing.iter().map(|m| m.label()).collect();
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::AnnouncementIncomplete,
            format!(
                "the announcement must state {}; fill them in and announce again",
                labels.join(", ")
            ),
        )
        .with_details(serde_json::json!({ "missing": missing })));
    }
    if event.about.starts_at.is_some_and(|t| t <= now()) {
        return Err(ApiError::invalid(
            "the event's start time has passed; reschedule it before announcing",
        ));
    }
    let event = state
        .store
        .transition_event(id, event.status, Transition::Announce)
        .await?;
    tracing::info!(event_id = id.0, by = staff.0.id.0, "event announced");
    Ok(Json(view(&state, event, Some(&staff.0)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectionNoticeBody {
    /// When the selected people were notified; now when absent.
    pub notified_at: Option<String>,
}

/// Record that the people picked by public selection were notified.
#[utoipa::path(post, path = "/api/events/{id}/selection-notice", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = SelectionNoticeBody,
    responses((status = 200, body = EventView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn selection_notice(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<SelectionNoticeBody>,
) -> ApiResult<Json<EventView>> {
    let event = managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    if !event.about.public_selection {
        return Err(ApiError::conflict(
            ErrorCode::NoPublicSelection,
            "this event picks no participants by public selection",
        ));
    }
    let at = body
        .notified_at
        .as_deref()
        .map(parse_local_or_rfc3339)
        .transpose()?
        .unwrap_or_else(now);
    if at > now() {
        return Err(Invalid::new("notified_at", "must not be in the future").into());
    }
    let event = state.store.mark_selection_notified(id, at).await?;
    Ok(Json(view(&state, event, Some(&staff.0)).await?))
}

/// Open the live event (host units, moderators and hosts).
#[utoipa::path(post, path = "/api/events/{id}/start", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = EventView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn start(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<EventView>> {
    live_transition(state, staff, id, Transition::Start).await
}

/// Close the live event.
#[utoipa::path(post, path = "/api/events/{id}/end", tag = "lifecycle", params(("id" = i64, Path)),
    responses((status = 200, body = EventView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn end(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<EventView>> {
    live_transition(state, staff, id, Transition::End).await
}

async fn live_transition(
    state: AppState,
    staff: CurrentStaff,
    id: EventId,
    t: Transition,
) -> ApiResult<Json<EventView>> {
    let event = state.store.event(id).await?;
    if !staff.0.runs_live(&event.host_ids()) {
        return Err(ApiError::forbidden(
            "only the event's host units, moderators and hosts may start or end it",
        ));
    }
    event.status.apply(t)?;
    let event = state.store.transition_event(id, event.status, t).await?;
    tracing::info!(event_id = id.0, by = staff.0.id.0, transition = ?t, "event lifecycle");
    state.hub.event_status_changed(id, event.status).await;
    if event.status == EventStatus::Ended {
        // What citizens said becomes opinions for the host unit; unanswered
        // questions become hand-off tasks. The event has ended either way: a
        // failure here is logged and the capture route can run it again.
        match super::opinions::capture(&state, &event).await {
            Ok(added) => tracing::info!(event_id = id.0, added, "opinions captured"),
            Err(e) => tracing::error!(event_id = id.0, error = ?e.message, "capturing opinions failed"),
        }
    }
    Ok(Json(view(&state, event, Some(&staff.0)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterialsBody {
    /// Where the materials are published (政务开放日 / 政策公开讲 column).
    pub materials_url: String,
    /// The explanation video; required for policy lectures.
    pub video_url: Option<String>,
}

/// Publish the event's materials; marks the materials deadline met (or late).
#[utoipa::path(post, path = "/api/events/{id}/materials", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = MaterialsBody,
    responses((status = 200, body = EventView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn publish_materials(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<MaterialsBody>,
) -> ApiResult<Json<EventView>> {
    let event = managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    event.status.apply(Transition::PublishMaterials)?;
    let materials_url = optional_url("materials_url", Some(&body.materials_url))?
        .ok_or_else(|| Invalid::new("materials_url", "is required"))?;
    let video_url = optional_url("video_url", body.video_url.as_deref())?;
    if event.about.kind == EventKind::Lecture && video_url.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::VideoRequired,
            "a policy lecture's materials include its explanation video: give video_url",
        ));
    }
    let event = state
        .store
        .publish_materials(id, &materials_url, video_url.as_deref())
        .await?;
    Ok(Json(view(&state, event, Some(&staff.0)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    /// The new start: RFC 3339, or a local Beijing time.
    pub starts_at: String,
    /// The new duration; the old one when absent.
    pub duration_minutes: Option<i64>,
    /// Why (reported to the data bureau).
    pub reason: String,
}

/// Move an announced event to another time; files a change report (报备).
#[utoipa::path(post, path = "/api/events/{id}/reschedule", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = RescheduleBody,
    responses((status = 200, body = EventView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn reschedule(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    headers: HeaderMap,
    Json(body): Json<RescheduleBody>,
) -> ApiResult<Json<EventView>> {
    let event = managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    event.status.apply(Transition::Reschedule).map_err(|e| {
        let hint = if event.status == EventStatus::Draft {
            "; edit a draft's time with PATCH"
        } else {
            ""
        };
        ApiError::conflict(ErrorCode::WrongStatus, format!("{e}{hint}"))
    })?;
    let reason = required_text("reason", &body.reason, 1000)?;
    let starts_at = parse_local_or_rfc3339(&body.starts_at)?;
    let minutes = body
        .duration_minutes
        .or(event.about.duration_minutes)
        .ok_or_else(|| Invalid::new("duration_minutes", "is required"))?;
    let schedule = Schedule::new(starts_at, minutes)?;
    if starts_at <= now() {
        return Err(Invalid::new("starts_at", "must be in the future").into());
    }
    let link_base = super::opinions::public_base(&state, &headers);
    let change = ChangeRequest {
        reason: &reason,
        reported_by: staff.0.id,
        link_base: &link_base,
    };
    let event = state.store.reschedule_event(&event, schedule, change).await?;
    tracing::info!(event_id = id.0, by = staff.0.id.0, "event rescheduled");
    tell_the_list(&state, &event);
    Ok(Json(view(&state, event, Some(&staff.0)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why (reported to the data bureau when the event was announced).
    pub reason: String,
}

/// Cancel an event; an announced one files a change report (报备).
#[utoipa::path(post, path = "/api/events/{id}/cancel", tag = "lifecycle", params(("id" = i64, Path)),
    request_body = CancelBody,
    responses((status = 200, body = EventView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    headers: HeaderMap,
    Json(body): Json<CancelBody>,
) -> ApiResult<Json<EventView>> {
    let event = managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    event.status.apply(Transition::Cancel)?;
    let reason = required_text("reason", &body.reason, 1000)?;
    let link_base = super::opinions::public_base(&state, &headers);
    let change = ChangeRequest {
        reason: &reason,
        reported_by: staff.0.id,
        link_base: &link_base,
    };
    let event = state.store.cancel_event(&event, change).await?;
    tracing::info!(event_id = id.0, by = staff.0.id.0, "event cancelled");
    tell_the_list(&state, &event);
    Ok(Json(view(&state, event, Some(&staff.0)).await?))
}

/// Tell the people on a rescheduled or cancelled event's list what the
/// change's transaction marked them owed, in the background (a slow SMS
/// gateway must not hold the unit's request; should this node stop first,
/// the next notice round or any node's sweep sends it). Each result is
/// recorded in the participant messages.
fn tell_the_list(state: &AppState, event: &Event) {
    let (state, event) = (state.clone(), event.clone());
    tokio::spawn(async move {
        match super::telling::pay_owed(&state, &event).await {
            Ok((0, 0)) => {}
            Ok((sent, failed)) => tracing::info!(event_id = event.id.0, sent, failed, "list told of the change"),
            Err(e) => tracing::warn!(event_id = event.id.0, error = ?e, "telling the list of the change failed"),
        }
    });
}
