//! Importing a plan file: idempotent, all or nothing.
//!
//! Units, themes and events are matched by code. What the plan describes is
//! brought up to date; what happened since (an event's lifecycle, a time set
//! in Minsheng) is kept. Importing the same file twice changes nothing.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::events::{EventDetails, EventFilter, write_details};
use super::{Store, StoreError, StoreResult, on_pool};
use crate::domain::event::EventStatus;
use crate::domain::plan::{Plan, PlanEvent};
use crate::domain::time::now;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Counts {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ImportReport {
    pub plan: String,
    pub units: Counts,
    pub themes: Counts,
    pub events: Counts,
    /// What the import left alone on purpose, and why.
    pub warnings: Vec<String>,
}

impl ImportReport {
    pub fn changed_anything(&self) -> bool {
        [self.units, self.themes, self.events]
            .iter()
            .any(|c| c.created + c.updated > 0)
    }
}

/// The details a plan entry asks for, kept against what `existing` already has.
fn merged_details(
    e: &PlanEvent,
    theme_id: Option<i64>,
    host_ids: Vec<i64>,
    existing: Option<(&EventDetails, EventStatus)>,
    warnings: &mut Vec<String>,
) -> EventDetails {
    let mut d = EventDetails {
        kind: e.kind,
        title: e.title.clone(),
        theme_id,
        host_ids,
        form: e.form,
        summary: e.summary.clone(),
        starts_at: e.starts_at,
        duration_minutes: e.duration_minutes,
        venue: e.venue.clone(),
        agenda: e.agenda.clone(),
        participation: e.participation.clone(),
        stream_url: e.stream_url.clone(),
        audience_limit: e.audience_limit,
        public_selection: e.public_selection,
    };
    if let Some((old, status)) = existing {
        // A plan without a time never erases one set since.
        d.starts_at = d.starts_at.or(old.starts_at);
        d.duration_minutes = d.duration_minutes.or(old.duration_minutes);
        d.stream_url = d.stream_url.clone().or(old.stream_url.clone());
        if status != EventStatus::Draft {
            if (d.starts_at, d.duration_minutes) != (old.starts_at, old.duration_minutes) {
                warnings.push(format!(
                    "{}: the event is {}; its time changes only through a reschedule with a reason",
                    e.code,
                    status.as_str()
                ));
            }
            d.starts_at = old.starts_at;
            d.duration_minutes = old.duration_minutes;
        }
    }
    d
}

impl Store {
    #[tracing::instrument(skip_all, fields(plan = plan.code.as_str()), err(level = "debug"))]
    pub async fn import_plan(&self, plan: &Plan) -> StoreResult<ImportReport> {
        let units: HashMap<String, _> = self
            .list_units()
            .await?
            .into_iter()
            .map(|u| (u.code.clone(), u))
            .collect();
        let themes: HashMap<String, _> = self
            .list_themes()
            .await?
            .into_iter()
            .map(|t| (t.code.clone(), t))
            .collect();
        let events: HashMap<String, _> = self
            .list_events(&EventFilter::default())
            .await?
            .into_iter()
            .map(|e| (e.code.clone(), e))
            .collect();
        let mut report = ImportReport {
            plan: plan.code.to_string(),
            ..Default::default()
        };
        let at = now();

        on_pool!(self, write p => {
            let mut tx = p.begin().await?;
            let mut unit_ids = HashMap::new();
            for u in &plan.units {
                let id = match units.get(u.code.as_str()) {
                    Some(old) if (old.name.as_str(), old.short_name.as_str(), old.supervisor)
                        == (u.name.as_str(), u.short_name.as_str(), u.supervisor) => {
                        report.units.unchanged += 1;
                        old.id
                    }
                    Some(old) => {
                        sqlx::query("UPDATE units SET name = $1, short_name = $2, supervisor = $3 WHERE id = $4")
                            .bind(&u.name).bind(&u.short_name).bind(u.supervisor).bind(old.id)
                            .execute(&mut *tx).await?;
                        report.units.updated += 1;
                        old.id
                    }
                    None => {
                        report.units.created += 1;
                        sqlx::query_scalar(
                            "INSERT INTO units (code, name, short_name, supervisor, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        )
                        .bind(u.code.as_str()).bind(&u.name).bind(&u.short_name).bind(u.supervisor).bind(at)
                        .fetch_one(&mut *tx).await?
                    }
                };
                unit_ids.insert(u.code.as_str(), id);
            }

            let mut theme_ids = HashMap::new();
            for (i, t) in plan.themes.iter().enumerate() {
                let position = i as i64 + 1;
                let id = match themes.get(t.code.as_str()) {
                    Some(old) if old.name == t.name && old.position == position => {
                        report.themes.unchanged += 1;
                        old.id
                    }
                    Some(old) => {
                        sqlx::query("UPDATE themes SET name = $1, position = $2 WHERE id = $3")
                            .bind(&t.name).bind(position).bind(old.id)
                            .execute(&mut *tx).await?;
                        report.themes.updated += 1;
                        old.id
                    }
                    None => {
                        report.themes.created += 1;
                        sqlx::query_scalar("INSERT INTO themes (code, name, position) VALUES ($1, $2, $3) RETURNING id")
                            .bind(t.code.as_str()).bind(&t.name).bind(position)
                            .fetch_one(&mut *tx).await?
                    }
                };
                theme_ids.insert(t.code.as_str(), id);
            }

            let plan_id: i64 = sqlx::query_scalar(
                "INSERT INTO plans (code, title, year, imported_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (code) DO UPDATE SET title = excluded.title, year = excluded.year
                 RETURNING id",
            )
            .bind(plan.code.as_str()).bind(&plan.title).bind(i64::from(plan.year)).bind(at)
            .fetch_one(&mut *tx).await?;

            for e in &plan.events {
                let theme_id = e.theme.as_ref().map(|c| theme_ids[c.as_str()]);
                let host_ids = e.hosts.iter().map(|c| unit_ids[c.as_str()]).collect();
                let old = events.get(e.code.as_str());
                let old_details = old.map(|o| o.details());
                let details = merged_details(
                    e,
                    theme_id,
                    host_ids,
                    old.zip(old_details.as_ref()).map(|(o, d)| (d, o.status)),
                    &mut report.warnings,
                );
                match (old, old_details) {
                    (Some(_), Some(d)) if d == details => report.events.unchanged += 1,
                    (Some(o), _) => {
                        write_details!(tx, Some(o.id), "", None::<i64>, &details, at);
                        report.events.updated += 1;
                    }
                    (None, _) => {
                        write_details!(tx, None::<i64>, e.code.as_str(), Some(plan_id), &details, at);
                        report.events.created += 1;
                    }
                }
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(report)
    }
}
