//! The one error type of the HTTP boundary and the extractors that use it.
//!
//! Every failure leaves as `{"error": {"code", "message"}}` with the right
//! status; a 500 says nothing about internals (the cause is logged once).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::domain::error_code::ErrorCode;
use crate::domain::event::TransitionError;
use crate::domain::values::Invalid;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<serde_json::Value>,
    /// Sent as `Retry-After` (whole seconds) with a 429 or 503.
    pub retry_after: Option<std::time::Duration>,
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    // Inline and without a doc comment of its own, so that the schema of
    // `code` is the enum itself (a description here would wrap it in `oneOf`).
    #[schema(inline)]
    pub code: ErrorCode,
    /// For a person: what is wrong and how to fix it.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 429 `rate_limited`: try again after `retry_after` (sent as `Retry-After`).
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, message)
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Invalid, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "sign in first: send a session token or cookie",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        // Debug: the cause may quote text a client sent; escaped, it stays on its line.
        tracing::error!(error = ?error.to_string(), "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "something went wrong on our side; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up: a client that waits that long is let in.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.max(1).into());
        }
        response
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        Self::invalid(e.to_string()).with_details(serde_json::json!({ "field": e.field }))
    }
}

/// 409 `wrong_status`: the event's status does not allow the change.
impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        Self::conflict(ErrorCode::WrongStatus, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::not_found(what),
            StoreError::Conflict(message) => Self::conflict(ErrorCode::Conflict, message),
            StoreError::Invalid(invalid) => invalid.into(),
            StoreError::Database(
                ref db @ (sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed),
            ) => {
                tracing::error!(error = ?db.to_string(), "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the database is unavailable; try again shortly",
                )
            }
            StoreError::Database(db) => Self::internal("database error", &db),
        }
    }
}

impl From<crate::passwords::HashError> for ApiError {
    fn from(e: crate::passwords::HashError) -> Self {
        match e {
            crate::passwords::HashError::Busy => Self::rate_limited(
                "too many passwords are being checked right now; try again in a moment",
                std::time::Duration::from_secs(1),
            ),
            crate::passwords::HashError::Failed(e) => Self::internal("hashing a password", &e),
        }
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(json_rejection(
                JsonRejection::MissingJsonContentType(Default::default()),
            ));
        }
        let bytes = read_body(req, state).await?;
        if has_nul_escape(&bytes) {
            return Err(nul_in_input("the body"));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A request body must arrive whole within this. The server loop closes a
/// connection whose request head is late (`--header-timeout`); a body sent a
/// byte now and then would hold the socket as long as the sender likes.
/// Our bodies are small JSON and plan files: 30 s is ample on any phone.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The whole body, within [`BODY_TIMEOUT`] (else 408 `body_timeout`, and the
/// connection, its body unread, is closed).
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::Bytes::from_request(req, state)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(r)) => Err(ApiError::new(r.status(), ErrorCode::BadBody, r.body_text())),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::BodyTimeout,
            format!("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs()),
        )),
    }
}

/// `application/json` or any `+json` type, as axum's own `Json` accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind == "application" && (subtype == "json" || subtype.ends_with("+json"))
}

/// Whether JSON (or TOML) text carries a NUL character: a raw 0 byte or a
/// `\u0000` escape (one not itself escaped as `\\u0000`). PostgreSQL cannot
/// store NUL in text, and no field of ours has a use for it, so it is refused
/// at the door, the same on both backends, instead of failing deep inside.
pub fn has_nul_escape(text: &[u8]) -> bool {
    if text.contains(&0) {
        return true;
    }
    let mut backslashes = 0usize;
    for (i, &b) in text.iter().enumerate() {
        if b == b'\\' {
            backslashes += 1;
            continue;
        }
        if b == b'u' && backslashes % 2 == 1 && text.get(i + 1..i + 5) == Some(b"0000".as_slice()) {
            return true;
        }
        backslashes = 0;
    }
    false
}

/// 400 `nul_in_input`: `where` (the body, the query, the path) holds a NUL.
pub fn nul_in_input(place: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::NulInInput,
        format!("{place} contains a NUL character (U+0000), which no field accepts"),
    )
}

/// A percent-encoded NUL (`%00`) or a raw one in a path or query string.
fn has_encoded_nul(s: &str) -> bool {
    s.contains('\0') || s.as_bytes().windows(3).any(|w| w == b"%00")
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    let (status, code) = match &r {
        JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidBody),
        JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, ErrorCode::MalformedJson),
        JsonRejection::MissingJsonContentType(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType)
        }
        _ => (r.status(), ErrorCode::BadBody),
    };
    ApiError::new(status, code, r.body_text())
}

/// `$name<T>`: axum's extractor of that name, reading `T` from the part of
/// the URI `$part` picks, but a NUL there and its rejections answer as
/// [`ApiError`]s: 400 `$code` when the part cannot be read as `T` (axum says
/// 500 for some of those), else axum's own status with `$code`.
macro_rules! uri_extractor {
    ($(#[$doc:meta])* $name:ident, $place:literal, $part:expr, $unreadable:path, $code:expr) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for $name<T> {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                let part: fn(&Uri) -> Option<&str> = $part;
                if part(&parts.uri).is_some_and(has_encoded_nul) {
                    return Err(nul_in_input($place));
                }
                match axum::extract::$name::<T>::from_request_parts(parts, state).await {
                    Ok(axum::extract::$name(v)) => Ok(Self(v)),
                    Err(r) => {
                        let status = if matches!(r, $unreadable(_)) {
                            StatusCode::BAD_REQUEST
                        } else {
                            r.status()
                        };
                        Err(ApiError::new(status, $code, r.body_text()))
                    }
                }
            }
        }
    };
}

uri_extractor!(
    /// `Path<T>` whose rejections are [`ApiError`]s.
    Path,
    "the path",
    |uri| Some(uri.path()),
    PathRejection::FailedToDeserializePathParams,
    ErrorCode::BadPath
);

uri_extractor!(
    /// `Query<T>` whose rejections are [`ApiError`]s.
    Query,
    "the query string",
    Uri::query,
    QueryRejection::FailedToDeserializeQueryString,
    ErrorCode::BadQuery
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_but_escaped_backslashes_are_not() {
        assert!(has_nul_escape(br#"{"q":"a\u0000b"}"#));
        assert!(has_nul_escape(br#"{"q":"\\\u0000"}"#));
        assert!(has_nul_escape(b"{\"q\":\"a\0\"}"));
        assert!(!has_nul_escape(br#"{"q":"\\u0000"}"#));
        assert!(has_nul_escape(br#"{"q":"\u00001"}"#));
        assert!(!has_nul_escape(br#"{"q":"\u0001"}"#));
        assert!(has_encoded_nul("q=%00abc"));
        assert!(!has_encoded_nul("q=%2500"));
    }
}
