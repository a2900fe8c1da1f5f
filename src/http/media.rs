//! `/api/events/{id}/media`: what the live page plays — the live stream, the
//! replay after the event and WebVTT captions — each with the way the page
//! plays it (`hls`, `flv`, `file`, `page`, `none`; see
//! [`MediaKind`]). The public reads it for an announced event; the event's
//! managers set the replay and the captions, also after the event ended.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{CurrentStaff, MaybeStaff};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path};
use super::lookup::managed_event;
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::ids::EventId;
use crate::domain::media::MediaKind;
use crate::domain::security::SecurityKind;
use crate::domain::values::optional_url;
use crate::store::events::Event;
use crate::store::media::EventMedia;
use crate::store::security::SecurityEvent;

/// What the live page plays for an event.
#[derive(Serialize, ToSchema)]
pub struct MediaView {
    /// The live stream (`PATCH /api/events/{id}` sets it with the event's description).
    pub stream_url: Option<String>,
    pub stream_kind: MediaKind,
    /// The replay after the event: the one set here, else the video published with the materials.
    pub replay_url: Option<String>,
    pub replay_kind: MediaKind,
    /// WebVTT captions (字幕) shown with the stream and the replay.
    pub captions_url: Option<String>,
}

impl MediaView {
    fn of(event: &Event, media: EventMedia) -> Self {
        let stream_url = event.about.stream_url.clone();
        let replay_url = media.replay_url.or_else(|| event.video_url.clone());
        MediaView {
            stream_kind: MediaKind::of(stream_url.as_deref()),
            stream_url,
            replay_kind: MediaKind::of(replay_url.as_deref()),
            replay_url,
            captions_url: media.captions_url,
        }
    }
}

/// What the live page plays for the event (a draft's only for those who manage it).
#[utoipa::path(get, path = "/api/events/{id}/media", tag = "events", params(("id" = i64, Path)),
    responses((status = 200, body = MediaView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    MaybeStaff(viewer): MaybeStaff,
    Path(id): Path<EventId>,
) -> ApiResult<Json<MediaView>> {
    let event = state.store.event(id).await?;
    let manager = viewer.is_some_and(|s| s.manages(&event.host_ids()));
    if event.status == EventStatus::Draft && !manager {
        return Err(ApiError::not_found("event"));
    }
    let media = state.store.event_media(id).await?;
    Ok(Json(MediaView::of(&event, media)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaBody {
    /// The replay (回放): an http(s) address; `.m3u8`, `.flv` and `.mp4`
    /// play in the page, any other address shows in a frame. Absent or
    /// `null` clears it.
    pub replay_url: Option<String>,
    /// A WebVTT file (字幕), http(s); absent or `null` clears it. Served
    /// from another site, it needs `Access-Control-Allow-Origin` and that
    /// site among `--media-origins`.
    pub captions_url: Option<String>,
}

/// Set the event's replay and captions (its managers; not for a cancelled event).
#[utoipa::path(put, path = "/api/events/{id}/media", tag = "events", params(("id" = i64, Path)),
    request_body = MediaBody,
    responses((status = 200, body = MediaView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn save(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<MediaBody>,
) -> ApiResult<Json<MediaView>> {
    let event = managed_event(
        &state,
        &staff,
        id,
        "only the data bureau and the event's host units may set its replay and captions",
    )
    .await?;
    if event.status == EventStatus::Cancelled {
        return Err(ApiError::conflict(
            ErrorCode::EventClosed,
            "the event is cancelled: it has no replay or captions",
        ));
    }
    let replay_url = optional_url("replay_url", body.replay_url.as_deref())?;
    let captions_url = optional_url("captions_url", body.captions_url.as_deref())?;
    let before = state.store.event_media(id).await?;
    let after = state
        .store
        .save_event_media(id, replay_url.as_deref(), captions_url.as_deref(), staff.id)
        .await?;
    let changed = SecurityEvent::new(SecurityKind::EventChanged)
        .by(staff.id)
        .detail(serde_json::json!({
            "event": id,
            "status": event.status,
            "before": { "replay_url": before.replay_url, "captions_url": before.captions_url },
            "after": { "replay_url": after.replay_url, "captions_url": after.captions_url },
        }));
    state.store.log_security(changed).await?;
    Ok(Json(MediaView::of(&event, after)))
}
