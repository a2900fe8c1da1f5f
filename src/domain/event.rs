//! Events of the programme and their lifecycle.
//!
//! draft → announced → live → ended → materials_published, with rescheduled
//! (an announced event whose time changed) and cancelled beside them. Every
//! move goes through [`EventStatus::apply`], so a move the plan does not allow
//! cannot happen anywhere.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::names::names;

names! {
    /// 政务开放日 (an open point) or 政策公开讲 (a policy lecture).
    #[derive(Hash, ToSchema)]
    pub enum EventKind {
        OpenDay = "open_day",
        Lecture = "lecture",
    }
}

names! {
    /// 线上直播, 线下, 线上线下结合.
    #[derive(Hash, ToSchema)]
    pub enum EventForm {
        Online = "online",
        Offline = "offline",
        OnlineOffline = "online_offline",
    }
}

impl EventForm {
    /// Streamed events need an announcement 3 working days ahead.
    pub fn is_streamed(self) -> bool {
        matches!(self, Self::Online | Self::OnlineOffline)
    }
}

names! {
    #[derive(Hash, ToSchema)]
    pub enum EventStatus {
        Draft = "draft",
        Announced = "announced",
        /// Announced, then moved to another time (a change report records why).
        Rescheduled = "rescheduled",
        Live = "live",
        Ended = "ended",
        MaterialsPublished = "materials_published",
        Cancelled = "cancelled",
    }
}

/// What someone asks to do with an event's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Announce,
    Reschedule,
    Cancel,
    Start,
    End,
    PublishMaterials,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event that is {from} cannot be {action}")]
pub struct TransitionError {
    pub from: &'static str,
    pub action: &'static str,
}

impl EventStatus {
    /// Announced to the public (its details are public from now on).
    pub fn is_public(self) -> bool {
        self != Self::Draft
    }

    /// The status after `t`, or why `t` is not allowed now.
    pub fn apply(self, t: Transition) -> Result<Self, TransitionError> {
        use EventStatus::*;
        let next = match (self, t) {
            (Draft, Transition::Announce) => Announced,
            (Announced | Rescheduled, Transition::Reschedule) => Rescheduled,
            (Draft | Announced | Rescheduled, Transition::Cancel) => Cancelled,
            (Announced | Rescheduled, Transition::Start) => Live,
            (Live, Transition::End) => Ended,
            (Ended, Transition::PublishMaterials) => MaterialsPublished,
            _ => {
                let action = match t {
                    Transition::Announce => "announced",
                    Transition::Reschedule => "rescheduled",
                    Transition::Cancel => "cancelled",
                    Transition::Start => "started",
                    Transition::End => "ended",
                    Transition::PublishMaterials => "given published materials",
                };
                return Err(TransitionError {
                    from: self.as_str(),
                    action,
                });
            }
        };
        Ok(next)
    }
}

/// When an event happens: a start and a positive duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Schedule {
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: u32,
}

impl Schedule {
    /// Longest event we accept: a full day.
    pub const MAX_MINUTES: u32 = 24 * 60;

    pub fn new(starts_at: DateTime<Utc>, duration_minutes: i64) -> Result<Self, super::values::Invalid> {
        match u32::try_from(duration_minutes) {
            Ok(m) if (1..=Self::MAX_MINUTES).contains(&m) => Ok(Self {
                starts_at,
                duration_minutes: m,
            }),
            _ => Err(super::values::Invalid::new(
                "duration_minutes",
                format!("must be between 1 and {} minutes", Self::MAX_MINUTES),
            )),
        }
    }

    pub fn ends_at(&self) -> DateTime<Utc> {
        self.starts_at + Duration::minutes(i64::from(self.duration_minutes))
    }
}

/// The parts the plan says an announcement must state (公告内容至少包括活动时间、
/// 活动时长、活动大体流程安排、网民参与方式、主办单位).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnnouncementPart {
    StartsAt,
    DurationMinutes,
    Agenda,
    Participation,
    HostUnits,
}

impl AnnouncementPart {
    pub fn label(self) -> &'static str {
        match self {
            Self::StartsAt => "活动时间 (starts_at)",
            Self::DurationMinutes => "活动时长 (duration_minutes)",
            Self::Agenda => "活动流程 (agenda)",
            Self::Participation => "网民参与方式 (participation)",
            Self::HostUnits => "主办单位 (host_units)",
        }
    }
}

/// What an announcement would state, to be checked before it is published.
pub struct AnnouncementDraft<'a> {
    pub starts_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i64>,
    pub agenda: Option<&'a str>,
    pub participation: Option<&'a str>,
    pub host_count: usize,
}

impl AnnouncementDraft<'_> {
    /// The required parts that are missing, in the plan's order.
    pub fn missing(&self) -> Vec<AnnouncementPart> {
        let blank = |s: Option<&str>| s.is_none_or(|s| s.trim().is_empty());
        let mut missing = Vec::new();
        if self.starts_at.is_none() {
            missing.push(AnnouncementPart::StartsAt);
        }
        if self.duration_minutes.is_none_or(|m| m <= 0) {
            missing.push(AnnouncementPart::DurationMinutes);
        }
        if blank(self.agenda) {
            missing.push(AnnouncementPart::Agenda);
        }
        if blank(self.participation) {
            missing.push(AnnouncementPart::Participation);
        }
        if self.host_count == 0 {
            missing.push(AnnouncementPart::HostUnits);
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventStatus::*;

    #[test]
    fn the_lifecycle_moves_forward_only() {
        assert_eq!(Draft.apply(Transition::Announce), Ok(Announced));
        assert_eq!(Announced.apply(Transition::Reschedule), Ok(Rescheduled));
        assert_eq!(Rescheduled.apply(Transition::Start), Ok(Live));
        assert_eq!(Live.apply(Transition::End), Ok(Ended));
        assert_eq!(Ended.apply(Transition::PublishMaterials), Ok(MaterialsPublished));
        assert!(Draft.apply(Transition::Start).is_err());
        assert!(Draft.apply(Transition::Reschedule).is_err());
        assert!(Live.apply(Transition::Cancel).is_err());
        assert!(Cancelled.apply(Transition::Announce).is_err());
        assert!(MaterialsPublished.apply(Transition::PublishMaterials).is_err());
        let err = Ended.apply(Transition::Start).unwrap_err();
        assert_eq!(err.to_string(), "an event that is ended cannot be started");
    }

    #[test]
    fn names_round_trip() {
        for &s in EventStatus::ALL {
            assert_eq!(EventStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(EventForm::parse("online_offline"), Some(EventForm::OnlineOffline));
        assert_eq!(EventKind::parse("lecture"), Some(EventKind::Lecture));
        assert_eq!(EventKind::parse("party"), None);
    }

    #[test]
    fn an_announcement_names_what_it_lacks() {
        let draft = AnnouncementDraft {
            starts_at: None,
            duration_minutes: Some(60),
            agenda: Some("  "),
            participation: Some("直播间提问"),
            host_count: 0,
        };
        assert_eq!(
            draft.missing(),
            vec![
                AnnouncementPart::StartsAt,
                AnnouncementPart::Agenda,
                AnnouncementPart::HostUnits
            ]
        );
    }

    #[test]
    fn schedules_are_bounded() {
        let at = Utc::now();
        assert!(Schedule::new(at, 0).is_err());
        assert!(Schedule::new(at, 24 * 60 + 1).is_err());
        assert_eq!(Schedule::new(at, 90).unwrap().ends_at(), at + Duration::minutes(90));
    }
}
