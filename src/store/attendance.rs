//! Open days in person, around the list: the event's arrangements (capacity,
//! what to bring), every message sent to people on the list, the principal
//! leader's attendance, and the list in figures for the deadlines, the
//! record and the performance report.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreResult, on_pool};
use crate::domain::deadlines::{EventFacts, InPersonFacts};
use crate::domain::ids::{EventId, StaffId, UnitId};
use crate::domain::time::now;
use crate::store::events::Event;

/// What the notice tells people and how many the place holds.
#[derive(Debug, Clone, Default, Serialize, ToSchema, sqlx::FromRow)]
pub struct AttendanceSettings {
    /// How many people the place holds: invitations and walk-ins stop there.
    pub capacity: Option<i64>,
    /// What to bring and how to check in, as the notice says it.
    pub bring: Option<String>,
}

/// Why a person on the list was sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Notice,
    Reschedule,
    Cancel,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notice => "notice",
            Self::Reschedule => "reschedule",
            Self::Cancel => "cancel",
        }
    }
}

/// One message to a person on the list, with its result.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ParticipantMessage {
    pub reference: String,
    /// `notice`, `reschedule` or `cancel`.
    pub kind: String,
    pub delivered: bool,
    /// Why it was not delivered.
    pub detail: Option<String>,
    pub sent_at: DateTime<Utc>,
}

/// A unit's record of its principal leader's attendance at an event.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct LeaderAttendance {
    pub unit_id: UnitId,
    pub attended: bool,
    /// The leader's title as the unit gives it (局长, 主任, …).
    pub leader: Option<String>,
    pub recorded_at: DateTime<Utc>,
}

/// A host unit's principal leader at an event, as the record shows it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct PrincipalLeader {
    pub unit_name: String,
    pub attended: bool,
    pub leader: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ListRow {
    event_id: EventId,
    kind: String,
    status: String,
    notice_sent: Option<bool>,
    notified_at: Option<DateTime<Utc>>,
    checked_in_at: Option<DateTime<Utc>>,
}

/// The lists of events in figures, read once for many events.
#[derive(Debug, Default)]
pub struct ListFacts {
    notices: HashMap<EventId, Vec<Option<DateTime<Utc>>>>,
    in_person: HashMap<EventId, InPersonFacts>,
    leaders: HashMap<(EventId, UnitId), bool>,
}

impl ListFacts {
    /// `event`'s facts with its list; the leader's attendance is `unit`'s.
    pub fn facts(&self, event: &Event, unit: Option<UnitId>) -> EventFacts {
        EventFacts {
            notices: self.notices.get(&event.id).cloned().unwrap_or_default(),
            in_person: self.in_person.get(&event.id).copied(),
            leader_attended: unit.and_then(|u| self.leaders.get(&(event.id, u)).copied()),
            ..event.facts()
        }
    }
}

impl Store {
    pub async fn attendance_settings(&self, event_id: EventId) -> StoreResult<AttendanceSettings> {
        const SQL: &str = "SELECT capacity, bring FROM attendance_settings WHERE event_id = $1";
        let row = on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_optional(p).await)?;
        Ok(row.unwrap_or_default())
    }

    pub async fn save_attendance_settings(&self, event_id: EventId, s: &AttendanceSettings) -> StoreResult<()> {
        const SQL: &str =
            "INSERT INTO attendance_settings (event_id, capacity, bring, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (event_id) DO UPDATE SET capacity = excluded.capacity, bring = excluded.bring,
               updated_at = excluded.updated_at";
        on_pool!(self, write p => sqlx::query(SQL).bind(event_id).bind(s.capacity).bind(&s.bring).bind(now())
            .execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// How many places the list takes now: the chosen, the invited and the walk-ins.
    pub async fn places_taken(&self, event_id: EventId) -> StoreResult<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM participants WHERE event_id = $1 AND status = 'chosen'";
        Ok(on_pool!(self, read p => sqlx::query_scalar(SQL).bind(event_id).fetch_one(p).await)?)
    }

    /// Record a message to a person on the list and its result.
    pub async fn record_message(
        &self,
        reference: &str,
        kind: MessageKind,
        delivered: bool,
        detail: Option<&str>,
    ) -> StoreResult<()> {
        const SQL: &str = "INSERT INTO participant_messages (participant_id, kind, delivered, detail, sent_at)
             SELECT id, $1, $2, $3, $4 FROM participants WHERE reference = $5";
        on_pool!(self, write p => sqlx::query(SQL).bind(kind.as_str()).bind(delivered).bind(detail).bind(now())
            .bind(reference).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Every message sent to the people on an event's list, oldest first.
    pub async fn participant_messages(&self, event_id: EventId) -> StoreResult<Vec<ParticipantMessage>> {
        const SQL: &str = "SELECT p.reference, m.kind, m.delivered, m.detail, m.sent_at
             FROM participant_messages m JOIN participants p ON p.id = m.participant_id
             WHERE p.event_id = $1 ORDER BY m.id";
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_all(p).await)?)
    }

    /// Who to tell of a reschedule (those already notified) or a cancellation
    /// (everyone signed up, chosen or invited who has not withdrawn):
    /// (reference, identity, sealed number).
    pub async fn to_tell_of_change(
        &self,
        event_id: EventId,
        cancelled: bool,
    ) -> StoreResult<Vec<(String, Option<crate::domain::ids::IdentityId>, Option<String>)>> {
        const RESCHEDULED: &str = "SELECT reference, identity_id, phone_sealed FROM participants
             WHERE event_id = $1 AND status = 'chosen' AND kind <> 'walk_in' AND notified_at IS NOT NULL ORDER BY id";
        const CANCELLED: &str = "SELECT reference, identity_id, phone_sealed FROM participants
             WHERE event_id = $1 AND status <> 'withdrawn' AND kind <> 'walk_in' ORDER BY id";
        let sql = if cancelled { CANCELLED } else { RESCHEDULED };
        Ok(on_pool!(self, read p => sqlx::query_as(sql).bind(event_id).fetch_all(p).await)?)
    }

    /// Record whether `unit`'s principal leader took part in the event.
    pub async fn record_leader(
        &self,
        event_id: EventId,
        unit: UnitId,
        attended: bool,
        leader: Option<&str>,
        by: StaffId,
    ) -> StoreResult<()> {
        const SQL: &str =
            "INSERT INTO leader_attendance (event_id, unit_id, attended, leader, recorded_by, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (event_id, unit_id) DO UPDATE SET attended = excluded.attended, leader = excluded.leader,
               recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at";
        on_pool!(self, write p => sqlx::query(SQL).bind(event_id).bind(unit).bind(attended).bind(leader).bind(by)
            .bind(now()).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn leaders(&self, event_id: EventId) -> StoreResult<Vec<LeaderAttendance>> {
        const SQL: &str = "SELECT unit_id, attended, leader, recorded_at FROM leader_attendance
             WHERE event_id = $1 ORDER BY unit_id";
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_all(p).await)?)
    }

    /// Raise the event's highest viewer count to `viewers` (never lowers it).
    pub async fn record_peak_viewers(&self, event_id: EventId, viewers: i64) -> StoreResult<()> {
        const SQL: &str = "UPDATE events SET peak_viewers = $1
             WHERE id = $2 AND (peak_viewers IS NULL OR peak_viewers < $1)";
        on_pool!(self, write p => sqlx::query(SQL).bind(viewers).bind(event_id).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// The principal leaders' attendance, with the units' names.
    pub async fn principal_leaders(&self, event_id: EventId) -> StoreResult<Vec<PrincipalLeader>> {
        const SQL: &str = "SELECT u.short_name AS unit_name, l.attended, l.leader FROM leader_attendance l
             JOIN units u ON u.id = l.unit_id WHERE l.event_id = $1 ORDER BY l.unit_id";
        Ok(on_pool!(self, read p => sqlx::query_as(SQL).bind(event_id).fetch_all(p).await)?)
    }

    /// The lists in figures: of one event, or of all of them.
    pub async fn list_facts(&self, event: Option<EventId>) -> StoreResult<ListFacts> {
        const PEOPLE: &str = "SELECT event_id, kind, status, notice_sent, notified_at, checked_in_at FROM participants";
        const LEADERS: &str = "SELECT event_id, unit_id, attended FROM leader_attendance";
        const PEOPLE_OF: &str = "SELECT event_id, kind, status, notice_sent, notified_at, checked_in_at
             FROM participants WHERE event_id = $1";
        const LEADERS_OF: &str = "SELECT event_id, unit_id, attended FROM leader_attendance WHERE event_id = $1";
        let (people, leaders): (Vec<ListRow>, Vec<(EventId, UnitId, bool)>) = match event {
            Some(id) => (
                on_pool!(self, read p => sqlx::query_as(PEOPLE_OF).bind(id).fetch_all(p).await)?,
                on_pool!(self, read p => sqlx::query_as(LEADERS_OF).bind(id).fetch_all(p).await)?,
            ),
            None => (
                on_pool!(self, read p => sqlx::query_as(PEOPLE).fetch_all(p).await)?,
                on_pool!(self, read p => sqlx::query_as(LEADERS).fetch_all(p).await)?,
            ),
        };
        let mut facts = ListFacts {
            leaders: leaders.into_iter().map(|(e, u, a)| ((e, u), a)).collect(),
            ..ListFacts::default()
        };
        for r in people {
            let owed = r.status == "chosen" && r.kind != "walk_in";
            if owed {
                let delivered = r.notified_at.filter(|_| r.notice_sent == Some(true));
                facts.notices.entry(r.event_id).or_default().push(delivered);
            }
            let f = facts.in_person.entry(r.event_id).or_default();
            match r.kind.as_str() {
                "applicant" => {
                    f.applicants += 1;
                    f.chosen += u32::from(r.status == "chosen");
                }
                "invited" => f.invited += u32::from(r.status == "chosen"),
                _ => f.walk_ins += 1,
            }
            f.attended += u32::from(r.checked_in_at.is_some());
        }
        Ok(facts)
    }

    /// How many written suggestions a person on the list has left.
    pub async fn suggestions_by(&self, reference: &str) -> StoreResult<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM opinions o JOIN participants p ON p.id = o.participant_id
             WHERE p.reference = $1 AND o.via = 'written'";
        Ok(on_pool!(self, read p => sqlx::query_scalar(SQL).bind(reference).fetch_one(p).await)?)
    }
}
