//! The live room's HTTP side: the WebSocket endpoint, the audit log and the
//! word-list reload.

use std::net::SocketAddr;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::{CurrentStaff, MaybeStaff};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use crate::hub::session::{self, Upgrade};
use crate::store::live::AuditEntry;

/// Frames are gathered up to this size before a write: a connection that fell
/// behind catches up in a few syscalls instead of one per message.
const WRITE_BUFFER: usize = 8 * 1024;

/// The largest frame the server may have to write at once: a snapshot of a
/// big room (thousands of published questions) or a moderator's queue. Memory
/// is only used while such a frame is being written.
const MAX_WRITE_BUFFER: usize = 16 * 1024 * 1024;

/// Open the live room of an event (WebSocket; see docs/protocol.md). Staff
/// are recognised by their session cookie here or by `session` in `hello`.
#[utoipa::path(get, path = "/api/events/{id}/live", tag = "live", params(("id" = i64, Path)),
    responses((status = 101, description = "switching to the WebSocket protocol"), (status = 400, body = ErrorBody)))]
pub async fn connect(
    State(state): State<AppState>,
    MaybeStaff(staff): MaybeStaff,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(event_id): Path<i64>,
    ws: WebSocketUpgrade,
) -> Response {
    let live = &state.hub.settings;
    // Small buffers on purpose: tungstenite's defaults (128 KiB each way)
    // would cost every idle phone a quarter of a megabyte.
    let ws = ws
        .read_buffer_size(4 * 1024)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(live.max_frame_bytes)
        .max_frame_size(live.max_frame_bytes);
    let hub = state.hub.clone();
    let tracker = hub.tasks.clone();
    let upgrade = Upgrade {
        event_id,
        ip: peer.ip(),
        cookie_staff: staff,
    };
    ws.on_upgrade(move |socket| tracker.track_future(session::run(socket, hub, upgrade)))
}

/// The moderation audit log of an event: who did what, when, before and after.
#[utoipa::path(get, path = "/api/events/{id}/audit", tag = "live", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("session" = [])))]
pub async fn audit(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let event = state.store.event(id).await?;
    if !staff.0.serves(&event.host_ids()) {
        return Err(ApiError::forbidden(
            "only staff serving this event may read its audit log",
        ));
    }
    Ok(Json(state.store.audit_log(id).await?))
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
            "invalid_word_list",
            e.to_string(),
        )
    })?;
    Ok(Json(ReloadReport { words }))
}
