//! The studio's text feed (图文直播) over HTTP: hosts, moderators and the
//! unit's editors post short updates, each optionally with one image, and
//! edit or withdraw them; every change is committed by the live writer and
//! reaches the room as a logged frame (`update`, `update_removed`), so a
//! viewer who resumes misses none. The public reads the feed here too.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{CurrentStaff, MaybeStaff};
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, read_body};
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::ids::{EventId, ImageId, UpdateId};
use crate::domain::staff::Staff;
use crate::domain::update::{ImageRefusal, MAX_IMAGE_BYTES, PublicUpdate, check_image, update_text};
use crate::store::events::Event;
use crate::store::writer::{Outcome, UpdateCommand, WriteError};

/// The event, when `staff` may write its text feed: staff serving it
/// (administrators, its units' staff, moderators and hosts), while it is
/// announced (or rescheduled), live or ended.
async fn feed_of(state: &AppState, staff: &Staff, id: EventId) -> ApiResult<Event> {
    let event = state.store.event(id).await?;
    if !staff.serves(&event.host_ids()) {
        return Err(ApiError::forbidden("only staff serving this event write its text feed"));
    }
    if !matches!(
        event.status,
        EventStatus::Announced | EventStatus::Live | EventStatus::Ended
    ) {
        return Err(ApiError::conflict(
            ErrorCode::WrongStatus,
            "the text feed is written while the event is announced, live or just ended",
        ));
    }
    Ok(event)
}

fn written(result: Result<Outcome, WriteError>) -> ApiResult<PublicUpdate> {
    match result {
        Ok(Outcome::Updated { update }) => Ok(update.public()),
        Ok(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "the writer answered with another outcome",
        )),
        Err(WriteError::Refused { code, message }) => {
            let status = if code == ErrorCode::NotFound {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::CONFLICT
            };
            Err(ApiError::new(status, code, message))
        }
        Err(WriteError::Unavailable(message)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            message,
        )),
    }
}

/// The event's text feed as the public sees it, oldest first.
#[utoipa::path(get, path = "/api/events/{id}/updates", tag = "text feed", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PublicUpdate>), (status = 404, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, Path(id): Path<EventId>) -> ApiResult<Json<Vec<PublicUpdate>>> {
    let event = state.store.event(id).await?;
    if matches!(event.status, EventStatus::Draft) {
        return Err(ApiError::not_found("event"));
    }
    Ok(Json(state.store.public_updates(id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// 1–1000 characters; personal data in it is masked when published.
    pub text: String,
    /// An image of this event (`POST /api/events/{id}/images`), or none. An
    /// edit sends the image it keeps: without `image_id` the image is removed.
    pub image_id: Option<ImageId>,
}

/// Post an update to the text feed: committed, then sent to every viewer.
#[utoipa::path(post, path = "/api/events/{id}/updates", tag = "text feed", params(("id" = i64, Path)),
    request_body = UpdateBody,
    responses((status = 201, body = PublicUpdate), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("session" = [])))]
pub async fn post(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path(id): Path<EventId>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<(StatusCode, Json<PublicUpdate>)> {
    feed_of(&state, &staff, id).await?;
    let command = UpdateCommand::Post {
        event_id: id,
        text: update_text(&body.text)?,
        image_id: body.image_id,
        staff_id: staff.id,
    };
    let update = written(state.hub.text_feed(id, command).await)?;
    Ok((StatusCode::CREATED, Json(update)))
}

/// Edit an update: its earlier frames read the new text in every replay;
/// the audit log keeps the old one.
#[utoipa::path(patch, path = "/api/events/{id}/updates/{update_id}", tag = "text feed",
    params(("id" = i64, Path), ("update_id" = i64, Path)),
    request_body = UpdateBody,
    responses((status = 200, body = PublicUpdate), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("session" = [])))]
pub async fn edit(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path((id, update_id)): Path<(EventId, UpdateId)>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<Json<PublicUpdate>> {
    feed_of(&state, &staff, id).await?;
    let command = UpdateCommand::Edit {
        event_id: id,
        update_id,
        text: update_text(&body.text)?,
        image_id: body.image_id,
        staff_id: staff.id,
    };
    Ok(Json(written(state.hub.text_feed(id, command).await)?))
}

/// Withdraw an update: it leaves the feed and every replay.
#[utoipa::path(delete, path = "/api/events/{id}/updates/{update_id}", tag = "text feed",
    params(("id" = i64, Path), ("update_id" = i64, Path)),
    responses((status = 200, body = PublicUpdate, description = "the update as it was"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("session" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path((id, update_id)): Path<(EventId, UpdateId)>,
) -> ApiResult<Json<PublicUpdate>> {
    feed_of(&state, &staff, id).await?;
    let command = UpdateCommand::Withdraw {
        event_id: id,
        update_id,
        staff_id: staff.id,
    };
    Ok(Json(written(state.hub.text_feed(id, command).await)?))
}

#[derive(Serialize, ToSchema)]
pub struct UploadedImage {
    pub id: ImageId,
    /// Where it is served: `/api/images/{id}`.
    pub url: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
}

/// Upload an image for the text feed: the body is the image itself, with its
/// `Content-Type` (PNG, JPEG, WebP or GIF, at most 2 MiB and 8000 pixels a
/// side). The bytes must be what the type says, read from their header.
#[utoipa::path(post, path = "/api/events/{id}/images", tag = "text feed", params(("id" = i64, Path)),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 201, body = UploadedImage), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Path(id): Path<EventId>,
    request: Request,
) -> ApiResult<(StatusCode, Json<UploadedImage>)> {
    feed_of(&state, &staff, id).await?;
    let declared = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = read_body(request, &state).await?;
    let info = check_image(&declared, &bytes).map_err(|refusal| match refusal {
        ImageRefusal::TooLarge => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::ImageTooLarge,
            format!("an image is at most {MAX_IMAGE_BYTES} bytes"),
        ),
        ImageRefusal::NotAnImage => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send a PNG, JPEG, WebP or GIF image",
        ),
        ImageRefusal::TypeMismatch { declared, actual } => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            format!("the body is {actual}, not `{declared}`"),
        ),
        ImageRefusal::BadSize { width, height } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Invalid,
            format!("{width}×{height} pixels: at most 8000 a side"),
        ),
    })?;
    let image = state.store.save_image(id, info, &bytes, staff.id).await?;
    tracing::info!(
        event_id = id.0,
        image_id = image.0,
        bytes = bytes.len(),
        by = staff.id.0,
        "text feed image uploaded"
    );
    Ok((
        StatusCode::CREATED,
        Json(UploadedImage {
            id: image,
            url: format!("/api/images/{image}"),
            content_type: info.content_type.to_owned(),
            width: info.width,
            height: info.height,
        }),
    ))
}

/// An image of a text feed, with its type. Public once an update shows it;
/// before, only to staff serving the event (the preview).
#[utoipa::path(get, path = "/api/images/{id}", tag = "text feed", params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/png", body = Vec<u8>), (status = 404, body = ErrorBody)))]
pub async fn image(
    State(state): State<AppState>,
    MaybeStaff(staff): MaybeStaff,
    Path(id): Path<ImageId>,
) -> ApiResult<Response> {
    let (event_id, image) = state
        .store
        .image(id)
        .await?
        .ok_or_else(|| ApiError::not_found("image"))?;
    if !state.store.image_shown(id).await? {
        let serving = match &staff {
            Some(s) => s.serves(&state.store.event(event_id).await?.host_ids()),
            None => false,
        };
        if !serving {
            return Err(ApiError::not_found("image"));
        }
    }
    let mut headers = HeaderMap::new();
    let content_type = HeaderValue::from_str(&image.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    Ok((headers, image.bytes).into_response())
}
