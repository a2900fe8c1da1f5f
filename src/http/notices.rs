//! Notices to the people on an in-person event's list: each chosen or
//! invited person is told time, place and what to bring, with a link to
//! their own page (unguessable) that shows the check-in code; told again
//! when the event is rescheduled or cancelled (the sending is `telling`'s);
//! and from that page they can leave a written suggestion within 5 working
//! days after the event.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::lookup::managed_event;
use super::telling;
use crate::domain::deadlines::MATERIALS_WITHIN_WORKING_DAYS;
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::identity::VerificationToken;
use crate::domain::ids::{EventId, OpinionId};
use crate::domain::opinion;
use crate::domain::selection::mask_name;
use crate::domain::time::{local_date, now, to_local_string};
use crate::store::attendance::ParticipantMessage;
use crate::store::events::Event;
use crate::store::opinions::{NewOpinion, OpinionAuthor};

/// Written suggestions one person may leave from their notice page.
const MAX_SUGGESTIONS: i64 = 5;

const NOT_YOURS: &str = "only the data bureau and the event's host units keep its list";

#[derive(Serialize, ToSchema)]
pub struct NoticesSent {
    pub sent: usize,
    pub failed: usize,
    /// The last day a notice is on time: 1 working day before the start (Beijing).
    pub due: Option<NaiveDate>,
    /// Sent after `due`: late by the plan's rule.
    pub late: bool,
}

/// Notify everyone chosen or invited who has not been: time, place, what to
/// bring, and the link to their page with the check-in code. Each result is
/// recorded on the list and in the messages.
#[utoipa::path(post, path = "/api/events/{id}/notices", tag = "selection", params(("id" = i64, Path)),
    responses((status = 200, body = NoticesSent), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn notify(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    headers: HeaderMap,
) -> ApiResult<Json<NoticesSent>> {
    let event = managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    if matches!(event.status, EventStatus::Cancelled | EventStatus::Draft) {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "notices go out for announced events",
        ));
    }
    let Some(starts_at) = event.about.starts_at else {
        return Err(ApiError::conflict(ErrorCode::WrongStatus, "the event has no time yet"));
    };
    let due = state.calendar.sub_working_days(local_date(starts_at), 1).ok();
    let late = due.is_some_and(|d| local_date(now()) > d);
    let base = super::opinions::public_base(&state, &headers);
    let people = state.store.to_notify(id).await?;
    let (sent, failed) = telling::send_notices(&state, &event, &base, people).await?;
    // What a reschedule or a cancellation left owed (a sender that died after the change) goes out too.
    let (owed_sent, owed_failed) = telling::pay_owed(&state, &event).await?;
    Ok(Json(NoticesSent {
        sent: sent + owed_sent,
        failed: failed + owed_failed,
        due,
        late,
    }))
}

/// Every message sent to the people on the event's list, with its result.
#[utoipa::path(get, path = "/api/events/{id}/participant-messages", tag = "selection", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ParticipantMessage>), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn messages(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Vec<ParticipantMessage>>> {
    managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    Ok(Json(state.store.participant_messages(id).await?))
}

/// A person's notice page, by its unguessable link: the event, when and
/// where, what to bring, their place on the list, the check-in code, and
/// whether they may leave a written suggestion now.
#[derive(Serialize, ToSchema)]
pub struct NoticeView {
    pub event_id: EventId,
    pub event_title: String,
    /// `announced`, `live`, `ended`, `materials_published` or `cancelled`.
    pub event_status: EventStatus,
    pub cancelled: bool,
    pub starts_at_local: Option<String>,
    pub venue: Option<String>,
    /// What to bring and how to check in.
    pub bring: Option<String>,
    pub name: String,
    pub reference: String,
    pub status: String,
    /// `applicant` (chosen in the open) or `invited` (定向邀请).
    pub kind: String,
    pub checked_in: bool,
    /// The check-in code to show at the door (an SVG QR code of the reference).
    pub check_in_qr_svg: String,
    /// A written suggestion is taken now (from the start until 5 working days after the end).
    pub suggestions_open: bool,
    /// The last day (Beijing) a written suggestion is taken.
    pub suggestion_until: Option<NaiveDate>,
}

/// The person a notice token belongs to, and their event.
async fn noticed(state: &AppState, token: &str) -> ApiResult<(Event, crate::store::selections::Participant)> {
    let token = VerificationToken::parse(token.trim()).ok_or_else(|| ApiError::not_found("notice"))?;
    let (event_id, reference) = state
        .store
        .participant_by_notice(&token.digest())
        .await?
        .ok_or_else(|| ApiError::not_found("notice"))?;
    let event = state.store.event(event_id).await?;
    let person = state
        .store
        .participant(&reference)
        .await?
        .ok_or_else(|| ApiError::not_found("notice"))?;
    Ok((event, person))
}

/// The written-suggestion window: from the start's day until 5 working
/// days after the end (the planned end until the event has ended).
fn suggestion_window(state: &AppState, event: &Event) -> Option<(NaiveDate, NaiveDate)> {
    let start = local_date(event.about.starts_at?);
    let end = event.ended_at.or(event.schedule().map(|s| s.ends_at()))?;
    let until = state
        .calendar
        .add_working_days(local_date(end), MATERIALS_WITHIN_WORKING_DAYS)
        .ok()?;
    Some((start, until))
}

fn suggestions_open(state: &AppState, event: &Event, status: &str) -> bool {
    let today = local_date(now());
    status == "chosen"
        && event.status != EventStatus::Cancelled
        && suggestion_window(state, event).is_some_and(|(from, until)| from <= today && today <= until)
}

#[utoipa::path(get, path = "/api/notices/{token}", tag = "selection", params(("token" = String, Path)),
    responses((status = 200, body = NoticeView), (status = 404, body = ErrorBody)))]
pub async fn notice(State(state): State<AppState>, Path(token): Path<String>) -> ApiResult<Json<NoticeView>> {
    let (event, person) = noticed(&state, &token).await?;
    let qr = qrcode::QrCode::new(person.reference.as_bytes())
        .map(|q| {
            q.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    let bring = state.store.attendance_settings(event.id).await?.bring;
    Ok(Json(NoticeView {
        event_id: event.id,
        event_title: event.about.title.clone(),
        event_status: event.status,
        cancelled: event.status == EventStatus::Cancelled,
        starts_at_local: event.about.starts_at.map(to_local_string),
        venue: event.about.venue.clone(),
        bring,
        name: mask_name(&person.name),
        suggestions_open: suggestions_open(&state, &event, &person.status),
        suggestion_until: suggestion_window(&state, &event).map(|(_, until)| until),
        reference: person.reference,
        status: person.status,
        kind: person.kind,
        checked_in: person.checked_in_at.is_some(),
        check_in_qr_svg: qr,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestionBody {
    pub text: String,
}

#[derive(Serialize, ToSchema)]
pub struct SuggestionTaken {
    pub opinion_id: OpinionId,
}

/// Leave a written suggestion (书面意见建议) from one's notice page, from the
/// start of the event until 5 working days after it: an opinion of the
/// event, answered by its lead host unit like the live questions.
#[utoipa::path(post, path = "/api/notices/{token}/suggestion", tag = "selection", params(("token" = String, Path)),
    request_body = SuggestionBody,
    responses((status = 201, body = SuggestionTaken), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`wrong_status`: not within the window"),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn suggest(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Json(body): Json<SuggestionBody>,
) -> ApiResult<(StatusCode, Json<SuggestionTaken>)> {
    let (event, person) = noticed(&state, &token).await?;
    if !suggestions_open(&state, &event, &person.status) {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "written suggestions are taken from the start of the event until 5 working days after it",
        ));
    }
    let text = opinion::opinion_text(&body.text)?;
    if state.store.suggestions_by(&person.reference).await? >= MAX_SUGGESTIONS {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!("at most {MAX_SUGGESTIONS} written suggestions per person; the unit has the ones you left"),
        ));
    }
    let unit_id = event
        .hosts
        .first()
        .map(|h| h.id)
        .ok_or_else(|| ApiError::conflict(ErrorCode::NoHost, "the event has no host unit"))?;
    let received_at = now();
    let created = state
        .store
        .create_opinion(&NewOpinion {
            event_id: event.id,
            unit_id,
            text: &text,
            nickname: &mask_name(&person.name),
            topic: None,
            received_at,
            due_date: super::opinions::due_date(&state, &event, received_at),
            author: OpinionAuthor::Participant(&person.reference),
            via: Some("written"),
            speaker_group: Some(&person.group_name),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(SuggestionTaken { opinion_id: created.id })))
}
