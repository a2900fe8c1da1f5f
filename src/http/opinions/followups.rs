//! The reply deadline's follow-ups: a unit's extension requests (延期), the
//! bureau's decisions on them and its reminders (催办).

use chrono::NaiveDate;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::AppState;
use super::super::auth::CurrentStaff;
use super::super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::{OpinionDetail, answers, detail, own_opinion};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::OpinionId;
use crate::domain::opinion::{self, ExtensionDecision};
use crate::domain::staff::Role;
use crate::domain::values::Invalid;
use crate::store::opinions::{Actor, Extension, Reminder, SideRecord};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBody {
    /// The new due date asked for (`YYYY-MM-DD`, Beijing), a working day after the current one.
    pub due_date: NaiveDate,
    pub reason: String,
}

/// Ask the data bureau for more time to reply (延期).
#[utoipa::path(post, path = "/api/opinions/{id}/extensions", tag = "opinions", params(("id" = i64, Path)), request_body = ExtensionBody,
    responses((status = 201, body = Extension), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn request_extension(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<OpinionId>,
    Json(body): Json<ExtensionBody>,
) -> ApiResult<(StatusCode, Json<Extension>)> {
    let o = own_opinion(&state, &staff.0, id).await?;
    let reason = opinion::reason("reason", &body.reason)?;
    if o.published_at.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyPublished,
            "the reply is published: nothing to extend",
        ));
    }
    if o.due_date.is_some_and(|d| body.due_date <= d) {
        return Err(Invalid::new("due_date", "must be after the current due date").into());
    }
    match state.calendar.is_working_day(body.due_date) {
        Ok(true) => {}
        Ok(false) => return Err(Invalid::new("due_date", "must be a working day").into()),
        Err(e) => return Err(Invalid::new("due_date", e.to_string()).into()),
    }
    let ext = state
        .store
        .request_extension(&o, body.due_date, &reason, staff.0.id)
        .await?;
    Ok((StatusCode::CREATED, Json(ext)))
}

/// Extension requests waiting for the bureau's decision (admin: all; unit staff: their unit's).
#[utoipa::path(get, path = "/api/extensions", tag = "opinions",
    responses((status = 200, body = Vec<Extension>), (status = 403, body = ErrorBody)), security(("session" = [])))]
pub async fn pending_extensions(State(state): State<AppState>, staff: CurrentStaff) -> ApiResult<Json<Vec<Extension>>> {
    if !matches!(staff.0.role, Role::Admin | Role::UnitStaff) {
        return Err(ApiError::forbidden(
            "only the data bureau and unit staff see extension requests",
        ));
    }
    let mut pending = state.store.extensions(None).await?;
    pending.retain(|ext| answers(&staff.0, ext.unit_id));
    Ok(Json(pending))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionDecisionBody {
    pub grant: bool,
    pub note: Option<String>,
}

/// The bureau grants or refuses an extension; a grant moves the due date.
#[utoipa::path(post, path = "/api/extensions/{id}/decision", tag = "opinions", params(("id" = i64, Path)),
    request_body = ExtensionDecisionBody,
    responses((status = 200, body = OpinionDetail), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn decide_extension(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<i64>,
    Json(body): Json<ExtensionDecisionBody>,
) -> ApiResult<Json<OpinionDetail>> {
    staff.require_admin()?;
    let ext = state.store.extension(id).await?;
    if ext.decision != ExtensionDecision::Pending.as_str() {
        return Err(ApiError::conflict(
            ErrorCode::Decided,
            "this request was decided already",
        ));
    }
    let note = body.note.as_deref().map(|n| opinion::reason("note", n)).transpose()?;
    let o = state.store.opinion(ext.opinion_id).await?;
    let mut after = o.fields();
    let decision = if body.grant {
        after.due_date = Some(ext.requested_due);
        ExtensionDecision::Granted
    } else {
        ExtensionDecision::Refused
    };
    let side = SideRecord::ExtensionDecided {
        id,
        decision,
        note: note.as_deref(),
    };
    let action = if body.grant {
        "opinion.extension_granted"
    } else {
        "opinion.extension_refused"
    };
    let mut changed = state
        .store
        .change_opinions(&[(o, after)], action, Actor::Staff(staff.0.id), side)
        .await?;
    let o = changed
        .pop()
        .ok_or_else(|| ApiError::internal("decide_extension", &"returned nothing"))?;
    detail(&state, o).await.map(Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderBody {
    pub note: Option<String>,
}

/// The data bureau reminds the unit to reply (催办).
#[utoipa::path(post, path = "/api/opinions/{id}/reminders", tag = "opinions", params(("id" = i64, Path)), request_body = ReminderBody,
    responses((status = 201, body = Reminder), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn remind(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<OpinionId>,
    Json(body): Json<ReminderBody>,
) -> ApiResult<(StatusCode, Json<Reminder>)> {
    staff.require_admin()?;
    let o = state.store.opinion(id).await?;
    if o.published_at.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyPublished,
            "the reply is published: nothing to remind",
        ));
    }
    let note = body
        .note
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| opinion::reason("note", n))
        .transpose()?;
    let r = state.store.remind(&o, note.as_deref(), staff.0.id).await?;
    Ok((StatusCode::CREATED, Json(r)))
}
