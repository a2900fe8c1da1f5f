//! Units, themes, plan import and the working-day calendar.

use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Path, Query};
use crate::domain::calendar::{DayInfo, Outlook, YearSummary};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::UnitId;
use crate::domain::plan;
use crate::domain::time::{local_date, now};
use crate::store::plans::ImportReport;
use crate::store::themes::Theme;
use crate::store::units::Unit;

/// The host units (主责单位) and the supervising data bureau.
#[utoipa::path(get, path = "/api/units", tag = "programme", responses((status = 200, body = Vec<Unit>)))]
pub async fn list_units(State(state): State<AppState>) -> ApiResult<Json<Vec<Unit>>> {
    Ok(Json(state.store.list_units().await?))
}

#[utoipa::path(get, path = "/api/units/{id}", tag = "programme", params(("id" = i64, Path)),
    responses((status = 200, body = Unit), (status = 404, body = ErrorBody)))]
pub async fn get_unit(State(state): State<AppState>, Path(id): Path<UnitId>) -> ApiResult<Json<Unit>> {
    Ok(Json(state.store.unit(id).await?))
}

/// The programme's themes (专题), in order.
#[utoipa::path(get, path = "/api/themes", tag = "programme", responses((status = 200, body = Vec<Theme>)))]
pub async fn list_themes(State(state): State<AppState>) -> ApiResult<Json<Vec<Theme>>> {
    Ok(Json(state.store.list_themes().await?))
}

/// Import a plan file (the TOML text as the request body). Idempotent:
/// importing the same file twice changes nothing. Admins only.
#[utoipa::path(post, path = "/api/plans/import", tag = "programme",
    request_body(content = String, content_type = "application/toml", description = "A plan file such as plans/daxing-2024.toml"),
    responses((status = 200, body = ImportReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn import_plan(
    State(state): State<AppState>,
    staff: CurrentStaff,
    request: axum::extract::Request,
) -> ApiResult<Json<ImportReport>> {
    staff.require_admin()?;
    let bytes = super::error::read_body(request, &state).await?;
    let body = String::from_utf8(bytes.to_vec()).map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            ErrorCode::BadBody,
            "a plan file is UTF-8 text",
        )
    })?;
    if super::error::has_nul_escape(body.as_bytes()) {
        return Err(super::error::nul_in_input("the plan file"));
    }
    let plan = plan::parse(&body).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidPlan,
            e.to_string(),
        )
    })?;
    let report = state.store.import_plan(&plan).await?;
    tracing::info!(plan = %report.plan, by = staff.0.id.0, changed = report.changed_anything(), "plan imported");
    Ok(Json(report))
}

/// The years the working-day calendar covers, with their sources.
#[utoipa::path(get, path = "/api/calendar", tag = "calendar", responses((status = 200, body = Vec<YearSummary>)))]
pub async fn calendar_years(State(state): State<AppState>) -> Json<Vec<YearSummary>> {
    Json(state.calendar.years())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CalendarStatusQuery {
    /// Judge as of this day (YYYY-MM-DD) instead of today in Beijing.
    pub on: Option<NaiveDate>,
}

/// The years loaded and whether they reach far enough.
#[derive(Serialize, ToSchema)]
pub struct CalendarStatus {
    pub years: Vec<YearSummary>,
    #[serde(flatten)]
    pub outlook: Outlook,
}

/// Whether the working-day calendar covers this year and, from 1 November,
/// next year; `warning` names a missing year and how to add it.
#[utoipa::path(get, path = "/api/calendar/status", tag = "calendar", params(CalendarStatusQuery),
    responses((status = 200, body = CalendarStatus)))]
pub async fn calendar_status(
    State(state): State<AppState>,
    Query(q): Query<CalendarStatusQuery>,
) -> Json<CalendarStatus> {
    let today = q.on.unwrap_or_else(|| local_date(now()));
    Json(CalendarStatus {
        years: state.calendar.years(),
        outlook: state.calendar.outlook(today),
    })
}

/// Whether a date is a working day in mainland China, and why.
#[utoipa::path(get, path = "/api/calendar/days/{date}", tag = "calendar", params(("date" = String, Path, description = "YYYY-MM-DD")),
    responses((status = 200, body = DayInfo), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn calendar_day(State(state): State<AppState>, Path(date): Path<String>) -> ApiResult<Json<DayInfo>> {
    let date: NaiveDate = date.parse().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            ErrorCode::BadPath,
            format!("`{date}` is not a date like 2024-10-01"),
        )
    })?;
    state.calendar.day(date).map(Json).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            ErrorCode::CalendarMissing,
            e.to_string(),
        )
    })
}
