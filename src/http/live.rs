//! The live room's HTTP side: the WebSocket endpoint, the audit log and the
//! word-list reload.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{CurrentStaff, MaybeStaff, cookie_borne};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::origin;
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::EventId;
use crate::hub::conn::{self, Upgrade};
use crate::store::live::{AuditEntry, BanRecord};
use crate::store::reviews::{AppealedPost, ReportedPost};

/// What a socket reads at once. Clients send small frames (an ask is at most
/// 300 characters, about 1 KiB of JSON); a larger one grows the buffer while it
/// is read. Every idle connection holds this much, so it is kept small.
const READ_BUFFER: usize = 1024;

/// Frames are gathered up to this size before a write: a connection that fell
/// behind catches up in a few syscalls instead of one per message.
const WRITE_BUFFER: usize = 8 * 1024;

/// The largest frame the server may have to write at once: a snapshot of a
/// big room (thousands of published questions) or a moderator's queue. Memory
/// is only used while such a frame is being written.
const MAX_WRITE_BUFFER: usize = 16 * 1024 * 1024;

/// Open the live room of an event (WebSocket; see docs/protocol.md). Staff
/// are recognised by their session cookie here or by `session` in `hello`;
/// a handshake the cookie signs in must come from this site's pages (or a
/// configured public origin), else 403 `bad_origin`.
#[utoipa::path(get, path = "/api/events/{id}/live", tag = "live", params(("id" = i64, Path)),
    responses((status = 101, description = "switching to the WebSocket protocol"), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody, description = "`bad_origin`: the session cookie came with a foreign Origin"),
        (status = 429, description = "too many viewer sockets from this address (`too_many_connections`)", body = ErrorBody)))]
pub async fn connect(
    State(state): State<AppState>,
    MaybeStaff(staff): MaybeStaff,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(event_id): Path<EventId>,
    ws: WebSocketUpgrade,
) -> Response {
    // A page elsewhere could open a socket that the browser signs in with
    // our cookie (WebSockets ignore CORS): a staff console only from our pages.
    if staff.is_some() && cookie_borne(&headers) && !origin::allowed(&headers, &state.settings.public_origins) {
        return origin::refused(&headers).into_response();
    }
    let live = &state.hub.settings;
    // Small buffers on purpose: tungstenite's defaults (128 KiB each way)
    // would cost every idle phone a quarter of a megabyte.
    let ws = ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(live.max_frame_bytes)
        .max_frame_size(live.max_frame_bytes);
    let hub = state.hub.clone();
    let tracker = hub.tasks.clone();
    let ip = client_ip(peer.ip(), &headers, &state.settings.trusted_proxies);
    // Viewer sockets per address are capped before the upgrade (staff signed
    // in by cookie are not viewers); the slot is given back when the session ends.
    let slot = match staff {
        Some(_) => None,
        None => match hub.addresses.claim(ip, live.viewer_sockets_per_address) {
            Some(slot) => Some(slot),
            None => {
                tracing::info!(%ip, "viewer sockets per address reached; upgrade refused");
                return ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    ErrorCode::TooManyConnections,
                    format!(
                        "your network address already has {} live connections open; close one and try again",
                        live.viewer_sockets_per_address
                    ),
                )
                .into_response();
            }
        },
    };
    // The console re-checks its session while it stays open: the token goes along.
    let cookie_session = staff.as_ref().and_then(|_| super::auth::session_token(&headers));
    let upgrade = Upgrade {
        event_id,
        ip,
        cookie_staff: staff,
        cookie_session,
        slot,
    };
    ws.on_upgrade(move |socket| tracker.track_future(conn::run(socket, hub, upgrade)))
}

/// The bans in force in an event's room, oldest first, for the staff who
/// serve the event (the moderators' console lists them and lifts them with
/// `unban`). Addresses are masked (`203.0.*.*`) for everyone but
/// administrators.
#[utoipa::path(get, path = "/api/events/{id}/bans", tag = "live", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<BanRecord>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn bans(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Vec<BanRecord>>> {
    serving(&state, &staff, id, "bans").await?;
    let mut bans = state.store.active_bans(id).await?;
    if !staff.0.is_admin() {
        for ban in &mut bans {
            ban.ip = ban.ip.as_deref().map(crate::domain::masking::mask_ip);
        }
    }
    Ok(Json(bans))
}

/// The reported posts of an event with their reports (open ones counted per
/// reason, the earliest due date, overdue), for the staff who serve the
/// event; the console resolves them with `resolve_reports`.
#[utoipa::path(get, path = "/api/events/{id}/reports", tag = "live", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<ReportedPost>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn reports(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Vec<ReportedPost>>> {
    serving(&state, &staff, id, "reports").await?;
    Ok(Json(state.store.reported_posts(id, false).await?))
}

/// The appeals of rejected posts in an event, open ones first, with their
/// due dates, for the staff who serve the event (during the event its
/// moderators, after it the unit decide them in the console with `decide_appeal`).
#[utoipa::path(get, path = "/api/events/{id}/appeals", tag = "live", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<AppealedPost>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn appeals(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Vec<AppealedPost>>> {
    serving(&state, &staff, id, "appeals").await?;
    Ok(Json(state.store.appealed_posts(id).await?))
}

/// Refused unless `staff` serves event `id`.
async fn serving(state: &AppState, staff: &CurrentStaff, id: EventId, what: &str) -> ApiResult<()> {
    let event = state.store.event(id).await?;
    if !staff.0.serves(&event.host_ids()) {
        return Err(ApiError::forbidden(format!(
            "only staff serving this event may see its {what}"
        )));
    }
    Ok(())
}

/// The audit log of an event: who did what, when, before and after. Admins
/// read every event's with client addresses in full; unit staff (and
/// moderators and hosts of a unit) their unit's events; district-wide
/// moderators and hosts the events they have acted in. Addresses are
/// masked (`203.0.*.*`) for everyone but administrators.
#[utoipa::path(get, path = "/api/events/{id}/audit", tag = "live", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let event = state.store.event(id).await?;
    let acted_in = staff.0.audit_needs_acted_in() && state.store.staff_acted_in(id, staff.0.id).await?;
    if !staff.0.reads_audit(&event.host_ids(), acted_in) {
        return Err(ApiError::forbidden(
            "only staff serving this event may read its audit log",
        ));
    }
    let entries = state.store.audit_log(id).await?;
    if staff.0.is_admin() {
        return Ok(Json(entries));
    }
    Ok(Json(
        entries.into_iter().map(AuditEntry::with_addresses_masked).collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ReloadReport {
    /// Entries in the word list now in force.
    pub words: usize,
}

/// Read the sensitive-word list again (it is also re-read within seconds of a change). Admins only.
#[utoipa::path(post, path = "/api/screen/reload", tag = "live",
    responses((status = 200, body = ReloadReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn reload_screen(State(state): State<AppState>, staff: CurrentStaff) -> ApiResult<Json<ReloadReport>> {
    staff.require_admin()?;
    let words = state.hub.screen.reload().map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidWordList,
            e.to_string(),
        )
    })?;
    let event = crate::store::security::SecurityEvent::new(crate::domain::security::SecurityKind::SettingsChanged)
        .by(staff.0.id)
        .detail(serde_json::json!({ "setting": "sensitive_words", "words": words }));
    state.store.log_security(event).await?;
    Ok(Json(ReloadReport { words }))
}

/// The client's address: the peer's, unless the peer is a trusted proxy;
/// then the nearest address in `X-Forwarded-For` that is not one (read from
/// the right, as each proxy appends the address it saw). A malformed header
/// falls back to the peer.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut nearest = peer;
    for value in headers.get_all("x-forwarded-for") {
        let Ok(list) = value.to_str() else { return peer };
        for hop in list.split(',').rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if trusted.contains(&ip) => nearest = ip,
                Ok(ip) => return ip,
                Err(_) => return peer,
            }
        }
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let lb = [ip("10.0.0.2")];
        // Not from the balancer: the header is the client's own claim.
        assert_eq!(
            client_ip(ip("198.51.100.7"), &forwarded("1.2.3.4"), &lb),
            ip("198.51.100.7")
        );
        // From the balancer: the address it saw.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &forwarded("203.0.113.9"), &lb),
            ip("203.0.113.9")
        );
        // A client that forges a first hop gets the address the balancer appended.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &forwarded("1.2.3.4, 203.0.113.9"), &lb),
            ip("203.0.113.9")
        );
        // Proxies of ours along the way are skipped.
        let two = [ip("10.0.0.2"), ip("10.0.0.3")];
        assert_eq!(
            client_ip(ip("10.0.0.2"), &forwarded("203.0.113.9, 10.0.0.3"), &two),
            ip("203.0.113.9")
        );
        // Missing or malformed: the peer.
        assert_eq!(client_ip(ip("10.0.0.2"), &HeaderMap::new(), &lb), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), &forwarded("bogus"), &lb), ip("10.0.0.2"));
    }
}
