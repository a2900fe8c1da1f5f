//! The group-commit writer of the live rooms.
//!
//! Every live write (a question, an upvote, a moderation action, a ban, a
//! room setting) is a [`Command`] sent to one writer task. The task takes
//! whatever is queued (up to `max_batch`), applies it all in ONE transaction
//! and commits; only then does it hand each room its committed changes (in
//! `seq` order, through the room's [`ChangeSink`]) and answer each caller. A
//! burst of thousands of questions costs a few transactions, and nothing is
//! acknowledged before it is durable.
//!
//! The queue is bounded: when the store falls behind, callers wait for room
//! in the queue instead of piling up memory.
//!
//! When the database is unreachable a write is refused in bounded time and
//! never acknowledged: a batch that fails for want of a connection fails
//! whole at once (no retry one by one, each waiting for the pool again); a
//! command that could not start within [`START_DEADLINE`] is refused without
//! being tried, and never applied later behind its caller's back; a batch
//! gets at most [`BATCH_TIMEOUT`] (a connection that stopped answering).

//!
//! Where it lives: this module is the queue and the group commit;
//! [`command`] says what may be asked; `failure` why a batch was not
//! committed and what its callers are told; `tx` holds [`LiveTx`], the batch's
//! transaction, whose one method per command is in the file of its family:
//! `posts` (questions, comments, upvotes), `moderation` (moderators' actions,
//! bans, room settings, the event's status) and `polls`. A new command is a
//! new variant, one arm of [`LiveTx::apply`] and one method.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Store, StoreError, StoreResult, on_pool};
use crate::domain::question::RoomChange;
use crate::domain::time::now;

mod command;
mod failure;
mod moderation;
mod polls;
mod posts;
mod reviews;
mod tx;
mod updates;

pub use command::{ChangeSink, Command, NewQuestion, Outcome, Queued, WriteError};
use failure::{BatchError, not_started, unavailable};
use polls::Verdict;
pub use reviews::Review;
use tx::{Address, Decided, LiveTx};
pub use updates::UpdateCommand;

type Applied = (Result<Outcome, WriteError>, Vec<(i64, RoomChange)>);

struct Job {
    command: Command,
    sink: Option<Arc<dyn ChangeSink>>,
    reply: oneshot::Sender<Result<Outcome, WriteError>>,
    /// Not started after this: refused, nothing saved.
    deadline: Instant,
}

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

/// A command not started this long after it was submitted is refused (nothing saved).
pub const START_DEADLINE: Duration = Duration::from_secs(8);
/// The longest one transaction may take; past it, it is abandoned.
pub const BATCH_TIMEOUT: Duration = Duration::from_secs(10);
/// While writes fail and none is queued, a probe commit is tried this often.
const PROBE_INTERVAL: Duration = Duration::from_secs(30);
/// How long a caller waits for the answer: the writer always answers before
/// (a command starts before its deadline and takes at most a batch).
pub(super) const REPLY_TIMEOUT: Duration = Duration::from_secs(START_DEADLINE.as_secs() + BATCH_TIMEOUT.as_secs() + 5);

impl Writer {
    /// Start the writer task. `queue` bounds the commands waiting; `max_batch`
    /// bounds one transaction.
    pub fn spawn(store: Store, queue: usize, max_batch: usize) -> Self {
        let (jobs, rx) = mpsc::channel(queue.max(1));
        tokio::spawn(run(store, rx, max_batch.max(1)));
        Self { jobs }
    }

    /// Commit `command`; `sink` receives the room changes after the commit.
    pub async fn submit(&self, command: Command, sink: Option<Arc<dyn ChangeSink>>) -> Result<Outcome, WriteError> {
        self.enqueue(command, sink).await?.outcome().await
    }

    /// Queue `command` and return at once with its place in the queue: the
    /// commands of one caller are committed in the order they were queued,
    /// so a connection may queue its next command before the last commits
    /// (a moderator's commands then share a transaction instead of waiting
    /// for each other's commit).
    pub async fn enqueue(&self, command: Command, sink: Option<Arc<dyn ChangeSink>>) -> Result<Queued, WriteError> {
        let (reply, answer) = oneshot::channel();
        let deadline = Instant::now() + START_DEADLINE;
        let job = Job {
            command,
            sink,
            reply,
            deadline,
        };
        match tokio::time::timeout_at(deadline, self.jobs.send(job)).await {
            Ok(Ok(())) => Ok(Queued::new(answer)),
            Ok(Err(_)) => Err(WriteError::Unavailable("the writer has stopped".into())),
            Err(_) => Err(not_started()),
        }
    }
}

#[tracing::instrument(name = "writer", skip_all)]
async fn run(store: Store, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        let received = if store.writes_failing() {
            // Nothing to write, and the last write failed: try a small commit
            // now and then, so readiness comes back when the database takes
            // writes again even if no one sends any (a balancer that stopped
            // sending traffic to a node not ready would otherwise wait forever).
            match tokio::time::timeout(PROBE_INTERVAL, rx.recv_many(&mut batch, max_batch)).await {
                Ok(received) => received,
                Err(_) => {
                    probe(&store).await;
                    continue;
                }
            }
        } else {
            rx.recv_many(&mut batch, max_batch).await
        };
        if received == 0 {
            break;
        }
        refuse_late(&mut batch);
        if batch.is_empty() {
            continue;
        }
        let commands: Vec<Command> = batch.iter().map(|j| j.command.clone()).collect();
        let results = match bounded_batch(&store, &commands).await {
            Ok(results) => results,
            Err(e) if commands.len() > 1 && !e.is_unreachable() => {
                // One bad command must not sink its neighbours: retry each alone.
                tracing::warn!(error = %e, size = commands.len(), "batch failed; retrying its commands one by one");
                one_by_one(&store, &commands, &batch).await
            }
            // Unreachable: the whole batch fails now (nothing was committed).
            Err(e) => commands.iter().map(|_| (Err(unavailable(&e)), Vec::new())).collect(),
        };
        tracing::debug!(size = batch.len(), "batch committed");
        for (job, (result, changes)) in batch.drain(..).zip(results) {
            if let Some(sink) = &job.sink {
                for (seq, change) in &changes {
                    sink.committed(*seq, change);
                }
            }
            let _ = job.reply.send(result);
        }
    }
}

/// A probe commit, its outcome told to the store's readiness.
async fn probe(store: &Store) {
    let probe = store.probe_write(BATCH_TIMEOUT).await;
    if let Err(e) = &probe {
        tracing::warn!(error = %e, "the database still refuses writes");
    }
    store.note_write(probe.is_ok());
}

/// Too late to start (the store was slow or away): refused, never tried.
/// A command whose caller has gone (the client left after sending it) is
/// still done: it was read, and nobody was told it failed.
fn refuse_late(batch: &mut Vec<Job>) {
    let now = Instant::now();
    let (late, kept): (Vec<Job>, Vec<Job>) = batch.drain(..).partition(|job| job.deadline <= now);
    *batch = kept;
    for job in late {
        let _ = job.reply.send(Err(not_started()));
    }
}

/// Each command of a failed batch alone, in its own transaction; once the
/// database is found unreachable, the rest fail without being tried.
async fn one_by_one(store: &Store, commands: &[Command], batch: &[Job]) -> Vec<Applied> {
    let mut results = Vec::with_capacity(commands.len());
    let mut unreachable = None;
    for (command, job) in commands.iter().zip(batch) {
        if let Some(e) = &unreachable {
            results.push((Err(unavailable(e)), Vec::new()));
            continue;
        }
        if job.deadline <= Instant::now() {
            results.push((Err(not_started()), Vec::new()));
            continue;
        }
        match bounded_batch(store, std::slice::from_ref(command)).await {
            Ok(mut r) => results.push(r.remove(0)),
            Err(e) => {
                results.push((Err(unavailable(&e)), Vec::new()));
                if e.is_unreachable() {
                    unreachable = Some(e);
                }
            }
        }
    }
    results
}

/// [`apply_batch`], its outcome told to the store's readiness: a failed
/// batch makes `/readyz` not ready until a commit succeeds again.
async fn bounded_batch(store: &Store, commands: &[Command]) -> Result<Vec<Applied>, BatchError> {
    let result = apply_batch(store, commands).await;
    store.note_write(result.is_ok());
    result
}

impl LiveTx<'_> {
    /// One command: one method.
    pub(super) async fn apply(&mut self, command: &Command) -> StoreResult<Decided> {
        match command {
            Command::Ask(q) => self.ask(q).await,
            Command::Upvote {
                event_id,
                question_id,
                viewer,
                ip,
                per_address,
            } => {
                self.upvote(*event_id, *question_id, viewer, Address::new(ip, *per_address))
                    .await
            }
            Command::Moderate {
                event_id,
                question_id,
                action,
                staff_id,
            } => self.moderate(*event_id, *question_id, action, *staff_id).await,
            Command::Ban {
                event_id,
                viewer,
                ip,
                reason,
                until,
                permanent,
                staff_id,
            } => {
                let term = (reason.as_str(), *until, *permanent);
                self.ban(*event_id, viewer, ip, term, *staff_id).await
            }
            Command::Unban {
                event_id,
                ban_id,
                admin,
                staff_id,
            } => self.unban(*event_id, *ban_id, *admin, *staff_id).await,
            Command::Settings {
                event_id,
                moderation,
                slow_mode_secs,
                staff_id,
            } => self.settings(*event_id, *moderation, *slow_mode_secs, *staff_id).await,
            Command::Interaction {
                event_id,
                paused,
                staff_id,
            } => self.interaction(*event_id, *paused, *staff_id).await,
            Command::Withdraw {
                event_id,
                since,
                staff_id,
            } => self.withdraw(*event_id, *since, *staff_id).await,
            Command::EventStatus { event_id, status } => self.event_status(*event_id, *status).await,
            Command::CreatePoll {
                event_id,
                spec,
                staff_id,
            } => self.create_poll(*event_id, spec, *staff_id).await,
            Command::SetPollStatus {
                event_id,
                poll_id,
                open,
                staff_id,
            } => self.set_poll_status(*event_id, *poll_id, *open, *staff_id).await,
            Command::Vote {
                event_id,
                poll_id,
                viewer,
                ballot,
                text_status,
                hits,
                ip,
                per_address,
            } => {
                let (verdict, from) = (Verdict::new(*text_status, hits), Address::new(ip, *per_address));
                self.vote(*event_id, *poll_id, viewer, ballot, verdict, from).await
            }
            Command::PollTally { event_id, poll_id } => self.poll_tally(*event_id, *poll_id).await,
            Command::Review(review) => self.review(review).await,
            Command::Update(update) => self.update(update).await,
        }
    }
}

/// Apply `commands` in one transaction, abandoned after [`BATCH_TIMEOUT`].
/// `Err` means nothing was committed, and the connection that tried is closed.
async fn apply_batch(store: &Store, commands: &[Command]) -> Result<Vec<Applied>, BatchError> {
    let at = now();
    let deadline = Instant::now() + BATCH_TIMEOUT;
    on_pool!(store, write p => {
        let mut conn = match tokio::time::timeout_at(deadline, p.acquire()).await {
            Ok(conn) => conn.map_err(|e| BatchError::Store(e.into()))?,
            Err(_) => return Err(BatchError::TimedOut),
        };
        let applied = tokio::time::timeout_at(deadline, async {
            let tx = conn.begin().await?;
            LiveTx::new(tx.into(), at).apply_all(commands).await
        })
        .await;
        match applied {
            Ok(Ok(results)) => Ok(results),
            failed => {
                // Whatever failed, this connection is not trusted with the
                // next batch. SQLite rolls a transaction back by itself when
                // a commit hits SQLITE_FULL (and on some I/O errors); sqlx's
                // own ROLLBACK then fails and its count of open transactions
                // stays at one, so the next batch runs as a SAVEPOINT; when
                // that one fails too, sqlx's ROLLBACK TO SAVEPOINT leaves
                // SQLite's transaction open, and every later batch only
                // released a savepoint inside a transaction that never
                // committed: acknowledged, then lost. An abandoned batch may
                // also still be running on it. The pool opens a fresh
                // connection for the next batch.
                conn.close_on_drop();
                Err(match failed {
                    Ok(Err(e)) => BatchError::Store(e),
                    _ => BatchError::TimedOut,
                })
            }
        }
    })
}
