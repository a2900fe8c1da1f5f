//! Reports and appeals (举报受理): a viewer reports a published post with a
//! reason from a fixed list; enough distinct reporters hide it pending a
//! moderator's review. The asker of a rejected question may appeal once.
//! Both are due on the working-day calendar and show overdue past it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::names::names;
use super::question::bounded_text;
use super::values::Invalid;

names! {
    /// Why a viewer reports a post (the list the regulations name).
    #[derive(Hash, ToSchema)]
    pub enum ReportReason {
        Illegal = "illegal" / "违法违规",
        Privacy = "privacy" / "侵犯隐私",
        Advertising = "advertising" / "广告",
        Abuse = "abuse" / "辱骂",
        Other = "other" / "其他",
    }
}

names! {
    /// How a moderator resolved the reports of a post.
    #[derive(Hash, ToSchema)]
    pub enum ReportOutcome {
        /// The post stays (or comes back, when the reports had hidden it).
        Kept = "kept" / "保留",
        Hidden = "hidden" / "隐藏",
    }
}

names! {
    #[derive(Hash, ToSchema)]
    pub enum AppealStatus {
        Open = "open" / "待处理",
        /// The rejection was wrong: the question is published.
        Upheld = "upheld" / "申诉成立",
        /// The rejection stands.
        Dismissed = "dismissed" / "维持原决定",
    }
}

/// Distinct reporters that hide a post at once, pending review.
pub const DEFAULT_REPORT_THRESHOLD: u32 = 3;
/// Working days within which a report is handled.
pub const DEFAULT_REPORT_DUE_WORKING_DAYS: u32 = 1;
/// Working days within which an appeal is decided.
pub const DEFAULT_APPEAL_DUE_WORKING_DAYS: u32 = 3;
/// The longest appeal or reply.
pub const MAX_APPEAL_CHARS: usize = 200;

/// An asker's appeal of a rejected question, and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Appeal {
    pub text: String,
    pub status: AppealStatus,
    /// The moderator's or unit's answer to the asker.
    pub reply: Option<String>,
    pub at: DateTime<Utc>,
    /// `None` when the calendar does not cover the due date's year (never guessed).
    pub due_on: Option<NaiveDate>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// An appeal's or a reply's text: 1–200 characters.
pub fn appeal_text(field: &'static str, s: &str) -> Result<String, Invalid> {
    bounded_text(field, s, MAX_APPEAL_CHARS)
}

/// Whether something due on `due_on` and not yet handled is late on `today` (Beijing date).
pub fn overdue(due_on: Option<NaiveDate>, today: NaiveDate) -> bool {
    due_on.is_some_and(|due| today > due)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appeal_texts_are_bounded_and_not_blank() {
        assert!(appeal_text("text", "  ").is_err());
        assert!(appeal_text("text", &"长".repeat(201)).is_err());
        assert_eq!(appeal_text("text", " 我的问题没有违规 ").unwrap(), "我的问题没有违规");
    }

    #[test]
    fn late_only_after_the_due_day() {
        let due = NaiveDate::from_ymd_opt(2024, 10, 8);
        assert!(!overdue(due, NaiveDate::from_ymd_opt(2024, 10, 8).unwrap()));
        assert!(overdue(due, NaiveDate::from_ymd_opt(2024, 10, 9).unwrap()));
        assert!(!overdue(None, NaiveDate::from_ymd_opt(2030, 1, 1).unwrap()));
        assert_eq!(ReportReason::Privacy.label(), "侵犯隐私");
    }
}
