//! Staff steps on posts and on the room: a moderation action on one question
//! (promote, approve, reject, edit, pin, unpin, answer, hide), a ban, and the
//! room's settings (slow mode, moderation mode).

use super::{Refusal, ack, invalid, refuse, unexpected};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{EventId, PostId, StaffId};
use crate::domain::question::{ModAction, ModerationMode, QuestionText, ViewerKey, answer_text, reason_text};
use crate::hub::conn::Session;
use crate::hub::protocol::{Banned, Capability, OwnQuestion, ServerMsg, encode};
use crate::hub::room::{Room, Term};
use crate::store::live::QuestionRecord;
use crate::store::writer::{Command, Outcome};

impl Session {
    pub(super) async fn reject(
        &self,
        question_id: PostId,
        reason: &str,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let reason = reason_text(reason).map_err(invalid)?;
        self.moderate(question_id, ModAction::Reject { reason }, reference)
            .await
    }

    pub(super) async fn edit(
        &self,
        question_id: PostId,
        text: &str,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let text = QuestionText::parse(text).map_err(invalid)?.as_str().to_owned();
        self.moderate(question_id, ModAction::Edit { text }, reference).await
    }

    pub(super) async fn answer(
        &self,
        question_id: PostId,
        text: Option<&str>,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let text = text.map(answer_text).transpose().map_err(invalid)?;
        self.moderate(question_id, ModAction::Answer { text }, reference).await
    }

    /// One moderation step on one question; pin, unpin and answer are the host's.
    pub(super) async fn moderate(
        &self,
        question_id: PostId,
        action: ModAction,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let needed = if matches!(action, ModAction::Pin | ModAction::Unpin | ModAction::Answer { .. }) {
            Capability::Host
        } else {
            Capability::Moderator
        };
        let staff_id = self.staff_id(needed)?;
        let name = action.name();
        let command = Command::Moderate {
            event_id: self.room.event_id,
            question_id,
            action,
            staff_id,
        };
        match self.submit(command).await? {
            Outcome::Moderated { before, after } => {
                self.hub.tell_staff(&self.room, Room::staff_frame(&after));
                if author_sees_change(&before, &after) {
                    self.hub.tell_author(&self.room, &after);
                }
                Ok(encode(&ServerMsg::Ack {
                    reference,
                    action: name,
                    question: Some(OwnQuestion::from(&*after)),
                    upvotes: None,
                    poll: None,
                    changed: None,
                    text_status: None,
                    banned: None,
                    withdrawn: None,
                }))
            }
            _ => Err(unexpected()),
        }
    }

    pub(super) async fn ban(&self, asked: BanAsked<'_>, reference: Option<&str>) -> Result<String, Refusal> {
        let BanAsked {
            viewer,
            reason,
            include_address,
            minutes,
            permanent,
        } = asked;
        let staff_id = self.staff_id(Capability::Moderator)?;
        if permanent && !self.is_admin() {
            return Err(refuse(ErrorCode::Forbidden, "only administrators ban permanently"));
        }
        if permanent && minutes.is_some() {
            return Err(refuse(ErrorCode::Invalid, "a permanent ban has no `minutes`"));
        }
        let key = ViewerKey::parse(viewer)
            .ok_or_else(|| refuse(ErrorCode::Invalid, "`viewer` is a viewer key (16 hex characters)"))?;
        let reason = reason_text(reason).map_err(invalid)?;
        let until = match minutes {
            None => None,
            Some(m) if BAN_TERMS_MINUTES.contains(&m) => {
                Some(chrono::Utc::now() + chrono::Duration::minutes(i64::from(m)))
            }
            Some(_) => {
                return Err(refuse(
                    ErrorCode::Invalid,
                    "`minutes` is 10, 60 or 1440, or absent for the rest of the event",
                ));
            }
        };
        // The address the viewer joined from (kept by the room, so a viewer
        // who never posted is covered), else the one they last posted from.
        let ip = match (include_address, self.room.viewer_address(&key)) {
            (false, _) => None,
            (true, Some(ip)) => Some(ip),
            (true, None) => self
                .hub
                .store
                .viewer_last_ip(self.room.event_id, &key)
                .await
                .map_err(|_| refuse(ErrorCode::Unavailable, "the store is unavailable; try again"))?,
        };
        let command = Command::Ban {
            event_id: self.room.event_id,
            viewer: Some(key.clone()),
            ip: ip.clone(),
            reason: reason.clone(),
            until,
            permanent,
            staff_id,
        };
        self.submit(command).await?;
        // Not known here: in a cluster, a node that saw the viewer join bans the address.
        let address_by = (include_address && ip.is_none()).then_some(staff_id);
        let term = Term { reason, until };
        let mut kicked = self.hub.ban(&self.room, Some(&key), ip.as_deref(), &term, address_by);
        if permanent {
            // Every other room on this node now; the other nodes' rooms at
            // their next ban check (they re-read the permanent bans too).
            for room in self
                .hub
                .rooms()
                .into_iter()
                .filter(|r| r.event_id != self.room.event_id)
            {
                kicked += room.ban(Some(&key), ip.as_deref(), &term);
            }
        }
        tracing::info!(viewer = %key.0, address = ip.is_some(), kicked, "viewer banned");
        Ok(encode(&ServerMsg::Ack {
            reference,
            action: "ban",
            question: None,
            upvotes: None,
            poll: None,
            changed: None,
            text_status: None,
            banned: Some(Banned {
                viewer: &key.0,
                address: ip.is_some(),
            }),
            withdrawn: None,
        }))
    }

    /// Lift ban `ban_id`: this room re-reads the bans in force at once; in a
    /// cluster every node does within its next ban check (2 s).
    pub(super) async fn unban(&self, ban_id: i64, reference: Option<&str>) -> Result<String, Refusal> {
        let admin = self.is_admin();
        let lift = |event_id, staff_id| Command::Unban {
            event_id,
            ban_id,
            admin,
            staff_id,
        };
        let Outcome::Unbanned { permanent } = self.room_step(lift).await? else {
            return Err(unexpected());
        };
        // A permanent ban held in every room here: each re-reads its bans.
        let rooms = if permanent {
            self.hub.rooms()
        } else {
            vec![self.room.clone()]
        };
        for room in rooms {
            match self.hub.store.active_bans(room.event_id).await {
                Ok(bans) => {
                    room.set_bans(&bans);
                }
                Err(e) => tracing::warn!(error = %e, "bans not re-read after a lift; the next check does"),
            }
        }
        tracing::info!(event = self.room.event_id.0, ban_id, "ban lifted");
        Ok(ack(reference, "unban", None, None))
    }

    pub(super) async fn set_slow_mode(&self, seconds: u32, reference: Option<&str>) -> Result<String, Refusal> {
        if seconds > 3600 {
            return Err(refuse(ErrorCode::Invalid, "slow mode is at most 3600 seconds"));
        }
        let (moderation, _) = self.room.moderation();
        self.settings(moderation, seconds, reference).await
    }

    pub(super) async fn set_moderation(
        &self,
        mode: ModerationMode,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let (_, slow) = self.room.moderation();
        self.settings(mode, slow, reference).await
    }

    /// A moderator's step on the room as a whole (its settings, the kill
    /// switch, a withdrawal, a lifted ban): `command` built for this room and
    /// this moderator, committed.
    async fn room_step(&self, command: impl FnOnce(EventId, StaffId) -> Command) -> Result<Outcome, Refusal> {
        let staff_id = self.staff_id(Capability::Moderator)?;
        self.submit(command(self.room.event_id, staff_id)).await
    }

    /// The kill switch (即时阻断): pause all interaction of the room, or resume it.
    pub(super) async fn set_interaction(&self, paused: bool, reference: Option<&str>) -> Result<String, Refusal> {
        self.room_step(|event_id, staff_id| Command::Interaction {
            event_id,
            paused,
            staff_id,
        })
        .await?;
        tracing::info!(event = self.room.event_id.0, paused, "room interaction switched");
        Ok(ack(reference, "set_interaction", None, None))
    }

    /// Take down every post published in the last `minutes` (1 to 60).
    pub(super) async fn withdraw_recent(&self, minutes: u32, reference: Option<&str>) -> Result<String, Refusal> {
        self.staff_id(Capability::Moderator)?;
        if !(1..=MAX_WITHDRAW_MINUTES).contains(&minutes) {
            return Err(refuse(ErrorCode::Invalid, "`minutes` is 1 to 60"));
        }
        let since = chrono::Utc::now() - chrono::Duration::minutes(i64::from(minutes));
        let withdraw = |event_id, staff_id| Command::Withdraw {
            event_id,
            since,
            staff_id,
        };
        let Outcome::Withdrawn { posts } = self.room_step(withdraw).await? else {
            return Err(unexpected());
        };
        for (before, after) in &posts {
            self.hub.tell_staff(&self.room, Room::staff_frame(after));
            if author_sees_change(before, after) {
                self.hub.tell_author(&self.room, after);
            }
        }
        tracing::info!(
            event = self.room.event_id.0,
            minutes,
            withdrawn = posts.len(),
            "recent posts withdrawn"
        );
        Ok(encode(&ServerMsg::Ack {
            reference,
            action: "withdraw_recent",
            question: None,
            upvotes: None,
            poll: None,
            changed: None,
            text_status: None,
            banned: None,
            withdrawn: Some(posts.len()),
        }))
    }

    async fn settings(
        &self,
        moderation: ModerationMode,
        slow_mode_secs: u32,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        self.room_step(|event_id, staff_id| Command::Settings {
            event_id,
            moderation,
            slow_mode_secs,
            staff_id,
        })
        .await?;
        Ok(ack(reference, "settings", None, None))
    }
}

/// A moderator's `ban`, as asked.
pub(super) struct BanAsked<'a> {
    pub viewer: &'a str,
    pub reason: &'a str,
    pub include_address: bool,
    pub minutes: Option<u32>,
    pub permanent: bool,
}

/// The terms a ban may have, in minutes (10 minutes, an hour, a day);
/// without one it holds for the rest of the event.
const BAN_TERMS_MINUTES: [u32; 3] = [10, 60, 1440];

/// How far back `withdraw_recent` reaches at most.
const MAX_WITHDRAW_MINUTES: u32 = 60;

/// Whether the author should hear of a moderation step.
fn author_sees_change(before: &QuestionRecord, after: &QuestionRecord) -> bool {
    before.kind != after.kind
        || before.status != after.status
        || before.text != after.text
        || before.answer != after.answer
        || before.answered != after.answered
}
