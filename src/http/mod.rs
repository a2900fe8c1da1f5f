//! The HTTP side: routes, thin handlers, auth, errors, OpenAPI and pages.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use tower_http::trace::TraceLayer;

use crate::config::HttpSettings;
use crate::domain::calendar::WorkingCalendar;
use crate::domain::error_code::ErrorCode;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::Store;

pub mod account;
pub mod assets;
pub mod attendance;
pub mod auth;
pub mod choosing;
pub mod error;
pub mod events;
pub mod exports;
pub mod feedback;
pub mod live;
mod lookup;
pub mod media;
pub mod notices;
pub mod openapi;
pub mod opinions;
pub mod ops;
pub mod origin;
pub mod programme;
pub mod record;
pub mod reports;
pub mod second_factor;
pub mod security_log;
pub mod selection;
pub mod share;
pub mod telling;
pub mod transcript;
pub mod updates;
pub mod users;
pub mod verification;

pub use error::{ApiError, ApiResult};

/// Handles shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub calendar: Arc<WorkingCalendar>,
    pub metrics: Arc<Metrics>,
    pub settings: Arc<HttpSettings>,
    pub hub: Hub,
    /// Sign-in attempts per client address (see [`auth::SignInLimits`]).
    pub sign_in_limits: Arc<auth::SignInLimits>,
    /// Verified posting: codes out, verifications in.
    pub verifier: Arc<crate::identity::Verifier>,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/auth/password", post(account::change_password))
        .route("/auth/second-factor", post(second_factor::enrol))
        .route("/auth/second-factor/confirm", post(second_factor::confirm))
        .route("/users/{id}/second-factor", axum::routing::delete(second_factor::reset))
        .route("/auth/sessions", get(account::my_sessions))
        .route("/auth/sessions/{id}", axum::routing::delete(account::end_my_session))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", axum::routing::patch(users::update))
        .route("/users/{id}/password", post(users::reset_password))
        .route("/users/{id}/sessions", get(users::sessions))
        .route(
            "/users/{id}/sessions/{session}",
            axum::routing::delete(users::end_session),
        )
        .route("/units", get(programme::list_units))
        .route("/units/{id}", get(programme::get_unit))
        .route("/themes", get(programme::list_themes))
        .route("/plans/import", post(programme::import_plan))
        .route("/calendar", get(programme::calendar_years))
        .route("/calendar/status", get(programme::calendar_status))
        .route("/calendar/days/{date}", get(programme::calendar_day))
        .route("/events", get(events::list).post(events::create))
        .route("/events/{id}", get(events::get).patch(events::update))
        .route("/events/{id}/deadlines", get(events::deadlines))
        .route("/events/{id}/changes", get(events::changes))
        .route("/events/{id}/selection", get(selection::public).put(selection::save))
        .route("/events/{id}/selection/publish", post(selection::publish))
        .route("/events/{id}/selection/close", post(selection::close))
        .route("/events/{id}/selection/draw", post(choosing::make_draw))
        .route("/events/{id}/selection/choose", post(choosing::choose))
        .route(
            "/events/{id}/attendance",
            get(attendance::settings).put(attendance::save_settings),
        )
        .route(
            "/events/{id}/leader",
            get(attendance::leaders).put(attendance::record_leader),
        )
        .route("/events/{id}/participants/{reference}", delete(attendance::remove))
        .route("/events/{id}/participant-messages", get(notices::messages))
        .route("/events/{id}/signups", post(selection::sign_up))
        .route("/events/{id}/participants", get(selection::participants))
        .route("/signups/{reference}/withdraw", post(selection::withdraw))
        .route("/events/{id}/invitations", post(attendance::invite))
        .route("/events/{id}/walk-ins", post(attendance::walk_in))
        .route("/events/{id}/notices", post(notices::notify))
        .route("/events/{id}/check-in", post(attendance::check_in))
        .route("/events/{id}/qr.svg", get(share::qr))
        .route("/events/{id}/media", get(media::get).put(media::save))
        .route("/events/{id}/updates", get(updates::list).post(updates::post))
        .route(
            "/events/{id}/updates/{update_id}",
            delete(updates::withdraw).patch(updates::edit),
        )
        .route("/events/{id}/images", post(updates::upload))
        .route("/images/{id}", get(updates::image))
        .route("/notices/{token}", get(notices::notice))
        .route("/notices/{token}/suggestion", post(notices::suggest))
        .route("/events/{id}/announce", post(events::announce))
        .route("/events/{id}/selection-notice", post(events::selection_notice))
        .route("/events/{id}/start", post(events::start))
        .route("/events/{id}/end", post(events::end))
        .route("/events/{id}/materials", post(events::publish_materials))
        .route("/events/{id}/record", get(record::get_record))
        .route("/events/{id}/record/publish", post(record::publish))
        .route("/events/{id}/transcript", get(transcript::get).put(transcript::save))
        .route("/events/{id}/transcript/assemble", post(transcript::assemble_route))
        .route("/events/{id}/transcript/publish", post(transcript::publish))
        .route("/events/{id}/reschedule", post(events::reschedule))
        .route("/events/{id}/cancel", post(events::cancel))
        .route("/events/{id}/live", get(live::connect))
        .route("/events/{id}/audit", get(live::audit))
        .route("/events/{id}/bans", get(live::bans))
        .route("/events/{id}/reports", get(live::reports))
        .route("/events/{id}/appeals", get(live::appeals))
        .route("/events/{id}/opinions", post(opinions::create))
        .route("/events/{id}/opinions/capture", post(opinions::capture_route))
        .route("/events/{id}/feedback", get(feedback::event_feedback))
        .route("/opinions", get(opinions::list))
        .route("/opinions/bulk", post(opinions::bulk))
        .route("/opinions/export", get(exports::export_opinions))
        .route("/reports/performance", get(exports::performance))
        .route("/opinions/{id}", get(opinions::get).patch(opinions::decide))
        .route("/opinions/{id}/publish", post(opinions::publish))
        .route("/opinions/{id}/merge", post(opinions::merge))
        .route("/opinions/{id}/transfer", post(opinions::transfer))
        .route("/opinions/{id}/extensions", post(opinions::request_extension))
        .route("/opinions/{id}/reminders", post(opinions::remind))
        .route("/opinions/{id}/rating", post(feedback::rate))
        .route("/extensions", get(opinions::pending_extensions))
        .route("/extensions/{id}/decision", post(opinions::decide_extension))
        .route("/screen/reload", post(live::reload_screen))
        .route("/deadlines", get(reports::deadlines))
        .route("/change-reports", get(reports::change_reports))
        .route("/verification/code", post(verification::send_code))
        .route("/verification", post(verification::confirm))
        .route("/verification/end", post(verification::end))
        .route("/viewer/forget", post(verification::forget))
        .route("/security-log", get(security_log::list))
        .route("/openapi.json", get(openapi::document))
        .fallback(api_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(no_store));

    Router::new()
        .nest("/api", api)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/events/{id}/record", get(record::page))
        .route("/event.html", get(share::event_page))
        .merge(assets::routes())
        .layer(middleware::from_fn_with_state(state.clone(), origin::check))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("http", method = %req.method(), route = %route)
        }))
        .layer(middleware::from_fn_with_state(
            assets::SecurityHeaders::new(&state.settings),
            assets::security_headers,
        ))
        .with_state(state)
}

async fn api_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such API route; see /api/openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
}

/// API answers carry opinions, names, masked numbers and staff accounts:
/// no cache (a browser's, a proxy's) may keep them. A handler that chose its
/// own `Cache-Control` keeps it.
async fn no_store(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    response
}

/// Count every request by its matched route.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(req).await;
    state
        .metrics
        .observe_http(&method, &route, response.status().as_u16(), started.elapsed());
    response
}
