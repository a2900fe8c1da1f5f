//! Open days in person, second part: invited representatives (定向邀请),
//! notices to the chosen and invited (each with an unguessable page and its
//! check-in code, due at least 1 working day before the start), check-in at
//! the door and walk-ins.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::lookup::managed_event;
use crate::domain::error_code::ErrorCode;
use crate::domain::identity::{PhoneNumber, VerificationToken};
use crate::domain::ids::EventId;
use crate::domain::selection::{mask_name, new_reference};
use crate::domain::time::{local_date, now, to_local_string};
use crate::domain::values::{optional_text, required_text};
use crate::identity::sms::Sms;
use crate::store::selections::{NewParticipant, Participant};

const NOT_YOURS: &str = "only the data bureau and the event's host units keep its list";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationBody {
    pub name: String,
    /// The group they represent (人大代表, 政协委员, 家长, …).
    pub group: String,
    pub organisation: Option<String>,
    /// Their mobile number, for the notice.
    pub phone: String,
}

/// Invite a representative by name (定向邀请): on the list with the chosen,
/// notified and checked in the same way.
#[utoipa::path(post, path = "/api/events/{id}/invitations", tag = "selection", params(("id" = i64, Path)),
    request_body = InvitationBody,
    responses((status = 201, body = Participant), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn invite(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<InvitationBody>,
) -> ApiResult<(StatusCode, Json<Participant>)> {
    managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    let phone = PhoneNumber::parse(&body.phone)?;
    let name = required_text("name", &body.name, 30)?;
    let group = required_text("group", &body.group, 20)?;
    let organisation = optional_text("organisation", body.organisation.as_deref(), 60)?;
    let sealed = state.verifier.keys().seal(&phone);
    let reference = new_reference();
    let person = state
        .store
        .add_participant(NewParticipant {
            event_id: id,
            reference: &reference,
            name: &name,
            phone_masked: &phone.masked(),
            phone_sealed: Some(&sealed),
            group: &group,
            organisation: organisation.as_deref(),
            kind: "invited",
        })
        .await?;
    Ok((StatusCode::CREATED, Json(person)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalkInBody {
    pub name: String,
    pub group: String,
}

/// Add someone who came without a place (a walk-in): checked in at once.
#[utoipa::path(post, path = "/api/events/{id}/walk-ins", tag = "selection", params(("id" = i64, Path)),
    request_body = WalkInBody,
    responses((status = 201, body = Participant), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn walk_in(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<WalkInBody>,
) -> ApiResult<(StatusCode, Json<Participant>)> {
    managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    let name = required_text("name", &body.name, 30)?;
    let group = required_text("group", &body.group, 20)?;
    let reference = new_reference();
    let person = state
        .store
        .add_participant(NewParticipant {
            event_id: id,
            reference: &reference,
            name: &name,
            phone_masked: "—",
            phone_sealed: None,
            group: &group,
            organisation: None,
            kind: "walk_in",
        })
        .await?;
    Ok((StatusCode::CREATED, Json(person)))
}

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
/// recorded on the list.
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
    let Some(starts_at) = event.about.starts_at else {
        return Err(ApiError::conflict(ErrorCode::WrongStatus, "the event has no time yet"));
    };
    let due = state.calendar.sub_working_days(local_date(starts_at), 1).ok();
    let late = due.is_some_and(|d| local_date(now()) > d);
    let when = to_local_string(starts_at);
    let place = event.about.venue.clone().unwrap_or_else(|| "见活动公告".into());
    let base = super::opinions::public_base(&state, &headers);
    let (mut sent, mut failed) = (0, 0);
    for (reference, identity, sealed) in state.store.to_notify(id).await? {
        let sealed = match (sealed, identity) {
            (Some(s), _) => Some(s),
            (None, Some(identity)) => state.store.sealed_phone(identity).await?,
            (None, None) => None,
        };
        let token = VerificationToken::generate();
        let link = format!("{base}/api/notices/{}", token.expose());
        let delivered = match sealed.as_deref().and_then(|s| state.verifier.keys().unseal(s)) {
            Some(phone) => {
                let sms = Sms::attendance(&phone, &event.about.title, &when, &place, &link);
                state.verifier.sender().send(&sms).await.is_ok()
            }
            None => false,
        };
        state
            .store
            .record_participant_notice(&reference, &token.digest(), delivered)
            .await?;
        if delivered {
            sent += 1;
        } else {
            failed += 1;
        }
    }
    Ok(Json(NoticesSent {
        sent,
        failed,
        due,
        late,
    }))
}

/// A person's notice page, by its unguessable link: the event, when and
/// where, their place on the list and the check-in code.
#[derive(Serialize, ToSchema)]
pub struct NoticeView {
    pub event_title: String,
    pub starts_at_local: Option<String>,
    pub venue: Option<String>,
    pub name: String,
    pub reference: String,
    pub status: String,
    pub checked_in: bool,
    /// The check-in code to show at the door (an SVG QR code of the reference).
    pub check_in_qr_svg: String,
}

#[utoipa::path(get, path = "/api/notices/{token}", tag = "selection", params(("token" = String, Path)),
    responses((status = 200, body = NoticeView), (status = 404, body = ErrorBody)))]
pub async fn notice(State(state): State<AppState>, Path(token): Path<String>) -> ApiResult<Json<NoticeView>> {
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
    let qr = qrcode::QrCode::new(person.reference.as_bytes())
        .map(|q| {
            q.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    Ok(Json(NoticeView {
        event_title: event.about.title.clone(),
        starts_at_local: event.about.starts_at.map(to_local_string),
        venue: event.about.venue.clone(),
        name: mask_name(&person.name),
        reference: person.reference,
        status: person.status,
        checked_in: person.checked_in_at.is_some(),
        check_in_qr_svg: qr,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInBody {
    /// From the person's check-in code, or looked up on the list.
    pub reference: String,
}

/// Check a chosen or invited person in at the door.
#[utoipa::path(post, path = "/api/events/{id}/check-in", tag = "selection", params(("id" = i64, Path)),
    request_body = CheckInBody,
    responses((status = 200, body = Participant), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn check_in(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<CheckInBody>,
) -> ApiResult<Json<Participant>> {
    managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    let reference = body.reference.trim();
    let person = state
        .store
        .participant(reference)
        .await?
        .filter(|p| p.status == "chosen")
        .ok_or_else(|| ApiError::not_found("person on this event's list"))?;
    if !state.store.check_in(id, reference).await? {
        return Err(ApiError::conflict(
            ErrorCode::Conflict,
            format!("{} has checked in already", person.name),
        ));
    }
    Ok(Json(
        state
            .store
            .participant(reference)
            .await?
            .ok_or_else(|| ApiError::not_found("person"))?,
    ))
}
