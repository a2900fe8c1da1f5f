//! Open days in person, at the place: its arrangements (capacity, what to
//! bring), invited representatives (定向邀请), check-in at the door and
//! walk-ins, taking someone off the list, and the principal leader's
//! attendance as each host unit records it.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::lookup::managed_event;
use crate::domain::error_code::ErrorCode;
use crate::domain::identity::PhoneNumber;
use crate::domain::ids::{EventId, UnitId};
use crate::domain::selection::new_reference;
use crate::domain::values::{Invalid, optional_text, required_text};
use crate::store::attendance::{AttendanceSettings, LeaderAttendance};
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
    let phone = PhoneNumber::parse(&body.phone)?;
    let organisation = optional_text("organisation", body.organisation.as_deref(), 60)?;
    let contact = Contact {
        phone: Some(phone),
        organisation,
    };
    add_by_hand(&state, &staff, id, (&body.name, &body.group), contact, "invited").await
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
    let contact = Contact {
        phone: None,
        organisation: None,
    };
    add_by_hand(&state, &staff, id, (&body.name, &body.group), contact, "walk_in").await
}

/// How to reach someone staff put on the list: an invited representative
/// has a number for the notice and maybe an organisation; a walk-in neither.
struct Contact {
    phone: Option<PhoneNumber>,
    organisation: Option<String>,
}

/// Put someone on the list by hand (`kind` `invited` or `walk_in`), with
/// `name` and `group` checked, while the place has room.
async fn add_by_hand(
    state: &AppState,
    staff: &CurrentStaff,
    id: EventId,
    (name, group): (&str, &str),
    contact: Contact,
    kind: &str,
) -> ApiResult<(StatusCode, Json<Participant>)> {
    managed_event(state, &staff.0, id, NOT_YOURS).await?;
    room_left(state, id).await?;
    let name = required_text("name", name, 30)?;
    let group = required_text("group", group, 20)?;
    let sealed = contact.phone.as_ref().map(|p| state.verifier.keys().seal(p));
    let masked = contact
        .phone
        .as_ref()
        .map_or_else(|| "—".to_owned(), PhoneNumber::masked);
    let reference = new_reference();
    let person = state
        .store
        .add_participant(NewParticipant {
            event_id: id,
            reference: &reference,
            name: &name,
            phone_masked: &masked,
            phone_sealed: sealed.as_deref(),
            group: &group,
            organisation: contact.organisation.as_deref(),
            kind,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(person)))
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
    let on_this_list = matches!(state.store.participant_identity(reference).await?, Some((event, _)) if event == id);
    let person = state
        .store
        .participant(reference)
        .await?
        .filter(|p| on_this_list && p.status == "chosen")
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

/// Refuse another person on the list when it fills the place already.
async fn room_left(state: &AppState, id: EventId) -> ApiResult<()> {
    let Some(capacity) = state.store.attendance_settings(id).await?.capacity else {
        return Ok(());
    };
    if state.store.places_taken(id).await? >= capacity {
        return Err(ApiError::conflict(
            ErrorCode::CapacityReached,
            format!("the list fills the place's capacity ({capacity})"),
        ));
    }
    Ok(())
}

/// The event's in-person arrangements (public: the sign-up page and the
/// notices show them).
#[utoipa::path(get, path = "/api/events/{id}/attendance", tag = "selection", params(("id" = i64, Path)),
    responses((status = 200, body = AttendanceSettings), (status = 404, body = ErrorBody)))]
pub async fn settings(State(state): State<AppState>, Path(id): Path<EventId>) -> ApiResult<Json<AttendanceSettings>> {
    let event = state.store.event(id).await?;
    if event.status == crate::domain::event::EventStatus::Draft {
        return Err(ApiError::not_found("event"));
    }
    Ok(Json(state.store.attendance_settings(id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// How many people the place holds; none for no limit.
    pub capacity: Option<i64>,
    /// What to bring and how to check in (in the notice and on the notice page).
    pub bring: Option<String>,
}

/// Set the event's in-person arrangements.
#[utoipa::path(put, path = "/api/events/{id}/attendance", tag = "selection", params(("id" = i64, Path)),
    request_body = SettingsBody,
    responses((status = 200, body = AttendanceSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn save_settings(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<SettingsBody>,
) -> ApiResult<Json<AttendanceSettings>> {
    managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    if body.capacity.is_some_and(|c| !(1..=100_000).contains(&c)) {
        return Err(Invalid::new("capacity", "1 to 100000 people").into());
    }
    let settings = AttendanceSettings {
        capacity: body.capacity,
        bring: optional_text("bring", body.bring.as_deref(), 200)?,
    };
    state.store.save_attendance_settings(id, &settings).await?;
    Ok(Json(settings))
}

/// Take someone off the list (an invitation withdrawn, a person who cannot
/// come): a chosen applicant's place goes to the first reserve.
#[utoipa::path(delete, path = "/api/events/{id}/participants/{reference}", tag = "selection",
    params(("id" = i64, Path), ("reference" = String, Path)),
    responses((status = 200, body = super::selection::Withdrawn), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((id, reference)): Path<(EventId, String)>,
) -> ApiResult<Json<super::selection::Withdrawn>> {
    managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    match state.store.participant_identity(&reference).await? {
        Some((event, _)) if event == id => {}
        _ => return Err(ApiError::not_found("person on this event's list")),
    }
    let moved_up = state.store.withdraw_participant(&reference).await?;
    Ok(Json(super::selection::Withdrawn { moved_up }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaderBody {
    /// The host unit recording; the caller's own unit when absent (the data
    /// bureau names one).
    pub unit_id: Option<UnitId>,
    /// Whether the unit's principal leader (主要负责同志) took part.
    pub attended: bool,
    /// Their title (局长, 主任, …), optional.
    pub leader: Option<String>,
}

/// Record whether a host unit's principal leader took part (shown in the
/// record and the performance report).
#[utoipa::path(put, path = "/api/events/{id}/leader", tag = "selection", params(("id" = i64, Path)),
    request_body = LeaderBody,
    responses((status = 200, body = Vec<LeaderAttendance>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn record_leader(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<LeaderBody>,
) -> ApiResult<Json<Vec<LeaderAttendance>>> {
    let event = managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    let unit = match (body.unit_id, staff.0.unit_id) {
        (Some(u), own) if own == Some(u) || staff.0.is_admin() => u,
        (Some(_), _) => return Err(ApiError::forbidden("record your own unit's leader")),
        (None, Some(own)) => own,
        (None, None) => return Err(Invalid::new("unit_id", "name the host unit").into()),
    };
    if !event.host_ids().contains(&unit) {
        return Err(Invalid::new("unit_id", "not a host unit of this event").into());
    }
    let leader = optional_text("leader", body.leader.as_deref(), 30)?;
    state
        .store
        .record_leader(id, unit, body.attended, leader.as_deref(), staff.0.id)
        .await?;
    Ok(Json(state.store.leaders(id).await?))
}

/// The principal leaders' attendance as the host units recorded it.
#[utoipa::path(get, path = "/api/events/{id}/leader", tag = "selection", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<LeaderAttendance>), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn leaders(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Vec<LeaderAttendance>>> {
    managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    Ok(Json(state.store.leaders(id).await?))
}
