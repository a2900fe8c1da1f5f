//! Reports and appeals (举报受理): a viewer reports a published post, a
//! moderator resolves a post's reports, the author of a rejected post
//! appeals, a moderator (or the unit's staff in the console after the event)
//! decides the appeal. Each is due on the working-day calendar.

use chrono::NaiveDate;

use super::{Refusal, invalid, refuse, unexpected};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::PostId;
use crate::domain::report::{ReportOutcome, ReportReason, appeal_text};
use crate::domain::time::local_date;
use crate::hub::conn::{Session, Who};
use crate::hub::protocol::{Capability, OwnQuestion, ServerMsg, encode};
use crate::hub::room::Room;
use crate::store::live::QuestionRecord;
use crate::store::writer::{Command, Outcome, Review};

impl Session {
    pub(super) async fn report(
        &self,
        post_id: PostId,
        reason: ReportReason,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let Who::Viewer { key, .. } = &self.who else {
            return Err(refuse(ErrorCode::Forbidden, "staff hide posts; viewers report them"));
        };
        self.may_take_part()?;
        let review = Review::Report {
            event_id: self.room.event_id,
            post_id,
            reporter: key.clone(),
            reason,
            due_on: self.due_in(self.hub.settings.report_due_working_days),
            threshold: self.hub.settings.report_threshold,
        };
        let (before, after) = self.review(review).await?;
        self.reviewed(&before, &after, true).await;
        Ok(reviewed_ack(reference, "report", None))
    }

    pub(super) async fn resolve_reports(
        &self,
        post_id: PostId,
        outcome: ReportOutcome,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let staff_id = self.staff_id(Capability::Moderator)?;
        let review = Review::Resolve {
            event_id: self.room.event_id,
            post_id,
            outcome,
            staff_id,
        };
        let (before, after) = self.review(review).await?;
        self.reviewed(&before, &after, true).await;
        Ok(reviewed_ack(reference, "resolve_reports", None))
    }

    pub(super) async fn appeal(
        &self,
        question_id: PostId,
        text: &str,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let Who::Viewer { key, .. } = &self.who else {
            return Err(refuse(ErrorCode::Forbidden, "only the author appeals"));
        };
        let text = appeal_text("text", text).map_err(invalid)?;
        let review = Review::Appeal {
            event_id: self.room.event_id,
            post_id: question_id,
            author: key.clone(),
            text,
            due_on: self.due_in(self.hub.settings.appeal_due_working_days),
        };
        let (before, after) = self.review(review).await?;
        self.reviewed(&before, &after, false).await;
        Ok(reviewed_ack(reference, "appeal", Some(&after)))
    }

    pub(super) async fn decide_appeal(
        &self,
        question_id: PostId,
        upheld: bool,
        reply: &str,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let staff_id = self.staff_id(Capability::Moderator)?;
        let reply = appeal_text("reply", reply).map_err(invalid)?;
        let review = Review::Decide {
            event_id: self.room.event_id,
            post_id: question_id,
            upheld,
            reply,
            staff_id,
        };
        let (before, after) = self.review(review).await?;
        self.reviewed(&before, &after, false).await;
        Ok(reviewed_ack(reference, "decide_appeal", Some(&after)))
    }

    async fn review(&self, review: Review) -> Result<(Box<QuestionRecord>, Box<QuestionRecord>), Refusal> {
        match self.submit(Command::Review(review)).await? {
            Outcome::Reviewed { before, after } => Ok((before, after)),
            _ => Err(unexpected()),
        }
    }

    /// Tell the staff (the post, and its reports when they changed) and the
    /// author (when their post's status or appeal changed), on every node.
    async fn reviewed(&self, before: &QuestionRecord, after: &QuestionRecord, reports: bool) {
        let moved = before.status != after.status || before.appeal != after.appeal;
        if moved || before.held_by_reports != after.held_by_reports {
            self.hub.tell_staff(&self.room, Room::staff_frame(after));
        }
        if moved {
            self.hub.tell_author(&self.room, after);
        }
        if reports {
            match self.hub.store.reported_post(self.room.event_id, after.id).await {
                Ok(Some(report)) => self
                    .hub
                    .tell_staff(&self.room, encode(&ServerMsg::Report { report: &report })),
                Ok(None) => {}
                // Committed already: the consoles catch up at their next join.
                Err(e) => tracing::warn!(error = %e, "the report summary could not be read"),
            }
        }
    }

    /// The date `working_days` working days from today (Beijing); `None`
    /// when the calendar does not cover it (never guessed).
    fn due_in(&self, working_days: u32) -> Option<NaiveDate> {
        let today = local_date(chrono::Utc::now());
        self.hub.calendar.add_working_days(today, working_days).ok()
    }
}

fn reviewed_ack(reference: Option<&str>, action: &str, question: Option<&QuestionRecord>) -> String {
    encode(&ServerMsg::Ack {
        reference,
        action,
        question: question.map(OwnQuestion::from),
        upvotes: None,
        poll: None,
        changed: None,
        text_status: None,
        banned: None,
        withdrawn: None,
    })
}
