//! Open days in person, around the list: the event's arrangements (capacity,
//! what to bring), every message sent to people on the list, the principal
//! leader's attendance, and the list in figures for the deadlines, the
//! record and the performance report.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Store, StoreResult, on_pool};
use crate::domain::deadlines::{EventFacts, InPersonFacts};
use crate::domain::ids::{EventId, StaffId, UnitId};
use crate::domain::time::now;
use crate::store::events::Event;
use crate::store::selections::Participant;

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
    /// Events with a text feed, and when their transcript was published.
    transcripts: HashMap<EventId, Option<DateTime<Utc>>>,
}

impl ListFacts {
    /// `event`'s facts with its list; the leader's attendance is `unit`'s.
    pub fn facts(&self, event: &Event, unit: Option<UnitId>) -> EventFacts {
        EventFacts {
            notices: self.notices.get(&event.id).cloned().unwrap_or_default(),
            in_person: self.in_person.get(&event.id).copied(),
            leader_attended: unit.and_then(|u| self.leaders.get(&(event.id, u)).copied()),
            transcript: self.transcripts.get(&event.id).copied(),
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
        // Events with a public text feed, and their transcripts' publication.
        const FEEDS: &str = "SELECT u.event_id, MAX(t.published_at) FROM live_updates u
             LEFT JOIN transcripts t ON t.event_id = u.event_id
             WHERE u.withdrawn_at IS NULL GROUP BY u.event_id";
        const FEED_OF: &str = "SELECT u.event_id, MAX(t.published_at) FROM live_updates u
             LEFT JOIN transcripts t ON t.event_id = u.event_id
             WHERE u.event_id = $1 AND u.withdrawn_at IS NULL GROUP BY u.event_id";
        let feeds: Vec<(EventId, Option<DateTime<Utc>>)> = match event {
            Some(id) => on_pool!(self, read p => sqlx::query_as(FEED_OF).bind(id).fetch_all(p).await)?,
            None => on_pool!(self, read p => sqlx::query_as(FEEDS).fetch_all(p).await)?,
        };
        let mut facts = ListFacts {
            leaders: leaders.into_iter().map(|(e, u, a)| ((e, u), a)).collect(),
            transcripts: feeds
                .into_iter()
                .filter(|(e, _)| event.is_none_or(|id| id == *e))
                .collect(),
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

/// What the record says of who took part, online and in person.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Participation {
    /// Signed up (withdrawn ones included) / chosen / invited (invitations
    /// taken back not counted, as in the performance report) / walk-ins.
    pub applicants: i64,
    pub chosen: i64,
    pub invited: i64,
    pub walk_ins: i64,
    /// Notified, and notified at least 1 working day before the start.
    pub notified: i64,
    pub notified_on_time: i64,
    pub attended: i64,
    pub by_group: Vec<GroupParticipation>,
    /// Online: questions and comments posted (any outcome), poll votes.
    pub questions: i64,
    pub comments: i64,
    pub votes: i64,
    /// Online viewers who took part: asked, commented, upvoted or voted
    /// (one each; in a verified room one per person).
    pub online_participants: i64,
    /// The most viewers in the live room at once (在线观看峰值).
    pub peak_viewers: Option<i64>,
    /// Whether each host unit's principal leader took part, as recorded.
    pub principal_leaders: Vec<crate::store::attendance::PrincipalLeader>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupParticipation {
    pub group: String,
    pub on_list: i64,
    pub attended: i64,
}

impl Store {
    /// Who took part in an event; `notice_due`: the last day a notice is on time.
    pub async fn participation(&self, event_id: EventId, notice_due: Option<NaiveDate>) -> StoreResult<Participation> {
        const ONLINE: &str = "SELECT
               (SELECT COUNT(*) FROM questions WHERE event_id = $1 AND kind = 'question'),
               (SELECT COUNT(*) FROM questions WHERE event_id = $1 AND kind = 'comment'),
               (SELECT COUNT(*) FROM poll_votes v JOIN polls p ON p.id = v.poll_id WHERE p.event_id = $1),
               (SELECT COUNT(*) FROM (
                   SELECT viewer_key FROM questions WHERE event_id = $1
                   UNION SELECT u.viewer_key FROM upvotes u JOIN questions q ON q.id = u.question_id WHERE q.event_id = $1
                   UNION SELECT v.viewer_key FROM poll_votes v JOIN polls p ON p.id = v.poll_id WHERE p.event_id = $1
               ) AS keys),
               (SELECT peak_viewers FROM events WHERE id = $1)";
        let people = self.participants(event_id).await?;
        let (questions, comments, votes, online_participants, peak_viewers): (i64, i64, i64, i64, Option<i64>) =
            on_pool!(self, read p => sqlx::query_as(ONLINE).bind(event_id).fetch_one(p).await)?;
        let count = |f: &dyn Fn(&Participant) -> bool| people.iter().filter(|p| f(p)).count() as i64;
        let on_list = |p: &Participant| p.status == "chosen";
        let on_time = |p: &Participant| {
            p.notice_sent == Some(true)
                && p.notified_at
                    .zip(notice_due)
                    .is_some_and(|(at, due)| crate::domain::time::local_date(at) <= due)
        };
        let mut groups: Vec<String> = people
            .iter()
            .filter(|p| on_list(p))
            .map(|p| p.group_name.clone())
            .collect();
        groups.sort();
        groups.dedup();
        Ok(Participation {
            applicants: count(&|p| p.kind == "applicant"),
            chosen: count(&|p| p.kind == "applicant" && p.status == "chosen"),
            invited: count(&|p| p.kind == "invited" && p.status == "chosen"),
            walk_ins: count(&|p| p.kind == "walk_in"),
            notified: count(&|p| p.notice_sent == Some(true)),
            notified_on_time: count(&on_time),
            attended: count(&|p| p.checked_in_at.is_some()),
            by_group: groups
                .into_iter()
                .map(|g| GroupParticipation {
                    on_list: count(&|p| on_list(p) && p.group_name == g),
                    attended: count(&|p| p.checked_in_at.is_some() && p.group_name == g),
                    group: g,
                })
                .collect(),
            questions,
            comments,
            votes,
            online_participants,
            peak_viewers,
            principal_leaders: self.principal_leaders(event_id).await?,
        })
    }
}
