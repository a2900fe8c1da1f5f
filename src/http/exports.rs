//! Downloads for units and the data bureau: opinions as CSV or XLSX, and the
//! performance report (绩效考核) as JSON or XLSX. Personal data found in
//! citizens' text is masked unless an administrator asks to see it.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiError, ApiResult, ErrorBody, Json, Query};
use super::lookup;
use super::opinions::ExportQuery;
use crate::domain::event::EventStatus;
use crate::domain::ids::EventId;
use crate::domain::masking::mask_personal_data;
use crate::domain::opinion::{AdoptionState, reply_deadline};
use crate::domain::performance::{DutyFigures, OpinionFacts, UnitFigures, unit_figures};
use crate::domain::staff::Role;
use crate::domain::time::{end_of_local_day, local_date, now};
use crate::domain::values::{Code, Invalid};
use crate::export::{Cell, Table, to_csv, to_xlsx};
use crate::store::events::EventFilter;
use crate::store::opinions::{Opinion, OpinionFilter};

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Csv,
    Xlsx,
    Json,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PersonalData {
    /// Phone numbers, ID numbers and e-mail addresses in the text are masked.
    #[default]
    Masked,
    /// Shown as written: administrators only.
    Shown,
}

const HEADERS: [&str; 18] = [
    "编号",
    "活动",
    "来源",
    "提问人",
    "内容",
    "分类",
    "支持数",
    "受理日期",
    "答复期限",
    "期限状态",
    "采纳情况",
    "不采纳理由",
    "答复内容",
    "答复单位",
    "答复人",
    "答复日期",
    "合并到",
    "满意度",
];

fn row(o: &Opinion, shown: bool) -> Vec<Cell> {
    let text = |s: &str| -> Cell { if shown { s.into() } else { mask_personal_data(s).into() } };
    let deadline = reply_deadline(o.due_date, o.published_at, now());
    vec![
        o.id.0.into(),
        o.event_title.as_str().into(),
        o.source.label().into(),
        text(&o.nickname),
        text(&o.text),
        o.topic.clone().into(),
        o.support.into(),
        local_date(o.received_at).into(),
        o.due_date.into(),
        deadline_label(deadline).into(),
        o.state.label().into(),
        o.reason.clone().into(),
        o.reply.clone().into(),
        o.unit_name.as_str().into(),
        o.replied_by_name.clone().into(),
        o.published_at.map(local_date).into(),
        o.merged_into.map(i64::from).into(),
        o.rating.map(|r| r.label()).into(),
    ]
}

fn deadline_label(s: crate::domain::deadlines::DeadlineState) -> &'static str {
    use crate::domain::deadlines::DeadlineState::*;
    match s {
        Met => "按时答复",
        Late => "逾期答复",
        Open => "办理中",
        Overdue => "已逾期",
        CalendarMissing => "缺少工作日历",
        NotApplicable | Unscheduled => "",
    }
}

/// A file to download: its type, `attachment` with `filename`, never stored
/// by a cache (exports carry personal data).
pub(super) fn attachment(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        bytes,
    )
        .into_response()
}

pub(super) const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn xlsx(tables: &[Table], filename: &str) -> ApiResult<Response> {
    let bytes = to_xlsx(tables).map_err(|e| ApiError::internal("writing xlsx", &e))?;
    Ok(attachment(bytes, XLSX_TYPE, filename))
}

/// Export opinions as CSV or XLSX (Chinese headers; one sheet per event in
/// XLSX), personal data masked unless an administrator asks otherwise.
#[utoipa::path(get, path = "/api/opinions/export", tag = "opinions", params(ExportQuery),
    responses((status = 200, description = "text/csv or xlsx"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn export_opinions(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    let shown = matches!(q.personal_data.unwrap_or_default(), PersonalData::Shown);
    if shown && staff.0.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only the data bureau's administrators may export unmasked personal data",
        ));
    }
    let reason = q.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let reason = match (shown, reason) {
        (true, None) => {
            return Err(crate::domain::values::Invalid::new(
                "reason",
                "say why personal data is exported unmasked (it is kept in the security log)",
            )
            .into());
        }
        (true, Some(r)) => Some(crate::domain::values::required_text("reason", r, 200)?),
        (false, _) => None,
    };
    let filter = q.filter(&state, &staff.0).await?;
    let opinions = state.store.list_opinions(&filter).await?;
    if let Some(reason) = reason {
        tracing::info!(
            by = staff.0.id.0,
            rows = opinions.len(),
            "opinions exported with personal data shown"
        );
        let criteria =
            serde_json::json!({ "event": q.event, "unit": q.unit, "state": q.state, "from": q.from, "to": q.to });
        let event = crate::store::security::SecurityEvent::new(crate::domain::security::SecurityKind::ExportUnmasked)
            .by(staff.0.id)
            .detail(serde_json::json!({ "reason": reason, "rows": opinions.len(), "criteria": criteria }));
        state.store.log_security(event).await?;
    }
    match q.format.unwrap_or_default() {
        Format::Csv | Format::Json => {
            let mut table = Table::new("意见建议", HEADERS);
            table.rows = opinions.iter().map(|o| row(o, shown)).collect();
            Ok(attachment(to_csv(&table), "text/csv; charset=utf-8", "opinions.csv"))
        }
        Format::Xlsx => {
            let mut sheets: BTreeMap<EventId, Table> = BTreeMap::new();
            for o in &opinions {
                sheets
                    .entry(o.event_id)
                    .or_insert_with(|| Table::new(o.event_title.clone(), HEADERS))
                    .rows
                    .push(row(o, shown));
            }
            let tables: Vec<Table> = sheets.into_values().collect();
            xlsx(&tables, "opinions.xlsx")
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PerformanceQuery {
    pub year: i32,
    /// One unit's code; every host unit when absent (administrators).
    pub unit: Option<String>,
    /// `json` (default) or `xlsx`.
    pub format: Option<Format>,
}

#[derive(Serialize, ToSchema)]
pub struct UnitReport {
    pub unit_code: String,
    pub unit_name: String,
    #[serde(flatten)]
    pub figures: UnitFigures,
}

#[derive(Serialize, ToSchema)]
pub struct PerformanceReport {
    pub year: i32,
    pub units: Vec<UnitReport>,
}

/// The performance report (绩效考核) per unit and year: events, the plan's
/// duties on time, change reports, opinions, replies, adoption, reply time,
/// satisfaction and hand-off tasks. Unit staff see their own unit.
#[utoipa::path(get, path = "/api/reports/performance", tag = "reports", params(PerformanceQuery),
    responses((status = 200, body = PerformanceReport), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("session" = [])))]
pub async fn performance(
    State(state): State<AppState>,
    staff: CurrentStaff,
    Query(q): Query<PerformanceQuery>,
) -> ApiResult<Response> {
    if !(2000..=2100).contains(&q.year) {
        return Err(Invalid::new("year", "must be between 2000 and 2100").into());
    }
    let mut units = match q.unit.as_deref() {
        Some(code) => {
            let code = Code::parse("unit", code)?;
            vec![lookup::unit(&state, code.as_str()).await?]
        }
        None => state.store.list_units().await?,
    };
    match staff.0.role {
        Role::Admin => {}
        Role::UnitStaff => {
            if q.unit.is_some() && units.iter().any(|u| Some(u.id) != staff.0.unit_id) {
                return Err(ApiError::forbidden("unit staff see only their own unit's report"));
            }
            units.retain(|u| Some(u.id) == staff.0.unit_id);
        }
        Role::Moderator | Role::Host => {
            return Err(ApiError::forbidden(
                "the performance report is for the data bureau and the units",
            ));
        }
    }
    let at = now();
    let year_start = NaiveDate::from_ymd_opt(q.year, 1, 1)
        .and_then(|d| d.pred_opt())
        .map(end_of_local_day);
    let year_end = NaiveDate::from_ymd_opt(q.year, 12, 31).map(end_of_local_day);
    // Read once for every unit, then split by unit.
    let year_events: Vec<_> = state
        .store
        .list_events(&EventFilter::default())
        .await?
        .into_iter()
        .filter(|e| e.status != EventStatus::Draft)
        .filter(|e| e.about.starts_at.is_some_and(|s| local_date(s).year() == q.year))
        .collect();
    let all_reports = state.store.list_change_reports(None, None).await?;
    let lists = state.store.list_facts(None).await?;
    let year_opinions = state
        .store
        .list_opinions(&OpinionFilter {
            from: year_start,
            until: year_end,
            today: local_date(at),
            limit: 1_000_000,
            ..OpinionFilter::default()
        })
        .await?;
    let mut reports = Vec::with_capacity(units.len());
    for unit in units {
        let events: Vec<_> = year_events.iter().filter(|e| e.host_ids().contains(&unit.id)).collect();
        if events.is_empty() && q.unit.is_none() && unit.supervisor {
            continue;
        }
        let event_ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
        let change_reports = all_reports.iter().filter(|c| event_ids.contains(&c.event_id)).count() as u32;
        let opinions: Vec<_> = year_opinions.iter().filter(|o| o.unit_id == unit.id).collect();
        let facts: Vec<OpinionFacts> = opinions
            .iter()
            .map(|o| OpinionFacts {
                state: o.state,
                handoff: o.handoff,
                received_at: o.received_at,
                due_date: o.due_date,
                published_at: o.published_at,
                rating: o.rating,
            })
            .collect();
        let event_facts: Vec<_> = events.iter().map(|e| lists.facts(e, Some(unit.id))).collect();
        reports.push(UnitReport {
            unit_code: unit.code,
            unit_name: unit.short_name,
            figures: unit_figures(&event_facts, change_reports, &facts, &state.calendar, at),
        });
    }
    let report = PerformanceReport {
        year: q.year,
        units: reports,
    };
    match q.format.unwrap_or(Format::Json) {
        Format::Json => Ok(Json(report).into_response()),
        Format::Csv => Ok(attachment(
            to_csv(&performance_table(&report)),
            "text/csv; charset=utf-8",
            &format!("performance-{}.csv", q.year),
        )),
        Format::Xlsx => xlsx(&[performance_table(&report)], &format!("performance-{}.xlsx", q.year)),
    }
}

fn performance_table(report: &PerformanceReport) -> Table {
    let duty_headers = |name: &str| {
        [
            format!("{name}应完成"),
            format!("{name}按时"),
            format!("{name}逾期"),
            format!("{name}按时率"),
        ]
    };
    let mut headers: Vec<String> = ["单位", "计划活动", "已举办", "已取消"].map(String::from).to_vec();
    for name in ["公告", "遴选通知", "活动资料"] {
        headers.extend(duty_headers(name));
    }
    headers.extend(
        [
            "应通知人数",
            "按时通知人数",
            "逾期通知人数",
            "未通知人数",
            "线下活动",
            "报名",
            "遴选入选",
            "定向邀请",
            "现场加入",
            "到场",
            "主要负责同志出席记录",
            "主要负责同志出席",
        ]
        .map(String::from),
    );
    headers.extend(["变更报备", "收集意见", "已答复", "答复率", "按时答复", "按时答复率"].map(String::from));
    headers.extend(AdoptionState::ALL.iter().map(|s| s.label().to_owned()));
    headers.extend(
        [
            "采纳率",
            "答复用时中位数(工作日)",
            "评价数",
            "满意",
            "基本满意",
            "不满意",
            "满意率",
            "转办任务",
            "转办逾期未复",
            "转办逾期答复",
        ]
        .map(String::from),
    );
    let mut table = Table::new(format!("{}年绩效", report.year), headers);
    let pct = |r: Option<f64>| -> Cell { r.into() };
    for u in &report.units {
        let f = &u.figures;
        let duty = |d: &DutyFigures| -> [Cell; 4] {
            [
                i64::from(d.due).into(),
                i64::from(d.met).into(),
                i64::from(d.late + d.overdue).into(),
                pct(d.on_time_rate),
            ]
        };
        let mut row: Vec<Cell> = vec![
            u.unit_name.as_str().into(),
            i64::from(f.events_planned).into(),
            i64::from(f.events_held).into(),
            i64::from(f.events_cancelled).into(),
        ];
        for d in [&f.announcements, &f.selection_notices, &f.materials] {
            row.extend(duty(d));
        }
        let (n, p) = (&f.people_notices, &f.in_person);
        row.extend(
            [
                n.people,
                n.on_time,
                n.late,
                n.not_notified,
                p.events,
                p.people.applicants,
                p.people.chosen,
                p.people.invited,
                p.people.walk_ins,
                p.people.attended,
                p.leader_recorded,
                p.leader_attended,
            ]
            .map(|v| Cell::from(i64::from(v))),
        );
        row.extend([
            i64::from(f.change_reports).into(),
            i64::from(f.opinions_collected).into(),
            i64::from(f.replies_published).into(),
            pct(f.reply_rate),
            i64::from(f.replies_on_time).into(),
            pct(f.on_time_reply_rate),
        ]);
        row.extend(f.by_state.iter().map(|s| Cell::from(i64::from(s.count))));
        row.extend([
            pct(f.adoption_rate),
            f.median_reply_working_days.into(),
            i64::from(f.rated).into(),
            i64::from(f.satisfied).into(),
            i64::from(f.basically_satisfied).into(),
            i64::from(f.unsatisfied).into(),
            pct(f.satisfaction_rate),
            i64::from(f.handoff_tasks).into(),
            i64::from(f.handoff_overdue).into(),
            i64::from(f.handoff_late).into(),
        ]);
        table.rows.push(row);
    }
    table
}
