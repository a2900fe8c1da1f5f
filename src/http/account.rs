//! A staff member's own account: their password and their sessions.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{CurrentStaff, session_token};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use crate::domain::error_code::ErrorCode;
use crate::domain::security::SecurityKind;
use crate::domain::staff::NewPassword;
use crate::passwords;
use crate::store::security::SecurityEvent;
use crate::store::sessions::SessionInfo;
use crate::store::users::PasswordChange;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    pub old_password: String,
    /// 10–200 characters, not the username, not a common password.
    pub new_password: String,
}

/// Change one's own password (the old one required). Every other session of
/// the account ends; this one stays.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = PasswordBody,
    responses((status = 204, description = "changed"), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many passwords being checked at once; see `Retry-After`")),
    security(("session" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    staff: CurrentStaff,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<PasswordBody>,
) -> ApiResult<StatusCode> {
    let me = staff.0;
    let new = NewPassword::parse_for(&body.new_password, &me.username)?;
    if body.old_password == body.new_password {
        return Err(crate::domain::values::Invalid::new("new_password", "must differ from the old one").into());
    }
    let stored = state.store.credentials(&me.username).await?.map(|c| c.password_hash);
    if body.old_password.len() > 1024 || !passwords::verify_blocking(body.old_password, stored).await? {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidCredentials,
            "the old password is wrong",
        ));
    }
    let hash = passwords::hash_blocking(new.expose().to_owned()).await?;
    let token = session_token(&headers);
    let change = PasswordChange {
        keep_session: token.as_deref(),
        must_change: false,
    };
    let ended = state.store.set_password(me.id, &hash, change).await?;
    let ip = super::live::client_ip(peer.ip(), &headers, &state.settings.trusted_proxies);
    let event = SecurityEvent::new(SecurityKind::PasswordChanged)
        .by(me.id)
        .on(me.id)
        .from_ip(ip)
        .detail(serde_json::json!({ "other_sessions_ended": ended }));
    state.store.log_security(event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One's own sessions that have not run out (where and when they began,
/// when last used).
#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth",
    responses((status = 200, body = Vec<SessionInfo>), (status = 401, body = ErrorBody)), security(("session" = [])))]
pub async fn my_sessions(State(state): State<AppState>, staff: CurrentStaff) -> ApiResult<Json<Vec<SessionInfo>>> {
    Ok(Json(state.store.sessions_of(staff.0.id).await?))
}

/// End one of one's own sessions (a browser left signed in elsewhere).
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth", params(("id" = String, Path)),
    responses((status = 204, description = "ended"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn end_my_session(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    end(&state, staff.0.id, staff.0.id, &id).await
}

/// End session `id` of account `owner`, as `by`; logged.
pub(super) async fn end(
    state: &AppState,
    by: crate::domain::ids::StaffId,
    owner: crate::domain::ids::StaffId,
    id: &str,
) -> ApiResult<StatusCode> {
    if !state.store.end_session(owner, id).await? {
        return Err(ApiError::not_found("session"));
    }
    let event = SecurityEvent::new(SecurityKind::SessionEnded)
        .by(by)
        .on(owner)
        .detail(serde_json::json!({ "session": id }));
    state.store.log_security(event).await?;
    Ok(StatusCode::NO_CONTENT)
}
