//! Staff sign-in: session tokens as a bearer header (API) or a cookie (pages).

use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody, Json};
use crate::domain::staff::{Staff, Username};
use crate::domain::time::now;
use crate::passwords;
use crate::store::sessions::new_token;

pub const COOKIE_NAME: &str = "minsheng_session";

/// The signed-in staff member; 401 without a valid session.
pub struct CurrentStaff(pub Staff);

/// The signed-in staff member if any; an invalid or expired token counts as
/// anonymous (public routes stay usable with a stale cookie).
pub struct MaybeStaff(pub Option<Staff>);

fn session_token(headers: &HeaderMap) -> Option<String> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let token = value.strip_prefix("Bearer ").map(str::trim)?;
        return (!token.is_empty()).then(|| token.to_owned());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

async fn staff_from(parts: &Parts, state: &AppState) -> ApiResult<Option<Staff>> {
    let Some(token) = session_token(&parts.headers) else {
        return Ok(None);
    };
    Ok(state
        .store
        .session_account(&token)
        .await?
        .map(|(account, _)| account.staff))
}

impl FromRequestParts<AppState> for CurrentStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        staff_from(parts, state)
            .await?
            .map(Self)
            .ok_or_else(ApiError::unauthorized)
    }
}

impl FromRequestParts<AppState> for MaybeStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        staff_from(parts, state).await.map(Self)
    }
}

impl CurrentStaff {
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.0.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("only the data bureau's administrators may do this"))
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`; the same token is set as a cookie.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub staff: Staff,
}

/// Sign in with a username and password.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn login(State(state): State<AppState>, Json(body): Json<LoginBody>) -> ApiResult<Response> {
    if body.username.trim().is_empty() || body.password.is_empty() {
        return Err(ApiError::invalid("username and password are required"));
    }
    if body.password.len() > 1024 {
        return Err(ApiError::invalid("password is too long"));
    }
    // A name that could never be an account is looked up as no account at all.
    let credentials = match Username::parse(&body.username) {
        Ok(username) => state.store.credentials(username.as_str()).await?,
        Err(_) => None,
    };
    let (account, hash) = match credentials {
        Some(c) if c.account.active => (Some(c.account), Some(c.password_hash)),
        _ => (None, None),
    };
    let matches = passwords::verify_blocking(body.password, hash).await;
    let Some(account) = account.filter(|_| matches) else {
        tracing::info!(username = %body.username.trim(), "failed sign-in");
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong username or password",
        ));
    };
    let token = new_token();
    let expires_at = now() + Duration::hours(i64::from(state.settings.session_hours));
    state.store.create_session(account.staff.id, &token, expires_at).await?;
    tracing::info!(user_id = account.staff.id, "signed in");
    let cookie = session_cookie(&state, &token, i64::from(state.settings.session_hours) * 3600);
    let body = LoginResponse {
        token,
        expires_at,
        staff: account.staff,
    };
    Ok(([(SET_COOKIE, cookie)], Json(body)).into_response())
}

/// End the current session.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)), security(("session" = [])))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let token = session_token(&headers).ok_or_else(ApiError::unauthorized)?;
    if !state.store.delete_session(&token).await? {
        return Err(ApiError::unauthorized());
    }
    Ok((StatusCode::NO_CONTENT, [(SET_COOKIE, session_cookie(&state, "", 0))]).into_response())
}

/// Who is signed in.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, body = Staff), (status = 401, body = ErrorBody)), security(("session" = [])))]
pub async fn me(CurrentStaff(staff): CurrentStaff) -> Json<Staff> {
    Json(staff)
}

fn session_cookie(state: &AppState, token: &str, max_age: i64) -> HeaderValue {
    let secure = if state.settings.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("minsheng_session=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_bearer_or_cookie() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("a=1; minsheng_session=abc; b=2"));
        assert_eq!(session_token(&h).as_deref(), Some("abc"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer xyz"));
        assert_eq!(session_token(&h).as_deref(), Some("xyz"));
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic xyz"));
        assert_eq!(session_token(&h), None);
    }
}
