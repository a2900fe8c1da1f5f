//! Polls: their definitions, votes and tallies. Every tally is counted from
//! the stored votes, so the final tally equals the votes exactly.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreError, StoreResult, on_pool};
use crate::domain::ids::{EventId, PollId};
use crate::domain::poll::{
    CLOUD_SIZE, PollKind, PollSpec, PollStatus, PublicPoll, ResultsVisibility, Tally, WordCount,
};
use crate::domain::question::ViewerKey;

macro_rules! poll_columns {
    () => {
        "id, event_id, kind, title, options, max_choices, allow_change, results, status, created_at, opened_at, closed_at"
    };
}
pub(crate) use poll_columns;

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct PollRow {
    id: PollId,
    event_id: EventId,
    kind: String,
    title: String,
    options: String,
    max_choices: i64,
    allow_change: bool,
    results: String,
    status: String,
    created_at: DateTime<Utc>,
    opened_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
}

/// A poll as staff see it (drafts included).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollRecord {
    pub id: PollId,
    pub event_id: EventId,
    #[serde(flatten)]
    pub spec: PollSpec,
    pub status: PollStatus,
    pub created_at: DateTime<Utc>,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl PollRow {
    pub(crate) fn into_record(self) -> StoreResult<PollRecord> {
        let bad = |what: &str| StoreError::Conflict(format!("poll {} has a bad {what}", self.id));
        let spec = PollSpec {
            kind: PollKind::parse(&self.kind).ok_or_else(|| bad("kind"))?,
            title: self.title.clone(),
            options: serde_json::from_str(&self.options).map_err(|_| bad("option list"))?,
            max_choices: u32::try_from(self.max_choices).map_err(|_| bad("max_choices"))?,
            allow_change: self.allow_change,
            results: ResultsVisibility::parse(&self.results).ok_or_else(|| bad("results"))?,
        };
        Ok(PollRecord {
            id: self.id,
            event_id: self.event_id,
            spec,
            status: PollStatus::parse(&self.status).ok_or_else(|| bad("status"))?,
            created_at: self.created_at,
            opened_at: self.opened_at,
            closed_at: self.closed_at,
        })
    }
}

impl PollRecord {
    pub fn public(&self, tally: Option<crate::domain::poll::Tally>) -> PublicPoll {
        let mut poll = PublicPoll {
            id: self.id,
            spec: self.spec.clone(),
            status: self.status,
            tally: None,
        };
        if poll.results_public() {
            poll.tally = tally;
        }
        poll
    }
}

pub(crate) const TALLY_VOTERS: &str = "SELECT COUNT(*) FROM poll_votes WHERE poll_id = $1";
pub(crate) const TALLY_COUNTS: &str = "SELECT option, COUNT(*) FROM poll_choices WHERE poll_id = $1 GROUP BY option";
pub(crate) const TALLY_WORDS: &str =
    "SELECT text, COUNT(*) FROM poll_votes WHERE poll_id = $1 AND text_status = 'approved'
     GROUP BY text ORDER BY COUNT(*) DESC, text LIMIT $2";

pub(crate) fn build_tally(spec: &PollSpec, voters: i64, counts: &[(i64, i64)], words: Vec<(String, i64)>) -> Tally {
    let (slots, offset) = match spec.kind {
        PollKind::Rating => (5, 1),
        _ => (spec.options.len(), 0),
    };
    let mut tally = vec![0; slots];
    for (option, count) in counts {
        if let Some(slot) = usize::try_from(option - offset).ok().and_then(|i| tally.get_mut(i)) {
            *slot = *count;
        }
    }
    let average = (spec.kind == PollKind::Rating && voters > 0).then(|| {
        let sum: i64 = tally.iter().enumerate().map(|(i, c)| (i as i64 + 1) * c).sum();
        (sum as f64 / tally.iter().sum::<i64>().max(1) as f64 * 100.0).round() / 100.0
    });
    Tally {
        voters,
        counts: if spec.kind == PollKind::OpenText {
            Vec::new()
        } else {
            tally
        },
        average,
        words: words
            .into_iter()
            .map(|(text, count)| WordCount { text, count })
            .collect(),
    }
}

/// A viewer's own vote, for their snapshot.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OwnVote {
    pub poll_id: PollId,
    pub text: Option<String>,
    pub text_status: Option<String>,
    #[sqlx(skip)]
    pub choices: Vec<i64>,
}

impl Store {
    /// Every poll of an event, drafts included, in creation order.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn polls(&self, event_id: EventId) -> StoreResult<Vec<PollRecord>> {
        const SQL: &str = concat!(
            "SELECT ",
            poll_columns!(),
            " FROM polls WHERE event_id = $1 ORDER BY id"
        );
        let rows = on_pool!(self, read p => sqlx::query_as::<_, PollRow>(SQL).bind(event_id).fetch_all(p).await)?;
        rows.into_iter().map(PollRow::into_record).collect()
    }

    /// A poll's tally, counted from the stored votes.
    #[tracing::instrument(skip(self, poll), fields(poll = poll.id.0), err(level = "debug"))]
    pub async fn poll_tally(&self, poll: &PollRecord) -> StoreResult<Tally> {
        let voters: i64 = on_pool!(self, read p => sqlx::query_scalar(TALLY_VOTERS).bind(poll.id).fetch_one(p).await)?;
        let counts: Vec<(i64, i64)> =
            on_pool!(self, read p => sqlx::query_as(TALLY_COUNTS).bind(poll.id).fetch_all(p).await)?;
        let words: Vec<(String, i64)> = if poll.spec.kind == PollKind::OpenText {
            on_pool!(self, read p => sqlx::query_as(TALLY_WORDS).bind(poll.id).bind(CLOUD_SIZE as i64).fetch_all(p).await)?
        } else {
            Vec::new()
        };
        Ok(build_tally(&poll.spec, voters, &counts, words))
    }

    /// The polls the public sees (not drafts), with their tallies where shown.
    pub async fn public_polls(&self, event_id: EventId) -> StoreResult<Vec<PublicPoll>> {
        let mut out = Vec::new();
        for poll in self
            .polls(event_id)
            .await?
            .into_iter()
            .filter(|p| p.status != PollStatus::Draft)
        {
            let tally = self.poll_tally(&poll).await?;
            out.push(poll.public(Some(tally)));
        }
        Ok(out)
    }

    /// A viewer's votes in an event's polls.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn viewer_votes(&self, event_id: EventId, viewer: &ViewerKey) -> StoreResult<Vec<OwnVote>> {
        const VOTES: &str = "SELECT v.poll_id, v.text, v.text_status FROM poll_votes v JOIN polls p ON p.id = v.poll_id
             WHERE p.event_id = $1 AND v.viewer_key = $2 ORDER BY v.poll_id";
        let mut votes: Vec<OwnVote> =
            on_pool!(self, read p => sqlx::query_as(VOTES).bind(event_id).bind(&viewer.0).fetch_all(p).await)?;
        const CHOICES: &str = "SELECT c.poll_id, c.option FROM poll_choices c JOIN polls p ON p.id = c.poll_id
             WHERE p.event_id = $1 AND c.viewer_key = $2 ORDER BY c.poll_id, c.option";
        let choices: Vec<(PollId, i64)> =
            on_pool!(self, read p => sqlx::query_as(CHOICES).bind(event_id).bind(&viewer.0).fetch_all(p).await)?;
        for (poll_id, option) in choices {
            if let Some(v) = votes.iter_mut().find(|v| v.poll_id == poll_id) {
                v.choices.push(option);
            }
        }
        Ok(votes)
    }
}
