//! `/api/opinions`: the units' review of what citizens said — decide, reply,
//! publish, classify, merge, transfer — and the bureau's reminders and
//! extension decisions. Unit staff see and change only the opinions their
//! unit answers; the data bureau (admin) sees all.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use super::lookup::managed_event;
use crate::domain::deadlines::DeadlineState;
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::ids::{EventId, OpinionId, UnitId};
use crate::domain::masking::mask_personal_data;
use crate::domain::opinion::{self, reply_deadline};
use crate::domain::plan::parse_local_or_rfc3339;
use crate::domain::search::{Highlight, SearchQuery};
use crate::domain::staff::{Role, Staff};
use crate::domain::time::{now, shanghai};
use crate::domain::values::{Invalid, required_text};
use crate::store::events::Event;
use crate::store::opinions::{Extension, NewOpinion, Notice, Opinion, OpinionAuthor, Reminder, Transfer};

mod decisions;
mod followups;
mod query;

pub use decisions::*;
pub use followups::*;
pub use query::{ExportQuery, ListQuery};

/// An opinion with the state of its reply deadline.
#[derive(Serialize, ToSchema)]
pub struct OpinionView {
    #[serde(flatten)]
    pub opinion: Opinion,
    /// `open`, `overdue`, `met`, `late` or `calendar_missing`.
    pub deadline: DeadlineState,
    pub state_label: &'static str,
    /// Personal data (numbers, ID numbers, e-mail addresses) in the text or
    /// nickname is masked here; `GET /api/opinions/{id}?personal_data=shown`
    /// shows it as written, and that view is audited.
    pub personal_data_masked: bool,
    /// Where a search (`q`) found its text, cut from the fields as shown here
    /// (masked): absent when the list was not searched; empty fields when
    /// the match is only in what masking hides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highlight: Option<Highlight>,
}

/// The opinion as the workspace lists it: personal data in what the citizen
/// wrote masked (`138****5678`).
pub fn view(mut opinion: Opinion) -> OpinionView {
    let text = mask_personal_data(&opinion.text).into_owned();
    let nickname = mask_personal_data(&opinion.nickname).into_owned();
    let masked = text != opinion.text || nickname != opinion.nickname;
    opinion.text = text;
    opinion.nickname = nickname;
    OpinionView {
        personal_data_masked: masked,
        ..view_as_written(opinion)
    }
}

/// The opinion as the workspace lists it, with where `query` is in it
/// (marked in the masked text: a match inside a number shows no digit).
pub fn found_view(opinion: Opinion, query: &SearchQuery) -> OpinionView {
    let mut v = view(opinion);
    let o = &v.opinion;
    v.highlight = Some(query.highlight(&o.text, o.reply.as_deref(), &o.nickname));
    v
}

/// The opinion as the citizen wrote it (an audited view).
fn view_as_written(opinion: Opinion) -> OpinionView {
    OpinionView {
        deadline: reply_deadline(opinion.due_date, opinion.published_at, now()),
        state_label: opinion.state.label(),
        personal_data_masked: false,
        highlight: None,
        opinion,
    }
}

/// Whether `staff` may see and change the opinions `unit_id` answers.
pub(super) fn answers(staff: &Staff, unit_id: UnitId) -> bool {
    match staff.role {
        Role::Admin => true,
        Role::UnitStaff => staff.unit_id == Some(unit_id),
        Role::Moderator | Role::Host => false,
    }
}

/// The opinion, if `staff` may work on it (404 for others' opinions, so
/// their existence does not leak).
pub(super) async fn own_opinion(state: &AppState, staff: &Staff, id: OpinionId) -> ApiResult<Opinion> {
    if !matches!(staff.role, Role::Admin | Role::UnitStaff) {
        return Err(ApiError::forbidden(
            "only the data bureau and unit staff work on opinions",
        ));
    }
    let opinion = state.store.opinion(id).await?;
    if answers(staff, opinion.unit_id) {
        Ok(opinion)
    } else {
        Err(ApiError::not_found("opinion"))
    }
}

/// The reply due date of an opinion of `event` received at `received`.
pub(crate) fn due_date(state: &AppState, event: &Event, received: DateTime<Utc>) -> Option<NaiveDate> {
    opinion::reply_due_date(
        &state.calendar,
        event.ended_at,
        received,
        state.settings.reply_working_days,
    )
}

/// Record the live room's opinions of an ended event for its lead host unit.
pub async fn capture(state: &AppState, event: &Event) -> ApiResult<u64> {
    let Some(lead) = event.hosts.first() else {
        return Ok(0);
    };
    let due = due_date(state, event, event.ended_at.unwrap_or_else(now));
    Ok(state.store.capture_opinions(event.id, lead.id, due).await?)
}

/// List opinions: overdue first, then by due date; with `q`, the best
/// matches first, each with its `highlight`.
#[utoipa::path(get, path = "/api/opinions", tag = "opinions", params(ListQuery),
    responses((status = 200, body = Vec<OpinionView>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Vec<OpinionView>>> {
    let filter = q.filter(&state, &staff.0).await?;
    let opinions = state.store.list_opinions(&filter).await?;
    Ok(Json(match &filter.text {
        Some(query) => opinions.into_iter().map(|o| found_view(o, query)).collect(),
        None => opinions.into_iter().map(view).collect(),
    }))
}

/// One opinion with its history: merged opinions, transfers, extension
/// requests, reminders. (`reminders` is the opinion's count, as in the list;
/// the reminders themselves are `reminder_log`.)
#[derive(Serialize, ToSchema)]
pub struct OpinionDetail {
    #[serde(flatten)]
    pub opinion: OpinionView,
    pub merged: Vec<OpinionView>,
    pub transfers: Vec<Transfer>,
    pub extensions: Vec<Extension>,
    pub reminder_log: Vec<Reminder>,
    /// Every attempt to tell the asker that the reply is out (回访).
    pub notices: Vec<Notice>,
}

#[derive(Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DetailQuery {
    /// `masked` (default) or `shown`: the text as the citizen wrote it, for
    /// the staff who answer the opinion; each such view is audited.
    pub personal_data: Option<super::exports::PersonalData>,
}

/// One opinion and its history.
#[utoipa::path(get, path = "/api/opinions/{id}", tag = "opinions", params(("id" = i64, Path), DetailQuery),
    responses((status = 200, body = OpinionDetail), (status = 404, body = ErrorBody)), security(("session" = [])))]
pub async fn get(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<OpinionId>,
    Query(q): Query<DetailQuery>,
) -> ApiResult<Json<OpinionDetail>> {
    let opinion = own_opinion(&state, &staff.0, id).await?;
    let shown = matches!(q.personal_data.unwrap_or_default(), super::exports::PersonalData::Shown);
    if !shown {
        return detail(&state, opinion).await.map(Json);
    }
    // Who saw what a citizen wrote, unmasked, and when.
    state
        .store
        .audit_unmasked_view(opinion.event_id, staff.0.id, opinion.id)
        .await?;
    let event = crate::store::security::SecurityEvent::new(crate::domain::security::SecurityKind::ViewUnmasked)
        .by(staff.0.id)
        .detail(serde_json::json!({ "opinion": opinion.id, "event": opinion.event_id }));
    state.store.log_security(event).await?;
    let mut d = detail(&state, opinion.clone()).await?;
    d.opinion = view_as_written(opinion);
    Ok(Json(d))
}

pub(super) async fn detail(state: &AppState, opinion: Opinion) -> ApiResult<OpinionDetail> {
    let id = opinion.id;
    Ok(OpinionDetail {
        merged: state.store.merged_opinions(id).await?.into_iter().map(view).collect(),
        transfers: state.store.transfers(id).await?,
        extensions: state.store.extensions(Some(id)).await?,
        reminder_log: state.store.reminders(id).await?,
        notices: state.store.notices(id).await?,
        opinion: view(opinion),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOpinionBody {
    pub text: String,
    /// The person's name or nickname as they gave it; 网友 when absent.
    pub nickname: Option<String>,
    pub topic: Option<String>,
    /// When it was received (受理): RFC 3339 or local Beijing time; now when absent.
    pub received_at: Option<String>,
    /// Said in person by a representative at the event (现场发言), typed in
    /// by staff: the speaker's group; their name is recorded (as `nickname`)
    /// only with their consent.
    pub in_person: Option<InPersonSpeaker>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InPersonSpeaker {
    /// 人大代表, 政协委员, 家长, 社区居民, …
    pub group: String,
    /// The speaker agreed to be named: `nickname` is their name. Without it
    /// a nickname is refused and the opinion is signed 现场代表.
    #[serde(default)]
    pub named_with_consent: bool,
}

/// Type in an opinion collected offline (paper forms at an open day, letters).
#[utoipa::path(post, path = "/api/events/{id}/opinions", tag = "opinions", params(("id" = i64, Path)),
    request_body = NewOpinionBody,
    responses((status = 201, body = OpinionView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody, description = "the event is a draft or cancelled (`wrong_status`)"), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(event_id): Path<EventId>,
    Json(body): Json<NewOpinionBody>,
) -> ApiResult<(StatusCode, Json<OpinionView>)> {
    let event = managed_event(
        &state,
        &staff.0,
        event_id,
        "only the data bureau and the event's host units record its opinions",
    )
    .await?;
    if matches!(event.status, EventStatus::Draft | EventStatus::Cancelled) {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "opinions are recorded for announced, live or ended events",
        ));
    }
    let text = opinion::opinion_text(&body.text)?;
    let speaker_group = match &body.in_person {
        Some(p) => {
            if body.nickname.as_deref().is_some_and(|n| !n.trim().is_empty()) && !p.named_with_consent {
                return Err(Invalid::new("nickname", "name a representative only with their consent").into());
            }
            Some(required_text("in_person.group", &p.group, 20)?)
        }
        None => None,
    };
    let nickname = match (&body.in_person, body.nickname.as_deref()) {
        (Some(_), None) => crate::domain::question::Nickname::parse(Some("现场代表"))?,
        (_, given) => crate::domain::question::Nickname::parse(given)?,
    };
    let topic = body
        .topic
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(opinion::topic)
        .transpose()?;
    let received_at = body
        .received_at
        .as_deref()
        .map(parse_local_or_rfc3339)
        .transpose()?
        .unwrap_or_else(now);
    if received_at > now() {
        return Err(Invalid::new("received_at", "must not be in the future").into());
    }
    // The staff member's own unit answers it when it hosts the event; else the lead host.
    let unit_id = staff
        .0
        .unit_id
        .filter(|u| event.host_ids().contains(u))
        .or_else(|| event.hosts.first().map(|h| h.id))
        .ok_or_else(|| ApiError::conflict(ErrorCode::NoHost, "the event has no host unit"))?;
    let new = NewOpinion {
        event_id,
        unit_id,
        text: &text,
        nickname: nickname.as_str(),
        topic: topic.as_deref(),
        received_at,
        due_date: due_date(&state, &event, received_at),
        author: OpinionAuthor::Staff(staff.0.id),
        via: speaker_group.as_ref().map(|_| "in_person"),
        speaker_group: speaker_group.as_deref(),
    };
    let created = state.store.create_opinion(&new).await?;
    Ok((StatusCode::CREATED, Json(view(created))))
}

#[derive(Serialize, ToSchema)]
pub struct CaptureResult {
    /// Opinions added now (those recorded before are kept as they are).
    pub added: u64,
}

/// Record the live room's approved questions, comments and screened poll
/// answers as opinions (idempotent; runs by itself when the event ends).
#[utoipa::path(post, path = "/api/events/{id}/opinions/capture", tag = "opinions", params(("id" = i64, Path)),
    responses((status = 200, body = CaptureResult), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn capture_route(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(event_id): Path<EventId>,
) -> ApiResult<Json<CaptureResult>> {
    let event = managed_event(
        &state,
        &staff.0,
        event_id,
        "only the data bureau and the event's host units collect its opinions",
    )
    .await?;
    if !matches!(event.status, EventStatus::Ended | EventStatus::MaterialsPublished) {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "opinions are collected once the event has ended",
        ));
    }
    Ok(Json(CaptureResult {
        added: capture(&state, &event).await?,
    }))
}

/// `YYYY-MM-DD` in Beijing.
pub fn local_day(at: DateTime<Utc>) -> String {
    at.with_timezone(&shanghai()).format("%Y-%m-%d").to_string()
}
