//! Live questions and what moderators may do with them, and the public
//! changes of a room (what the room log records, in `seq` order).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::event::EventStatus;
use super::values::Invalid;

/// Longest question or answer text, in characters.
pub const MAX_QUESTION_CHARS: usize = 300;
pub const MAX_ANSWER_CHARS: usize = 2000;
pub const MAX_NICKNAME_CHARS: usize = 20;
pub const MAX_REASON_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionStatus {
    /// Waiting for a moderator; seen only by its author and the moderators.
    Pending,
    Approved,
    Rejected,
    /// Approved, then taken down by a moderator.
    Hidden,
}

impl QuestionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Hidden => "hidden",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected, Self::Hidden]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// What a viewer posted: a question for the host, or a comment in the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostKind {
    #[default]
    Question,
    Comment,
}

impl PostKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Question => "question",
            Self::Comment => "comment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Question, Self::Comment].into_iter().find(|v| v.as_str() == s)
    }
}

/// 先审后发 (pre) is the default; post-moderation shows questions at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModerationMode {
    #[default]
    Pre,
    Post,
}

impl ModerationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pre => "pre",
            Self::Post => "post",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pre, Self::Post].into_iter().find(|v| v.as_str() == s)
    }
}

/// Trimmed, non-empty text of at most `max` characters without control
/// characters, its invisible format characters stripped (zero-width, bidi
/// overrides: see [`super::screen::strip_invisible`]).
fn bounded_text(field: &'static str, s: &str, max: usize) -> Result<String, Invalid> {
    let stripped = super::screen::strip_invisible(s);
    let t = stripped.trim();
    if t.is_empty() {
        return Err(Invalid::new(field, "must not be empty or only spaces"));
    }
    let n = t.chars().count();
    if n > max {
        return Err(Invalid::new(
            field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new(field, "contains control characters"));
    }
    Ok(t.to_owned())
}

/// A question's text as a viewer may post it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionText(String);

impl QuestionText {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        bounded_text("text", s, MAX_QUESTION_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A host's answer, a moderator's edit or reason.
pub fn answer_text(s: &str) -> Result<String, Invalid> {
    bounded_text("answer", s, MAX_ANSWER_CHARS)
}

pub fn reason_text(s: &str) -> Result<String, Invalid> {
    bounded_text("reason", s, MAX_REASON_CHARS)
}

/// The name a viewer shows; `网友` when they pick none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nickname(String);

impl Nickname {
    pub fn parse(s: Option<&str>) -> Result<Self, Invalid> {
        let stripped = s.map(super::screen::strip_invisible);
        match stripped.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(Self("网友".to_owned())),
            Some(n) => {
                let n = bounded_text("nickname", n, MAX_NICKNAME_CHARS)?;
                if n.contains('\n') {
                    return Err(Invalid::new("nickname", "must be one line"));
                }
                Ok(Self(n))
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The anonymous token a viewer keeps (32 lowercase hex characters).
#[derive(Clone, PartialEq, Eq)]
pub struct ViewerToken(String);

impl ViewerToken {
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(s.to_owned()))
    }

    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The public handle of this viewer: moderators see and ban it, nobody
    /// can turn it back into the token.
    pub fn key(&self) -> ViewerKey {
        let digest = Sha256::digest(self.0.as_bytes());
        ViewerKey(digest[..8].iter().map(|b| format!("{b:02x}")).collect())
    }
}

impl std::fmt::Debug for ViewerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewerToken(<redacted>)")
    }
}

/// A viewer's public handle (16 hex characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ViewerKey(pub String);

impl ViewerKey {
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(s.to_owned()))
    }
}

/// What a moderator (or host) does to one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModAction {
    Approve,
    Reject {
        reason: String,
    },
    /// Fix obvious typos; the original text is kept.
    Edit {
        text: String,
    },
    Pin,
    Unpin,
    /// Mark answered, optionally attaching the host's answer text.
    Answer {
        text: Option<String>,
    },
    Hide,
    /// Turn a comment into a question (for the host to answer).
    Promote,
}

impl ModAction {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject { .. } => "reject",
            Self::Edit { .. } => "edit",
            Self::Pin => "pin",
            Self::Unpin => "unpin",
            Self::Answer { .. } => "answer",
            Self::Hide => "hide",
            Self::Promote => "promote",
        }
    }

    /// The status after the action, or why it cannot be done now.
    pub fn next_status(&self, from: QuestionStatus) -> Result<QuestionStatus, String> {
        use QuestionStatus::*;
        let ok = match (self, from) {
            (Self::Approve, Pending | Hidden) => Approved,
            (Self::Reject { .. }, Pending) => Rejected,
            (Self::Edit { .. }, Pending | Approved) => from,
            (Self::Pin | Self::Unpin | Self::Answer { .. }, Approved) => Approved,
            (Self::Hide, Approved) => Hidden,
            (Self::Promote, Pending | Approved) => from,
            _ => {
                return Err(format!(
                    "a {} question cannot be given `{}`",
                    from.as_str(),
                    self.name()
                ));
            }
        };
        Ok(ok)
    }
}

/// A question as every viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicQuestion {
    pub id: i64,
    pub nickname: String,
    pub text: String,
    pub upvotes: i64,
    pub answered: bool,
    pub answer: Option<String>,
    pub edited: bool,
    pub created_at: DateTime<Utc>,
}

/// A comment as every viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicComment {
    pub id: i64,
    pub nickname: String,
    pub text: String,
    pub edited: bool,
    pub created_at: DateTime<Utc>,
}

/// One change to a room's public state; the room log keeps them in `seq` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RoomChange {
    /// A question became visible, or a visible one changed (edit, answer).
    Question {
        question: PublicQuestion,
    },
    /// A visible question was hidden.
    QuestionRemoved {
        question_id: i64,
    },
    /// A comment became visible, or a visible one changed (edit).
    Comment {
        comment: PublicComment,
    },
    /// A visible comment was hidden, or promoted to a question.
    CommentRemoved {
        comment_id: i64,
    },
    /// A poll opened, closed or reopened (with its tally when it may be shown).
    Poll {
        poll: super::poll::PublicPoll,
    },
    /// The live tally of an open poll (coalesced: at most every 250 ms).
    PollResults {
        poll_id: i64,
        tally: super::poll::Tally,
    },
    Upvotes {
        question_id: i64,
        upvotes: i64,
    },
    /// The pinned question (none when `null`).
    Pinned {
        question_id: Option<i64>,
    },
    Settings {
        moderation: ModerationMode,
        slow_mode_secs: u32,
    },
    EventStatus {
        status: EventStatus,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_checked() {
        assert!(QuestionText::parse("   ").is_err());
        assert!(QuestionText::parse(&"问".repeat(301)).is_err());
        assert_eq!(
            QuestionText::parse("  社保卡怎么补办？ ").unwrap().as_str(),
            "社保卡怎么补办？"
        );
        assert!(QuestionText::parse("a\u{0}b").is_err());
        assert_eq!(Nickname::parse(None).unwrap().as_str(), "网友");
        assert!(Nickname::parse(Some(&"名".repeat(21))).is_err());
        assert_eq!(Nickname::parse(Some("\u{200B}\u{202E}")).unwrap().as_str(), "网友");
        assert_eq!(Nickname::parse(Some("张\u{202E}三")).unwrap().as_str(), "张三");
        assert_eq!(QuestionText::parse("社\u{200B}保").unwrap().as_str(), "社保");
    }

    #[test]
    fn tokens_and_keys() {
        let t = ViewerToken::generate();
        assert!(ViewerToken::parse(t.expose()).is_some());
        assert!(ViewerToken::parse("XYZ").is_none());
        assert_eq!(t.key().0.len(), 16);
        assert_eq!(t.key(), t.key());
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn moderation_moves() {
        use QuestionStatus::*;
        assert_eq!(ModAction::Approve.next_status(Pending), Ok(Approved));
        assert_eq!(ModAction::Approve.next_status(Hidden), Ok(Approved));
        assert!(ModAction::Approve.next_status(Rejected).is_err());
        assert!(ModAction::Reject { reason: "x".into() }.next_status(Approved).is_err());
        assert_eq!(ModAction::Hide.next_status(Approved), Ok(Hidden));
        assert!(ModAction::Pin.next_status(Pending).is_err());
        assert_eq!(ModAction::Edit { text: "t".into() }.next_status(Pending), Ok(Pending));
    }

    #[test]
    fn changes_serialize_with_their_type() {
        let c = RoomChange::Upvotes {
            question_id: 3,
            upvotes: 7,
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"type":"upvotes","question_id":3,"upvotes":7}"#
        );
        let back: RoomChange = serde_json::from_str(r#"{"type":"pinned","question_id":null}"#).unwrap();
        assert_eq!(back, RoomChange::Pinned { question_id: None });
    }
}
