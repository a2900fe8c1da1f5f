//! For the data bureau and the units: deadlines across events, change reports.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::CurrentStaff;
use super::error::{ApiResult, ErrorBody, Json, Query};
use crate::domain::deadlines::{Deadline, DeadlineState, deadlines as compute_deadlines};
use crate::domain::ids::EventId;
use crate::domain::staff::Role;
use crate::domain::time::now;
use crate::store::change_reports::ChangeReport;
use crate::store::events::{EventFilter, HostRef};

#[derive(Serialize, ToSchema)]
pub struct DeadlineRow {
    pub event_id: EventId,
    pub event_code: String,
    pub event_title: String,
    pub hosts: Vec<HostRef>,
    #[serde(flatten)]
    pub deadline: Deadline,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeadlineQuery {
    /// Only deadlines in this state, e.g. `overdue`.
    pub state: Option<DeadlineState>,
}

/// Every deadline of the events the caller serves (all for the data bureau),
/// overdue first, then by due date.
#[utoipa::path(get, path = "/api/deadlines", tag = "reports", params(DeadlineQuery),
    responses((status = 200, body = Vec<DeadlineRow>), (status = 401, body = ErrorBody)), security(("session" = [])))]
pub async fn deadlines(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Query(q): Query<DeadlineQuery>,
) -> ApiResult<Json<Vec<DeadlineRow>>> {
    let events = state.store.list_events(&EventFilter::default()).await?;
    let lists = state.store.list_facts(None).await?;
    let at = now();
    let mut rows: Vec<DeadlineRow> = events
        .into_iter()
        .filter(|e| staff.serves(&e.host_ids()))
        .flat_map(|e| {
            compute_deadlines(&lists.facts(&e, None), &state.calendar, at)
                .into_iter()
                .map(move |deadline| DeadlineRow {
                    event_id: e.id,
                    event_code: e.code.clone(),
                    event_title: e.about.title.clone(),
                    hosts: e.hosts.clone(),
                    deadline,
                })
        })
        .filter(|r| !matches!(r.deadline.state, DeadlineState::NotApplicable))
        .filter(|r| q.state.is_none_or(|s| r.deadline.state == s))
        .collect();
    rows.sort_by_key(|r| {
        (
            r.deadline.state != DeadlineState::Overdue,
            r.deadline.due_date.is_none(),
            r.deadline.due_date,
        )
    });
    Ok(Json(rows))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChangeReportQuery {
    /// Only this event's reports.
    pub event: Option<EventId>,
}

/// Change reports (报备): all for the data bureau, the unit's own for unit staff.
#[utoipa::path(get, path = "/api/change-reports", tag = "reports", params(ChangeReportQuery),
    responses((status = 200, body = Vec<ChangeReport>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("session" = [])))]
pub async fn change_reports(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    Query(q): Query<ChangeReportQuery>,
) -> ApiResult<Json<Vec<ChangeReport>>> {
    let unit = match staff.role {
        Role::Admin => None,
        Role::UnitStaff => staff.unit_id,
        Role::Moderator | Role::Host => {
            return Err(super::ApiError::forbidden(
                "change reports are for the data bureau and the units",
            ));
        }
    };
    Ok(Json(state.store.list_change_reports(unit, q.event).await?))
}
