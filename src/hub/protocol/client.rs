//! What clients send: the envelope with its `ref`, and every message a
//! viewer or a member of staff may send (`docs/protocol.md`, "Client messages").

use serde::Deserialize;

use crate::domain::ids::{PollId, PostId};
use crate::domain::poll::{PollKind, ResultsVisibility};
use crate::domain::question::ModerationMode;
use crate::domain::report::{ReportOutcome, ReportReason};

/// A client frame: an optional `ref` and the message.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(rename = "ref", default)]
    pub reference: Option<String>,
    #[serde(flatten)]
    pub message: ClientMsg,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// The first frame of every connection.
    Hello {
        protocol: u32,
        /// The anonymous token from an earlier `welcome`, to stay the same viewer.
        viewer_token: Option<String>,
        nickname: Option<String>,
        /// A staff session token (or the session cookie on the upgrade request).
        session: Option<String>,
        /// The last `seq` this client saw, to resume.
        last_seq: Option<i64>,
        /// The browser's verification token (from `POST /api/verification`).
        verification: Option<String>,
    },
    Ask {
        text: String,
        /// A verified asker is told by text message when the unit publishes
        /// its answer; `false` opts out. Default `true`.
        notify: Option<bool>,
    },
    /// Report a published question or comment (once per viewer and post).
    Report {
        post_id: PostId,
        reason: ReportReason,
    },
    /// Moderators: resolve every open report of a post.
    ResolveReports {
        post_id: PostId,
        outcome: ReportOutcome,
    },
    /// The author of a rejected question or comment appeals, once.
    Appeal {
        question_id: PostId,
        text: String,
    },
    /// Moderators: decide an open appeal (upheld publishes the post).
    DecideAppeal {
        question_id: PostId,
        upheld: bool,
        reply: String,
    },
    /// A comment in the running stream beside the video.
    Comment {
        text: String,
        /// As for `ask`.
        notify: Option<bool>,
    },
    Upvote {
        question_id: PostId,
    },
    Approve {
        question_id: PostId,
    },
    Reject {
        question_id: PostId,
        reason: String,
    },
    Edit {
        question_id: PostId,
        text: String,
    },
    Pin {
        question_id: PostId,
    },
    Unpin {
        question_id: PostId,
    },
    /// Mark answered; `text` attaches the host's answer.
    Answer {
        question_id: PostId,
        text: Option<String>,
    },
    Hide {
        question_id: PostId,
    },
    /// Turn a comment (by its id) into a question.
    Promote {
        question_id: PostId,
    },
    /// Ban the viewer with this public key (and, by default, their address) from the event.
    Ban {
        viewer: String,
        reason: String,
        #[serde(default = "yes")]
        include_address: bool,
        /// 10, 60 or 1440 minutes; none: the rest of the event.
        #[serde(default)]
        minutes: Option<u32>,
        /// In every event, with no end (administrators only).
        #[serde(default)]
        permanent: bool,
    },
    /// Lift a ban (its id from `GET /api/events/{id}/bans`).
    Unban {
        ban_id: i64,
    },
    SetSlowMode {
        seconds: u32,
    },
    SetModeration {
        mode: ModerationMode,
    },
    /// The kill switch: pause all interaction of the room, or resume it.
    SetInteraction {
        paused: bool,
    },
    /// Hide every post published in the last `minutes` (1–60).
    WithdrawRecent {
        minutes: u32,
    },
    Ping,
    /// Prepare a poll (a draft until opened). Hosts and moderators.
    CreatePoll {
        kind: PollKind,
        title: String,
        #[serde(default)]
        options: Vec<String>,
        max_choices: Option<u32>,
        #[serde(default = "yes")]
        allow_change: bool,
        #[serde(default)]
        results: ResultsVisibility,
    },
    /// Open a draft, or reopen a closed poll.
    OpenPoll {
        poll_id: PollId,
    },
    ClosePoll {
        poll_id: PollId,
    },
    /// A vote: `choices` (option indices from 0), `rating` (1–5) or `text`, by the poll's kind.
    Vote {
        poll_id: PollId,
        choices: Option<Vec<u32>>,
        rating: Option<u8>,
        text: Option<String>,
    },
}

fn yes() -> bool {
    true
}
