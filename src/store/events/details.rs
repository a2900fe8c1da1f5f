//! An event's editable description: creating an event, editing it, and the
//! steps a plan import shares with them.

use chrono::{DateTime, Utc};

use super::{Event, EventDetails};
use crate::domain::ids::{EventId, UnitId};
use crate::domain::time::now;
use crate::store::tx::{Tx, on_tx};
use crate::store::{OnConstraint, Store, StoreError, StoreResult};

/// A change to what an announced event's announcement said: reported (报备).
pub struct AnnouncedChange<'a> {
    pub reason: &'a str,
    pub reported_by: crate::domain::ids::StaffId,
    /// The changed fields before and after, as JSON objects.
    pub before: String,
    pub after: String,
}

impl Store {
    /// A new draft event.
    #[tracing::instrument(skip(self, details), err(level = "debug"))]
    pub async fn create_event(&self, code: &str, details: &EventDetails) -> StoreResult<Event> {
        let at = now();
        let id = async {
            let mut tx = self.begin().await?;
            let id = insert_event(&mut tx, code, None, details, at).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        }
        .await
        .on_unique(|| format!("an event with code `{code}` exists"))?;
        self.event(id).await
    }

    /// Replace an event's description, if it is still as `expected` says;
    /// with `report`, the change report to the data bureau in the same transaction.
    #[tracing::instrument(skip(self, expected, details, report), fields(id = expected.id.0), err(level = "debug"))]
    pub async fn update_event(
        &self,
        expected: &Event,
        details: &EventDetails,
        report: Option<AnnouncedChange<'_>>,
    ) -> StoreResult<Event> {
        const CURRENT: &str = "SELECT updated_at FROM events WHERE id = $1";
        let at = now();
        let mut tx = self.begin().await?;
        let current: Option<DateTime<Utc>> =
            on_tx!(&mut tx, c => sqlx::query_scalar(CURRENT).bind(expected.id).fetch_optional(c).await)?;
        if current != Some(expected.updated_at) {
            return Err(StoreError::Conflict(
                "the event was changed by someone else; reload it and try again".into(),
            ));
        }
        update_details(&mut tx, expected.id, details, at).await?;
        if let Some(r) = report {
            const REPORT: &str = "INSERT INTO change_reports (event_id, kind, reason, before_json, after_json,
                   reported_by, reported_at) VALUES ($1, 'change', $2, $3, $4, $5, $6)";
            on_tx!(&mut tx, c => sqlx::query(REPORT).bind(expected.id).bind(r.reason).bind(&r.before).bind(&r.after)
                .bind(r.reported_by).bind(at).execute(c).await.map(|_| ()))?;
        }
        tx.commit().await?;
        self.event(expected.id).await
    }
}

/// Bind the 14 fields of `$d` (an [`EventDetails`]) to `$query` as `$1` to
/// `$14`, in the order of `detail_columns!`.
macro_rules! bind_details {
    ($query:expr, $d:expr) => {{
        let d: &EventDetails = $d;
        $query
            .bind(d.about.kind.as_str())
            .bind(&d.about.title)
            .bind(d.theme_id)
            .bind(d.about.form.as_str())
            .bind(&d.about.summary)
            .bind(d.about.starts_at)
            .bind(d.about.duration_minutes)
            .bind(&d.about.venue)
            .bind(&d.about.agenda)
            .bind(&d.about.participation)
            .bind(&d.about.stream_url)
            .bind(d.about.audience_limit)
            .bind(d.about.public_selection)
            .bind(d.about.identity_mode.as_str())
    }};
}

/// The columns of an event's description, as `bind_details!` binds them.
macro_rules! detail_columns {
    () => {
        "kind, title, theme_id, form, summary, starts_at, duration_minutes, venue, agenda, participation, stream_url, \
         audience_limit, public_selection, identity_mode"
    };
}

/// Insert a draft event with description `d`; returns its id.
pub(in crate::store) async fn insert_event(
    tx: &mut Tx<'_>,
    code: &str,
    plan_id: Option<i64>,
    d: &EventDetails,
    at: DateTime<Utc>,
) -> Result<EventId, sqlx::Error> {
    const SQL: &str = concat!(
        "INSERT INTO events (",
        detail_columns!(),
        ", code, plan_id, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'draft', $17, $17) RETURNING id"
    );
    let id: EventId = on_tx!(&mut *tx, c => bind_details!(sqlx::query_scalar(SQL), d)
        .bind(code)
        .bind(plan_id)
        .bind(at)
        .fetch_one(c)
        .await)?;
    insert_hosts(tx, id, &d.host_ids).await?;
    Ok(id)
}

/// Write description `d` over event `id`, its hosts included.
pub(in crate::store) async fn update_details(
    tx: &mut Tx<'_>,
    id: EventId,
    d: &EventDetails,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE events SET kind = $1, title = $2, theme_id = $3, form = $4, summary = $5, starts_at = $6,
           duration_minutes = $7, venue = $8, agenda = $9, participation = $10, stream_url = $11,
           audience_limit = $12, public_selection = $13, identity_mode = $14, updated_at = $15
         WHERE id = $16";
    const HOSTS: &str = "DELETE FROM event_hosts WHERE event_id = $1";
    on_tx!(&mut *tx, c => bind_details!(sqlx::query(SQL), d)
        .bind(at)
        .bind(id)
        .execute(c)
        .await
        .map(|_| ()))?;
    on_tx!(&mut *tx, c => sqlx::query(HOSTS).bind(id).execute(c).await.map(|_| ()))?;
    insert_hosts(tx, id, &d.host_ids).await
}

/// The event's host units, in order.
async fn insert_hosts(tx: &mut Tx<'_>, event_id: EventId, host_ids: &[UnitId]) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO event_hosts (event_id, unit_id, position) VALUES ($1, $2, $3)";
    for (position, unit_id) in host_ids.iter().enumerate() {
        on_tx!(&mut *tx, c => sqlx::query(SQL).bind(event_id).bind(*unit_id).bind(position as i64)
            .execute(c).await.map(|_| ()))?;
    }
    Ok(())
}
