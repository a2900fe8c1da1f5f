//! A second wall beside `SameSite=Strict`: a request the session cookie
//! signs in (the browser attaches it by itself) may change something only
//! when it comes from one of our pages.
//!
//! Checked: POST, PUT, PATCH and DELETE that carry the session cookie and no
//! `Authorization` header, and staff consoles' WebSocket upgrades (see
//! [`super::live::connect`]). A request signed with `Authorization: Bearer`
//! is not cookie-borne (a script had to add it), so it is not checked.
//!
//! Allowed: the configured public origins (`--public-origins`) and the
//! request's own `Host` (same origin; the scheme is not compared, as TLS
//! usually ends at a proxy in front). Browsers send `Origin` on every such
//! request; when it is missing the `Referer`'s origin stands in, and with
//! neither (or `Origin: null`, an opaque origin) the request is refused:
//! only a non-browser client sends a cookie without them, and it can use the
//! bearer token instead.

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN, REFERER};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::cookie_borne;
use super::error::ApiError;
use crate::domain::error_code::ErrorCode;

/// Refuse a cookie-borne state-changing request from a foreign origin.
pub async fn check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let changes_state = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if changes_state && cookie_borne(req.headers()) && !allowed(req.headers(), &state.settings.public_origins) {
        return refused(req.headers()).into_response();
    }
    next.run(req).await
}

/// 403 `bad_origin`, logged with the origin it came from (escaped: the header is the client's text).
pub fn refused(headers: &HeaderMap) -> ApiError {
    tracing::info!(origin = ?headers.get(ORIGIN), "cookie-borne request from a foreign origin refused");
    ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::BadOrigin,
        "this request carries the session cookie but does not come from this site's pages; \
         send it from the site, or sign it with an Authorization: Bearer token",
    )
}

/// Whether the request comes from one of `public` or from its own host.
pub fn allowed(headers: &HeaderMap, public: &[String]) -> bool {
    let Some(origin) = request_origin(headers) else {
        return false;
    };
    if public.contains(&origin) {
        return true;
    }
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    match (origin.split_once("://"), host) {
        (Some(("http" | "https", authority)), Some(host)) => authority == host,
        _ => false,
    }
}

/// `scheme://authority` (lowercase) from `Origin`, else from `Referer`.
fn request_origin(headers: &HeaderMap) -> Option<String> {
    if let Some(origin) = headers.get(ORIGIN) {
        let origin = origin.to_str().ok()?.trim().to_ascii_lowercase();
        return (origin != "null").then_some(origin);
    }
    let referer = headers.get(REFERER)?.to_str().ok()?.trim();
    let (scheme, rest) = referer.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().filter(|a| !a.is_empty())?;
    Some(format!("{scheme}://{authority}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origins_are_same_host_or_configured() {
        let public = vec!["https://minsheng.example.gov.cn".to_owned()];
        let host = ("host", "10.0.0.5:8080");
        assert!(allowed(&headers(&[host, ("origin", "http://10.0.0.5:8080")]), &public));
        assert!(allowed(
            &headers(&[host, ("origin", "https://MINSHENG.example.gov.cn")]),
            &public
        ));
        assert!(!allowed(&headers(&[host, ("origin", "https://evil.example")]), &public));
        assert!(!allowed(&headers(&[host, ("origin", "http://10.0.0.5:8081")]), &public));
        assert!(!allowed(&headers(&[host, ("origin", "null")]), &public));
        assert!(!allowed(&headers(&[host]), &public), "neither Origin nor Referer");
        assert!(allowed(
            &headers(&[host, ("referer", "http://10.0.0.5:8080/moderate.html?event=1")]),
            &public
        ));
        assert!(!allowed(
            &headers(&[host, ("referer", "http://10.0.0.5:8080.evil.example/x")]),
            &public
        ));
        // A host that is a prefix or suffix of the origin's is not the same.
        assert!(!allowed(
            &headers(&[("host", "example.gov.cn"), ("origin", "https://evil-example.gov.cn")]),
            &[]
        ));
    }
}
