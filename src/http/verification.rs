//! Verifying a viewer's mobile number (后台实名、前台自愿): a code by text
//! message, then the code back for a verification token the browser keeps
//! and sends in its live `hello`. Anonymous: watching never needs this, and
//! taking part in a `verified` room needs nothing else.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ErrorBody, Json};
use super::{ApiError, ApiResult, AppState};
use crate::domain::error_code::ErrorCode;
use crate::domain::identity::{OneTimeCode, PhoneNumber, VerificationToken};
use crate::identity::VerifyError;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// A mainland mobile number (`13812345678`, `+86 138-1234-5678`, …).
    pub phone: String,
}

#[derive(Serialize, ToSchema)]
pub struct CodeSentView {
    /// The number the code went to, masked.
    pub phone: String,
    pub expires_in_secs: u64,
    /// A new code for this number may be asked for after this long.
    pub resend_after_secs: u64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    pub phone: String,
    /// The 6 digits of the text message.
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct VerificationView {
    /// Keep it in the browser and send it as `verification` in the live `hello`.
    pub verification: String,
    /// The verified number, masked (`138****5678`).
    pub phone: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndRequest {
    pub verification: String,
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        let message = e.to_string();
        match e {
            VerifyError::TooManyCodes { retry_after, .. } => {
                let mut error = ApiError::rate_limited(message, retry_after);
                error.code = ErrorCode::TooManyCodes;
                error
            }
            VerifyError::CodeWrong { tries_left } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::CodeWrong, message)
                    .with_details(serde_json::json!({ "tries_left": tries_left }))
            }
            VerifyError::CodeExpired => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::CodeExpired, message)
            }
            VerifyError::SendFailed(_) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::SmsUnavailable,
                "the text message could not be sent; try again in a minute",
            ),
            VerifyError::Store(e) => e.into(),
        }
    }
}

/// Send a 6-digit code to a mainland mobile number. A number is sent one
/// code a minute and five an hour, an address a configured number an hour
/// (429 `too_many_codes` with `Retry-After`). The code lives 5 minutes.
#[utoipa::path(post, path = "/api/verification/code", tag = "verification", request_body = CodeRequest,
    responses((status = 202, body = CodeSentView), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "`too_many_codes`: see `Retry-After`",
            headers(("Retry-After" = u64, description = "seconds to wait"))),
        (status = 502, body = ErrorBody, description = "`sms_unavailable`: the SMS gateway did not take the message")))]
pub async fn send_code(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<CodeRequest>,
) -> ApiResult<(StatusCode, Json<CodeSentView>)> {
    let phone = PhoneNumber::parse(&body.phone)?;
    let ip = super::live::client_ip(peer.ip(), &headers, &state.settings.trusted_proxies);
    let sent = state.verifier.send_code(&phone, &ip.to_string()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CodeSentView {
            phone: sent.phone,
            expires_in_secs: sent.expires_in.as_secs(),
            resend_after_secs: sent.resend_after.as_secs(),
        }),
    ))
}

/// Check the code: when right, a verification token for this browser
/// (valid for the configured number of days). Every try counts; a code
/// allows 5 (`code_wrong` says how many are left, then `code_expired`).
#[utoipa::path(post, path = "/api/verification", tag = "verification", request_body = ConfirmRequest,
    responses((status = 201, body = VerificationView),
        (status = 422, body = ErrorBody, description = "`code_wrong` (with `details.tries_left`), `code_expired` or `invalid`")))]
pub async fn confirm(
    State(state): State<AppState>,
    Json(body): Json<ConfirmRequest>,
) -> ApiResult<(StatusCode, Json<VerificationView>)> {
    let phone = PhoneNumber::parse(&body.phone)?;
    let code = OneTimeCode::parse(&body.code)?;
    let (token, verified) = state.verifier.confirm(&phone, &code).await?;
    Ok((
        StatusCode::CREATED,
        Json(VerificationView {
            verification: token.expose().to_owned(),
            phone: verified.phone,
            expires_at: verified.expires_at,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    /// The browser's viewer token (from the live `welcome`).
    pub viewer_token: Option<String>,
    /// The browser's verification token, if it verified a number.
    pub verification: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ForgetView {
    pub addresses_removed: u64,
    pub links_removed: u64,
    pub identity_removed: bool,
}

/// A viewer deletes their own data (个人信息保护法 §47): the addresses kept
/// with what this browser posted, upvoted and voted, and the verified number
/// with every link to it. Published questions and comments stay, anonymous.
#[utoipa::path(post, path = "/api/viewer/forget", tag = "verification", request_body = ForgetRequest,
    responses((status = 200, body = ForgetView), (status = 422, body = ErrorBody)))]
pub async fn forget(State(state): State<AppState>, Json(body): Json<ForgetRequest>) -> ApiResult<Json<ForgetView>> {
    use crate::domain::question::ViewerToken;
    let token = body.viewer_token.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let verification = body.verification.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if token.is_none() && verification.is_none() {
        return Err(ApiError::invalid(
            "give the browser's viewer_token, its verification, or both",
        ));
    }
    let token = token
        .map(|t| {
            ViewerToken::parse(t)
                .ok_or_else(|| ApiError::invalid("`viewer_token` is the 32-character token from the live welcome"))
        })
        .transpose()?;
    let verification = verification
        .map(|v| {
            VerificationToken::parse(v).ok_or_else(|| {
                ApiError::invalid("`verification` is the 64-character token from POST /api/verification")
            })
        })
        .transpose()?;
    let verified = match &verification {
        Some(v) => state.store.verification(v).await?,
        None => None,
    };
    // The browser's own key, then the person's (with the identity itself).
    let mut totals = crate::store::retention::Removed::default();
    let keys = token
        .iter()
        .map(|t| (t.key(), None))
        .chain(verified.iter().map(|v| (v.viewer_key.clone(), Some(v.identity_id))));
    for (key, identity) in keys {
        let removed = state.store.forget_viewer(&key, identity).await?;
        totals.addresses += removed.addresses;
        totals.identity_links += removed.identity_links;
        totals.identities += removed.identities;
    }
    if let Some(v) = &verification {
        state.store.end_verification(v).await?;
    }
    let event = crate::store::security::SecurityEvent::new(crate::domain::security::SecurityKind::ViewerDataDeleted)
        .detail(serde_json::json!({ "removed": totals }));
    state.store.log_security(event).await?;
    Ok(Json(ForgetView {
        addresses_removed: totals.addresses,
        links_removed: totals.identity_links,
        identity_removed: totals.identities > 0,
    }))
}

/// End this browser's verification (the viewer's "forget my number here").
#[utoipa::path(post, path = "/api/verification/end", tag = "verification", request_body = EndRequest,
    responses((status = 204, description = "ended (or there was none)"), (status = 422, body = ErrorBody)))]
pub async fn end(State(state): State<AppState>, Json(body): Json<EndRequest>) -> ApiResult<StatusCode> {
    let token = VerificationToken::parse(body.verification.trim())
        .ok_or_else(|| ApiError::invalid("`verification` is the 64-character token from POST /api/verification"))?;
    state.store.end_verification(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}
