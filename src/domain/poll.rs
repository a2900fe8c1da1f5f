//! Polls in a live room: what may be asked, what a ballot may hold, and the
//! results everyone sees.

use serde::{Deserialize, Serialize};

use super::error_code::ErrorCode;
use super::ids::PollId;
use super::names::names;
use super::values::Invalid;

pub const MAX_OPTIONS: usize = 20;
pub const MAX_OPTION_CHARS: usize = 100;
pub const MAX_TITLE_CHARS: usize = 200;
/// Open-text answers are short: they are shown as a word cloud.
pub const MAX_TEXT_ANSWER_CHARS: usize = 30;
/// Words shown in an open-text poll's cloud.
pub const CLOUD_SIZE: usize = 50;

names! {
    pub enum PollKind {
        SingleChoice = "single_choice",
        MultipleChoice = "multiple_choice",
        /// 1 to 5.
        Rating = "rating",
        /// A short free answer, shown as a word cloud once screened.
        OpenText = "open_text",
    }
}

names! {
    #[derive(Default)]
    pub enum ResultsVisibility {
        /// Everyone sees the tally while the poll is open.
        #[default]
        Live = "live",
        /// Results are shown when the poll closes (staff see them live).
        AfterClose = "after_close",
    }
}

names! {
    pub enum PollStatus {
        Draft = "draft",
        Open = "open",
        Closed = "closed",
    }
}

/// A poll as prepared by a moderator or host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollSpec {
    pub kind: PollKind,
    pub title: String,
    /// Choice polls only.
    pub options: Vec<String>,
    /// Multiple choice: how many options a ballot may hold (1 for the others).
    pub max_choices: u32,
    /// Whether a viewer may change their vote while the poll is open.
    pub allow_change: bool,
    pub results: ResultsVisibility,
}

impl PollSpec {
    /// Checked and tidied: trimmed texts, the right number of options.
    pub fn parse(
        kind: PollKind,
        title: &str,
        options: Vec<String>,
        max_choices: Option<u32>,
        allow_change: bool,
        results: ResultsVisibility,
    ) -> Result<Self, Invalid> {
        let title = title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(Invalid::new(
                "title",
                format!("must be 1 to {MAX_TITLE_CHARS} characters"),
            ));
        }
        let options: Vec<String> = options.iter().map(|o| o.trim().to_owned()).collect();
        let choice = matches!(kind, PollKind::SingleChoice | PollKind::MultipleChoice);
        if choice {
            if !(2..=MAX_OPTIONS).contains(&options.len()) {
                return Err(Invalid::new(
                    "options",
                    format!("a choice poll has 2 to {MAX_OPTIONS} options"),
                ));
            }
            if options
                .iter()
                .any(|o| o.is_empty() || o.chars().count() > MAX_OPTION_CHARS)
            {
                return Err(Invalid::new(
                    "options",
                    format!("each option is 1 to {MAX_OPTION_CHARS} characters"),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            if !options.iter().all(|o| seen.insert(o.as_str())) {
                return Err(Invalid::new("options", "options must differ"));
            }
        } else if !options.is_empty() {
            return Err(Invalid::new("options", "only choice polls have options"));
        }
        let max_choices = match kind {
            PollKind::MultipleChoice => {
                let m = max_choices.unwrap_or(options.len() as u32);
                if m < 1 || m as usize > options.len() {
                    return Err(Invalid::new("max_choices", format!("must be 1 to {}", options.len())));
                }
                m
            }
            _ => 1,
        };
        Ok(Self {
            kind,
            title: title.to_owned(),
            options,
            max_choices,
            allow_change,
            results,
        })
    }

    /// The ballot as stored: option indices (ratings as their value), or a text.
    pub fn check(&self, ballot: Ballot) -> Result<CheckedBallot, BallotError> {
        match (self.kind, ballot) {
            (PollKind::SingleChoice | PollKind::MultipleChoice, Ballot::Choices(mut choices)) => {
                choices.sort_unstable();
                choices.dedup();
                if choices.is_empty() {
                    return Err(BallotError::new(ErrorCode::InvalidVote, "choose at least one option"));
                }
                if let Some(bad) = choices.iter().find(|c| **c as usize >= self.options.len()) {
                    return Err(BallotError::new(
                        ErrorCode::InvalidOption,
                        format!("option {bad} does not exist"),
                    ));
                }
                if choices.len() > self.max_choices as usize {
                    let max = self.max_choices;
                    return Err(BallotError::new(
                        ErrorCode::TooManyChoices,
                        format!("at most {max} options may be chosen"),
                    ));
                }
                Ok(CheckedBallot::Choices(choices))
            }
            (PollKind::Rating, Ballot::Rating(r)) if (1..=5).contains(&r) => {
                Ok(CheckedBallot::Choices(vec![u32::from(r)]))
            }
            (PollKind::Rating, Ballot::Rating(_)) => {
                Err(BallotError::new(ErrorCode::InvalidOption, "a rating is 1 to 5"))
            }
            (PollKind::OpenText, Ballot::Text(t)) => {
                let stripped = super::screen::strip_invisible(&t);
                let t = stripped.trim();
                let n = t.chars().count();
                if n == 0 || n > MAX_TEXT_ANSWER_CHARS || t.chars().any(char::is_control) {
                    let msg = format!("an answer is 1 to {MAX_TEXT_ANSWER_CHARS} characters on one line");
                    return Err(BallotError::new(ErrorCode::InvalidVote, msg));
                }
                Ok(CheckedBallot::Text(t.to_owned()))
            }
            (kind, _) => Err(BallotError::new(
                ErrorCode::InvalidVote,
                format!("this is a {} poll", kind.as_str()),
            )),
        }
    }
}

/// What a viewer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ballot {
    Choices(Vec<u32>),
    Rating(u8),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckedBallot {
    Choices(Vec<u32>),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BallotError {
    pub code: ErrorCode,
    pub message: String,
}

impl BallotError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// A poll's results, computed from the stored votes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Viewers who voted.
    pub voters: i64,
    /// Choice polls: votes per option, in option order. Ratings: votes for 1..=5.
    pub counts: Vec<i64>,
    /// Ratings: the mean.
    pub average: Option<f64>,
    /// Open text: the most frequent screened answers.
    pub words: Vec<WordCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordCount {
    pub text: String,
    pub count: i64,
}

/// A poll as the room sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicPoll {
    pub id: PollId,
    #[serde(flatten)]
    pub spec: PollSpec,
    pub status: PollStatus,
    /// Present when the results may be shown (live, or closed).
    pub tally: Option<Tally>,
}

impl PublicPoll {
    pub fn results_public(&self) -> bool {
        self.spec.results == ResultsVisibility::Live || self.status == PollStatus::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: PollKind, options: &[&str], max: Option<u32>) -> Result<PollSpec, Invalid> {
        PollSpec::parse(
            kind,
            "您最关心哪项政策？",
            options.iter().map(|s| s.to_string()).collect(),
            max,
            true,
            ResultsVisibility::Live,
        )
    }

    #[test]
    fn specs_are_checked() {
        assert!(spec(PollKind::SingleChoice, &["社保"], None).is_err());
        assert!(spec(PollKind::SingleChoice, &["社保", "社保"], None).is_err());
        assert!(spec(PollKind::Rating, &["x"], None).is_err());
        assert!(spec(PollKind::MultipleChoice, &["a", "b", "c"], Some(4)).is_err());
        assert_eq!(
            spec(PollKind::MultipleChoice, &["a", "b", "c"], None)
                .unwrap()
                .max_choices,
            3
        );
        assert_eq!(
            spec(PollKind::SingleChoice, &["a", "b"], Some(2)).unwrap().max_choices,
            1
        );
        assert!(PollSpec::parse(PollKind::Rating, " ", vec![], None, true, ResultsVisibility::Live).is_err());
    }

    #[test]
    fn ballots_are_checked() {
        let multi = spec(PollKind::MultipleChoice, &["a", "b", "c"], Some(2)).unwrap();
        assert_eq!(
            multi.check(Ballot::Choices(vec![2, 0, 2])),
            Ok(CheckedBallot::Choices(vec![0, 2]))
        );
        assert_eq!(
            multi.check(Ballot::Choices(vec![0, 1, 2])).unwrap_err().code,
            ErrorCode::TooManyChoices
        );
        assert_eq!(
            multi.check(Ballot::Choices(vec![3])).unwrap_err().code,
            ErrorCode::InvalidOption
        );
        assert_eq!(
            multi.check(Ballot::Choices(vec![])).unwrap_err().code,
            ErrorCode::InvalidVote
        );
        assert_eq!(multi.check(Ballot::Rating(3)).unwrap_err().code, ErrorCode::InvalidVote);
        let rating = spec(PollKind::Rating, &[], None).unwrap();
        assert_eq!(rating.check(Ballot::Rating(5)), Ok(CheckedBallot::Choices(vec![5])));
        assert_eq!(
            rating.check(Ballot::Rating(6)).unwrap_err().code,
            ErrorCode::InvalidOption
        );
        let text = spec(PollKind::OpenText, &[], None).unwrap();
        assert_eq!(
            text.check(Ballot::Text(" 便民 ".into())),
            Ok(CheckedBallot::Text("便民".into()))
        );
        assert!(text.check(Ballot::Text("长".repeat(31))).is_err());
    }
}
