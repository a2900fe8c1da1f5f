//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::domain::error_code::ErrorCode;
use crate::domain::time::{local_date, now};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
pub async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

/// The database answers and the last write committed. Also says whether the
/// working-day calendar covers this year and next year, and lists warnings
/// (next year's holiday notice missing from 1 November): a warning leaves
/// the node ready, since nothing fails until a deadline reaches that year.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready, perhaps with `warnings`"), (status = 503, description = "database unreachable, or the last write failed")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let calendar = state.calendar.outlook(local_date(now()));
    if state.store.writes_failing() {
        // The reads may still work: a full disk refuses only writes.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({ "status": "unavailable", "database": state.store.backend().as_str(), "writes": "failing" }),
            ),
        )
            .into_response();
    }
    match state.store.ping().await {
        Ok(()) => axum::Json(json!({
            "status": "ready",
            "database": state.store.backend().as_str(),
            "calendar_covers_this_year": calendar.covers_this_year,
            "calendar_covers_next_year": calendar.covers_next_year,
            "warnings": calendar.warning.into_iter().collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable", "database": state.store.backend().as_str() })),
            )
                .into_response()
        }
    }
}

/// Prometheus metrics (text format). With `--metrics-token` set, only for
/// `Authorization: Bearer <token>`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format"),
        (status = 401, description = "`--metrics-token` is set and the request does not carry it", body = super::error::ErrorBody)))]
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Some(token) = &state.settings.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if !given.is_some_and(|g| token.matches(g)) {
            return super::error::ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "the metrics need the bearer token configured with --metrics-token",
            )
            .into_response();
        }
    }
    let calendar = state.calendar.outlook(local_date(now()));
    let flag = |b: bool| f64::from(u8::from(b));
    let mut gauges = vec![
        ("minsheng_up", "1 while the process runs.", 1.0),
        (
            "minsheng_calendar_covers_this_year",
            "1 when the working-day calendar has this year's notice.",
            flag(calendar.covers_this_year),
        ),
        (
            "minsheng_calendar_covers_next_year",
            "1 when the working-day calendar has next year's notice.",
            flag(calendar.covers_next_year),
        ),
        (
            "minsheng_calendar_next_year_needed",
            "1 from 1 November, when next year's notice should be loaded (alert on this and covers_next_year 0).",
            flag(calendar.next_year_needed),
        ),
        (
            "minsheng_live_rooms",
            "Live rooms open on this node.",
            state.hub.room_count() as f64,
        ),
        (
            "minsheng_live_connections",
            "Live WebSocket connections on this node.",
            state.hub.connection_count() as f64,
        ),
    ];
    if let Some(bus) = &state.hub.bus {
        let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed) as f64;
        gauges.extend([
            (
                "minsheng_bus_published_total",
                "Messages this node published to the other nodes.",
                count(&bus.published),
            ),
            (
                "minsheng_bus_received_total",
                "Messages this node received from the other nodes.",
                count(&bus.received),
            ),
            (
                "minsheng_bus_dropped_total",
                "Messages this node could not publish (outbox full or Redis away; made good by resync).",
                count(&bus.dropped),
            ),
        ]);
    }
    let body = state.metrics.render(&gauges);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}
