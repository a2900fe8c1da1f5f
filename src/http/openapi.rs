//! The OpenAPI document at `/api/openapi.json`, generated from the handlers.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::Json;
use super::{
    account, attendance, auth, choosing, events, exports, feedback, live, media, notices, opinions, ops, programme,
    reports, second_factor, security_log, selection, share, transcript, updates, users, verification,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Minsheng (民声) API", description = "Programme, events, deadlines, change reports, opinions and their adoption feedback of the government–public interaction programme. Errors are `{\"error\": {\"code\", \"message\"}}`. Times are UTC (RFC 3339); `*_local` fields and due dates are Asia/Shanghai."),
    paths(
        auth::login, auth::logout, auth::me, users::list, users::create,
        account::change_password, account::my_sessions, account::end_my_session,
        users::update, users::reset_password, users::sessions, users::end_session, security_log::list,
        second_factor::enrol, second_factor::confirm, second_factor::reset,
        selection::save, selection::publish, selection::close, selection::public, selection::sign_up,
        selection::withdraw, selection::participants, choosing::make_draw, choosing::choose,
        attendance::invite, attendance::walk_in, attendance::check_in, attendance::settings,
        attendance::save_settings, attendance::remove, attendance::record_leader, attendance::leaders,
        notices::notify, notices::notice, notices::suggest, notices::messages,
        updates::list, updates::post, updates::edit, updates::withdraw, updates::upload, updates::image,
        transcript::get, transcript::assemble_route, transcript::save, transcript::publish, share::qr,
        media::get, media::save,
        programme::list_units, programme::get_unit, programme::list_themes, programme::import_plan,
        programme::calendar_years, programme::calendar_status, programme::calendar_day,
        events::list, events::get, events::create, events::update, events::deadlines, events::changes,
        events::announce, events::selection_notice, events::start, events::end,
        events::publish_materials, events::reschedule, events::cancel,
        crate::http::record::get_record, crate::http::record::publish, crate::http::record::page,
        live::connect, live::audit, live::bans, live::reports, live::appeals, live::reload_screen,
        opinions::list, opinions::get, opinions::create, opinions::capture_route, opinions::decide,
        opinions::publish, opinions::bulk, opinions::merge, opinions::transfer, opinions::request_extension,
        opinions::pending_extensions, opinions::decide_extension, opinions::remind,
        feedback::event_feedback, feedback::rate, exports::export_opinions, exports::performance,
        reports::deadlines, reports::change_reports,
        verification::send_code, verification::confirm, verification::end, verification::forget,
        ops::healthz, ops::readyz, ops::metrics, document,
    ),
    components(schemas(
        crate::domain::event::AnnouncementPart, exports::Format, exports::PersonalData,
        crate::http::record::RecordFormat,
    )),
    modifiers(&SessionAuth, &SharedErrors),
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

/// The error answers every route shares because they come from the shared
/// extractors and the store, not from the handler: a malformed body, path or
/// query (400), no session (401) or the wrong role (403) on a signed-in
/// route, an unknown id (404), a late body (408) or one that is not JSON (415), a value that
/// fails validation (422), a database that does not answer (503). Added to
/// each operation that can give them, unless the handler documented its own.
struct SharedErrors;

impl Modify for SharedErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in &mut openapi.paths.paths {
            if !path.starts_with("/api/") || path == "/api/openapi.json" {
                continue;
            }
            let has_id = path.contains('{');
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let params = has_id || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let body = op.request_body.as_ref();
                let json_body = body.is_some_and(|b| b.content.contains_key("application/json"));
                let shared = [
                    (
                        params || body.is_some(),
                        "400",
                        "malformed JSON, path or query (`malformed_json`, `bad_path`, `bad_query`, `nul_in_input`)",
                    ),
                    (secured, "401", "no valid session (`unauthorized`)"),
                    (
                        secured,
                        "403",
                        "the account's role or unit may not do this (`forbidden`)",
                    ),
                    (has_id, "404", "no such resource (`not_found`)"),
                    (
                        body.is_some(),
                        "408",
                        "the body did not arrive whole within 30 s (`body_timeout`)",
                    ),
                    (
                        json_body,
                        "415",
                        "the body is not `application/json` (`unsupported_media_type`)",
                    ),
                    (
                        params || body.is_some(),
                        "422",
                        "a value fails validation (`invalid`, `invalid_body`)",
                    ),
                    (true, "503", "the database does not answer (`unavailable`)"),
                ];
                for (applies, status, description) in shared {
                    if applies {
                        op.responses
                            .responses
                            .entry(status.to_owned())
                            .or_insert_with(|| error(description).into());
                    }
                }
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1")))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
