//! Staff accounts, managed by the data bureau's administrators.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::lookup;
use crate::domain::ids::StaffId;
use crate::domain::security::SecurityKind;
use crate::domain::staff::{NewPassword, Role, Username};
use crate::domain::values::{Code, Invalid, required_text};
use crate::passwords;
use crate::store::security::SecurityEvent;
use crate::store::sessions::SessionInfo;
use crate::store::users::{Account, AccountChange, PasswordChange};

/// All staff accounts.
#[utoipa::path(get, path = "/api/users", tag = "auth",
    responses((status = 200, body = Vec<Account>), (status = 403, body = ErrorBody)), security(("session" = [])))]
pub async fn list(State(state): State<AppState>, staff: CurrentStaff) -> ApiResult<Json<Vec<Account>>> {
    staff.require_admin()?;
    Ok(Json(state.store.list_users().await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    pub username: String,
    pub display_name: String,
    /// 10 to 200 characters.
    pub password: String,
    pub role: Role,
    /// Unit code; required for unit staff, optional for moderators and hosts.
    pub unit: Option<String>,
}

/// Create a staff account.
#[utoipa::path(post, path = "/api/users", tag = "auth", request_body = NewUserBody,
    responses((status = 201, body = Account), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many passwords being checked at once; see `Retry-After`")),
    security(("session" = [])))]
pub async fn create(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Json(body): Json<NewUserBody>,
) -> ApiResult<(StatusCode, Json<Account>)> {
    staff.require_admin()?;
    let username = Username::parse(&body.username)?;
    let display_name = required_text("display_name", &body.display_name, 100)?;
    let password = NewPassword::parse_for(&body.password, username.as_str())?;
    let unit_id = match body.unit.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(code) => {
            let code = Code::parse("unit", code)?;
            Some(lookup::unit(&state, code.as_str()).await?.id)
        }
        None => None,
    };
    match (body.role, unit_id) {
        (Role::UnitStaff, None) => {
            return Err(Invalid::new("unit", "unit staff need a unit").into());
        }
        (Role::Admin, Some(_)) => {
            return Err(Invalid::new("unit", "administrators serve the whole district; give no unit").into());
        }
        _ => {}
    }
    let hash = passwords::hash_blocking(password.expose().to_owned()).await?;
    let account = state
        .store
        .create_user(&username, &display_name, &hash, body.role, unit_id)
        .await?;
    tracing::info!(
        user_id = account.staff.id.0,
        role = body.role.as_str(),
        by = staff.0.id.0,
        "account created"
    );
    let event = SecurityEvent::new(SecurityKind::AccountCreated)
        .by(staff.0.id)
        .on(account.staff.id)
        .detail(serde_json::json!({ "username": account.staff.username, "role": body.role, "unit": body.unit }));
    state.store.log_security(event).await?;
    Ok((StatusCode::CREATED, Json(account)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    /// A unit code; `null` for none (administrators, district-wide moderators and hosts).
    #[serde(default, deserialize_with = "present")]
    pub unit: Option<Option<String>>,
    /// `false` disables the account at once: its sessions end, its open
    /// consoles close within seconds on every node.
    pub active: Option<bool>,
}

fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Change an account: name, role, unit, enabled (administrators; not their own role or state).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "auth", params(("id" = i64, Path)), request_body = AccountPatch,
    responses((status = 200, body = Account), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn update(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<StaffId>,
    Json(body): Json<AccountPatch>,
) -> ApiResult<Json<Account>> {
    staff.require_admin()?;
    if id == staff.0.id && (body.active.is_some() || body.role.is_some()) {
        return Err(ApiError::forbidden(
            "administrators do not disable or demote their own account",
        ));
    }
    let before = state.store.account(id).await?;
    let unit_id = match &body.unit {
        None => None,
        Some(None) => Some(None),
        Some(Some(code)) => {
            let code = Code::parse("unit", code)?;
            Some(Some(lookup::unit(&state, code.as_str()).await?.id))
        }
    };
    let role = body.role.unwrap_or(before.staff.role);
    let unit = unit_id.unwrap_or(before.staff.unit_id);
    match (role, unit) {
        (Role::UnitStaff, None) => return Err(Invalid::new("unit", "unit staff need a unit").into()),
        (Role::Admin, Some(_)) => {
            return Err(Invalid::new("unit", "administrators serve the whole district; give no unit").into());
        }
        _ => {}
    }
    let change = AccountChange {
        display_name: body
            .display_name
            .as_deref()
            .map(|n| required_text("display_name", n, 100))
            .transpose()?,
        role: body.role,
        unit_id,
        active: body.active,
    };
    let after = state.store.change_account(id, &change).await?;
    let kind = match (before.active, after.active) {
        (true, false) => SecurityKind::AccountDisabled,
        (false, true) => SecurityKind::AccountEnabled,
        _ => SecurityKind::AccountChanged,
    };
    let detail = serde_json::json!({
        "before": { "display_name": before.staff.display_name, "role": before.staff.role, "unit_id": before.staff.unit_id, "active": before.active },
        "after": { "display_name": after.staff.display_name, "role": after.staff.role, "unit_id": after.staff.unit_id, "active": after.active },
    });
    let event = SecurityEvent::new(kind).by(staff.0.id).on(id).detail(detail);
    state.store.log_security(event).await?;
    Ok(Json(after))
}

#[derive(Serialize, ToSchema)]
pub struct ResetView {
    /// Shown once: the account signs in with it and must then choose its own.
    pub one_time_password: String,
    pub sessions_ended: u64,
}

/// Reset an account's password (administrators): a one-time password the
/// account must change at its next sign-in; every session of the account ends.
#[utoipa::path(post, path = "/api/users/{id}/password", tag = "auth", params(("id" = i64, Path)),
    responses((status = 200, body = ResetView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many passwords being checked at once; see `Retry-After`")),
    security(("session" = [])))]
pub async fn reset_password(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<StaffId>,
) -> ApiResult<Json<ResetView>> {
    staff.require_admin()?;
    state.store.account(id).await?;
    let password = passwords::generate();
    let hash = passwords::hash_blocking(password.clone()).await?;
    let change = PasswordChange {
        keep_session: None,
        must_change: true,
    };
    let ended = state.store.set_password(id, &hash, change).await?;
    let event = SecurityEvent::new(SecurityKind::PasswordReset)
        .by(staff.0.id)
        .on(id)
        .detail(serde_json::json!({ "sessions_ended": ended }));
    state.store.log_security(event).await?;
    Ok(Json(ResetView {
        one_time_password: password,
        sessions_ended: ended,
    }))
}

/// An account's sessions (administrators).
#[utoipa::path(get, path = "/api/users/{id}/sessions", tag = "auth", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<SessionInfo>), (status = 403, body = ErrorBody)), security(("session" = [])))]
pub async fn sessions(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<StaffId>,
) -> ApiResult<Json<Vec<SessionInfo>>> {
    staff.require_admin()?;
    Ok(Json(state.store.sessions_of(id).await?))
}

/// End one session of an account (administrators).
#[utoipa::path(delete, path = "/api/users/{id}/sessions/{session}", tag = "auth",
    params(("id" = i64, Path), ("session" = String, Path)),
    responses((status = 204, description = "ended"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn end_session(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path((id, session)): Path<(StaffId, String)>,
) -> ApiResult<StatusCode> {
    staff.require_admin()?;
    super::account::end(&state, staff.0.id, id, &session).await
}
