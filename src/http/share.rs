//! Sharing an event: its page carries Open Graph tags (a link pasted into
//! WeChat or a portal shows the title, the time and the host units), and a
//! QR code of the page's address for posters and phones.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody, Path};
use super::record::html::escape_html;
use crate::domain::event::EventStatus;
use crate::domain::ids::EventId;
use crate::domain::time::to_local_string;
use crate::store::events::Event;

/// The public address of an event's page.
pub fn event_url(base: &str, id: EventId) -> String {
    format!("{base}/event.html?id={id}")
}

/// The Open Graph tags of `event`, escaped.
fn open_graph(event: &Event, url: &str) -> String {
    let e = escape_html;
    let when = event
        .about
        .starts_at
        .map(to_local_string)
        .unwrap_or_else(|| "时间待定".into());
    let hosts: Vec<&str> = event.hosts.iter().map(|h| h.short_name.as_str()).collect();
    let description = format!("{when} · {}", hosts.join("、"));
    format!(
        "\n  <meta property=\"og:type\" content=\"website\">\
         \n  <meta property=\"og:site_name\" content=\"大兴区政民互动\">\
         \n  <meta property=\"og:title\" content=\"{title}\">\
         \n  <meta property=\"og:description\" content=\"{description}\">\
         \n  <meta property=\"og:url\" content=\"{url}\">\
         \n  <meta name=\"description\" content=\"{description}\">\
         \n  <link rel=\"canonical\" href=\"{url}\">",
        title = e(&event.about.title),
        description = e(&description),
        url = e(url),
    )
}

#[derive(Deserialize)]
pub struct PageQuery {
    id: Option<String>,
}

/// `/event.html`: the page, with the Open Graph tags of the event it shows
/// (none for a draft or an unknown event; the page then says so itself).
pub async fn event_page(State(state): State<AppState>, Query(q): Query<PageQuery>, headers: HeaderMap) -> Response {
    let page = super::assets::page("/event.html").unwrap_or_default();
    let html = String::from_utf8_lossy(page);
    let event = match q.id.as_deref().and_then(|s| s.parse::<i64>().ok()) {
        Some(id) => state.store.event(EventId(id)).await.ok(),
        None => None,
    }
    .filter(|e| e.status != EventStatus::Draft);
    let body = match event {
        Some(event) => {
            let url = event_url(&super::opinions::public_base(&state, &headers), event.id);
            let title = format!("<title>{} · 民声</title>", escape_html(&event.about.title));
            html.replacen(
                "<title>活动详情 · 民声</title>",
                &(title + &open_graph(&event, &url)),
                1,
            )
        }
        None => html.into_owned(),
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A QR code of the event page's address, as SVG (for WeChat and posters).
#[utoipa::path(get, path = "/api/events/{id}/qr.svg", tag = "events", params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 404, body = ErrorBody)))]
pub async fn qr(State(state): State<AppState>, Path(id): Path<EventId>, headers: HeaderMap) -> ApiResult<Response> {
    let event = state.store.event(id).await?;
    if event.status == EventStatus::Draft {
        return Err(ApiError::not_found("event"));
    }
    let url = event_url(&super::opinions::public_base(&state, &headers), id);
    let svg = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| ApiError::internal("event QR code", &e))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build();
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        svg,
    )
        .into_response())
}
