//! The security log for the data bureau's administrators: browse, filter,
//! export (CSV). Kept at least 180 days (`--security-log-days`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiResult, ErrorBody, Json, Query};
use crate::domain::ids::StaffId;
use crate::domain::security::SecurityKind;
use crate::domain::time::end_of_local_day;
use crate::export::{Table, to_csv};
use crate::store::security::{SecurityEntry, SecurityFilter};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SecurityQuery {
    pub kind: Option<SecurityKind>,
    /// Entries by or about this account.
    pub user: Option<StaffId>,
    /// On or after this date (Beijing), `YYYY-MM-DD`.
    pub from: Option<NaiveDate>,
    /// On or before this date (Beijing), `YYYY-MM-DD`.
    pub to: Option<NaiveDate>,
    /// At most this many, newest first (default 500, at most 10,000).
    pub limit: Option<i64>,
    /// `json` (default) or `csv`.
    pub format: Option<super::exports::Format>,
}

/// The security log, newest first (administrators).
#[utoipa::path(get, path = "/api/security-log", tag = "auth", params(SecurityQuery),
    responses((status = 200, description = "the entries: JSON (`SecurityEntry` objects), or CSV with `format=csv`",
            content((Vec<SecurityEntry> = "application/json"), (String = "text/csv"))),
        (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(q): Query<SecurityQuery>,
) -> ApiResult<Response> {
    staff.require_admin()?;
    let filter = SecurityFilter {
        kind: q.kind,
        user: q.user,
        from: q.from.map(|d| end_of_local_day(d - chrono::Days::new(1))),
        to: q.to.map(end_of_local_day),
        limit: q.limit.unwrap_or(500).clamp(1, 10_000),
    };
    let entries = state.store.security_log(&filter).await?;
    if !matches!(q.format, Some(super::exports::Format::Csv)) {
        return Ok(Json(entries).into_response());
    }
    let mut table = Table::new(
        "安全日志",
        ["时间", "类型", "操作人", "涉及账号", "登录名", "地址", "详情"],
    );
    table.rows = entries
        .iter()
        .map(|e| {
            let kind = SecurityKind::parse(&e.kind).map_or_else(|| e.kind.clone(), |k| k.label().to_owned());
            vec![
                crate::domain::time::to_local_string(e.at).into(),
                kind.into(),
                e.actor_name.clone().unwrap_or_default().into(),
                e.subject_name.clone().unwrap_or_default().into(),
                e.username.clone().unwrap_or_default().into(),
                e.ip.clone().unwrap_or_default().into(),
                e.detail.clone().unwrap_or_default().into(),
            ]
        })
        .collect();
    Ok(super::exports::attachment(
        to_csv(&table),
        "text/csv; charset=utf-8",
        "security-log.csv",
    ))
}
