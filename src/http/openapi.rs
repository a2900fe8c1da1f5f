//! The OpenAPI document at `/api/openapi.json`, generated from the handlers.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::Json;
use super::{auth, events, exports, feedback, live, opinions, ops, programme, reports, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "Minsheng (民声) API", description = "Programme, events, deadlines, change reports, opinions and their adoption feedback of the government–public interaction programme. Errors are `{\"error\": {\"code\", \"message\"}}`. Times are UTC (RFC 3339); `*_local` fields and due dates are Asia/Shanghai."),
    paths(
        auth::login, auth::logout, auth::me, users::list, users::create,
        programme::list_units, programme::get_unit, programme::list_themes, programme::import_plan,
        programme::calendar_years, programme::calendar_day,
        events::list, events::get, events::create, events::update, events::deadlines,
        events::announce, events::selection_notice, events::start, events::end,
        events::publish_materials, events::reschedule, events::cancel,
        crate::http::record::get_record, crate::http::record::publish, crate::http::record::page,
        live::connect, live::audit, live::reload_screen,
        opinions::list, opinions::get, opinions::create, opinions::capture_route, opinions::decide,
        opinions::publish, opinions::bulk, opinions::merge, opinions::transfer, opinions::request_extension,
        opinions::pending_extensions, opinions::decide_extension, opinions::remind,
        feedback::event_feedback, feedback::rate, exports::export_opinions, exports::performance,
        reports::deadlines, reports::change_reports,
        ops::healthz, ops::readyz, ops::metrics, document,
    ),
    components(schemas(crate::domain::event::AnnouncementPart)),
    modifiers(&SessionAuth),
)]
pub struct ApiDoc;

struct SessionAuth;

impl Modify for SessionAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::COOKIE_NAME))),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
