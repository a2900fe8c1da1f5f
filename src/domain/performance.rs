//! The figures the plan's performance assessment (绩效考核) needs, per unit
//! and year, computed from the events a unit hosted and the opinions it
//! answered. Pure: the caller reads the store and passes the facts in.
//!
//! Definitions (also in the README):
//! - a duty (announcement, participant notice, materials) is *due* once it
//!   is done or its due date has passed; its on-time rate is met / due;
//! - the reply rate is published replies / opinions collected; the on-time
//!   reply rate is replies published by the due date / opinions whose reply
//!   is due (published, or past the due date);
//! - the adoption rate is (已采纳 + 部分采纳) / published replies;
//! - reply time is counted in working days from the day received to the day
//!   published (0 when published the same day or before the next working day);
//! - the satisfaction rate is (满意 + 基本满意) / rated replies.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::calendar::WorkingCalendar;
use super::deadlines::{DeadlineKind, DeadlineState, EventFacts, InPersonFacts, PeopleNotified, deadlines};
use super::event::EventStatus;
use super::opinion::{AdoptionState, Rating, reply_deadline};
use super::time::local_date;

/// What the report needs of one opinion.
#[derive(Debug, Clone)]
pub struct OpinionFacts {
    pub state: AdoptionState,
    pub handoff: bool,
    pub received_at: DateTime<Utc>,
    pub due_date: Option<NaiveDate>,
    pub published_at: Option<DateTime<Utc>>,
    pub rating: Option<Rating>,
}

/// One of the plan's duties over a unit's events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct DutyFigures {
    /// Done or past the due date.
    pub due: u32,
    pub met: u32,
    pub late: u32,
    pub overdue: u32,
    /// Not done, due date still ahead.
    pub open: u32,
    /// met / due; none when nothing is due.
    pub on_time_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StateFigure {
    pub state: AdoptionState,
    pub label: &'static str,
    pub count: u32,
}

/// A unit's figures for a year.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UnitFigures {
    /// Events announced (or further) with a start in the year.
    pub events_planned: u32,
    /// Of those, held (live, ended or materials published).
    pub events_held: u32,
    pub events_cancelled: u32,
    pub announcements: DutyFigures,
    pub selection_notices: DutyFigures,
    /// The notice duty per person, over the events whose notice is due.
    pub people_notices: PeopleNotified,
    pub materials: DutyFigures,
    /// Who took part in person in the unit's events (those that keep a list).
    pub in_person: InPersonFigures,
    /// Change reports (报备) filed for the unit's events.
    pub change_reports: u32,
    /// Opinions received in the year (merged duplicates counted once).
    pub opinions_collected: u32,
    pub replies_published: u32,
    pub reply_rate: Option<f64>,
    /// Replies published by their due date.
    pub replies_on_time: u32,
    /// Replies that are due: published, or past the due date.
    pub replies_due: u32,
    pub on_time_reply_rate: Option<f64>,
    /// Opinions per adoption state (all collected).
    pub by_state: Vec<StateFigure>,
    pub adoption_rate: Option<f64>,
    /// Median working days from received to published.
    pub median_reply_working_days: Option<f64>,
    pub rated: u32,
    pub satisfied: u32,
    pub basically_satisfied: u32,
    pub unsatisfied: u32,
    pub satisfaction_rate: Option<f64>,
    pub handoff_tasks: u32,
    /// Hand-off tasks not replied and past their due date.
    pub handoff_overdue: u32,
    /// Hand-off tasks replied after their due date.
    pub handoff_late: u32,
}

/// The unit's in-person participation over the year.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct InPersonFigures {
    /// Events with a list of people (chosen, invited or walk-ins).
    pub events: u32,
    #[serde(flatten)]
    pub people: InPersonFacts,
    /// Held events for which the unit recorded whether its principal leader
    /// took part, and those where they did.
    pub leader_recorded: u32,
    pub leader_attended: u32,
}

fn in_person(events: &[EventFacts]) -> InPersonFigures {
    let mut f = InPersonFigures::default();
    for e in events {
        if let Some(p) = e.in_person {
            f.events += 1;
            f.people.applicants += p.applicants;
            f.people.chosen += p.chosen;
            f.people.invited += p.invited;
            f.people.walk_ins += p.walk_ins;
            f.people.attended += p.attended;
        }
        if let Some(attended) = e.leader_attended {
            f.leader_recorded += 1;
            f.leader_attended += u32::from(attended);
        }
    }
    f
}

/// The per-person notice figures of the events whose notice is due.
fn people_notices(facts: &[EventFacts], cal: &WorkingCalendar, now: DateTime<Utc>) -> PeopleNotified {
    let mut sum = PeopleNotified::default();
    for f in facts {
        let Some(d) = deadlines(f, cal, now)
            .into_iter()
            .find(|x| x.kind == DeadlineKind::SelectionNotice)
        else {
            continue;
        };
        if !matches!(
            d.state,
            DeadlineState::Met | DeadlineState::Late | DeadlineState::Overdue
        ) {
            continue;
        }
        if let Some(p) = d.people {
            sum.people += p.people;
            sum.on_time += p.on_time;
            sum.late += p.late;
            sum.not_notified += p.not_notified;
        }
    }
    sum
}

fn rate(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| (f64::from(part) / f64::from(whole) * 10_000.0).round() / 10_000.0)
}

fn duty(facts: &[EventFacts], kind: DeadlineKind, cal: &WorkingCalendar, now: DateTime<Utc>) -> DutyFigures {
    let mut d = DutyFigures::default();
    for f in facts {
        let Some(deadline) = deadlines(f, cal, now).into_iter().find(|x| x.kind == kind) else {
            continue;
        };
        match deadline.state {
            DeadlineState::Met => d.met += 1,
            DeadlineState::Late => d.late += 1,
            DeadlineState::Overdue => d.overdue += 1,
            DeadlineState::Open => d.open += 1,
            DeadlineState::NotApplicable | DeadlineState::Unscheduled | DeadlineState::CalendarMissing => {}
        }
    }
    d.due = d.met + d.late + d.overdue;
    d.on_time_rate = rate(d.met, d.due);
    d
}

fn median(mut v: Vec<u32>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        f64::from(v[mid])
    } else {
        (f64::from(v[mid - 1]) + f64::from(v[mid])) / 2.0
    })
}

/// Working days after the day received up to and including the day published.
fn reply_working_days(cal: &WorkingCalendar, received: NaiveDate, published: NaiveDate) -> Option<u32> {
    if published <= received {
        return Some(0);
    }
    let from = received.checked_add_days(Days::new(1))?;
    let to = published.checked_add_days(Days::new(1))?;
    cal.working_days_between(from, to).ok()
}

/// The figures of one unit: `events` are the unit's events of the year (not
/// drafts), `opinions` the opinions it answers that were received in the year.
pub fn unit_figures(
    events: &[EventFacts],
    change_reports: u32,
    opinions: &[OpinionFacts],
    cal: &WorkingCalendar,
    now: DateTime<Utc>,
) -> UnitFigures {
    let count = |pred: &dyn Fn(&OpinionFacts) -> bool| opinions.iter().filter(|o| pred(o)).count() as u32;
    let deadline = |o: &OpinionFacts| reply_deadline(o.due_date, o.published_at, now);
    let collected = opinions.len() as u32;
    let published = count(&|o| o.published_at.is_some());
    let on_time = count(&|o| deadline(o) == DeadlineState::Met);
    let due = count(&|o| {
        matches!(
            deadline(o),
            DeadlineState::Met | DeadlineState::Late | DeadlineState::Overdue
        )
    });
    let adopted = count(&|o| o.published_at.is_some() && o.state.adopted());
    let rating = |r: Rating| count(&|o| o.rating == Some(r));
    let (satisfied, basic, unsatisfied) = (
        rating(Rating::Satisfied),
        rating(Rating::BasicallySatisfied),
        rating(Rating::Unsatisfied),
    );
    let rated = satisfied + basic + unsatisfied;
    let reply_days = opinions
        .iter()
        .filter_map(|o| reply_working_days(cal, local_date(o.received_at), local_date(o.published_at?)))
        .collect();
    UnitFigures {
        events_planned: events.len() as u32,
        events_held: events
            .iter()
            .filter(|e| {
                matches!(
                    e.status,
                    EventStatus::Live | EventStatus::Ended | EventStatus::MaterialsPublished
                )
            })
            .count() as u32,
        events_cancelled: events.iter().filter(|e| e.status == EventStatus::Cancelled).count() as u32,
        announcements: duty(events, DeadlineKind::Announcement, cal, now),
        selection_notices: duty(events, DeadlineKind::SelectionNotice, cal, now),
        people_notices: people_notices(events, cal, now),
        materials: duty(events, DeadlineKind::Materials, cal, now),
        in_person: in_person(events),
        change_reports,
        opinions_collected: collected,
        replies_published: published,
        reply_rate: rate(published, collected),
        replies_on_time: on_time,
        replies_due: due,
        on_time_reply_rate: rate(on_time, due),
        by_state: AdoptionState::ALL
            .iter()
            .map(|s| StateFigure {
                state: *s,
                label: s.label(),
                count: count(&|o| o.state == *s),
            })
            .collect(),
        adoption_rate: rate(adopted, published),
        median_reply_working_days: median(reply_days),
        rated,
        satisfied,
        basically_satisfied: basic,
        unsatisfied,
        satisfaction_rate: rate(satisfied + basic, rated),
        handoff_tasks: count(&|o| o.handoff),
        handoff_overdue: count(&|o| o.handoff && deadline(o) == DeadlineState::Overdue),
        handoff_late: count(&|o| o.handoff && deadline(o) == DeadlineState::Late),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn event(start: &str, status: EventStatus) -> EventFacts {
        EventFacts::sample(at(start), 120, status)
    }

    fn opinion(state: AdoptionState, received: &str, due: &str, published: Option<&str>) -> OpinionFacts {
        OpinionFacts {
            state,
            handoff: false,
            received_at: at(received),
            due_date: Some(day(due)),
            published_at: published.map(at),
            rating: None,
        }
    }

    /// A unit's year whose figures were worked out by hand, around the 2024
    /// National Day holiday (10-01..07 off, Sunday 09-29 and Saturday 10-12 worked).
    #[test]
    fn a_known_programme_gives_known_figures() {
        let cal = WorkingCalendar::load(None).unwrap();
        let now = at("2024-12-31T04:00:00Z");
        // Event A on Mon 2024-10-14: announcement due 3 working days before
        // (Sat 10-12 worked, 10-11, 10-10 → due 10-10): announced 10-09 → met.
        // Materials within 5 working days of the end (10-21): published 10-18 → met.
        let mut a = event("2024-10-14T01:30:00Z", EventStatus::MaterialsPublished);
        a.announced_at = Some(at("2024-10-09T08:00:00Z"));
        a.ended_at = Some(at("2024-10-14T03:30:00Z"));
        a.materials_published_at = Some(at("2024-10-18T08:00:00Z"));
        a.public_selection = true;
        a.selection_notified_at = Some(at("2024-10-12T02:00:00Z")); // Saturday 10-12 is the working day before: met
        // Event B on Tue 2024-10-08: announcement due 3 working days before:
        // 09-30, 09-29 (Sunday, worked), 09-27 → due 09-27; announced 09-28 → late.
        // Ended, materials never published: due 10-14 (10-12 counts) → overdue.
        let mut b = event("2024-10-08T01:30:00Z", EventStatus::Ended);
        b.announced_at = Some(at("2024-09-28T02:00:00Z"));
        b.ended_at = Some(at("2024-10-08T03:30:00Z"));
        // Event C cancelled after announcement (one change report): its duties
        // do not apply, except the announcement it made on time.
        let mut c = event("2024-11-20T01:30:00Z", EventStatus::Cancelled);
        c.announced_at = Some(at("2024-11-01T02:00:00Z"));
        let events = [a, b, c];

        let mut ops = vec![
            // Received Mon 10-14, published Wed 10-16: 2 working days, due 10-28 → on time.
            OpinionFacts {
                rating: Some(Rating::Satisfied),
                handoff: true,
                ..opinion(
                    AdoptionState::Adopted,
                    "2024-10-14T02:00:00Z",
                    "2024-10-28",
                    Some("2024-10-16T02:00:00Z"),
                )
            },
            // Received Mon 09-30, published Wed 10-09 across the holiday:
            // 10-08, 10-09 → 2 working days; due 10-08 → late.
            OpinionFacts {
                rating: Some(Rating::Unsatisfied),
                handoff: true,
                ..opinion(
                    AdoptionState::NotAdopted,
                    "2024-09-30T02:00:00Z",
                    "2024-10-08",
                    Some("2024-10-09T02:00:00Z"),
                )
            },
            // Received Fri 10-11, published Sat 10-12 (a working day): 1; on time.
            OpinionFacts {
                rating: Some(Rating::BasicallySatisfied),
                ..opinion(
                    AdoptionState::PartlyAdopted,
                    "2024-10-11T02:00:00Z",
                    "2024-10-25",
                    Some("2024-10-12T02:00:00Z"),
                )
            },
            // Published the same day: 0 working days; on time; not rated.
            opinion(
                AdoptionState::Answered,
                "2024-10-14T02:00:00Z",
                "2024-10-28",
                Some("2024-10-14T09:00:00Z"),
            ),
        ];
        // Not replied, past due: overdue hand-off task.
        ops.push(OpinionFacts {
            handoff: true,
            ..opinion(AdoptionState::UnderStudy, "2024-10-14T02:00:00Z", "2024-10-28", None)
        });
        // Not replied, due next year: open.
        ops.push(opinion(
            AdoptionState::Pending,
            "2024-12-30T02:00:00Z",
            "2025-01-13",
            None,
        ));

        let f = unit_figures(&events, 1, &ops, &cal, now);
        assert_eq!((f.events_planned, f.events_held, f.events_cancelled), (3, 2, 1));
        assert_eq!(
            f.announcements,
            DutyFigures {
                due: 3,
                met: 2,
                late: 1,
                overdue: 0,
                open: 0,
                on_time_rate: Some(0.6667)
            }
        );
        assert_eq!(
            f.selection_notices,
            DutyFigures {
                due: 1,
                met: 1,
                on_time_rate: Some(1.0),
                ..DutyFigures::default()
            }
        );
        assert_eq!(
            f.materials,
            DutyFigures {
                due: 2,
                met: 1,
                late: 0,
                overdue: 1,
                open: 0,
                on_time_rate: Some(0.5)
            }
        );
        assert_eq!(f.change_reports, 1);
        assert_eq!((f.opinions_collected, f.replies_published), (6, 4));
        assert_eq!(f.reply_rate, Some(0.6667));
        assert_eq!((f.replies_on_time, f.replies_due), (3, 5));
        assert_eq!(f.on_time_reply_rate, Some(0.6));
        let counts: Vec<u32> = f.by_state.iter().map(|s| s.count).collect();
        // pending, adopted, partly, not adopted, answered, under study
        assert_eq!(counts, [1, 1, 1, 1, 1, 1]);
        assert_eq!(f.adoption_rate, Some(0.5));
        // Reply times 2, 2, 1, 0 → median 1.5.
        assert_eq!(f.median_reply_working_days, Some(1.5));
        assert_eq!(
            (f.rated, f.satisfied, f.basically_satisfied, f.unsatisfied),
            (3, 1, 1, 1)
        );
        assert_eq!(f.satisfaction_rate, Some(0.6667));
        assert_eq!((f.handoff_tasks, f.handoff_overdue, f.handoff_late), (3, 1, 1));
    }

    #[test]
    fn nothing_to_measure_gives_no_rates() {
        let cal = WorkingCalendar::load(None).unwrap();
        let f = unit_figures(&[], 0, &[], &cal, at("2024-12-31T00:00:00Z"));
        assert_eq!(f.reply_rate, None);
        assert_eq!(f.median_reply_working_days, None);
        assert_eq!(f.announcements.on_time_rate, None);
    }
}
