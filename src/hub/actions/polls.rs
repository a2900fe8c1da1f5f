//! Polls: the host creates, opens and closes them; viewers vote.

use super::{Refusal, rate_limited, refuse, unexpected};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::PollId;
use crate::domain::poll::{Ballot, CheckedBallot, PollSpec, PollStatus};
use crate::domain::screen::{Hit, Verdict};
use crate::hub::conn::{Session, Who};
use crate::hub::protocol::{Capability, ServerMsg, encode};
use crate::store::writer::{Command, Outcome};

/// A vote carries exactly one of choices, a rating or a text.
fn one_ballot(choices: Option<Vec<u32>>, rating: Option<u8>, text: Option<String>) -> Result<Ballot, Refusal> {
    match (choices, rating, text) {
        (Some(c), None, None) => Ok(Ballot::Choices(c)),
        (None, Some(r), None) => Ok(Ballot::Rating(r)),
        (None, None, Some(t)) => Ok(Ballot::Text(t)),
        _ => Err(refuse(
            ErrorCode::InvalidVote,
            "give exactly one of `choices`, `rating` or `text`",
        )),
    }
}

/// Where an open-text answer starts, from the screen's verdict.
fn text_status(verdict: Verdict) -> (Option<&'static str>, Vec<Hit>) {
    match verdict {
        Verdict::Clean => (Some("approved"), Vec::new()),
        Verdict::Hold { hits } => (Some("pending"), hits),
        Verdict::Reject { hits, .. } => (Some("rejected"), hits),
    }
}

impl Session {
    pub(super) async fn create_poll(&self, spec: PollSpec, reference: Option<&str>) -> Result<String, Refusal> {
        let staff_id = self.staff_id(Capability::Host)?;
        let command = Command::CreatePoll {
            event_id: self.room.event_id,
            spec,
            staff_id,
        };
        self.poll_step(command, "create_poll", reference).await
    }

    /// `open_poll` (`open`) or `close_poll`.
    pub(super) async fn set_poll_status(
        &self,
        poll_id: PollId,
        open: bool,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let staff_id = self.staff_id(Capability::Host)?;
        let command = Command::SetPollStatus {
            event_id: self.room.event_id,
            poll_id,
            open,
            staff_id,
        };
        self.poll_step(command, if open { "open_poll" } else { "close_poll" }, reference)
            .await
    }

    /// A host's step on a poll: staff see the poll as it is now, the host an ack.
    async fn poll_step(&self, command: Command, action: &str, reference: Option<&str>) -> Result<String, Refusal> {
        match self.submit(command).await? {
            Outcome::Poll { poll, tally } => {
                self.hub.tell_staff(
                    &self.room,
                    encode(&ServerMsg::PollAdmin {
                        poll: Some(&poll),
                        poll_id: poll.id,
                        tally: tally.as_ref(),
                    }),
                );
                Ok(encode(&ServerMsg::Ack {
                    reference,
                    action,
                    question: None,
                    upvotes: None,
                    poll: Some(&poll),
                    changed: None,
                    text_status: None,
                    banned: None,
                    withdrawn: None,
                }))
            }
            _ => Err(unexpected()),
        }
    }

    pub(super) async fn vote(
        &self,
        poll_id: PollId,
        choices: Option<Vec<u32>>,
        rating: Option<u8>,
        text: Option<String>,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let Who::Viewer { key, .. } = &self.who else {
            return Err(refuse(ErrorCode::Forbidden, "staff connections do not vote"));
        };
        self.may_take_part()?;
        let ballot = one_ballot(choices, rating, text)?;
        let poll = self
            .room
            .poll(poll_id)
            .ok_or_else(|| refuse(ErrorCode::NotFound, "no such poll in this room"))?;
        if poll.status != PollStatus::Open {
            return Err(refuse(ErrorCode::PollClosed, "the poll is not open"));
        }
        let checked = poll.spec.check(ballot.clone()).map_err(|e| Refusal {
            code: e.code,
            message: e.message,
            retry_after: None,
        })?;
        if let Err(l) = self.hub.limits.upvote(key).await {
            return Err(rate_limited("too many votes", l.retry_after));
        }
        // Open-text answers go through the same screen as questions.
        let (text_status, hits) = match &checked {
            CheckedBallot::Text(t) => text_status(self.hub.screen.current().screen(t)),
            CheckedBallot::Choices(_) => (None, Vec::new()),
        };
        let command = Command::Vote {
            event_id: self.room.event_id,
            poll_id,
            viewer: key.clone(),
            ballot,
            text_status,
            hits: serde_json::to_value(&hits).unwrap_or_default(),
            ip: Some(self.ip.to_string()),
            per_address: self.per_address(),
        };
        match self.submit(command).await? {
            Outcome::Voted { changed, .. } => {
                self.room.poll_voted(poll_id);
                Ok(encode(&ServerMsg::Ack {
                    reference,
                    action: "vote",
                    question: None,
                    upvotes: None,
                    poll: None,
                    changed: Some(changed),
                    text_status,
                    banned: None,
                    withdrawn: None,
                }))
            }
            _ => Err(unexpected()),
        }
    }
}
