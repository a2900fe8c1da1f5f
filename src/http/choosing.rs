//! Choosing who comes in person: the stratified draw whose seed is published
//! with its result, or the unit's own choice.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::lookup::managed_event;
use super::selection::{NOT_YOURS, PublicSelection, public};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::EventId;
use crate::domain::selection::{Drawn, draw};
use crate::domain::values::{Invalid, required_text};
use crate::store::selections::{Participant, Selection};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawBody {
    /// The seed (at most 64 characters); a random one when absent. Published with the result.
    #[schema(max_length = 64)]
    pub seed: Option<String>,
}

/// Make the draw, stratified by group (see `domain::selection`): sign-ups
/// close, the chosen and the reserves are set, the seed is published.
#[utoipa::path(post, path = "/api/events/{id}/selection/draw", tag = "selection", params(("id" = i64, Path)),
    request_body = DrawBody,
    responses((status = 200, body = PublicSelection), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn make_draw(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<DrawBody>,
) -> ApiResult<Json<PublicSelection>> {
    let (selection, people) = published(&state, &staff, id).await?;
    let seed = match body.seed.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => required_text("seed", s, 64)?,
        None => crate::domain::identity::IdentityKeys::generate_secret()[..32].to_owned(),
    };
    let applicants: Vec<(String, String)> = people
        .iter()
        .filter(|p| p.status == "applied")
        .map(|p| (p.reference.clone(), p.group_name.clone()))
        .collect();
    let places = usize::try_from(selection.places).unwrap_or(0);
    let drawn = draw(&seed, places, &selection.groups, &applicants);
    record(&state, id, Some(&seed), &drawn).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChooseBody {
    /// References of the applicants the unit chooses (at most the places).
    pub chosen: Vec<String>,
    /// References of reserves, in the order they move up.
    #[serde(default)]
    pub reserves: Vec<String>,
}

/// Choose by hand (instead of the draw): sign-ups close and the list is
/// published as chosen; applicants named in neither list are not chosen.
#[utoipa::path(post, path = "/api/events/{id}/selection/choose", tag = "selection", params(("id" = i64, Path)),
    request_body = ChooseBody,
    responses((status = 200, body = PublicSelection), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn choose(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<ChooseBody>,
) -> ApiResult<Json<PublicSelection>> {
    let (selection, people) = published(&state, &staff, id).await?;
    if i64::try_from(body.chosen.len()).unwrap_or(i64::MAX) > selection.places {
        return Err(Invalid::new("chosen", format!("at most {} places", selection.places)).into());
    }
    let mut seen = std::collections::HashSet::new();
    for reference in body.chosen.iter().chain(&body.reserves) {
        let field = if body.chosen.contains(reference) {
            "chosen"
        } else {
            "reserves"
        };
        if !seen.insert(reference.as_str()) {
            return Err(Invalid::new(field, format!("`{reference}` is named twice")).into());
        }
        if !people
            .iter()
            .any(|p| &p.reference == reference && p.status == "applied")
        {
            return Err(Invalid::new(field, format!("`{reference}` is not an applicant of this event")).into());
        }
    }
    let drawn = Drawn {
        chosen: body.chosen,
        reserves: body.reserves,
    };
    record(&state, id, None, &drawn).await
}

/// The event's published selection and its list, for the unit choosing.
async fn published(state: &AppState, staff: &CurrentStaff, id: EventId) -> ApiResult<(Selection, Vec<Participant>)> {
    managed_event(state, &staff.0, id, NOT_YOURS).await?;
    let selection = state
        .store
        .selection(id)
        .await?
        .ok_or_else(|| ApiError::not_found("selection"))?;
    if selection.published_at.is_none() {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "publish the announcement first",
        ));
    }
    if selection.drawn_at.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "the chosen have been set already",
        ));
    }
    Ok((selection, state.store.participants(id).await?))
}

async fn record(state: &AppState, id: EventId, seed: Option<&str>, drawn: &Drawn) -> ApiResult<Json<PublicSelection>> {
    if !state.store.record_choice(id, seed, drawn).await? {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "the chosen have been set already",
        ));
    }
    public(State(state.clone()), super::auth::MaybeStaff(None), Path(id)).await
}
