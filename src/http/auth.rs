//! Staff sign-in: session tokens as a bearer header (API) or a cookie (pages).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody, Json};
use crate::domain::error_code::ErrorCode;
use crate::domain::security::{SecurityKind, sign_in_key};
use crate::domain::staff::{Staff, Username};
use crate::domain::time::now;
use crate::passwords;
use crate::store::security::SecurityEvent;
use crate::store::sessions::{NewSession, SessionLookup, new_token};

pub const COOKIE_NAME: &str = "minsheng_session";

/// The signed-in staff member; 401 without a valid session.
pub struct CurrentStaff(pub Staff);

/// The signed-in staff member if any; an invalid or expired token counts as
/// anonymous (public routes stay usable with a stale cookie).
pub struct MaybeStaff(pub Option<Staff>);

/// Whether a request would be authenticated by the session cookie (a
/// browser sends it by itself) rather than by a header its script chose to
/// send: no `Authorization` header, and a session cookie.
pub fn cookie_borne(headers: &HeaderMap) -> bool {
    !headers.contains_key(AUTHORIZATION) && session_token(headers).is_some()
}

pub(crate) fn session_token(headers: &HeaderMap) -> Option<String> {
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

/// The session behind a request, counted as activity (its idle end moves on).
async fn session_of(parts: &Parts, state: &AppState) -> ApiResult<SessionLookup> {
    match session_token(&parts.headers) {
        Some(token) => Ok(state.store.session(&token, true).await?),
        None => Ok(SessionLookup::Unknown),
    }
}

/// Routes a one-time password may use before it is changed.
const BEFORE_PASSWORD_CHANGE: [&str; 3] = ["/api/auth/password", "/api/auth/me", "/api/auth/logout"];
/// Routes an account that must enrol a second factor may use before it has.
const BEFORE_ENROLMENT: [&str; 5] = [
    "/api/auth/second-factor",
    "/api/auth/second-factor/confirm",
    "/api/auth/password",
    "/api/auth/me",
    "/api/auth/logout",
];

/// Whether `path` (as the router nested under `/api` sees it, or whole) is one of `allowed`.
fn path_among(path: &str, allowed: &[&str]) -> bool {
    allowed
        .iter()
        .any(|p| *p == path || p.strip_prefix("/api") == Some(path))
}

impl FromRequestParts<AppState> for CurrentStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match session_of(parts, state).await? {
            SessionLookup::Active(account, _) => {
                let path = parts.uri.path();
                if account.must_change_password && !path_among(path, &BEFORE_PASSWORD_CHANGE) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        ErrorCode::PasswordChangeRequired,
                        "sign-in with a one-time password: set your own with POST /api/auth/password first",
                    ));
                }
                let must_enrol =
                    !account.second_factor && state.settings.second_factor_roles.contains(&account.staff.role);
                if must_enrol && !path_among(path, &BEFORE_ENROLMENT) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        ErrorCode::SecondFactorRequired,
                        "your role signs in with a second factor: enrol one with POST /api/auth/second-factor first",
                    ));
                }
                Ok(Self(account.staff))
            }
            SessionLookup::Expired => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::SessionExpired,
                "your session has expired (idle too long, or past its end); sign in again",
            )),
            SessionLookup::Unknown => Err(ApiError::unauthorized()),
        }
    }
}

impl FromRequestParts<AppState> for MaybeStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match session_of(parts, state).await? {
            SessionLookup::Active(account, _) if !account.must_change_password => Ok(Self(Some(account.staff))),
            _ => Ok(Self(None)),
        }
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
    /// The 6-digit code of the authenticator app (or a recovery code), for
    /// an account with a second factor.
    pub otp: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`; the same token is set as a cookie.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// Without a request for this many minutes the session ends sooner.
    pub idle_minutes: u32,
    pub staff: Staff,
    /// Signed in with a one-time password: change it (`POST /api/auth/password`)
    /// before anything else (other routes answer 403 `password_change_required`).
    pub must_change_password: bool,
    /// The account's role needs a second factor it has not enrolled: enrol
    /// (`POST /api/auth/second-factor`) before anything else.
    pub must_enrol_second_factor: bool,
}

/// Sign-in attempts per client address, counted before any password is
/// hashed: one address cannot keep the hashing busy for everyone, nor try
/// passwords faster than the budget. IPv6 addresses count per /64, the
/// block one subscriber usually holds.
pub struct SignInLimits {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    /// Size of the table at which addresses back at full budget are
    /// forgotten: the table stays bounded without a sweeping task.
    sweep_at: AtomicUsize,
}

/// The table is swept when it first reaches this many addresses (then at
/// twice what a sweep left).
const SWEEP_FLOOR: usize = 4096;

impl SignInLimits {
    /// `per_minute` attempts per address per minute, all of them at once if need be.
    pub fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            per_address: RateLimiter::keyed(Quota::per_minute(n)),
            clock: DefaultClock::default(),
            sweep_at: AtomicUsize::new(SWEEP_FLOOR),
        }
    }

    /// Count an attempt from `ip`; `Err(wait)` when its budget is spent.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let key = match ip.to_canonical() {
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
            v4 => v4,
        };
        let verdict = self
            .per_address
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()));
        if self.per_address.len() >= self.sweep_at.load(Ordering::Relaxed) {
            self.per_address.retain_recent();
            self.per_address.shrink_to_fit();
            let left = self.per_address.len();
            self.sweep_at.store((left * 2).max(SWEEP_FLOOR), Ordering::Relaxed);
        }
        verdict
    }
}

/// Sign in with a username and password. Attempts are limited per client
/// address (`--sign-ins-per-ip-per-min`), and passwords are checked a few at
/// a time: over either limit the answer is 429 `rate_limited` with `Retry-After`.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many attempts from this address, or too many passwords being checked at once; see `Retry-After`",
            headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    let ip = super::live::client_ip(peer.ip(), &headers, &state.settings.trusted_proxies);
    if let Err(wait) = state.sign_in_limits.check(ip) {
        // Debug: a flood would otherwise write a line per attempt (the
        // 429s are counted in the metrics by route and status).
        tracing::debug!(%ip, "sign-in refused: too many attempts from this address");
        return Err(ApiError::rate_limited(
            "too many sign-in attempts from your address; wait a little and try again",
            wait,
        ));
    }
    if body.username.trim().is_empty() || body.password.is_empty() {
        return Err(ApiError::invalid("username and password are required"));
    }
    if body.password.len() > 1024 {
        return Err(ApiError::invalid("password is too long"));
    }
    // A name that could never be an account is looked up as no account at all.
    // Locked names are refused before any password is checked, existing
    // accounts and names that are none alike: the answer says nothing of which.
    let key = sign_in_key(&body.username);
    if let Some(locked) = state.store.sign_in_lock(&key).await? {
        let event = SecurityEvent::new(SecurityKind::SignInFailed)
            .named(&key)
            .from_ip(ip)
            .detail(serde_json::json!({ "locked": true }));
        state.store.log_security(event).await?;
        return Err(account_locked(locked.until));
    }
    let credentials = match Username::parse(&body.username) {
        Ok(username) => state.store.credentials(username.as_str()).await?,
        Err(_) => None,
    };
    let (account, hash) = match credentials {
        Some(c) if c.account.active => (Some(c.account), Some(c.password_hash)),
        _ => (None, None),
    };
    let matches = passwords::verify_blocking(body.password, hash).await?;
    let Some(account) = account.filter(|_| matches) else {
        // Debug, not Display: the name is the client's text, and a newline or
        // an escape code in it must not forge a log line.
        tracing::info!(username = ?body.username.trim(), %ip, "failed sign-in");
        let s = &state.settings;
        let locked = state
            .store
            .sign_in_failed(&key, s.lockout_failures, s.lockout_minutes)
            .await?;
        let failed = SecurityEvent::new(SecurityKind::SignInFailed).named(&key).from_ip(ip);
        state.store.log_security(failed).await?;
        if let Some(locked) = locked {
            let event = SecurityEvent::new(SecurityKind::AccountLocked)
                .named(&key)
                .from_ip(ip)
                .detail(serde_json::json!({ "until": locked.until, "failures": s.lockout_failures }));
            state.store.log_security(event).await?;
        }
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::InvalidCredentials,
            "wrong username or password",
        ));
    };
    if account.second_factor {
        let Some(otp) = body.otp.as_deref().map(str::trim).filter(|c| !c.is_empty()) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::OtpRequired,
                "enter the 6-digit code of your authenticator app (or a recovery code)",
            ));
        };
        if !super::second_factor::accepts(&state, &account, otp, ip).await? {
            let s = &state.settings;
            let locked = state
                .store
                .sign_in_failed(&key, s.lockout_failures, s.lockout_minutes)
                .await?;
            let failed = SecurityEvent::new(SecurityKind::SignInFailed)
                .named(&key)
                .on(account.staff.id)
                .from_ip(ip)
                .detail(serde_json::json!({ "second_factor": "wrong" }));
            state.store.log_security(failed).await?;
            if let Some(locked) = locked {
                let event = SecurityEvent::new(SecurityKind::AccountLocked)
                    .named(&key)
                    .from_ip(ip)
                    .detail(serde_json::json!({ "until": locked.until }));
                state.store.log_security(event).await?;
            }
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::OtpWrong,
                "the code is wrong or was used already",
            ));
        }
    }
    state.store.sign_in_succeeded(&key).await?;
    let token = new_token();
    let expires_at = now() + chrono::Duration::hours(i64::from(state.settings.session_hours));
    let idle = chrono::Duration::minutes(i64::from(state.settings.idle_minutes));
    let session = NewSession {
        user_id: account.staff.id,
        token: &token,
        expires_at,
        idle: Some(idle),
        ip: Some(ip.to_string()),
    };
    state.store.create_session(session).await?;
    let event = SecurityEvent::new(SecurityKind::SignIn)
        .by(account.staff.id)
        .on(account.staff.id)
        .named(&key)
        .from_ip(ip);
    state.store.log_security(event).await?;
    tracing::info!(user_id = account.staff.id.0, "signed in");
    let cookie = session_cookie(&state, &token, i64::from(state.settings.session_hours) * 3600);
    let body = LoginResponse {
        token,
        expires_at,
        idle_minutes: state.settings.idle_minutes,
        must_change_password: account.must_change_password,
        must_enrol_second_factor: !account.second_factor
            && state.settings.second_factor_roles.contains(&account.staff.role),
        staff: account.staff,
    };
    Ok(([(SET_COOKIE, cookie)], Json(body)).into_response())
}

/// 429 `account_locked` until `until`, whatever the password.
fn account_locked(until: DateTime<Utc>) -> ApiError {
    let wait = (until - now())
        .to_std()
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_secs(1));
    let mut e = ApiError::rate_limited(
        "too many wrong passwords for this account: it is locked for a while; try again later",
        wait,
    );
    e.code = ErrorCode::AccountLocked;
    e
}

/// End the current session.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)), security(("session" = [])))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let token = session_token(&headers).ok_or_else(ApiError::unauthorized)?;
    let who = state.store.session_account(&token).await?.map(|(a, _)| a.staff.id);
    if !state.store.delete_session(&token).await? {
        return Err(ApiError::unauthorized());
    }
    if let Some(id) = who {
        state
            .store
            .log_security(SecurityEvent::new(SecurityKind::SignOut).by(id).on(id))
            .await?;
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
