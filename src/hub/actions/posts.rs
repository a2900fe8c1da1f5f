//! A viewer's own posts: questions and comments (screened, limited and
//! moderated alike) and upvotes.

use super::{Refusal, ack, invalid, rate_limited, refuse, unexpected};
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::identity::IdentityMode;
use crate::domain::ids::{IdentityId, PostId};
use crate::domain::question::{ModerationMode, PostKind, QuestionStatus, QuestionText, ViewerKey};
use crate::domain::screen::{Hit, Verdict};
use crate::hub::conn::{Session, Who};
use crate::hub::limits;
use crate::hub::room::Room;
use crate::store::writer::{Command, NewQuestion, Outcome};

/// The status a new post starts in, from the screen's verdict and the
/// room's moderation mode; a rejection carries its message.
fn first_status(verdict: Verdict, moderation: ModerationMode) -> (QuestionStatus, Option<String>, Vec<Hit>) {
    match verdict {
        Verdict::Clean if moderation == ModerationMode::Post => (QuestionStatus::Approved, None, Vec::new()),
        Verdict::Clean => (QuestionStatus::Pending, None, Vec::new()),
        // A hit is held for a moderator, even in post-moderation: never dropped silently.
        Verdict::Hold { hits } => (QuestionStatus::Pending, None, hits),
        Verdict::Reject { message, hits, .. } => (QuestionStatus::Rejected, Some(message), hits),
    }
}

fn slow_mode(wait: std::time::Duration) -> Refusal {
    Refusal {
        code: ErrorCode::SlowMode,
        message: "slow mode is on: wait before posting again".to_owned(),
        retry_after: Some(wait),
    }
}

impl Session {
    /// The cluster's limits (and slow mode) first, then the room's own slow mode.
    async fn may_post(&self, key: &ViewerKey, slow_mode_secs: u32) -> Result<(), Refusal> {
        match self
            .hub
            .limits
            .ask(key, self.ip, self.room.event_id, slow_mode_secs)
            .await
        {
            Ok(()) => {}
            Err(l) if l.scope == limits::Scope::SlowMode => return Err(slow_mode(l.retry_after)),
            Err(l) => {
                return Err(rate_limited(
                    format!("too many questions ({} limit); try again later", l.scope),
                    l.retry_after,
                ));
            }
        }
        self.room.slow_mode_check(key).map_err(slow_mode)
    }

    /// A question or a comment: screened, limited and moderated alike.
    /// `notify`: tell a verified author by text message when the unit answers.
    pub(super) async fn post(
        &self,
        kind: PostKind,
        text: &str,
        notify: bool,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let Who::Viewer { key, nickname, .. } = &self.who else {
            return Err(refuse(
                ErrorCode::Forbidden,
                "staff connections do not post questions or comments",
            ));
        };
        if !matches!(
            self.room.status(),
            EventStatus::Announced | EventStatus::Rescheduled | EventStatus::Live
        ) {
            return Err(refuse(ErrorCode::EventClosed, "the event is not taking questions"));
        }
        self.may_take_part()?;
        let text = QuestionText::parse(text).map_err(invalid)?;
        let (moderation, slow_mode_secs) = self.room.moderation();
        self.may_post(key, slow_mode_secs).await?;
        let (status, reject_reason, hits) = first_status(self.hub.screen.current().screen(text.as_str()), moderation);
        let command = Command::Ask(NewQuestion {
            event_id: self.room.event_id,
            viewer: key.clone(),
            nickname: nickname.as_str().to_owned(),
            text: text.as_str().to_owned(),
            client_ref: reference.map(str::to_owned),
            kind,
            ip: Some(self.ip.to_string()),
            status,
            reject_reason,
            hits: serde_json::to_value(&hits).unwrap_or_default(),
            identity: self.identity(),
            notify,
        });
        match self.submit(command).await? {
            Outcome::Asked { question, duplicate } => {
                if !duplicate {
                    self.hub.tell_staff(&self.room, Room::staff_frame(&question));
                }
                Ok(ack(reference, kind_action(kind), Some(&question), None))
            }
            _ => Err(unexpected()),
        }
    }

    /// Whether this viewer may take part now: refused while a moderator has
    /// paused the room's interaction, and in a `verified` room until the
    /// viewer has verified a mobile number.
    pub(super) fn may_take_part(&self) -> Result<(), Refusal> {
        if self.room.paused() {
            return Err(refuse(
                ErrorCode::InteractionPaused,
                "interaction is paused by the moderators; please wait",
            ));
        }
        if self.room.identity == IdentityMode::Verified && matches!(&self.who, Who::Viewer { verified: None, .. }) {
            return Err(refuse(
                ErrorCode::VerificationRequired,
                "verify your mobile number to take part (POST /api/verification/code, then POST /api/verification); \
                 the public sees only your nickname",
            ));
        }
        Ok(())
    }

    /// Viewer tokens of one address that may upvote a question or vote in a
    /// poll: capped in an `open` room; in a `verified` room each person has
    /// one voice, however many share an address.
    pub(super) fn per_address(&self) -> u32 {
        match self.room.identity {
            IdentityMode::Verified => 0,
            IdentityMode::Open => self.hub.settings.votes_per_address,
        }
    }

    /// The verified identity behind this viewer, if any.
    pub(super) fn identity(&self) -> Option<IdentityId> {
        match &self.who {
            Who::Viewer { verified: Some(v), .. } => Some(v.identity_id),
            _ => None,
        }
    }

    pub(super) async fn upvote(&self, question_id: PostId, reference: Option<&str>) -> Result<String, Refusal> {
        let Who::Viewer { key, .. } = &self.who else {
            return Err(refuse(ErrorCode::Forbidden, "staff connections do not upvote"));
        };
        self.may_take_part()?;
        if let Err(l) = self.hub.limits.upvote(key).await {
            return Err(rate_limited("too many upvotes", l.retry_after));
        }
        let command = Command::Upvote {
            event_id: self.room.event_id,
            question_id,
            viewer: key.clone(),
            ip: Some(self.ip.to_string()),
            per_address: self.per_address(),
        };
        match self.submit(command).await? {
            Outcome::Upvoted { upvotes, .. } => Ok(ack(reference, "upvote", None, Some(upvotes))),
            _ => Err(unexpected()),
        }
    }
}

fn kind_action(kind: PostKind) -> &'static str {
    match kind {
        PostKind::Question => "ask",
        PostKind::Comment => "comment",
    }
}
