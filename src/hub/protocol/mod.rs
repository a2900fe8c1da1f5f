//! The wire protocol of a live room (`docs/protocol.md` is its description).
//!
//! JSON text frames tagged with `type`. Every client message may carry a
//! `ref` (any string up to 64 characters) that the answer to it echoes.
//! Public messages carry the room's `seq`; a client keeps the last one and
//! sends it in `hello` to resume.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::identity::IdentityMode;
use crate::domain::ids::{EventId, PollId, PostId, StaffId};
use crate::domain::poll::Tally;
use crate::domain::question::{PostKind, QuestionStatus, RoomChange};
use crate::store::live::{PostAuthor, PublicRoom, QuestionRecord};
use crate::store::polls::{OwnVote, PollRecord};
use crate::store::reviews::ReportedPost;

pub const PROTOCOL_VERSION: u32 = 1;
pub const MAX_REF_CHARS: usize = 64;

mod client;
pub use client::{ClientMsg, Envelope};

/// A question as its author sees it.
#[derive(Debug, Clone, Serialize)]
pub struct OwnQuestion {
    /// The author's appeal of a rejection and its outcome, once appealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub appeal: Option<crate::domain::report::Appeal>,
    pub id: PostId,
    pub kind: PostKind,
    pub text: String,
    pub status: QuestionStatus,
    pub reject_reason: Option<String>,
    pub answered: bool,
    pub answer: Option<String>,
    pub upvotes: i64,
    pub created_at: DateTime<Utc>,
}

impl From<&QuestionRecord> for OwnQuestion {
    fn from(q: &QuestionRecord) -> Self {
        Self {
            id: q.id,
            kind: q.kind,
            text: q.text.clone(),
            status: q.status,
            reject_reason: q.reject_reason.clone(),
            answered: q.answered,
            answer: q.answer.clone(),
            upvotes: q.upvotes,
            created_at: q.created_at,
            appeal: q.appeal.as_deref().cloned(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ViewerInfo<'a> {
    /// Keep it (e.g. in localStorage) and send it in `hello` to stay the same viewer.
    pub token: &'a str,
    /// Public handle (what moderators see and ban).
    pub key: &'a str,
    pub nickname: &'a str,
    /// Whether this browser holds a verification (a verified mobile number).
    pub verified: bool,
    /// The verified number, masked (`138****5678`); only to this viewer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct StaffInfo<'a> {
    pub id: StaffId,
    pub display_name: &'a str,
    pub role: &'a str,
}

/// What a connection may do, from its role on this event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Watch, ask, upvote.
    Viewer,
    /// Watch; pin and answer questions.
    Host,
    /// Everything: screen, edit, pin, answer, hide, ban, room settings.
    Moderator,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg<'a> {
    Welcome {
        protocol: u32,
        event_id: EventId,
        capability: Capability,
        /// Who may take part: `verified` viewers only, or anyone (`open`).
        identity: IdentityMode,
        #[serde(skip_serializing_if = "Option::is_none")]
        viewer: Option<ViewerInfo<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        staff: Option<StaffInfo<'a>>,
        /// `snapshot` (a snapshot follows) or `replay` (the missed messages follow).
        start: &'a str,
        /// The room's seq at this point.
        seq: i64,
    },
    Snapshot {
        seq: i64,
        status: EventStatus,
        viewers: usize,
        /// Settings, published questions and comments, polls.
        #[serde(flatten)]
        room: &'a PublicRoom,
        /// This viewer's own questions, any status.
        mine: &'a [OwnQuestion],
        /// Ids this viewer has upvoted.
        upvoted: &'a [PostId],
        /// This viewer's votes.
        my_votes: &'a [OwnVote],
    },
    /// Moderators and hosts: every poll of the event, drafts included.
    Polls { polls: &'a [PollRecord] },
    /// Moderators and hosts: a poll was created or changed, or its tally (also when hidden from the public).
    PollAdmin {
        poll: Option<&'a PollRecord>,
        poll_id: PollId,
        #[serde(skip_serializing_if = "Option::is_none")]
        tally: Option<&'a Tally>,
    },
    /// Moderators and hosts: pending questions and recently rejected or hidden ones.
    Queue { questions: &'a [QuestionRecord] },
    /// Moderators and hosts: a question arrived or changed.
    Moderation { question: &'a QuestionRecord },
    /// Moderators and hosts, after the queue: every reported post (open reports first).
    Reports { reports: &'a [ReportedPost] },
    /// Moderators and hosts: a post was reported, or its reports resolved.
    Report { report: &'a ReportedPost },
    /// Moderators and hosts, after the queue: the author (viewer key) of every
    /// published question and of the latest published comments.
    Authors { authors: &'a [PostAuthor] },
    /// The request `ref` was committed.
    Ack {
        #[serde(rename = "ref")]
        reference: Option<&'a str>,
        action: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        question: Option<OwnQuestion>,
        #[serde(skip_serializing_if = "Option::is_none")]
        upvotes: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        poll: Option<&'a PollRecord>,
        /// Votes: whether an earlier vote was replaced.
        #[serde(skip_serializing_if = "Option::is_none")]
        changed: Option<bool>,
        /// Open-text votes: `approved` (in the word cloud), `pending` (held for review) or `rejected`.
        #[serde(skip_serializing_if = "Option::is_none")]
        text_status: Option<&'a str>,
        /// Bans: what was banned.
        #[serde(skip_serializing_if = "Option::is_none")]
        banned: Option<Banned<'a>>,
        /// `withdraw_recent`: how many posts were taken down.
        #[serde(skip_serializing_if = "Option::is_none")]
        withdrawn: Option<usize>,
    },
    /// One of your questions changed (approved, rejected with a reason, answered, …).
    Mine { question: OwnQuestion },
    /// Viewers watching now (not logged; carries the current seq).
    Presence { seq: i64, viewers: usize },
    Error {
        #[serde(rename = "ref")]
        reference: Option<&'a str>,
        code: ErrorCode,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
        /// `banned`: the moderator's reason and the end of the ban (`null`:
        /// when the event ends), for the page to tell the viewer.
        #[serde(skip_serializing_if = "Option::is_none")]
        ban: Option<BanNotice<'a>>,
    },
    Pong {
        #[serde(rename = "ref")]
        reference: Option<&'a str>,
    },
}

/// Why and until when a viewer is banned, as the `banned` error tells them.
#[derive(Debug, Serialize)]
pub struct BanNotice<'a> {
    pub reason: &'a str,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a ban covered: the viewer key, and whether an address was banned
/// with it (the address itself is never sent: staff see keys, not addresses).
#[derive(Debug, Serialize)]
pub struct Banned<'a> {
    pub viewer: &'a str,
    pub address: bool,
}

/// A logged public change as sent: `{"type": …, "seq": n, …}`.
#[derive(Debug, Serialize)]
pub struct PublicFrame<'a> {
    pub seq: i64,
    #[serde(flatten)]
    pub change: &'a RoomChange,
}

pub fn encode<T: Serialize>(msg: &T) -> String {
    // Our own types always serialize; a failure would be a bug, not input.
    serde_json::to_string(msg).unwrap_or_else(|e| {
        tracing::error!(error = %e, "encoding a server message failed");
        String::from(r#"{"type":"error","ref":null,"code":"internal","message":"encoding failed"}"#)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_with_refs() {
        let e: Envelope = serde_json::from_str(r#"{"type":"ask","ref":"r1","text":"你好"}"#).unwrap();
        assert_eq!(e.reference.as_deref(), Some("r1"));
        assert!(matches!(e.message, ClientMsg::Ask { ref text, .. } if text == "你好"));
        let e: Envelope = serde_json::from_str(r#"{"type":"hello","protocol":1}"#).unwrap();
        assert!(matches!(
            e.message,
            ClientMsg::Hello {
                protocol: 1,
                last_seq: None,
                ..
            }
        ));
        let e: Envelope = serde_json::from_str(r#"{"type":"ban","viewer":"00","reason":"spam"}"#).unwrap();
        assert!(matches!(
            e.message,
            ClientMsg::Ban {
                include_address: true,
                ..
            }
        ));
        assert!(serde_json::from_str::<Envelope>(r#"{"type":"launch"}"#).is_err());
        assert!(serde_json::from_str::<Envelope>(r#"{"type":"upvote","question_id":"x"}"#).is_err());
    }

    #[test]
    fn public_frames_carry_seq_and_type() {
        let change = RoomChange::Pinned {
            question_id: Some(PostId(4)),
        };
        let text = encode(&PublicFrame {
            seq: 9,
            change: &change,
        });
        assert_eq!(text, r#"{"seq":9,"type":"pinned","question_id":4}"#);
    }
}
