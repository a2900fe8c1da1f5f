//! What each client message does once the connection is live: one function
//! per message, by family, and the one `match` that picks it.
//!
//! - [`posts`]: ask, comment, upvote;
//! - [`moderation`]: promote, approve, reject, edit, pin, unpin, answer, hide, ban, slow mode, moderation mode;
//! - [`polls`]: create, open, close, vote;
//! - [`reviews`]: report, resolve reports, appeal, decide an appeal.
//!
//! Each answers with the text of an `ack` (or a `pong`), or a [`Refusal`]
//! that becomes an error frame carrying the client's `ref`.

use std::time::Duration;

use super::conn::{Session, Who, error_frame};
use super::protocol::{Capability, ClientMsg, Envelope, MAX_REF_CHARS, OwnQuestion, ServerMsg, encode};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::StaffId;
use crate::domain::poll::PollSpec;
use crate::domain::question::{ModAction, PostKind};
use crate::store::live::QuestionRecord;
use crate::store::writer::{Command, Outcome, WriteError};

mod moderation;
use moderation::BanAsked;
mod polls;
mod posts;
mod reviews;

/// Message types clients may send (for telling `unknown_type` from `bad_message`).
const KNOWN_TYPES: [&str; 27] = [
    "hello",
    "create_poll",
    "open_poll",
    "close_poll",
    "vote",
    "ask",
    "comment",
    "promote",
    "upvote",
    "approve",
    "reject",
    "edit",
    "pin",
    "unpin",
    "answer",
    "hide",
    "ban",
    "unban",
    "set_slow_mode",
    "set_moderation",
    "set_interaction",
    "withdraw_recent",
    "report",
    "resolve_reports",
    "appeal",
    "decide_appeal",
    "ping",
];

impl Session {
    /// The answer to one client frame: an ack, a pong or an error frame.
    pub(in crate::hub) async fn reply_to(&self, text: &str) -> String {
        if let Err(limited) = self.hub.limits.frame_wait(&self.limiter) {
            return error_frame(
                None,
                ErrorCode::RateLimited,
                "too many messages; slow down",
                Some(limited.retry_after),
            );
        }
        let envelope = match serde_json::from_str::<Envelope>(text) {
            Ok(e) => e,
            Err(e) => {
                let value = serde_json::from_str::<serde_json::Value>(text).ok();
                let (code, message) = match &value {
                    None => (ErrorCode::MalformedJson, "the frame is not valid JSON".to_owned()),
                    Some(v) => match v.get("type").and_then(|t| t.as_str()) {
                        None => (ErrorCode::BadMessage, "every message needs a string `type`".to_owned()),
                        Some(t) if !KNOWN_TYPES.contains(&t) => {
                            (ErrorCode::UnknownType, format!("unknown message type `{t}`"))
                        }
                        Some(t) => (ErrorCode::BadMessage, format!("`{t}`: {e}")),
                    },
                };
                let reference = value
                    .as_ref()
                    .and_then(|v| v.get("ref").and_then(|r| r.as_str()))
                    .filter(|r| r.chars().count() <= MAX_REF_CHARS);
                return error_frame(reference, code, &message, None);
            }
        };
        let reference = envelope.reference.as_deref();
        if reference.is_some_and(|r| r.chars().count() > MAX_REF_CHARS) {
            return error_frame(None, ErrorCode::BadRef, "`ref` is at most 64 characters", None);
        }
        match self.dispatch(envelope.message, reference).await {
            Ok(text) => text,
            Err(Refusal {
                code,
                message,
                retry_after,
            }) => error_frame(reference, code, &message, retry_after),
        }
    }

    /// The one place a client message is matched to what it does.
    async fn dispatch(&self, message: ClientMsg, reference: Option<&str>) -> Result<String, Refusal> {
        if !matches!(message, ClientMsg::Ping) {
            self.acted.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        match message {
            ClientMsg::Hello { .. } => Err(refuse(
                ErrorCode::AlreadyGreeted,
                "hello is sent once, as the first frame",
            )),
            ClientMsg::Ping => Ok(encode(&ServerMsg::Pong { reference })),
            ClientMsg::Ask { text, notify } => {
                self.post(PostKind::Question, &text, notify.unwrap_or(true), reference)
                    .await
            }
            ClientMsg::CreatePoll {
                kind,
                title,
                options,
                max_choices,
                allow_change,
                results,
            } => {
                let spec =
                    PollSpec::parse(kind, &title, options, max_choices, allow_change, results).map_err(invalid)?;
                self.create_poll(spec, reference).await
            }
            ClientMsg::OpenPoll { poll_id } => self.set_poll_status(poll_id, true, reference).await,
            ClientMsg::ClosePoll { poll_id } => self.set_poll_status(poll_id, false, reference).await,
            ClientMsg::Vote {
                poll_id,
                choices,
                rating,
                text,
            } => self.vote(poll_id, choices, rating, text, reference).await,
            ClientMsg::Comment { text, notify } => {
                self.post(PostKind::Comment, &text, notify.unwrap_or(true), reference)
                    .await
            }
            ClientMsg::Promote { question_id } => self.moderate(question_id, ModAction::Promote, reference).await,
            ClientMsg::Upvote { question_id } => self.upvote(question_id, reference).await,
            ClientMsg::Approve { question_id } => self.moderate(question_id, ModAction::Approve, reference).await,
            ClientMsg::Reject { question_id, reason } => self.reject(question_id, &reason, reference).await,
            ClientMsg::Edit { question_id, text } => self.edit(question_id, &text, reference).await,
            ClientMsg::Pin { question_id } => self.moderate(question_id, ModAction::Pin, reference).await,
            ClientMsg::Unpin { question_id } => self.moderate(question_id, ModAction::Unpin, reference).await,
            ClientMsg::Answer { question_id, text } => self.answer(question_id, text.as_deref(), reference).await,
            ClientMsg::Hide { question_id } => self.moderate(question_id, ModAction::Hide, reference).await,
            ClientMsg::Ban {
                viewer,
                reason,
                include_address,
                minutes,
                permanent,
            } => {
                let ban = BanAsked {
                    viewer: &viewer,
                    reason: &reason,
                    include_address,
                    minutes,
                    permanent,
                };
                self.ban(ban, reference).await
            }
            ClientMsg::Unban { ban_id } => self.unban(ban_id, reference).await,
            ClientMsg::SetSlowMode { seconds } => self.set_slow_mode(seconds, reference).await,
            ClientMsg::SetModeration { mode } => self.set_moderation(mode, reference).await,
            ClientMsg::SetInteraction { paused } => self.set_interaction(paused, reference).await,
            ClientMsg::WithdrawRecent { minutes } => self.withdraw_recent(minutes, reference).await,
            ClientMsg::Report { post_id, reason } => self.report(post_id, reason, reference).await,
            ClientMsg::ResolveReports { post_id, outcome } => self.resolve_reports(post_id, outcome, reference).await,
            ClientMsg::Appeal { question_id, text } => self.appeal(question_id, &text, reference).await,
            ClientMsg::DecideAppeal {
                question_id,
                upheld,
                reply,
            } => self.decide_appeal(question_id, upheld, &reply, reference).await,
        }
    }

    /// Whether this connection is an administrator's.
    fn is_admin(&self) -> bool {
        matches!(&self.who, Who::Staff { staff, .. } if staff.is_admin())
    }

    /// The staff id behind this connection if its capability is at least `needed`.
    fn staff_id(&self, needed: Capability) -> Result<StaffId, Refusal> {
        match (&self.who, self.capability, needed) {
            (Who::Staff { staff, .. }, Capability::Moderator, _) => Ok(staff.id),
            (Who::Staff { staff, .. }, Capability::Host, Capability::Host) => Ok(staff.id),
            _ => Err(refuse(ErrorCode::Forbidden, "your role may not do this")),
        }
    }

    /// Hands a command to the store's writer and waits for it to commit.
    /// Once the command is queued, the reader may go on to the client's next
    /// frame ([`Session::queued`]): commands are queued in the order the
    /// client sent them, and committed in that order.
    async fn submit(&self, command: Command) -> Result<Outcome, Refusal> {
        let sink = self.hub.sink(self.room.event_id, Some(self.room.clone()));
        let queued = self.hub.writer.enqueue(command, sink).await;
        self.queued();
        queued.map_err(write_refusal)?.outcome().await.map_err(write_refusal)
    }
}

fn write_refusal(e: WriteError) -> Refusal {
    match e {
        WriteError::Refused { code, message } => Refusal {
            code,
            message,
            retry_after: None,
        },
        WriteError::Unavailable(message) => Refusal {
            code: ErrorCode::Unavailable,
            message,
            retry_after: None,
        },
    }
}

/// Why a client message was not done: becomes an error frame.
struct Refusal {
    code: ErrorCode,
    message: String,
    retry_after: Option<Duration>,
}

fn refuse(code: ErrorCode, message: &str) -> Refusal {
    Refusal {
        code,
        message: message.to_owned(),
        retry_after: None,
    }
}

fn invalid(e: crate::domain::values::Invalid) -> Refusal {
    Refusal {
        code: ErrorCode::Invalid,
        message: e.to_string(),
        retry_after: None,
    }
}

fn rate_limited(message: impl Into<String>, retry_after: Duration) -> Refusal {
    Refusal {
        code: ErrorCode::RateLimited,
        message: message.into(),
        retry_after: Some(retry_after),
    }
}

fn unexpected() -> Refusal {
    refuse(ErrorCode::Internal, "unexpected outcome")
}

fn ack(reference: Option<&str>, action: &str, question: Option<&QuestionRecord>, upvotes: Option<i64>) -> String {
    encode(&ServerMsg::Ack {
        reference,
        action,
        question: question.map(OwnQuestion::from),
        poll: None,
        changed: None,
        text_status: None,
        upvotes,
        banned: None,
        withdrawn: None,
    })
}
