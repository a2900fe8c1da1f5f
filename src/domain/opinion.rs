//! Opinions (意见建议) and the adoption feedback (采纳反馈) a unit gives on them.
//!
//! An opinion is what a citizen said at an event — a live question or
//! comment, an open-text poll answer, or a note typed in from an offline
//! open day's paper form. The unit decides its adoption state, writes a reply
//! and publishes it; the asker may rate the published reply once.
//!
//! The reply is due a number of working days after the event ends (10 by
//! default); an opinion counts as replied when its reply is published, and
//! the 答复日期 is that publication date.

use chrono::{DateTime, NaiveDate, Utc};
use utoipa::ToSchema;

use super::calendar::WorkingCalendar;
use super::deadlines::DeadlineState;
use super::names::names;
use super::time::{end_of_local_day, local_date};
use super::values::Invalid;

/// Working days after the event's end within which a reply is due, unless
/// configured otherwise.
pub const DEFAULT_REPLY_WORKING_DAYS: u32 = 10;
pub const MAX_OPINION_CHARS: usize = 2000;
pub const MAX_REPLY_CHARS: usize = 5000;
pub const MAX_TOPIC_CHARS: usize = 30;
pub const MAX_REASON_CHARS: usize = 1000;

names! {
    /// Where an opinion came from.
    #[derive(Hash, ToSchema)]
    pub enum OpinionSource {
        /// A question asked in the live room.
        Question = "question" / "直播提问",
        /// A comment in the live room.
        Comment = "comment" / "直播评论",
        /// An open-text poll answer.
        PollAnswer = "poll_answer" / "投票留言",
        /// Typed in by unit staff (paper forms at an offline open day, letters).
        Offline = "offline" / "线下收集",
    }
}

names! {
    /// The adoption state a unit decides (采纳情况).
    #[derive(Hash, ToSchema)]
    pub enum AdoptionState {
        /// Not decided yet (待处理).
        Pending = "pending" / "待处理",
        /// 已采纳
        Adopted = "adopted" / "已采纳",
        /// 部分采纳
        PartlyAdopted = "partly_adopted" / "部分采纳",
        /// 暂不采纳: a reason is required and published.
        NotAdopted = "not_adopted" / "暂不采纳",
        /// 已解答: answered on the spot or by the reply.
        Answered = "answered" / "已解答",
        /// 研究中
        UnderStudy = "under_study" / "研究中",
    }
}

impl AdoptionState {
    /// The states a published reply may carry (everything but pending).
    pub fn decided(self) -> bool {
        self != Self::Pending
    }

    /// Counts towards the adoption rate (adopted in whole or in part).
    pub fn adopted(self) -> bool {
        matches!(self, Self::Adopted | Self::PartlyAdopted)
    }
}

names! {
    /// The asker's rating of a published reply.
    #[derive(Hash, ToSchema)]
    pub enum Rating {
        /// 满意
        Satisfied = "satisfied" / "满意",
        /// 基本满意
        BasicallySatisfied = "basically_satisfied" / "基本满意",
        /// 不满意
        Unsatisfied = "unsatisfied" / "不满意",
    }
}

impl Rating {
    /// Counts towards the satisfaction rate (satisfied or basically satisfied).
    pub fn content(self) -> bool {
        self != Self::Unsatisfied
    }
}

names! {
    /// The decision on an extension request (延期).
    #[derive(ToSchema)]
    pub enum ExtensionDecision {
        Pending = "pending" / "待审批",
        Granted = "granted" / "已同意",
        Refused = "refused" / "不同意",
    }
}

/// A unit's decision on one opinion, checked before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub state: AdoptionState,
    /// Why it is not adopted (required then, published with the reply).
    pub reason: Option<String>,
    pub reply: Option<String>,
}

impl Decision {
    pub fn parse(state: AdoptionState, reason: Option<&str>, reply: Option<&str>) -> Result<Self, Invalid> {
        let reason = optional("reason", reason, MAX_REASON_CHARS)?;
        let reply = optional("reply", reply, MAX_REPLY_CHARS)?;
        if state == AdoptionState::NotAdopted && reason.is_none() {
            return Err(Invalid::new(
                "reason",
                "暂不采纳 (not adopted) needs a reason, which is published with the reply",
            ));
        }
        Ok(Self { state, reason, reply })
    }

    /// Whether a reply with this decision may be published, or why not.
    pub fn publishable(&self) -> Result<(), Invalid> {
        if !self.state.decided() {
            return Err(Invalid::new(
                "state",
                "decide the adoption state before publishing the reply",
            ));
        }
        if self.reply.is_none() {
            return Err(Invalid::new("reply", "write the reply before publishing it"));
        }
        Ok(())
    }
}

/// Free text typed in for an opinion (offline entries): trimmed, 1–2000 characters.
pub fn opinion_text(s: &str) -> Result<String, Invalid> {
    required("text", s, MAX_OPINION_CHARS)
}

/// A topic (分类) to group opinions by: one line, 1–30 characters.
pub fn topic(s: &str) -> Result<String, Invalid> {
    let t = required("topic", s, MAX_TOPIC_CHARS)?;
    if t.contains('\n') {
        return Err(Invalid::new("topic", "must be one line"));
    }
    Ok(t)
}

/// A reason (transfer, extension, reminder): 1–1000 characters.
pub fn reason(field: &'static str, s: &str) -> Result<String, Invalid> {
    required(field, s, MAX_REASON_CHARS)
}

fn required(field: &'static str, s: &str, max: usize) -> Result<String, Invalid> {
    optional(field, Some(s), max)?.ok_or_else(|| Invalid::new(field, "must not be empty"))
}

fn optional(field: &'static str, s: Option<&str>, max: usize) -> Result<Option<String>, Invalid> {
    let Some(t) = s.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if t.chars().count() > max {
        return Err(Invalid::new(field, format!("must be at most {max} characters")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(Invalid::new(field, "contains control characters"));
    }
    Ok(Some(t.to_owned()))
}

/// The last day an opinion's reply is due: `working_days` after the event
/// ended, or after the opinion was received if that is later (or the event
/// has not ended). `None` when the calendar does not cover the year: never
/// guessed.
pub fn reply_due_date(
    calendar: &WorkingCalendar,
    event_ended_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    working_days: u32,
) -> Option<NaiveDate> {
    let from = event_ended_at.map_or(received_at, |end| end.max(received_at));
    calendar.add_working_days(local_date(from), working_days).ok()
}

/// The state of an opinion's reply deadline.
///
/// `due_date` is `None` when the calendar does not cover the year the
/// deadline falls in (never guessed) — the state is then `calendar_missing`.
pub fn reply_deadline(
    due_date: Option<NaiveDate>,
    published_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> DeadlineState {
    let Some(due) = due_date else {
        return DeadlineState::CalendarMissing;
    };
    let due_at = end_of_local_day(due);
    match published_at {
        Some(at) if at < due_at => DeadlineState::Met,
        Some(_) => DeadlineState::Late,
        None if now < due_at => DeadlineState::Open,
        None => DeadlineState::Overdue,
    }
}

names! {
    /// Why a withheld submission was withheld, as the public sees it: the
    /// category, never the text.
    #[derive(Hash, PartialOrd, Ord, ToSchema)]
    pub enum WithheldCategory {
        /// Refused at once by the sensitive-word screen.
        Screen = "screen" / "敏感词自动拦截",
        /// Rejected by a moderator.
        Moderator = "moderator" / "审核未通过",
        /// Shown, then hidden by a moderator.
        Hidden = "hidden" / "发布后隐藏",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn not_adopted_needs_a_reason() {
        assert!(Decision::parse(AdoptionState::NotAdopted, None, Some("答复")).is_err());
        assert!(Decision::parse(AdoptionState::NotAdopted, Some("  "), Some("答复")).is_err());
        let d = Decision::parse(AdoptionState::NotAdopted, Some("超出职权范围"), Some("答复")).unwrap();
        assert!(d.publishable().is_ok());
    }

    #[test]
    fn only_decided_replies_with_text_publish() {
        let pending = Decision::parse(AdoptionState::Pending, None, Some("答复")).unwrap();
        assert_eq!(pending.publishable().unwrap_err().field, "state");
        let empty = Decision::parse(AdoptionState::Adopted, None, None).unwrap();
        assert_eq!(empty.publishable().unwrap_err().field, "reply");
    }

    #[test]
    fn reply_deadlines_end_at_beijing_midnight() {
        let due = NaiveDate::from_ymd_opt(2024, 10, 21);
        // 2024-10-21 ends at 16:00 UTC.
        assert_eq!(
            reply_deadline(due, Some(at("2024-10-21T15:59:00Z")), at("2024-11-01T00:00:00Z")),
            DeadlineState::Met
        );
        assert_eq!(
            reply_deadline(due, Some(at("2024-10-21T16:00:00Z")), at("2024-11-01T00:00:00Z")),
            DeadlineState::Late
        );
        assert_eq!(
            reply_deadline(due, None, at("2024-10-21T15:00:00Z")),
            DeadlineState::Open
        );
        assert_eq!(
            reply_deadline(due, None, at("2024-10-21T16:00:00Z")),
            DeadlineState::Overdue
        );
        assert_eq!(
            reply_deadline(None, None, at("2024-10-21T16:00:00Z")),
            DeadlineState::CalendarMissing
        );
    }

    #[test]
    fn names_round_trip() {
        for s in AdoptionState::ALL {
            assert_eq!(AdoptionState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(AdoptionState::PartlyAdopted.label(), "部分采纳");
        assert_eq!(Rating::parse("basically_satisfied"), Some(Rating::BasicallySatisfied));
        assert!(topic("交通\n出行").is_err());
        assert!(opinion_text(&"字".repeat(MAX_OPINION_CHARS + 1)).is_err());
    }
}
