//! Staff accounts, managed by the data bureau's administrators.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiResult, ErrorBody, Json};
use super::lookup;
use crate::domain::staff::{NewPassword, Role, Username};
use crate::domain::values::{Code, Invalid, required_text};
use crate::passwords;
use crate::store::users::Account;

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
    let password = NewPassword::parse(&body.password)?;
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
    Ok((StatusCode::CREATED, Json(account)))
}
