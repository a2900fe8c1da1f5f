//! Open days in person (issue 17, first part): the selection announcement
//! (遴选公告), sign-ups with a verified mobile number, withdrawal, the unit's
//! list, and the stratified draw whose seed is published with its result.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{CurrentStaff, MaybeStaff};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::lookup::managed_event;
use crate::domain::error_code::ErrorCode;
use crate::domain::identity::VerificationToken;
use crate::domain::ids::EventId;
use crate::domain::plan::parse_local_or_rfc3339;
use crate::domain::selection::{GroupTarget, SignUpFields, check_groups, mask_name, new_reference};
use crate::domain::time::now;
use crate::domain::values::{Invalid, optional_text, required_text};
use crate::store::StoreError;
use crate::store::selections::{NewSignUp, Participant, Selection, SelectionText};

pub(super) const NOT_YOURS: &str = "only the data bureau and the event's host units run its selection";

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SelectionBody {
    /// Who may apply, how people are chosen, what they should know.
    pub text: String,
    pub places: i64,
    /// RFC 3339, or a local Beijing time like `2024-10-08T09:00:00`.
    pub opens_at: String,
    pub closes_at: String,
    /// When applicants hear back (Beijing date).
    pub reply_by: NaiveDate,
    pub groups: Vec<GroupTarget>,
    /// Which optional fields (街道/镇, reason) the sign-up form asks for; both optional when absent.
    #[serde(default)]
    pub fields: SignUpFields,
}

/// Write the selection announcement of an in-person event (until its draw).
#[utoipa::path(put, path = "/api/events/{id}/selection", tag = "selection", params(("id" = i64, Path)),
    request_body = SelectionBody,
    responses((status = 200, body = Selection), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn save(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<SelectionBody>,
) -> ApiResult<Json<Selection>> {
    managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    if state.store.selection(id).await?.is_some_and(|s| s.drawn_at.is_some()) {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "the draw has been made; the announcement stays",
        ));
    }
    check_groups(&body.groups)?;
    if !(1..=10_000).contains(&body.places) {
        return Err(Invalid::new("places", "1 to 10000 places").into());
    }
    let time = |field: &'static str, v: &str| {
        parse_local_or_rfc3339(v).map_err(|e| Invalid {
            field,
            message: e.message,
        })
    };
    let (opens_at, closes_at) = (time("opens_at", &body.opens_at)?, time("closes_at", &body.closes_at)?);
    if closes_at <= opens_at {
        return Err(Invalid::new("closes_at", "sign-ups close after they open").into());
    }
    let groups = body
        .groups
        .iter()
        .map(|g| GroupTarget {
            name: g.name.trim().to_owned(),
            share: g.share,
        })
        .collect();
    let text = SelectionText {
        text: required_text("text", &body.text, 4000)?,
        places: body.places,
        opens_at,
        closes_at,
        reply_by: body.reply_by,
        groups,
        fields: body.fields,
    };
    state.store.save_selection(id, &text).await?;
    Ok(Json(
        state
            .store
            .selection(id)
            .await?
            .ok_or(StoreError::NotFound("selection"))?,
    ))
}

/// Publish the selection announcement: sign-ups open in its window.
#[utoipa::path(post, path = "/api/events/{id}/selection/publish", tag = "selection", params(("id" = i64, Path)),
    responses((status = 200, body = Selection), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Selection>> {
    mark(state, staff, id, true).await
}

/// Close sign-ups before the window ends.
#[utoipa::path(post, path = "/api/events/{id}/selection/close", tag = "selection", params(("id" = i64, Path)),
    responses((status = 200, body = Selection), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn close(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Selection>> {
    mark(state, staff, id, false).await
}

async fn mark(state: AppState, staff: CurrentStaff, id: EventId, publish: bool) -> ApiResult<Json<Selection>> {
    managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    if state.store.selection(id).await?.is_none() {
        return Err(ApiError::not_found("selection"));
    }
    state.store.mark_selection(id, publish).await?;
    Ok(Json(
        state
            .store
            .selection(id)
            .await?
            .ok_or(StoreError::NotFound("selection"))?,
    ))
}

/// One person on the public list: masked.
#[derive(Serialize, ToSchema)]
pub struct ListedPerson {
    pub reference: String,
    pub name: String,
    pub phone: String,
    pub group: String,
}

#[derive(Serialize, ToSchema)]
pub struct GroupCount {
    pub group: String,
    pub share: u32,
    pub applied: i64,
    pub chosen: i64,
}

/// Who was chosen, as published (公示): the chosen and the reserves in order;
/// for a draw its seed, so that anyone can re-run it.
#[derive(Serialize, ToSchema)]
pub struct DrawResult {
    /// The draw's seed; none when the unit chose by hand.
    pub seed: Option<String>,
    /// `draw` or `manual`.
    pub method: String,
    pub chosen: Vec<ListedPerson>,
    pub reserves: Vec<ListedPerson>,
}

#[derive(Serialize, ToSchema)]
pub struct PublicSelection {
    #[serde(flatten)]
    pub selection: Selection,
    /// Sign-ups are taken now.
    pub open: bool,
    pub applicants: i64,
    pub groups_now: Vec<GroupCount>,
    pub result: Option<DrawResult>,
}

/// The selection announcement as the public sees it, with the counts and,
/// once drawn, the published result (names and numbers masked). Staff who
/// manage the event also read it before it is published (`published_at` null).
#[utoipa::path(get, path = "/api/events/{id}/selection", tag = "selection", params(("id" = i64, Path)),
    responses((status = 200, body = PublicSelection), (status = 404, body = ErrorBody)))]
pub async fn public(
    State(state): State<AppState>,
    MaybeStaff(staff): MaybeStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<PublicSelection>> {
    // The unit reads its draft back; everyone else sees it once published.
    let drafter = match &staff {
        Some(s) => state.store.event(id).await.is_ok_and(|e| s.manages(&e.host_ids())),
        None => false,
    };
    let selection = state
        .store
        .selection(id)
        .await?
        .filter(|s| s.published_at.is_some() || drafter)
        .ok_or_else(|| ApiError::not_found("selection"))?;
    let people = state.store.participants(id).await?;
    // The selection's own: the invited and walk-ins are not among its places.
    let active: Vec<&Participant> = people
        .iter()
        .filter(|p| p.kind == "applicant" && p.status != "withdrawn")
        .collect();
    let listed = |p: &&Participant| ListedPerson {
        reference: p.reference.clone(),
        name: mask_name(&p.name),
        phone: p.phone_masked.clone(),
        group: p.group_name.clone(),
    };
    let result = selection.drawn_at.map(|_| {
        let mut reserves: Vec<&Participant> = active.iter().copied().filter(|p| p.status == "reserve").collect();
        reserves.sort_by_key(|p| p.rank);
        DrawResult {
            seed: selection.seed.clone(),
            method: selection.method.clone().unwrap_or_else(|| "draw".into()),
            chosen: active.iter().filter(|p| p.status == "chosen").map(listed).collect(),
            reserves: reserves.iter().map(listed).collect(),
        }
    });
    let count = |g: &str, status: Option<&str>| {
        active
            .iter()
            .filter(|p| p.group_name == g && status.is_none_or(|s| p.status == s))
            .count() as i64
    };
    Ok(Json(PublicSelection {
        open: selection.open_at(now()),
        applicants: active.len() as i64,
        groups_now: selection
            .groups
            .iter()
            .map(|g| GroupCount {
                group: g.name.clone(),
                share: g.share,
                applied: count(&g.name, None),
                chosen: count(&g.name, Some("chosen")),
            })
            .collect(),
        result,
        selection,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpBody {
    /// The verification token of the browser (`POST /api/verification`): the mobile number behind it.
    pub verification: String,
    pub name: String,
    /// One of the announcement's groups.
    pub group: String,
    /// 街道/镇.
    pub street: Option<String>,
    pub reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SignedUp {
    /// Keep it: to withdraw, and to find oneself in the published list.
    pub reference: String,
    pub status: String,
}

/// Sign up for an in-person event, with a verified mobile number (one sign-up per number).
#[utoipa::path(post, path = "/api/events/{id}/signups", tag = "selection", params(("id" = i64, Path)),
    request_body = SignUpBody,
    responses((status = 201, body = SignedUp), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`signup_closed` or `already_signed_up`"),
        (status = 422, body = ErrorBody)))]
pub async fn sign_up(
    State(state): State<AppState>,
    Path(id): Path<EventId>,
    Json(body): Json<SignUpBody>,
) -> ApiResult<(StatusCode, Json<SignedUp>)> {
    let selection = state
        .store
        .selection(id)
        .await?
        .filter(|s| s.published_at.is_some())
        .ok_or_else(|| ApiError::not_found("selection"))?;
    if !selection.open_at(now()) {
        return Err(ApiError::conflict(
            ErrorCode::SignupClosed,
            "sign-ups for this event are not open",
        ));
    }
    let verified = match VerificationToken::parse(body.verification.trim()) {
        Some(token) => state.store.verification(&token).await?,
        None => None,
    }
    .ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::VerificationRequired,
            "verify your mobile number first (POST /api/verification/code, then POST /api/verification)",
        )
    })?;
    let group = body.group.trim();
    if !selection.groups.iter().any(|g| g.name == group) {
        return Err(Invalid::new("group", "choose one of the announcement's groups").into());
    }
    let name = required_text("name", &body.name, 30)?;
    let rules = selection.fields;
    let street = rules
        .street
        .apply("street", optional_text("street", body.street.as_deref(), 40)?)?;
    let reason = rules
        .reason
        .apply("reason", optional_text("reason", body.reason.as_deref(), 300)?)?;
    let reference = new_reference();
    let signed = state
        .store
        .sign_up(NewSignUp {
            event_id: id,
            reference: &reference,
            name: &name,
            identity: verified.identity_id,
            phone_masked: &verified.phone,
            group,
            street: street.as_deref(),
            reason: reason.as_deref(),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ApiError::conflict(ErrorCode::AlreadySignedUp, m),
            e => e.into(),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            reference: signed.reference,
            status: signed.status,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawBody {
    /// The verification token of the number that signed up.
    pub verification: String,
}

#[derive(Serialize, ToSchema)]
pub struct Withdrawn {
    /// The reserve who took the place, when a chosen person withdrew.
    pub moved_up: Option<String>,
}

/// Withdraw one's sign-up; a chosen person's place goes to the first reserve.
#[utoipa::path(post, path = "/api/signups/{reference}/withdraw", tag = "selection", params(("reference" = String, Path)),
    request_body = WithdrawBody,
    responses((status = 200, body = Withdrawn), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn withdraw(
    State(state): State<AppState>,
    Path(reference): Path<String>,
    Json(body): Json<WithdrawBody>,
) -> ApiResult<Json<Withdrawn>> {
    let verified = match VerificationToken::parse(body.verification.trim()) {
        Some(token) => state.store.verification(&token).await?,
        None => None,
    };
    let owner = state.store.participant_identity(&reference).await?;
    match (owner, verified) {
        (Some((_, Some(identity))), Some(v)) if identity == v.identity_id => {}
        _ => return Err(ApiError::not_found("sign-up")),
    }
    let moved_up = state.store.withdraw_participant(&reference).await?;
    Ok(Json(Withdrawn { moved_up }))
}

/// The unit's list: everyone who signed up, as written.
#[utoipa::path(get, path = "/api/events/{id}/participants", tag = "selection", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Participant>), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn participants(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Vec<Participant>>> {
    managed_event(&state, &staff.0, id, NOT_YOURS).await?;
    Ok(Json(state.store.participants(id).await?))
}
