//! The plan's deadlines for one event, counted in working days.
//!
//! - announcement: a streamed event's announcement is published at least
//!   3 working days before the start date;
//! - selection notice: people picked by public selection (and invited
//!   representatives) are notified at least 1 working day before the start
//!   date — judged per person when the event keeps its list here;
//! - materials: published within 5 working days after the end date (a
//!   lecture's materials include its video).
//!
//! A deadline "on" a date is met by anything done before that date ends in
//! Asia/Shanghai.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::calendar::{CalendarError, WorkingCalendar};
use super::event::{EventForm, EventKind, EventStatus, Schedule};
use super::time::{end_of_local_day, local_date};

pub const ANNOUNCEMENT_LEAD_WORKING_DAYS: u32 = 3;
pub const SELECTION_NOTICE_LEAD_WORKING_DAYS: u32 = 1;
pub const MATERIALS_WITHIN_WORKING_DAYS: u32 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    Announcement,
    SelectionNotice,
    Materials,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineState {
    /// Done on or before the due date.
    Met,
    /// Done, but after the due date (counts against the unit).
    Late,
    /// Not done; the due date has not passed.
    Open,
    /// Not done; the due date has passed.
    Overdue,
    /// The rule does not apply to this event (see `note`).
    NotApplicable,
    /// The event has no time yet, so there is no due date.
    Unscheduled,
    /// The due date falls in a year the working-day calendar does not cover.
    CalendarMissing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Deadline {
    pub kind: DeadlineKind,
    pub state: DeadlineState,
    /// Last day (Asia/Shanghai) on which the duty is met.
    pub due_date: Option<NaiveDate>,
    /// The instant the due date ends (UTC).
    pub due_at: Option<DateTime<Utc>>,
    /// When the duty was done.
    pub done_at: Option<DateTime<Utc>>,
    /// Why the rule does not apply, or what is missing.
    pub note: Option<String>,
    /// For a duty owed to each person on the list (the notice): how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub people: Option<PeopleNotified>,
}

/// The notice duty counted per person on an event's list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct PeopleNotified {
    /// Chosen or invited: each is owed a notice.
    pub people: u32,
    pub on_time: u32,
    pub late: u32,
    /// Not notified (or the sender did not take the notice).
    pub not_notified: u32,
}

/// What the deadlines of one event depend on.
#[derive(Debug, Clone)]
pub struct EventFacts {
    pub kind: EventKind,
    pub form: EventForm,
    pub status: EventStatus,
    pub public_selection: bool,
    pub schedule: Option<Schedule>,
    pub announced_at: Option<DateTime<Utc>>,
    pub selection_notified_at: Option<DateTime<Utc>>,
    /// The people on the event's list owed a notice (chosen or invited), each
    /// with when a notice reached the sender; empty when the event keeps no list.
    pub notices: Vec<Option<DateTime<Utc>>>,
    /// Who came in person, when the event keeps its list here.
    pub in_person: Option<InPersonFacts>,
    /// Whether the unit's principal leader (主要负责同志) took part, as the
    /// unit recorded it; `None` when not recorded.
    pub leader_attended: Option<bool>,
    pub ended_at: Option<DateTime<Utc>>,
    pub materials_published_at: Option<DateTime<Utc>>,
    /// The event had a text feed (图文直播): its materials include the
    /// interview transcript (访谈实录), published when.
    pub transcript: Option<Option<DateTime<Utc>>>,
}

/// An event's list in figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct InPersonFacts {
    /// Signed up (withdrawn ones included).
    pub applicants: u32,
    /// Chosen from the applicants (after withdrawals).
    pub chosen: u32,
    pub invited: u32,
    pub walk_ins: u32,
    pub attended: u32,
}

pub fn deadlines(facts: &EventFacts, calendar: &WorkingCalendar, now: DateTime<Utc>) -> Vec<Deadline> {
    vec![
        announcement(facts, calendar, now),
        selection_notice(facts, calendar, now),
        materials(facts, calendar, now),
    ]
}

fn announcement(f: &EventFacts, cal: &WorkingCalendar, now: DateTime<Utc>) -> Deadline {
    let kind = DeadlineKind::Announcement;
    if !f.form.is_streamed() {
        return not_applicable(kind, "offline events need no livestream announcement");
    }
    ahead_of_start(kind, f, cal, ANNOUNCEMENT_LEAD_WORKING_DAYS, f.announced_at, now)
}

fn selection_notice(f: &EventFacts, cal: &WorkingCalendar, now: DateTime<Utc>) -> Deadline {
    let kind = DeadlineKind::SelectionNotice;
    if f.notices.is_empty() {
        if !f.public_selection {
            return not_applicable(kind, "no participants are picked by public selection");
        }
        return ahead_of_start(
            kind,
            f,
            cal,
            SELECTION_NOTICE_LEAD_WORKING_DAYS,
            f.selection_notified_at,
            now,
        );
    }
    // Per person: the duty is done when everyone is notified, late when
    // anyone was notified after the due date.
    let all_done = f.notices.iter().all(Option::is_some);
    let last = f.notices.iter().flatten().max().copied();
    let due = f
        .schedule
        .map(|s| cal.sub_working_days(local_date(s.starts_at), SELECTION_NOTICE_LEAD_WORKING_DAYS));
    let mut d = judge(kind, f, due, last.filter(|_| all_done), now);
    let Some(due_at) = d.due_at else {
        return d;
    };
    let mut people = PeopleNotified {
        people: f.notices.len() as u32,
        ..PeopleNotified::default()
    };
    for at in &f.notices {
        match at {
            Some(at) if *at < due_at => people.on_time += 1,
            Some(_) => people.late += 1,
            None => people.not_notified += 1,
        }
    }
    if all_done && people.late > 0 {
        d.state = DeadlineState::Late;
    }
    d.people = Some(people);
    d
}

/// A duty due `lead` working days before the day the event starts.
fn ahead_of_start(
    kind: DeadlineKind,
    f: &EventFacts,
    cal: &WorkingCalendar,
    lead: u32,
    done_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Deadline {
    let due = f.schedule.map(|s| cal.sub_working_days(local_date(s.starts_at), lead));
    judge(kind, f, due, done_at, now)
}

fn materials(f: &EventFacts, cal: &WorkingCalendar, now: DateTime<Utc>) -> Deadline {
    let kind = DeadlineKind::Materials;
    // Counted from the real end when the event has ended, else the planned one.
    let end = f.ended_at.or(f.schedule.map(|s| s.ends_at()));
    let due = end.map(|e| cal.add_working_days(local_date(e), MATERIALS_WITHIN_WORKING_DAYS));
    // With a text feed, the materials are done when the transcript is published too.
    let done = match f.transcript {
        None => f.materials_published_at,
        Some(transcript) => f.materials_published_at.zip(transcript).map(|(m, t)| m.max(t)),
    };
    let mut d = judge(kind, f, due, done, now);
    if f.transcript == Some(None) && d.note.is_none() {
        d.note = Some("the materials include the interview transcript (访谈实录), not published yet".into());
    }
    if f.kind == EventKind::Lecture && d.note.is_none() {
        d.note = Some("a policy lecture's materials include its explanation video".into());
    }
    d
}

fn judge(
    kind: DeadlineKind,
    f: &EventFacts,
    due: Option<Result<NaiveDate, CalendarError>>,
    done_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Deadline {
    let base = Deadline {
        kind,
        state: DeadlineState::Unscheduled,
        due_date: None,
        due_at: None,
        done_at,
        note: None,
        people: None,
    };
    if f.status == EventStatus::Cancelled && done_at.is_none() {
        return Deadline {
            state: DeadlineState::NotApplicable,
            note: Some("the event was cancelled".into()),
            ..base
        };
    }
    let due_date = match due {
        None => {
            return Deadline {
                note: Some("the event has no start time yet".into()),
                ..base
            };
        }
        Some(Err(e)) => {
            return Deadline {
                state: DeadlineState::CalendarMissing,
                note: Some(e.to_string()),
                ..base
            };
        }
        Some(Ok(d)) => d,
    };
    let due_at = end_of_local_day(due_date);
    let state = match done_at {
        Some(done) if done < due_at => DeadlineState::Met,
        Some(_) => DeadlineState::Late,
        None if now < due_at => DeadlineState::Open,
        None => DeadlineState::Overdue,
    };
    Deadline {
        state,
        due_date: Some(due_date),
        due_at: Some(due_at),
        ..base
    }
}

fn not_applicable(kind: DeadlineKind, why: &str) -> Deadline {
    Deadline {
        kind,
        state: DeadlineState::NotApplicable,
        due_date: None,
        due_at: None,
        done_at: None,
        note: Some(why.into()),
        people: None,
    }
}

#[cfg(test)]
impl EventFacts {
    /// An online-and-offline open day starting at `start`, with nothing done
    /// yet: the tests here and in performance.rs change what they look at.
    pub(crate) fn sample(start: DateTime<Utc>, minutes: i64, status: EventStatus) -> Self {
        Self {
            kind: EventKind::OpenDay,
            form: EventForm::OnlineOffline,
            status,
            public_selection: false,
            schedule: Some(Schedule::new(start, minutes).expect("a test schedule")),
            announced_at: None,
            selection_notified_at: None,
            notices: Vec::new(),
            in_person: None,
            leader_attended: None,
            ended_at: None,
            materials_published_at: None,
            transcript: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn facts(start: &str, minutes: i64) -> EventFacts {
        let mut f = EventFacts::sample(at(start), minutes, EventStatus::Announced);
        f.kind = EventKind::Lecture;
        f.public_selection = true;
        f
    }

    fn by_kind(list: &[Deadline], kind: DeadlineKind) -> Deadline {
        list.iter().find(|d| d.kind == kind).unwrap().clone()
    }

    #[test]
    fn deadlines_around_national_day_2024() {
        let cal = WorkingCalendar::load(None).unwrap();
        // Monday 2024-10-14, 09:30 in Beijing.
        let mut f = facts("2024-10-14T09:30:00+08:00", 120);
        let now = at("2024-10-01T12:00:00+08:00");
        let list = deadlines(&f, &cal, now);
        // 3 working days before Monday 10-14: 10-12 (Sat, 调休), 10-11, 10-10.
        let ann = by_kind(&list, DeadlineKind::Announcement);
        assert_eq!(ann.due_date.unwrap().to_string(), "2024-10-10");
        assert_eq!(ann.due_at.unwrap(), at("2024-10-11T00:00:00+08:00"));
        assert_eq!(ann.state, DeadlineState::Open);
        // 1 working day before: Saturday 10-12 is a working day.
        assert_eq!(
            by_kind(&list, DeadlineKind::SelectionNotice)
                .due_date
                .unwrap()
                .to_string(),
            "2024-10-12"
        );
        // 5 working days after Monday 10-14.
        assert_eq!(
            by_kind(&list, DeadlineKind::Materials).due_date.unwrap().to_string(),
            "2024-10-21"
        );

        f.announced_at = Some(at("2024-10-10T23:59:00+08:00"));
        assert_eq!(
            by_kind(&deadlines(&f, &cal, now), DeadlineKind::Announcement).state,
            DeadlineState::Met
        );
        f.announced_at = Some(at("2024-10-11T00:00:00+08:00"));
        assert_eq!(
            by_kind(&deadlines(&f, &cal, now), DeadlineKind::Announcement).state,
            DeadlineState::Late
        );
    }

    #[test]
    fn an_event_before_the_holiday_counts_across_it() {
        let cal = WorkingCalendar::load(None).unwrap();
        // Event Tuesday 2024-10-08: 3 working days back are 09-30, 09-29 (Sun, 调休), 09-27.
        let mut f = facts("2024-10-08T14:00:00+08:00", 90);
        let list = deadlines(&f, &cal, at("2024-10-09T00:00:00+08:00"));
        assert_eq!(
            by_kind(&list, DeadlineKind::Announcement).due_date.unwrap().to_string(),
            "2024-09-27"
        );
        assert_eq!(by_kind(&list, DeadlineKind::Announcement).state, DeadlineState::Overdue);
        // Ended Friday 09-27 instead: materials due 10-10 (09-29, 09-30, 10-08, 10-09, 10-10).
        f.ended_at = Some(at("2024-09-27T16:00:00+08:00"));
        f.status = EventStatus::Ended;
        let list = deadlines(&f, &cal, at("2024-10-09T00:00:00+08:00"));
        assert_eq!(
            by_kind(&list, DeadlineKind::Materials).due_date.unwrap().to_string(),
            "2024-10-10"
        );
        assert_eq!(by_kind(&list, DeadlineKind::Materials).state, DeadlineState::Open);
    }

    #[test]
    fn rules_that_do_not_apply_and_missing_years() {
        let cal = WorkingCalendar::load(None).unwrap();
        let mut f = facts("2026-12-30T10:00:00+08:00", 60);
        f.form = EventForm::Offline;
        f.public_selection = false;
        let list = deadlines(&f, &cal, at("2026-11-01T00:00:00+08:00"));
        assert_eq!(
            by_kind(&list, DeadlineKind::Announcement).state,
            DeadlineState::NotApplicable
        );
        assert_eq!(
            by_kind(&list, DeadlineKind::SelectionNotice).state,
            DeadlineState::NotApplicable
        );
        let m = by_kind(&list, DeadlineKind::Materials);
        assert_eq!(m.state, DeadlineState::CalendarMissing);
        assert!(m.note.unwrap().contains("2027"));
        f.schedule = None;
        let list = deadlines(&f, &cal, at("2026-11-01T00:00:00+08:00"));
        assert_eq!(
            by_kind(&list, DeadlineKind::Materials).state,
            DeadlineState::Unscheduled
        );
    }

    #[test]
    fn the_notice_is_judged_per_person() {
        let cal = WorkingCalendar::load(None).unwrap();
        // Monday 2024-10-14: due Saturday 10-12 (调休), ends 10-13 00:00 Beijing.
        let mut f = facts("2024-10-14T09:30:00+08:00", 120);
        f.public_selection = false;
        let (on_time, late) = (at("2024-10-12T20:00:00+08:00"), at("2024-10-13T08:00:00+08:00"));
        f.notices = vec![Some(on_time), None];
        let d = by_kind(
            &deadlines(&f, &cal, at("2024-10-12T21:00:00+08:00")),
            DeadlineKind::SelectionNotice,
        );
        assert_eq!(d.state, DeadlineState::Open);
        assert_eq!(d.people.unwrap().not_notified, 1);
        let d = by_kind(
            &deadlines(&f, &cal, at("2024-10-13T09:00:00+08:00")),
            DeadlineKind::SelectionNotice,
        );
        assert_eq!(d.state, DeadlineState::Overdue);
        f.notices = vec![Some(on_time), Some(late)];
        let d = by_kind(
            &deadlines(&f, &cal, at("2024-10-13T09:00:00+08:00")),
            DeadlineKind::SelectionNotice,
        );
        assert_eq!(d.state, DeadlineState::Late);
        assert_eq!(d.done_at, Some(late));
        let people = d.people.unwrap();
        assert_eq!(
            (people.people, people.on_time, people.late, people.not_notified),
            (2, 1, 1, 0)
        );
        f.notices = vec![Some(on_time)];
        let d = by_kind(
            &deadlines(&f, &cal, at("2024-10-13T09:00:00+08:00")),
            DeadlineKind::SelectionNotice,
        );
        assert_eq!(d.state, DeadlineState::Met);
    }

    #[test]
    fn a_text_feed_puts_the_transcript_in_the_materials() {
        let cal = WorkingCalendar::load(None).unwrap();
        let mut f = facts("2024-10-14T09:30:00+08:00", 120);
        f.status = EventStatus::MaterialsPublished;
        f.ended_at = Some(at("2024-10-14T11:30:00+08:00"));
        f.materials_published_at = Some(at("2024-10-16T10:00:00+08:00"));
        let now = at("2024-10-25T00:00:00+08:00");
        assert_eq!(
            by_kind(&deadlines(&f, &cal, now), DeadlineKind::Materials).state,
            DeadlineState::Met
        );
        f.transcript = Some(None);
        let d = by_kind(&deadlines(&f, &cal, now), DeadlineKind::Materials);
        assert_eq!(d.state, DeadlineState::Overdue, "due 10-21, the transcript missing");
        assert!(d.note.unwrap().contains("访谈实录"));
        f.transcript = Some(Some(at("2024-10-22T09:00:00+08:00")));
        let d = by_kind(&deadlines(&f, &cal, now), DeadlineKind::Materials);
        assert_eq!((d.state, d.done_at), (DeadlineState::Late, f.transcript.unwrap()));
    }
}
