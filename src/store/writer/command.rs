//! What the writer is asked to do ([`Command`]) and what it answers
//! ([`Outcome`], [`WriteError`]).

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::ids::{EventId, IdentityId, PollId, PostId, StaffId};
use crate::domain::poll::{Ballot, PollSpec, Tally};
use crate::domain::question::{ModAction, ModerationMode, PostKind, QuestionStatus, RoomChange, ViewerKey};
use crate::store::live::QuestionRecord;
use crate::store::polls::PollRecord;

/// Receives a room's changes after they are committed, in `seq` order.
pub trait ChangeSink: Send + Sync {
    fn committed(&self, seq: i64, change: &RoomChange);
}

/// A question as it enters the store; the caller has screened it and chosen
/// its first status.
#[derive(Debug, Clone)]
pub struct NewQuestion {
    pub event_id: EventId,
    pub viewer: ViewerKey,
    pub nickname: String,
    pub text: String,
    /// The client's request id: a retry with the same one is not a second question.
    pub client_ref: Option<String>,
    pub ip: Option<String>,
    /// A question or a comment.
    pub kind: PostKind,
    pub status: QuestionStatus,
    pub reject_reason: Option<String>,
    /// Sensitive-word hits, as JSON.
    pub hits: serde_json::Value,
    /// The verified identity of the author, if any.
    pub identity: Option<IdentityId>,
    /// Tell the (verified) author when the unit publishes its answer.
    pub notify: bool,
}

#[derive(Debug, Clone)]
pub enum Command {
    Ask(NewQuestion),
    Upvote {
        event_id: EventId,
        question_id: PostId,
        viewer: ViewerKey,
        /// The client's address, kept with the upvote; `per_address` of its
        /// viewer tokens may upvote one question (0: no cap).
        ip: Option<String>,
        per_address: u32,
    },
    Moderate {
        event_id: EventId,
        question_id: PostId,
        action: ModAction,
        staff_id: StaffId,
    },
    Ban {
        event_id: EventId,
        viewer: Option<ViewerKey>,
        ip: Option<String>,
        reason: String,
        /// The end of the ban's term; none: the rest of the event.
        until: Option<DateTime<Utc>>,
        /// In every event (administrators only; checked by the caller).
        permanent: bool,
        staff_id: StaffId,
    },
    /// Lift a ban of the room, or a permanent one when `admin` (it stops
    /// holding at once).
    Unban {
        event_id: EventId,
        ban_id: i64,
        admin: bool,
        staff_id: StaffId,
    },
    Settings {
        event_id: EventId,
        moderation: ModerationMode,
        slow_mode_secs: u32,
        staff_id: StaffId,
    },
    /// The kill switch: pause or resume all interaction of the room.
    Interaction {
        event_id: EventId,
        paused: bool,
        staff_id: StaffId,
    },
    /// Hide every post of the room published at or after `since`.
    Withdraw {
        event_id: EventId,
        since: DateTime<Utc>,
        staff_id: StaffId,
    },
    EventStatus {
        event_id: EventId,
        status: EventStatus,
    },
    CreatePoll {
        event_id: EventId,
        spec: PollSpec,
        staff_id: StaffId,
    },
    /// Open (a draft, or reopen a closed poll) or close a poll.
    SetPollStatus {
        event_id: EventId,
        poll_id: PollId,
        open: bool,
        staff_id: StaffId,
    },
    /// `text_status` and `hits`: the screen's verdict on an open-text answer.
    Vote {
        event_id: EventId,
        poll_id: PollId,
        viewer: ViewerKey,
        ballot: Ballot,
        text_status: Option<&'static str>,
        hits: serde_json::Value,
        /// The client's address, kept with the vote; `per_address` of its
        /// viewer tokens may vote in one poll (0: no cap).
        ip: Option<String>,
        per_address: u32,
    },
    /// Count an open poll's votes and, when its results are live, log the tally.
    PollTally {
        event_id: EventId,
        poll_id: PollId,
    },
    /// Reports and appeals.
    Review(super::reviews::Review),
    /// The text feed (图文直播): post, edit or withdraw an update.
    Update(super::updates::UpdateCommand),
}

/// What a command did (the records boxed: an outcome is moved through the
/// writer's queue and its answer channel, and most outcomes are small).
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `duplicate`: the same request (same `client_ref`) was already stored.
    Asked {
        question: Box<QuestionRecord>,
        duplicate: bool,
    },
    Upvoted {
        question_id: PostId,
        upvotes: i64,
    },
    Moderated {
        before: Box<QuestionRecord>,
        after: Box<QuestionRecord>,
    },
    Banned,
    /// A ban was lifted; `permanent`: it held in every event.
    Unbanned {
        permanent: bool,
    },
    SettingsChanged,
    /// The posts a withdrawal hid, each as it was and as it is.
    Withdrawn {
        posts: Vec<(QuestionRecord, QuestionRecord)>,
    },
    StatusLogged,
    Poll {
        poll: PollRecord,
        tally: Option<Tally>,
    },
    /// `changed`: the viewer had voted before and changed the vote.
    Voted {
        poll_id: PollId,
        changed: bool,
    },
    Tally {
        poll_id: PollId,
        tally: Option<Tally>,
        public: bool,
    },
    /// A report, a resolution, an appeal or its decision: the post as it
    /// was and as it is.
    Reviewed {
        before: Box<QuestionRecord>,
        after: Box<QuestionRecord>,
    },
    /// An update of the text feed as it is now (withdrawn or not).
    Updated {
        update: Box<crate::store::updates::UpdateRow>,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The command was understood and refused (the reason is for the user).
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// Nothing was written; try again later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

pub(super) fn refused(code: ErrorCode, message: impl Into<String>) -> WriteError {
    WriteError::Refused {
        code,
        message: message.into(),
    }
}

/// A queued command; [`Queued::outcome`] waits for its commit.
pub struct Queued {
    answer: oneshot::Receiver<Result<Outcome, WriteError>>,
}

impl Queued {
    pub(super) fn new(answer: oneshot::Receiver<Result<Outcome, WriteError>>) -> Self {
        Self { answer }
    }

    /// The command's outcome, once committed (or refused). A command whose
    /// caller stopped waiting is still done if it starts in time.
    pub async fn outcome(self) -> Result<Outcome, WriteError> {
        match tokio::time::timeout(super::REPLY_TIMEOUT, self.answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(WriteError::Unavailable("the writer has stopped".into())),
            Err(_) => Err(WriteError::Unavailable(
                "the database did not answer in time; the write may not have been saved: send it again".into(),
            )),
        }
    }
}
