//! Live questions and what moderators may do with them, and the public
//! changes of a room (what the room log records, in `seq` order).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::event::EventStatus;
use super::ids::{PollId, PostId, UpdateId};
use super::names::names;
use super::values::Invalid;

/// Longest question or answer text, in characters.
pub const MAX_QUESTION_CHARS: usize = 300;
pub const MAX_ANSWER_CHARS: usize = 2000;
pub const MAX_NICKNAME_CHARS: usize = 20;
pub const MAX_REASON_CHARS: usize = 200;

names! {
    #[derive(Hash)]
    pub enum QuestionStatus {
        /// Waiting for a moderator; seen only by its author and the moderators.
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        /// Approved, then taken down by a moderator.
        Hidden = "hidden",
    }
}

names! {
    /// What a viewer posted: a question for the host, or a comment in the stream.
    #[derive(Default, Hash)]
    pub enum PostKind {
        #[default]
        Question = "question",
        Comment = "comment",
    }
}

names! {
    /// 先审后发 (pre) is the default; post-moderation shows questions at once.
    #[derive(Default)]
    pub enum ModerationMode {
        #[default]
        Pre = "pre",
        Post = "post",
    }
}

/// Trimmed, non-empty text of at most `max` characters without control
/// characters, its invisible format characters stripped (zero-width, bidi
/// overrides: see [`super::screen::strip_invisible`]).
pub(crate) fn bounded_text(field: &'static str, s: &str, max: usize) -> Result<String, Invalid> {
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
        Self(super::random::hex_token::<16>())
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
    pub id: PostId,
    pub nickname: String,
    pub text: String,
    pub upvotes: i64,
    pub answered: bool,
    pub answer: Option<String>,
    pub edited: bool,
    pub created_at: DateTime<Utc>,
}

impl PublicQuestion {
    /// With the personal data in its nickname, text and answer masked (staff
    /// type numbers into answers too): how every viewer sees it.
    pub fn masked(mut self) -> Self {
        mask(&mut self.nickname);
        mask(&mut self.text);
        if let Some(answer) = self.answer.as_mut() {
            mask(answer);
        }
        self
    }
}

/// A comment as every viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicComment {
    pub id: PostId,
    pub nickname: String,
    pub text: String,
    pub edited: bool,
    pub created_at: DateTime<Utc>,
}

impl PublicComment {
    /// With the personal data in its nickname and text masked.
    pub fn masked(mut self) -> Self {
        mask(&mut self.nickname);
        mask(&mut self.text);
        self
    }
}

/// Mask the personal data in `text` in place (left as it is when there is none).
fn mask(text: &mut String) {
    if let std::borrow::Cow::Owned(masked) = super::masking::mask_personal_data(text) {
        *text = masked;
    }
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
        question_id: PostId,
    },
    /// A comment became visible, or a visible one changed (edit).
    Comment {
        comment: PublicComment,
    },
    /// A visible comment was hidden, or promoted to a question.
    CommentRemoved {
        comment_id: PostId,
    },
    /// A poll opened, closed or reopened (with its tally when it may be shown).
    Poll {
        poll: super::poll::PublicPoll,
    },
    /// The live tally of an open poll (coalesced: at most every 250 ms).
    PollResults {
        poll_id: PollId,
        tally: super::poll::Tally,
    },
    Upvotes {
        question_id: PostId,
        upvotes: i64,
    },
    /// The pinned question (none when `null`).
    Pinned {
        question_id: Option<PostId>,
    },
    Settings {
        moderation: ModerationMode,
        slow_mode_secs: u32,
    },
    /// All interaction paused (the kill switch, 即时阻断) or resumed.
    Interaction {
        paused: bool,
    },
    EventStatus {
        status: EventStatus,
    },
    /// An update of the text feed (图文直播) was posted, or edited.
    Update {
        update: super::update::PublicUpdate,
    },
    /// An update was withdrawn.
    UpdateRemoved {
        update_id: UpdateId,
    },
}

/// What the room log names the item of a frame by (its `item_id`): a
/// question or comment by its id, an update of the text feed by its id
/// negated — one column for two id spaces that cannot meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogItem(pub i64);

impl LogItem {
    pub fn post(id: PostId) -> Self {
        Self(id.0)
    }

    pub fn update(id: UpdateId) -> Self {
        Self(-id.0)
    }
}

impl RoomChange {
    /// The question or comment whose public content (nickname, text, answer)
    /// this change carries: the frames a later hide or edit of that item
    /// rewrites. Questions and comments share one id space (a promoted
    /// comment keeps its id), so the id alone names the item.
    pub fn content_of(&self) -> Option<LogItem> {
        match self {
            Self::Question { question } => Some(LogItem::post(question.id)),
            Self::Comment { comment } => Some(LogItem::post(comment.id)),
            Self::Update { update } => Some(LogItem::update(update.id)),
            _ => None,
        }
    }

    /// The item whose earlier frames this change overrides: a new public
    /// state of a question, comment or update, or its removal.
    pub fn supersedes(&self) -> Option<LogItem> {
        match self {
            Self::QuestionRemoved { question_id } => Some(LogItem::post(*question_id)),
            Self::CommentRemoved { comment_id } => Some(LogItem::post(*comment_id)),
            Self::UpdateRemoved { update_id } => Some(LogItem::update(*update_id)),
            _ => self.content_of(),
        }
    }

    /// This change with the personal data in its public text masked (a
    /// nickname, a text, an answer): what the store publishes, and how a
    /// frame logged before masking existed is replayed. Masking is
    /// idempotent, so a frame masked already reads the same.
    pub fn masked(self) -> Self {
        match self {
            Self::Question { question } => Self::Question {
                question: question.masked(),
            },
            Self::Comment { comment } => Self::Comment {
                comment: comment.masked(),
            },
            Self::Update { update } => Self::Update {
                update: update.masked(),
            },
            other => other,
        }
    }

    /// Whether `later`, a change about this frame's item, changes more of
    /// what the frame shows than its answer: a removal, or another nickname,
    /// text or edited mark. The store writes such a change into the item's
    /// earlier frames at once (a hidden or edited text must be gone from the
    /// stored record); an answer given again is applied as the log is read.
    pub fn rewrites_text(&self, later: &RoomChange) -> bool {
        fn shown(change: &RoomChange) -> Option<(&str, &str, bool)> {
            match change {
                RoomChange::Question { question: q } => Some((&q.nickname, &q.text, q.edited)),
                RoomChange::Comment { comment: c } => Some((&c.nickname, &c.text, c.edited)),
                RoomChange::Update { update: u } => Some(("", &u.text, u.edited)),
                _ => None,
            }
        }
        shown(self) != shown(later)
    }

    /// How this change, logged earlier, reads once `later` (a change about
    /// the same item) is logged; `None` when it stays as it is.
    ///
    /// The log is the public record, replayed to every client that resumes
    /// or starts from `last_seq: 0`: once an item is hidden (or a comment
    /// promoted), its earlier content frames become the matching removal, so
    /// the text is gone from every replay; once it is edited or answered
    /// again, they carry its current nickname, text and answer (each frame
    /// keeps its own upvotes and whether it was answered then).
    pub fn redacted_by(&self, later: &RoomChange) -> Option<RoomChange> {
        let item = self.content_of()?;
        if later.supersedes() != Some(item) {
            return None;
        }
        let redacted = match (self, later) {
            (Self::Question { question }, Self::QuestionRemoved { .. } | Self::CommentRemoved { .. }) => {
                Self::QuestionRemoved {
                    question_id: question.id,
                }
            }
            (Self::Comment { comment }, Self::QuestionRemoved { .. } | Self::CommentRemoved { .. }) => {
                Self::CommentRemoved { comment_id: comment.id }
            }
            (Self::Update { update }, Self::UpdateRemoved { .. }) => Self::UpdateRemoved { update_id: update.id },
            (Self::Update { update }, Self::Update { update: now }) => Self::Update {
                update: super::update::PublicUpdate {
                    text: now.text.clone(),
                    image_id: now.image_id,
                    image_width: now.image_width,
                    image_height: now.image_height,
                    edited: now.edited,
                    ..update.clone()
                },
            },
            (Self::Question { question }, Self::Question { question: now }) => Self::Question {
                question: PublicQuestion {
                    nickname: now.nickname.clone(),
                    text: now.text.clone(),
                    edited: now.edited,
                    // An answer given since stays out of a frame from before it.
                    answer: question.answer.as_ref().and(now.answer.clone()),
                    ..question.clone()
                },
            },
            (Self::Question { question }, Self::Comment { comment: now }) => Self::Question {
                question: PublicQuestion {
                    nickname: now.nickname.clone(),
                    text: now.text.clone(),
                    edited: now.edited,
                    ..question.clone()
                },
            },
            (Self::Comment { comment }, Self::Comment { comment: now }) => Self::Comment {
                comment: PublicComment {
                    nickname: now.nickname.clone(),
                    text: now.text.clone(),
                    edited: now.edited,
                    ..comment.clone()
                },
            },
            (Self::Comment { comment }, Self::Question { question: now }) => Self::Comment {
                comment: PublicComment {
                    nickname: now.nickname.clone(),
                    text: now.text.clone(),
                    edited: now.edited,
                    ..comment.clone()
                },
            },
            _ => return None,
        };
        (redacted != *self).then_some(redacted)
    }
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

    fn published(id: PostId, text: &str, answer: Option<&str>) -> RoomChange {
        RoomChange::Question {
            question: PublicQuestion {
                id,
                nickname: "张三".into(),
                text: text.into(),
                upvotes: 2,
                answered: answer.is_some(),
                answer: answer.map(Into::into),
                edited: false,
                created_at: DateTime::<Utc>::UNIX_EPOCH,
            },
        }
    }

    #[test]
    fn a_hide_or_an_edit_redacts_the_earlier_frames_of_that_item_only() {
        let first = published(PostId(7), "我的电话13812345678", None);
        assert_eq!(first.content_of(), Some(LogItem::post(PostId(7))));
        // Hidden: the earlier frame becomes the removal.
        let hide = RoomChange::QuestionRemoved { question_id: PostId(7) };
        assert_eq!(
            first.redacted_by(&hide),
            Some(RoomChange::QuestionRemoved { question_id: PostId(7) })
        );
        // Another item, or a change without content, leaves it alone.
        assert_eq!(
            first.redacted_by(&RoomChange::QuestionRemoved { question_id: PostId(8) }),
            None
        );
        assert_eq!(
            first.redacted_by(&RoomChange::Upvotes {
                question_id: PostId(7),
                upvotes: 9
            }),
            None
        );
        assert_eq!(hide.redacted_by(&first), None, "a removal carries no text");
        // Edited and answered: the text follows, the answer only where there was one.
        let mut edited = published(PostId(7), "我的电话***", Some("已答复"));
        if let RoomChange::Question { question } = &mut edited {
            question.edited = true;
            question.upvotes = 40;
        }
        let Some(RoomChange::Question { question }) = first.redacted_by(&edited) else {
            panic!("rewritten")
        };
        assert_eq!(question.text, "我的电话***");
        assert!(question.edited);
        assert_eq!(question.answer, None, "no answer yet at that seq");
        assert_eq!(question.upvotes, 2, "each frame keeps its own count");
        assert_eq!(edited.redacted_by(&edited), None, "nothing to change");
        // A comment: hidden or promoted, its frames become comment removals.
        let comment = RoomChange::Comment {
            comment: PublicComment {
                id: PostId(9),
                nickname: "李四".into(),
                text: "身份证110101199001011234".into(),
                edited: false,
                created_at: DateTime::<Utc>::UNIX_EPOCH,
            },
        };
        assert_eq!(
            comment.redacted_by(&RoomChange::CommentRemoved { comment_id: PostId(9) }),
            Some(RoomChange::CommentRemoved { comment_id: PostId(9) })
        );
    }

    #[test]
    fn changes_serialize_with_their_type() {
        let c = RoomChange::Upvotes {
            question_id: PostId(3),
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
