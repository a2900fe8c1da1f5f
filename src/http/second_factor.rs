//! Enrolling and checking a staff member's second factor (TOTP), and an
//! administrator's reset of it. The secret is sealed with the server's
//! identity secret; each use of a code or a recovery code is recorded.

use std::net::IpAddr;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::StaffId;
use crate::domain::security::SecurityKind;
use crate::second_factor::{enrolment, matching_step, new_recovery_codes, new_secret, recovery_hash};
use crate::store::security::SecurityEvent;
use crate::store::users::Account;

fn unix_now() -> u64 {
    u64::try_from(crate::domain::time::now().timestamp()).unwrap_or(0)
}

/// Whether `code` (a TOTP code, or else a recovery code) is right for
/// `account` now; a right code is spent.
pub(super) async fn accepts(state: &AppState, account: &Account, code: &str, ip: IpAddr) -> ApiResult<bool> {
    let factor = state.store.second_factor(account.staff.id).await?;
    let keys = state.verifier.keys();
    let Some(secret) = factor.sealed.as_deref().and_then(|s| keys.unseal_bytes(s)) else {
        return Ok(false);
    };
    if let Some(step) = matching_step(&secret, &account.staff.username, code, unix_now()) {
        return Ok(state.store.use_step(account.staff.id, step).await?);
    }
    if state
        .store
        .use_recovery_code(account.staff.id, &recovery_hash(code))
        .await?
    {
        let event = SecurityEvent::new(SecurityKind::RecoveryCodeUsed)
            .by(account.staff.id)
            .on(account.staff.id)
            .from_ip(ip);
        state.store.log_security(event).await?;
        return Ok(true);
    }
    Ok(false)
}

#[derive(Serialize, ToSchema)]
pub struct EnrolmentView {
    /// For typing into the authenticator app (base32).
    pub secret: String,
    pub otpauth_url: String,
    /// The URL as a QR code to scan (an SVG document).
    pub qr_svg: String,
}

/// Begin enrolling a second factor: a new secret to add to an authenticator
/// app (as a QR code or typed); it counts once confirmed with a code.
#[utoipa::path(post, path = "/api/auth/second-factor", tag = "auth",
    responses((status = 200, body = EnrolmentView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("session" = [])))]
pub async fn enrol(State(state): State<AppState>, staff: CurrentStaff) -> ApiResult<Json<EnrolmentView>> {
    let account = state.store.account(staff.0.id).await?;
    if account.second_factor {
        return Err(ApiError::conflict(
            ErrorCode::Conflict,
            "a second factor is enrolled already; an administrator resets it if the device is lost",
        ));
    }
    let secret = new_secret();
    let shown = enrolment(&secret, &account.staff.username)
        .ok_or_else(|| ApiError::internal("second factor enrolment", &"the QR code could not be drawn"))?;
    state
        .store
        .begin_enrolment(account.staff.id, &state.verifier.keys().seal_bytes(&secret))
        .await?;
    Ok(Json(EnrolmentView {
        secret: shown.secret_base32,
        otpauth_url: shown.otpauth_url,
        qr_svg: shown.qr_svg,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The app's current 6-digit code.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryView {
    /// Ten single-use codes for when the device is lost: shown only now.
    pub recovery_codes: Vec<String>,
}

/// Confirm the enrolment with the app's current code: from now on sign-in
/// needs a code. Gives ten recovery codes, shown once.
#[utoipa::path(post, path = "/api/auth/second-factor/confirm", tag = "auth", request_body = ConfirmBody,
    responses((status = 200, body = RecoveryView), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn confirm(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Json(body): Json<ConfirmBody>,
) -> ApiResult<Json<RecoveryView>> {
    let factor = state.store.second_factor(staff.0.id).await?;
    let Some(secret) = factor
        .pending
        .as_deref()
        .and_then(|s| state.verifier.keys().unseal_bytes(s))
    else {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "no enrolment is under way: begin with POST /api/auth/second-factor",
        ));
    };
    let Some(step) = matching_step(&secret, &staff.0.username, &body.code, unix_now()) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::OtpWrong,
            "the code is wrong: check the app's time and enter the current code",
        ));
    };
    let codes = new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
    if !state.store.confirm_enrolment(staff.0.id, &hashes, step).await? {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "the enrolment was confirmed already",
        ));
    }
    let event = SecurityEvent::new(SecurityKind::SecondFactorEnrolled)
        .by(staff.0.id)
        .on(staff.0.id);
    state.store.log_security(event).await?;
    Ok(Json(RecoveryView { recovery_codes: codes }))
}

/// Remove an account's second factor (administrators; a lost device): it
/// enrols again at its next sign-in if its role needs one.
#[utoipa::path(delete, path = "/api/users/{id}/second-factor", tag = "auth", params(("id" = i64, Path)),
    responses((status = 204, description = "reset"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn reset(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<StaffId>,
) -> ApiResult<StatusCode> {
    staff.require_admin()?;
    state.store.account(id).await?;
    state.store.reset_second_factor(id).await?;
    let event = SecurityEvent::new(SecurityKind::SecondFactorReset)
        .by(staff.0.id)
        .on(id);
    state.store.log_security(event).await?;
    Ok(StatusCode::NO_CONTENT)
}
