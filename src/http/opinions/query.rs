//! The query strings of the opinion list and of its export. Both take the
//! same criteria (which event, unit, state, source, topic, text, dates):
//! `opinion_query!` says them once and each query adds its own fields.
//! serde's `flatten` cannot be combined with `deny_unknown_fields`, which
//! both keep (a misspelt parameter is an error, not a silently wider list),
//! so the shared fields are written into each struct by the macro.

use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use super::super::AppState;
use super::super::error::{ApiError, ApiResult};
use super::super::lookup;
use crate::domain::ids::EventId;
use crate::domain::opinion::{self, AdoptionState, OpinionSource};
use crate::domain::search::SearchQuery;
use crate::domain::staff::{Role, Staff};
use crate::domain::time::{end_of_local_day, local_date, now};
use crate::domain::values::{Code, Invalid};
use crate::store::opinions::OpinionFilter;

macro_rules! opinion_query {
    (
        $(#[$attr:meta])* pub struct $name:ident {
            $($(#[$fattr:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$attr])*
        #[derive(Deserialize, IntoParams)]
        #[into_params(parameter_in = Query)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub event: Option<EventId>,
            /// Unit code; unit staff always see their own unit's.
            pub unit: Option<String>,
            pub state: Option<AdoptionState>,
            pub source: Option<OpinionSource>,
            pub topic: Option<String>,
            /// Text to find in the opinion, its reply or the nickname (a substring, works for
            /// Chinese; at most 100 characters). The best matches come first, each with its `highlight`.
            pub q: Option<String>,
            /// Received on or after this date (Beijing), `YYYY-MM-DD`.
            pub from: Option<NaiveDate>,
            /// Received on or before this date (Beijing), `YYYY-MM-DD`.
            pub to: Option<NaiveDate>,
            $($(#[$fattr])* pub $field: $ty,)*
        }

        impl $name {
            /// The criteria this query shares with the other.
            pub fn criteria(&self) -> Criteria<'_> {
                Criteria {
                    event: self.event,
                    unit: self.unit.as_deref(),
                    state: self.state,
                    source: self.source,
                    topic: self.topic.as_deref(),
                    q: self.q.as_deref(),
                    from: self.from,
                    to: self.to,
                }
            }
        }
    };
}

opinion_query! {
    /// `GET /api/opinions`: the criteria, and which page of which kind.
    pub struct ListQuery {
        /// Only hand-off tasks (questions not answered on air).
        #[serde(default)]
        pub handoff: bool,
        /// Only opinions whose reply is overdue (not published, past the due date).
        #[serde(default)]
        pub overdue: bool,
        pub published: Option<bool>,
        #[serde(default)]
        pub include_merged: bool,
        /// At most 1000; 200 when absent.
        pub limit: Option<i64>,
        pub offset: Option<i64>,
    }
}

opinion_query! {
    /// `GET /api/opinions/export`: the criteria, the file's format and
    /// whether personal data is masked. Merged opinions are included.
    pub struct ExportQuery {
        /// `csv` (default) or `xlsx` (one sheet per event).
        pub format: Option<super::super::exports::Format>,
        /// `masked` (default) or `shown` (administrators only, with a `reason`).
        pub personal_data: Option<super::super::exports::PersonalData>,
        /// Why personal data is exported unmasked (required with `shown`;
        /// kept in the security log).
        pub reason: Option<String>,
    }
}

/// The criteria both opinion queries take, borrowed from either.
pub struct Criteria<'a> {
    pub event: Option<EventId>,
    pub unit: Option<&'a str>,
    pub state: Option<AdoptionState>,
    pub source: Option<OpinionSource>,
    pub topic: Option<&'a str>,
    pub q: Option<&'a str>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl ListQuery {
    /// The filter of this list, with unit staff held to their unit.
    pub async fn filter(&self, state: &AppState, staff: &Staff) -> ApiResult<OpinionFilter> {
        let criteria = filter_for(state, staff, self.criteria()).await?;
        let limit = self.limit.unwrap_or(200);
        if !(1..=1000).contains(&limit) {
            return Err(Invalid::new("limit", "must be between 1 and 1000").into());
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(Invalid::new("offset", "must not be negative").into());
        }
        Ok(OpinionFilter {
            handoff_only: self.handoff,
            overdue_only: self.overdue,
            published: self.published,
            include_merged: self.include_merged,
            limit,
            offset,
            ..criteria
        })
    }
}

impl ExportQuery {
    /// The filter of this export (every opinion that matches, merged ones
    /// too), with unit staff held to their unit.
    pub async fn filter(&self, state: &AppState, staff: &Staff) -> ApiResult<OpinionFilter> {
        Ok(OpinionFilter {
            include_merged: true,
            limit: 100_000,
            ..filter_for(state, staff, self.criteria()).await?
        })
    }
}

/// The filter for `c`, with unit staff held to their unit; no narrowing by
/// kind and the first 200.
async fn filter_for(state: &AppState, staff: &Staff, c: Criteria<'_>) -> ApiResult<OpinionFilter> {
    if !matches!(staff.role, Role::Admin | Role::UnitStaff) {
        return Err(ApiError::forbidden(
            "only the data bureau and unit staff work on opinions",
        ));
    }
    let mut unit_id = match c.unit {
        Some(code) => {
            let code = Code::parse("unit", code)?;
            Some(lookup::unit(state, code.as_str()).await?.id)
        }
        None => None,
    };
    if staff.role == Role::UnitStaff {
        if unit_id.is_some_and(|u| Some(u) != staff.unit_id) {
            return Err(ApiError::forbidden("unit staff see only their own unit's opinions"));
        }
        unit_id = staff.unit_id;
    }
    let topic = c.topic.map(opinion::topic).transpose()?;
    let text = SearchQuery::parse_param("q", c.q)?;
    if let (Some(from), Some(to)) = (c.from, c.to) {
        if from > to {
            return Err(Invalid::new("from", "must not be after `to`").into());
        }
    }
    Ok(OpinionFilter {
        event_id: c.event,
        unit_id,
        state: c.state,
        source: c.source,
        topic,
        text,
        from: c.from.and_then(|d| d.pred_opt()).map(end_of_local_day),
        until: c.to.map(end_of_local_day),
        handoff_only: false,
        overdue_only: false,
        published: None,
        include_merged: false,
        today: local_date(now()),
        limit: 200,
        offset: 0,
    })
}
