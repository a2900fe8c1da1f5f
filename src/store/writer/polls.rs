//! Polls: creating, opening and closing them, votes, and live tallies.

use super::command::{Outcome, refused};
use super::tx::{Address, AddressCap, Decided, LiveTx, RowLock, too_many_from_address};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{EventId, PollId, StaffId};
use crate::domain::poll::{
    Ballot, CLOUD_SIZE, CheckedBallot, PollKind, PollSpec, PollStatus, ResultsVisibility, Tally,
};
use crate::domain::question::{RoomChange, ViewerKey};
use crate::store::polls::{PollRecord, PollRow, TALLY_COUNTS, TALLY_VOTERS, TALLY_WORDS, build_tally, poll_columns};
use crate::store::tx::on_tx;
use crate::store::{StoreError, StoreResult};

/// The screen's verdict on an open-text answer: its status, and its hits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Verdict<'a> {
    pub text_status: Option<&'static str>,
    pub hits: &'a serde_json::Value,
}

impl<'a> Verdict<'a> {
    pub(super) fn new(text_status: Option<&'static str>, hits: &'a serde_json::Value) -> Self {
        Self { text_status, hits }
    }
}

impl LiveTx<'_> {
    /// A new draft poll.
    pub(super) async fn create_poll(
        &mut self,
        event_id: EventId,
        spec: &PollSpec,
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        const SQL: &str = concat!(
            "INSERT INTO polls (event_id, kind, title, options, max_choices, allow_change, results, status, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'draft', $8, $9) RETURNING ",
            poll_columns!()
        );
        let options = serde_json::to_string(&spec.options).map_err(|e| StoreError::Conflict(e.to_string()))?;
        let at = self.at;
        let row: PollRow = on_tx!(self.tx(), c => sqlx::query_as(SQL)
            .bind(event_id).bind(spec.kind.as_str()).bind(&spec.title).bind(&options).bind(i64::from(spec.max_choices))
            .bind(spec.allow_change).bind(spec.results.as_str()).bind(staff_id).bind(at)
            .fetch_one(c).await)?;
        let poll = row.into_record()?;
        let after = serde_json::to_string(&poll).ok();
        self.audit_staff(event_id, staff_id, "create_poll", Some(poll.id.into()), None, after)
            .await?;
        Ok(Ok(Outcome::Poll { poll, tally: None }))
    }

    /// Open (a draft, or reopen a closed poll) or close a poll; the room gets
    /// the poll with its tally, counted in the same transaction (no later
    /// vote can be in a closed poll's tally). On PostgreSQL the poll row is
    /// held exclusively: two nodes never close the same poll twice.
    pub(super) async fn set_poll_status(
        &mut self,
        event_id: EventId,
        poll_id: PollId,
        open: bool,
        staff_id: StaffId,
    ) -> StoreResult<Decided> {
        let Some(before) = self.fetch::<PollRow>(event_id, poll_id, RowLock::Update).await? else {
            return Ok(Err(refused(ErrorCode::NotFound, "no such poll in this room")));
        };
        let allowed = if open {
            before.status != PollStatus::Open
        } else {
            before.status == PollStatus::Open
        };
        if !allowed {
            let what = if open { "opened" } else { "closed" };
            let message = format!("a {} poll cannot be {what}", before.status.as_str());
            return Ok(Err(refused(ErrorCode::WrongStatus, message)));
        }
        let sql = if open {
            "UPDATE polls SET status = 'open', opened_at = $1, closed_at = NULL WHERE id = $2"
        } else {
            "UPDATE polls SET status = 'closed', closed_at = $1 WHERE id = $2"
        };
        let at = self.at;
        on_tx!(self.tx(), c => sqlx::query(sql).bind(at).bind(poll_id).execute(c).await.map(|_| ()))?;
        let after = self
            .fetch::<PollRow>(event_id, poll_id, RowLock::None)
            .await?
            .ok_or(StoreError::NotFound("poll"))?;
        let tally = self.tally(&after).await?;
        let change = RoomChange::Poll {
            poll: after.public(Some(tally.clone())),
        };
        self.publish(event_id, change).await?;
        let action = if open { "open_poll" } else { "close_poll" };
        let view = |p: &PollRecord| Some(serde_json::json!({ "status": p.status }).to_string());
        self.audit_staff(
            event_id,
            staff_id,
            action,
            Some(poll_id.into()),
            view(&before),
            view(&after),
        )
        .await?;
        Ok(Ok(Outcome::Poll {
            poll: after,
            tally: Some(tally),
        }))
    }

    /// A viewer's vote, or their changed vote where the poll allows it. On
    /// PostgreSQL the poll row is held shared until the commit, so a close
    /// on another node waits for the vote and counts it (or the vote waits
    /// for the close and sees the poll closed).
    pub(super) async fn vote(
        &mut self,
        event_id: EventId,
        poll_id: PollId,
        viewer: &ViewerKey,
        ballot: &Ballot,
        verdict: Verdict<'_>,
        from: Address<'_>,
    ) -> StoreResult<Decided> {
        let poll = match self.fetch::<PollRow>(event_id, poll_id, RowLock::Share).await? {
            None => return Ok(Err(refused(ErrorCode::NotFound, "no such poll in this room"))),
            Some(poll) if poll.status != PollStatus::Open => {
                return Ok(Err(refused(ErrorCode::PollClosed, "the poll is not open")));
            }
            Some(poll) => poll,
        };
        let checked = match poll.spec.check(ballot.clone()) {
            Err(e) => return Ok(Err(refused(e.code, e.message))),
            Ok(checked) => checked,
        };
        const VOTED: &str = "SELECT viewer_key FROM poll_votes WHERE poll_id = $1 AND viewer_key = $2";
        let voted: Option<String> = on_tx!(self.tx(), c => sqlx::query_scalar(VOTED)
            .bind(poll_id).bind(&viewer.0).fetch_optional(c).await)?;
        if voted.is_some() && !poll.spec.allow_change {
            return Ok(Err(refused(
                ErrorCode::AlreadyVoted,
                "you have voted in this poll, and votes cannot be changed",
            )));
        }
        if voted.is_none() && self.address_full(AddressCap::PollVotes, poll_id, from).await? {
            return Ok(Err(too_many_from_address("voted in this poll")));
        }
        self.store_vote(poll_id, viewer, checked, verdict, from.ip).await?;
        Ok(Ok(Outcome::Voted {
            poll_id,
            changed: voted.is_some(),
        }))
    }

    /// Write the viewer's vote over any earlier one.
    async fn store_vote(
        &mut self,
        poll_id: PollId,
        viewer: &ViewerKey,
        checked: CheckedBallot,
        verdict: Verdict<'_>,
        ip: Option<&str>,
    ) -> StoreResult<()> {
        const VOTE: &str = "INSERT INTO poll_votes (poll_id, viewer_key, text, text_status, screen_hits, created_at, updated_at, ip)
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
             ON CONFLICT (poll_id, viewer_key) DO UPDATE SET text = excluded.text,
               text_status = excluded.text_status, screen_hits = excluded.screen_hits, updated_at = excluded.updated_at";
        const CLEAR: &str = "DELETE FROM poll_choices WHERE poll_id = $1 AND viewer_key = $2";
        const CHOICE: &str = "INSERT INTO poll_choices (poll_id, viewer_key, option) VALUES ($1, $2, $3)";
        let (text, choices) = match checked {
            CheckedBallot::Text(t) => (Some(t), Vec::new()),
            CheckedBallot::Choices(c) => (None, c),
        };
        let hits = verdict.hits;
        let hits = hits.as_array().is_some_and(|h| !h.is_empty()).then(|| hits.to_string());
        let text_status = text.as_ref().and(verdict.text_status);
        let at = self.at;
        on_tx!(self.tx(), c => sqlx::query(VOTE).bind(poll_id).bind(&viewer.0).bind(&text).bind(text_status)
            .bind(&hits).bind(at).bind(ip).execute(c).await.map(|_| ()))?;
        on_tx!(self.tx(), c => sqlx::query(CLEAR).bind(poll_id).bind(&viewer.0).execute(c).await.map(|_| ()))?;
        for option in choices {
            on_tx!(self.tx(), c => sqlx::query(CHOICE).bind(poll_id).bind(&viewer.0).bind(i64::from(option))
                .execute(c).await.map(|_| ()))?;
        }
        Ok(())
    }

    /// Count an open poll's votes and, when its results are live, log the tally.
    pub(super) async fn poll_tally(&mut self, event_id: EventId, poll_id: PollId) -> StoreResult<Decided> {
        let poll = self.fetch::<PollRow>(event_id, poll_id, RowLock::None).await?;
        let Some(poll) = poll.filter(|p| p.status == PollStatus::Open) else {
            return Ok(Ok(Outcome::Tally {
                poll_id,
                tally: None,
                public: false,
            }));
        };
        let tally = self.tally(&poll).await?;
        let public = poll.spec.results == ResultsVisibility::Live;
        if public {
            let change = RoomChange::PollResults {
                poll_id,
                tally: tally.clone(),
            };
            self.publish(event_id, change).await?;
        }
        Ok(Ok(Outcome::Tally {
            poll_id,
            tally: Some(tally),
            public,
        }))
    }

    /// Count a poll's stored votes.
    async fn tally(&mut self, poll: &PollRecord) -> StoreResult<Tally> {
        let voters: i64 = on_tx!(self.tx(), c => sqlx::query_scalar(TALLY_VOTERS).bind(poll.id).fetch_one(c).await)?;
        let counts: Vec<(i64, i64)> =
            on_tx!(self.tx(), c => sqlx::query_as(TALLY_COUNTS).bind(poll.id).fetch_all(c).await)?;
        let words: Vec<(String, i64)> = if poll.spec.kind == PollKind::OpenText {
            on_tx!(self.tx(), c => sqlx::query_as(TALLY_WORDS).bind(poll.id).bind(CLOUD_SIZE as i64).fetch_all(c).await)?
        } else {
            Vec::new()
        };
        Ok(build_tally(&poll.spec, voters, &counts, words))
    }
}
