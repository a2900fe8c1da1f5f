//! Importing a plan file: idempotent, all or nothing.
//!
//! Units, themes and events are matched by code. What the plan describes is
//! brought up to date; what happened since (an event's lifecycle, a time set
//! in Minsheng) is kept. Importing the same file twice changes nothing.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::events::{About, Event, EventDetails, EventFilter, insert_event, update_details};
use super::themes::Theme;
use super::tx::{Tx, on_tx};
use super::units::Unit;
use super::{Store, StoreResult};
use crate::domain::event::EventStatus;
use crate::domain::ids::UnitId;
use crate::domain::plan::{Plan, PlanEvent, PlanTheme, PlanUnit};
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
    host_ids: Vec<UnitId>,
    existing: Option<(&EventDetails, EventStatus)>,
    warnings: &mut Vec<String>,
) -> EventDetails {
    let mut d = EventDetails {
        theme_id,
        host_ids,
        about: About {
            kind: e.kind,
            title: e.title.clone(),
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
            identity_mode: e.identity_mode.unwrap_or_default(),
        },
    };
    if let Some((old, status)) = existing {
        // A plan without a time never erases one set since.
        d.about.starts_at = d.about.starts_at.or(old.about.starts_at);
        d.about.duration_minutes = d.about.duration_minutes.or(old.about.duration_minutes);
        d.about.stream_url = d.about.stream_url.clone().or(old.about.stream_url.clone());
        d.about.identity_mode = e.identity_mode.unwrap_or(old.about.identity_mode);
        if status != EventStatus::Draft {
            if d.about.identity_mode != old.about.identity_mode {
                warnings.push(format!(
                    "{}: the event is {}; its identity mode stays {}",
                    e.code,
                    status.as_str(),
                    old.about.identity_mode.as_str()
                ));
            }
            d.about.identity_mode = old.about.identity_mode;
            if (d.about.starts_at, d.about.duration_minutes) != (old.about.starts_at, old.about.duration_minutes) {
                warnings.push(format!(
                    "{}: the event is {}; its time changes only through a reschedule with a reason",
                    e.code,
                    status.as_str()
                ));
            }
            d.about.starts_at = old.about.starts_at;
            d.about.duration_minutes = old.about.duration_minutes;
        }
    }
    d
}

impl Store {
    #[tracing::instrument(skip_all, fields(plan = plan.code.as_str()), err(level = "debug"))]
    pub async fn import_plan(&self, plan: &Plan) -> StoreResult<ImportReport> {
        let units = by_code(self.list_units().await?, |u: &Unit| &u.code);
        let themes = by_code(self.list_themes().await?, |t: &Theme| &t.code);
        let events = by_code(self.list_events(&EventFilter::default()).await?, |e: &Event| &e.code);
        let mut report = ImportReport {
            plan: plan.code.to_string(),
            ..Default::default()
        };
        let at = now();
        let mut tx = self.begin().await?;
        let unit_ids = import_units(&mut tx, &plan.units, &units, &mut report.units, at).await?;
        let theme_ids = import_themes(&mut tx, &plan.themes, &themes, &mut report.themes).await?;
        let plan_id = upsert_plan(&mut tx, plan, at).await?;
        let ids = Ids {
            plan: plan_id,
            units: &unit_ids,
            themes: &theme_ids,
        };
        import_events(&mut tx, plan, &events, ids, &mut report, at).await?;
        tx.commit().await?;
        Ok(report)
    }
}

type At = chrono::DateTime<chrono::Utc>;

/// `items` by their code.
fn by_code<T>(items: Vec<T>, code: fn(&T) -> &String) -> HashMap<String, T> {
    items.into_iter().map(|item| (code(&item).clone(), item)).collect()
}

/// The ids of what the plan names, by code.
#[derive(Clone, Copy)]
struct Ids<'a> {
    plan: i64,
    units: &'a HashMap<&'a str, UnitId>,
    themes: &'a HashMap<&'a str, i64>,
}

/// Create or update the plan's units; their ids by code.
async fn import_units<'p>(
    tx: &mut Tx<'_>,
    plan_units: &'p [PlanUnit],
    units: &HashMap<String, Unit>,
    counts: &mut Counts,
    at: At,
) -> StoreResult<HashMap<&'p str, UnitId>> {
    const UPDATE: &str = "UPDATE units SET name = $1, short_name = $2, supervisor = $3 WHERE id = $4";
    const INSERT: &str =
        "INSERT INTO units (code, name, short_name, supervisor, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id";
    let mut ids = HashMap::new();
    for u in plan_units {
        let id = match units.get(u.code.as_str()) {
            Some(old)
                if (old.name.as_str(), old.short_name.as_str(), old.supervisor)
                    == (u.name.as_str(), u.short_name.as_str(), u.supervisor) =>
            {
                counts.unchanged += 1;
                old.id
            }
            Some(old) => {
                on_tx!(&mut *tx, c => sqlx::query(UPDATE).bind(&u.name).bind(&u.short_name).bind(u.supervisor)
                    .bind(old.id).execute(c).await.map(|_| ()))?;
                counts.updated += 1;
                old.id
            }
            None => {
                counts.created += 1;
                on_tx!(&mut *tx, c => sqlx::query_scalar(INSERT).bind(u.code.as_str()).bind(&u.name)
                    .bind(&u.short_name).bind(u.supervisor).bind(at).fetch_one(c).await)?
            }
        };
        ids.insert(u.code.as_str(), id);
    }
    Ok(ids)
}

/// Create or update the plan's themes, in its order; their ids by code.
async fn import_themes<'p>(
    tx: &mut Tx<'_>,
    plan_themes: &'p [PlanTheme],
    themes: &HashMap<String, Theme>,
    counts: &mut Counts,
) -> StoreResult<HashMap<&'p str, i64>> {
    const UPDATE: &str = "UPDATE themes SET name = $1, position = $2 WHERE id = $3";
    const INSERT: &str = "INSERT INTO themes (code, name, position) VALUES ($1, $2, $3) RETURNING id";
    let mut ids = HashMap::new();
    for (i, t) in plan_themes.iter().enumerate() {
        let position = i as i64 + 1;
        let id = match themes.get(t.code.as_str()) {
            Some(old) if old.name == t.name && old.position == position => {
                counts.unchanged += 1;
                old.id
            }
            Some(old) => {
                on_tx!(&mut *tx, c => sqlx::query(UPDATE).bind(&t.name).bind(position).bind(old.id)
                    .execute(c).await.map(|_| ()))?;
                counts.updated += 1;
                old.id
            }
            None => {
                counts.created += 1;
                on_tx!(&mut *tx, c => sqlx::query_scalar(INSERT).bind(t.code.as_str()).bind(&t.name).bind(position)
                    .fetch_one(c).await)?
            }
        };
        ids.insert(t.code.as_str(), id);
    }
    Ok(ids)
}

/// The plan's own row; its id.
async fn upsert_plan(tx: &mut Tx<'_>, plan: &Plan, at: At) -> StoreResult<i64> {
    const SQL: &str = "INSERT INTO plans (code, title, year, imported_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (code) DO UPDATE SET title = excluded.title, year = excluded.year
         RETURNING id";
    Ok(
        on_tx!(tx, c => sqlx::query_scalar(SQL).bind(plan.code.as_str()).bind(&plan.title)
        .bind(i64::from(plan.year)).bind(at).fetch_one(c).await)?,
    )
}

/// Create the plan's new events and bring the others up to date.
async fn import_events(
    tx: &mut Tx<'_>,
    plan: &Plan,
    events: &HashMap<String, Event>,
    ids: Ids<'_>,
    report: &mut ImportReport,
    at: At,
) -> StoreResult<()> {
    for e in &plan.events {
        let theme_id = e.theme.as_ref().map(|c| ids.themes[c.as_str()]);
        let host_ids = e.hosts.iter().map(|c| ids.units[c.as_str()]).collect();
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
                update_details(tx, o.id, &details, at).await?;
                report.events.updated += 1;
            }
            (None, _) => {
                insert_event(tx, e.code.as_str(), Some(ids.plan), &details, at).await?;
                report.events.created += 1;
            }
        }
    }
    Ok(())
}
