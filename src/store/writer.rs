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

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::live::{QuestionRecord, QuestionRow, question_columns};
use super::polls::{PollRecord, PollRow, TALLY_COUNTS, TALLY_VOTERS, TALLY_WORDS, build_tally, poll_columns};
use super::{Store, StoreError, on_pool};
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::poll::{
    Ballot, CLOUD_SIZE, CheckedBallot, PollKind, PollSpec, PollStatus, ResultsVisibility, Tally,
};
use crate::domain::question::{ModAction, ModerationMode, PostKind, QuestionStatus, RoomChange, ViewerKey};
use crate::domain::time::now;

/// Receives a room's changes after they are committed, in `seq` order.
pub trait ChangeSink: Send + Sync {
    fn committed(&self, seq: i64, change: &RoomChange);
}

/// A question as it enters the store; the caller has screened it and chosen
/// its first status.
#[derive(Debug, Clone)]
pub struct NewQuestion {
    pub event_id: i64,
    pub viewer: ViewerKey,
    pub nickname: String,
    pub text: String,
    /// The client's request id: a retry with the same one is not a second question.
    pub client_ref: Option<String>,
    pub ip: Option<String>,
    /// A question or a comment.
    pub kind: PostKind,
    pub status: QuestionStatus,
    pub reject_reason: Option<String>,
    /// Sensitive-word hits, as JSON.
    pub hits: serde_json::Value,
}

#[derive(Debug, Clone)]
pub enum Command {
    Ask(NewQuestion),
    Upvote {
        event_id: i64,
        question_id: i64,
        viewer: ViewerKey,
        /// The client's address, kept with the upvote; `per_address` of its
        /// viewer tokens may upvote one question (0: no cap).
        ip: Option<String>,
        per_address: u32,
    },
    Moderate {
        event_id: i64,
        question_id: i64,
        action: ModAction,
        staff_id: i64,
    },
    Ban {
        event_id: i64,
        viewer: Option<ViewerKey>,
        ip: Option<String>,
        reason: String,
        staff_id: i64,
    },
    Settings {
        event_id: i64,
        moderation: ModerationMode,
        slow_mode_secs: u32,
        staff_id: i64,
    },
    EventStatus {
        event_id: i64,
        status: EventStatus,
    },
    CreatePoll {
        event_id: i64,
        spec: PollSpec,
        staff_id: i64,
    },
    /// Open (a draft, or reopen a closed poll) or close a poll.
    SetPollStatus {
        event_id: i64,
        poll_id: i64,
        open: bool,
        staff_id: i64,
    },
    /// `text_status` and `hits`: the screen's verdict on an open-text answer.
    Vote {
        event_id: i64,
        poll_id: i64,
        viewer: ViewerKey,
        ballot: Ballot,
        text_status: Option<&'static str>,
        hits: serde_json::Value,
        /// The client's address, kept with the vote; `per_address` of its
        /// viewer tokens may vote in one poll (0: no cap).
        ip: Option<String>,
        per_address: u32,
    },
    /// Count an open poll's votes and, when its results are live, log the tally.
    PollTally {
        event_id: i64,
        poll_id: i64,
    },
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// `duplicate`: the same request (same `client_ref`) was already stored.
    Asked {
        question: QuestionRecord,
        duplicate: bool,
    },
    Upvoted {
        question_id: i64,
        upvotes: i64,
    },
    Moderated {
        before: QuestionRecord,
        after: QuestionRecord,
    },
    Banned,
    SettingsChanged,
    StatusLogged,
    Poll {
        poll: PollRecord,
        tally: Option<Tally>,
    },
    /// `changed`: the viewer had voted before and changed the vote.
    Voted {
        poll_id: i64,
        changed: bool,
    },
    Tally {
        poll_id: i64,
        tally: Option<Tally>,
        public: bool,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The command was understood and refused (the reason is for the user).
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// Nothing was written; try again later.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

fn refused(code: ErrorCode, message: impl Into<String>) -> WriteError {
    WriteError::Refused {
        code,
        message: message.into(),
    }
}

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
const REPLY_TIMEOUT: Duration = Duration::from_secs(START_DEADLINE.as_secs() + BATCH_TIMEOUT.as_secs() + 5);

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
            Ok(Ok(())) => Ok(Queued { answer }),
            Ok(Err(_)) => Err(WriteError::Unavailable("the writer has stopped".into())),
            Err(_) => Err(not_started()),
        }
    }
}

/// A queued command; [`Queued::outcome`] waits for its commit.
pub struct Queued {
    answer: oneshot::Receiver<Result<Outcome, WriteError>>,
}

impl Queued {
    /// The command's outcome, once committed (or refused). Dropping a
    /// `Queued` whose command has not started withdraws it.
    pub async fn outcome(self) -> Result<Outcome, WriteError> {
        match tokio::time::timeout(REPLY_TIMEOUT, self.answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(WriteError::Unavailable("the writer has stopped".into())),
            Err(_) => Err(WriteError::Unavailable(
                "the database did not answer in time; the write may not have been saved: send it again".into(),
            )),
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
                    let probe = store.probe_write(BATCH_TIMEOUT).await;
                    if let Err(e) = &probe {
                        tracing::warn!(error = %e, "the database still refuses writes");
                    }
                    store.note_write(probe.is_ok());
                    continue;
                }
            }
        } else {
            rx.recv_many(&mut batch, max_batch).await
        };
        if received == 0 {
            break;
        }
        // Too late to start (the store was slow or away): refused, never tried.
        // A command whose caller has gone (the client left after sending it)
        // is still done: it was read, and nobody was told it failed.
        let now = Instant::now();
        let (late, kept): (Vec<Job>, Vec<Job>) = batch.drain(..).partition(|job| job.deadline <= now);
        batch = kept;
        for job in late {
            let _ = job.reply.send(Err(not_started()));
        }
        if batch.is_empty() {
            continue;
        }
        let commands: Vec<Command> = batch.iter().map(|j| j.command.clone()).collect();
        let results = match bounded_batch(&store, &commands).await {
            Ok(results) => results,
            Err(e) if commands.len() > 1 && !e.is_unreachable() => {
                // One bad command must not sink its neighbours: retry each alone.
                tracing::warn!(error = %e, size = commands.len(), "batch failed; retrying its commands one by one");
                let mut results = Vec::with_capacity(commands.len());
                let mut unreachable = None;
                for (command, job) in commands.iter().zip(&batch) {
                    if let Some(e) = &unreachable {
                        results.push((Err(unavailable(e)), Vec::new()));
                        continue;
                    }
                    if job.deadline <= Instant::now() {
                        results.push((Err(not_started()), Vec::new()));
                        continue;
                    }
                    match bounded_batch(&store, std::slice::from_ref(command)).await {
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

/// Why a batch was not committed.
#[derive(Debug)]
enum BatchError {
    Store(StoreError),
    /// The transaction took longer than [`BATCH_TIMEOUT`] and was abandoned.
    TimedOut,
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Store(e) => e.fmt(f),
            Self::TimedOut => write!(f, "the transaction took longer than {BATCH_TIMEOUT:?}"),
        }
    }
}

impl BatchError {
    /// The database cannot be reached (as opposed to one command it refused):
    /// trying the commands one by one would only wait for it again.
    fn is_unreachable(&self) -> bool {
        match self {
            Self::TimedOut => true,
            Self::Store(StoreError::Database(e)) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::BeginFailed => true,
                // SQLite: the disk is full, or the file cannot be written at all.
                sqlx::Error::Database(db) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| SQLITE_CANNOT_WRITE.contains(&(c & 0xff))),
                // Connection exceptions, operator intervention (a restart), out of resources.
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || c.starts_with("53")),
                _ => false,
            },
            Self::Store(_) => false,
        }
    }
}

/// SQLite primary result codes that refuse every write alike (retrying the
/// commands one by one would fail each): NOMEM, READONLY, IOERR, FULL, CANTOPEN.
const SQLITE_CANNOT_WRITE: [i32; 5] = [7, 8, 10, 13, 14];

/// [`apply_batch`], its outcome told to the store's readiness: a failed
/// batch makes `/readyz` not ready until a commit succeeds again.
async fn bounded_batch(store: &Store, commands: &[Command]) -> Result<Vec<Applied>, BatchError> {
    let result = apply_batch(store, commands).await;
    store.note_write(result.is_ok());
    result
}

fn not_started() -> WriteError {
    WriteError::Unavailable("the database is not taking writes now; nothing was saved".into())
}

fn unavailable(e: &BatchError) -> WriteError {
    tracing::error!(error = %e, "live write failed");
    match e {
        BatchError::TimedOut => WriteError::Unavailable(
            "the database stopped answering; the write may not have been saved: send it again".into(),
        ),
        BatchError::Store(_) => {
            WriteError::Unavailable("the database did not accept the write; nothing was saved".into())
        }
    }
}

/// Append `change` to the room log inside `$tx`; evaluates to its seq.
macro_rules! log_change {
    ($tx:expr, $event_id:expr, $change:expr, $at:expr) => {{
        let next: Option<i64> =
            sqlx::query_scalar("UPDATE rooms SET last_seq = last_seq + 1 WHERE event_id = $1 RETURNING last_seq")
                .bind($event_id)
                .fetch_optional(&mut *$tx)
                .await?;
        let seq = match next {
            Some(seq) => seq,
            None => {
                sqlx::query("INSERT INTO rooms (event_id, last_seq) VALUES ($1, 1)")
                    .bind($event_id)
                    .execute(&mut *$tx)
                    .await?;
                1
            }
        };
        let json = serde_json::to_string(&$change).map_err(|e| StoreError::Conflict(e.to_string()))?;
        sqlx::query("INSERT INTO room_log (event_id, seq, change, created_at, item_id) VALUES ($1, $2, $3, $4, $5)")
            .bind($event_id)
            .bind(seq)
            .bind(json)
            .bind($at)
            .bind($change.content_of())
            .execute(&mut *$tx)
            .await?;
        seq
    }};
}

/// Rewrite, inside `$tx`, the frames logged before `$seq` that carry the
/// public content of the item `$change` (logged at `$seq`) hides or changes:
/// the log is replayed to every client that resumes or starts from
/// `last_seq: 0`, so a hide turns them into removals and an edit gives them
/// the current text ([`RoomChange::redacted_by`]). Seqs stay as they are and
/// no row is deleted. The rooms' in-memory rings do the same when they apply
/// the change, on every node.
macro_rules! redact_earlier {
    ($tx:expr, $event_id:expr, $seq:expr, $change:expr) => {{
        let later: &RoomChange = &$change;
        if let Some(item) = later.supersedes() {
            let earlier: Vec<(i64, String)> =
                sqlx::query_as("SELECT seq, change FROM room_log WHERE event_id = $1 AND item_id = $2 AND seq < $3")
                    .bind($event_id)
                    .bind(item)
                    .bind($seq)
                    .fetch_all(&mut *$tx)
                    .await?;
            for (seq, json) in earlier {
                let logged: RoomChange = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Conflict(format!("room log {}/{seq} is unreadable: {e}", $event_id)))?;
                if let Some(redacted) = logged.redacted_by(later) {
                    let json = serde_json::to_string(&redacted).map_err(|e| StoreError::Conflict(e.to_string()))?;
                    sqlx::query("UPDATE room_log SET change = $1, item_id = $2 WHERE event_id = $3 AND seq = $4")
                        .bind(json)
                        .bind(redacted.content_of())
                        .bind($event_id)
                        .bind(seq)
                        .execute(&mut *$tx)
                        .await?;
                }
            }
        }
    }};
}

macro_rules! audit {
    ($tx:expr, $event_id:expr, $kind:expr, $actor:expr, $action:expr, $subject:expr, $before:expr, $after:expr, $at:expr) => {
        sqlx::query(
            "INSERT INTO audit_log (event_id, actor_kind, actor, action, subject_id, before_json, after_json, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind($event_id)
        .bind($kind)
        .bind($actor)
        .bind($action)
        .bind($subject)
        .bind($before)
        .bind($after)
        .bind($at)
        .execute(&mut *$tx)
        .await?
    };
}
pub(super) use audit;

/// Whether `$ip` already has `$max` viewer tokens in `$table` for this
/// question or poll (`$column = $id`): until viewers have an identity, one
/// address may upvote a question or vote in a poll with that many tokens.
/// On PostgreSQL several nodes write at once: an advisory lock on (what,
/// address) makes two nodes count one after the other (held to the commit).
macro_rules! address_full {
    ($tx:expr, $pg:expr, $table:literal, $column:literal, $id:expr, $ip:expr, $max:expr) => {{
        match ($ip, $max) {
            (Some(ip), max) if max > 0 => {
                if $pg {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(address_lock_key($table, $id, ip))
                        .execute(&mut *$tx)
                        .await?;
                }
                const COUNT: &str = concat!("SELECT COUNT(*) FROM ", $table, " WHERE ", $column, " = $1 AND ip = $2");
                let n: i64 = sqlx::query_scalar(COUNT)
                    .bind($id)
                    .bind(ip)
                    .fetch_one(&mut *$tx)
                    .await?;
                n >= i64::from(max)
            }
            _ => false,
        }
    }};
}

/// A stable advisory-lock key for (table, id, address): FNV-1a, so every
/// node computes the same one (a collision only makes two counts wait).
fn address_lock_key(table: &str, id: i64, ip: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in table.bytes().chain(id.to_le_bytes()).chain(ip.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

fn too_many_from_address(what: &str) -> WriteError {
    refused(
        ErrorCode::TooManyFromAddress,
        format!("too many viewers from your network address have already {what}"),
    )
}

/// How a command reads a row it decides on. On PostgreSQL several nodes
/// write at once: a vote holds the poll row shared until its transaction ends, so a
/// close committing on another node waits for the vote and counts it (or the
/// vote waits for the close and sees the poll closed); opening and closing
/// hold it exclusively, so two nodes never close the same poll twice, and a
/// moderation holds its question exclusively, so two moderators on two nodes
/// decide one after the other, each on the current state. SQLite
/// has one writer at a time and needs none of it (nor has the syntax).
#[derive(Clone, Copy, PartialEq, Eq)]
enum RowLock {
    None,
    Share,
    Update,
}

/// `SELECT <columns> FROM <table> WHERE id = $1 AND event_id = $2`, with the
/// row lock asked for.
macro_rules! select_by_id {
    ($columns:expr, $table:literal, $lock:expr) => {{
        const SQL: &str = concat!(
            "SELECT ",
            $columns,
            " FROM ",
            $table,
            " WHERE id = $1 AND event_id = $2"
        );
        const SHARE: &str = concat!(
            "SELECT ",
            $columns,
            " FROM ",
            $table,
            " WHERE id = $1 AND event_id = $2 FOR SHARE"
        );
        const UPDATE: &str = concat!(
            "SELECT ",
            $columns,
            " FROM ",
            $table,
            " WHERE id = $1 AND event_id = $2 FOR UPDATE"
        );
        match $lock {
            RowLock::None => SQL,
            RowLock::Share => SHARE,
            RowLock::Update => UPDATE,
        }
    }};
}

macro_rules! fetch_poll {
    ($tx:expr, $event_id:expr, $id:expr) => {
        fetch_poll!($tx, $event_id, $id, RowLock::None)
    };
    ($tx:expr, $event_id:expr, $id:expr, $lock:expr) => {{
        let sql = select_by_id!(poll_columns!(), "polls", $lock);
        let row: Option<PollRow> = sqlx::query_as(sql)
            .bind($id)
            .bind($event_id)
            .fetch_optional(&mut *$tx)
            .await?;
        match row {
            Some(r) => Some(r.into_record()?),
            None => None,
        }
    }};
}

/// Count a poll's stored votes inside `$tx`.
macro_rules! tally {
    ($tx:expr, $poll:expr) => {{
        let poll: &PollRecord = $poll;
        let voters: i64 = sqlx::query_scalar(TALLY_VOTERS)
            .bind(poll.id)
            .fetch_one(&mut *$tx)
            .await?;
        let counts: Vec<(i64, i64)> = sqlx::query_as(TALLY_COUNTS).bind(poll.id).fetch_all(&mut *$tx).await?;
        let words: Vec<(String, i64)> = if poll.spec.kind == PollKind::OpenText {
            sqlx::query_as(TALLY_WORDS)
                .bind(poll.id)
                .bind(CLOUD_SIZE as i64)
                .fetch_all(&mut *$tx)
                .await?
        } else {
            Vec::new()
        };
        build_tally(&poll.spec, voters, &counts, words)
    }};
}

macro_rules! fetch_question {
    ($tx:expr, $event_id:expr, $id:expr) => {
        fetch_question!($tx, $event_id, $id, RowLock::None)
    };
    ($tx:expr, $event_id:expr, $id:expr, $lock:expr) => {{
        let sql = select_by_id!(question_columns!(), "questions", $lock);
        let row: Option<QuestionRow> = sqlx::query_as(sql)
            .bind($id)
            .bind($event_id)
            .fetch_optional(&mut *$tx)
            .await?;
        match row {
            Some(r) => Some(r.into_record()?),
            None => None,
        }
    }};
}

/// What the audit log keeps of a question.
fn audit_view(q: &QuestionRecord) -> String {
    serde_json::json!({ "status": q.status, "text": q.text, "answered": q.answered, "answer": q.answer,
        "reject_reason": q.reject_reason })
    .to_string()
}

/// Apply `commands` in one transaction, abandoned after [`BATCH_TIMEOUT`].
/// `Err` means nothing was committed, and the connection that tried is closed.
async fn apply_batch(store: &Store, commands: &[Command]) -> Result<Vec<Applied>, BatchError> {
    let at: DateTime<Utc> = now();
    // SQLite has one writer at a time; PostgreSQL serves several nodes at once.
    let pg = store.backend().has_row_locks();
    let lock = |mode: RowLock| if pg { mode } else { RowLock::None };
    let deadline = Instant::now() + BATCH_TIMEOUT;
    on_pool!(store, write p => {
        let mut conn = match tokio::time::timeout_at(deadline, p.acquire()).await {
            Ok(conn) => conn.map_err(|e| BatchError::Store(e.into()))?,
            Err(_) => return Err(BatchError::TimedOut),
        };
        let applied = tokio::time::timeout_at(deadline, async {
        let mut tx = conn.begin().await?;
        let mut results: Vec<Applied> = Vec::with_capacity(commands.len());
        for command in commands {
            let mut changes = Vec::new();
            let result: Result<Outcome, WriteError> = match command {
                Command::Ask(q) => {
                    const INSERT: &str = concat!(
                        "INSERT INTO questions (event_id, viewer_key, nickname, text, status, reject_reason, screen_hits, \
                         client_ref, ip, created_at, moderated_at, kind) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                         ON CONFLICT (event_id, viewer_key, client_ref) WHERE client_ref IS NOT NULL DO NOTHING RETURNING ",
                        question_columns!()
                    );
                    let hits = (q.hits.as_array().is_some_and(|h| !h.is_empty())).then(|| q.hits.to_string());
                    let decided = (q.status != QuestionStatus::Pending).then_some(at);
                    let row: Option<QuestionRow> = sqlx::query_as(INSERT)
                        .bind(q.event_id).bind(&q.viewer.0).bind(&q.nickname).bind(&q.text).bind(q.status.as_str())
                        .bind(&q.reject_reason).bind(hits).bind(&q.client_ref).bind(&q.ip).bind(at).bind(decided)
                        .bind(q.kind.as_str())
                        .fetch_optional(&mut *tx).await?;
                    match row {
                        Some(row) => {
                            let question = row.into_record()?;
                            if question.status == QuestionStatus::Approved {
                                let change = question.shown();
                                changes.push((log_change!(tx, q.event_id, change, at), change));
                            }
                            if !q.hits.as_array().is_none_or(|h| h.is_empty()) || question.status == QuestionStatus::Rejected {
                                let action = if question.status == QuestionStatus::Rejected { "screen_reject" } else { "screen_hold" };
                                audit!(tx, q.event_id, "system", "screen", action, Some(question.id), None::<String>,
                                    Some(audit_view(&question)), at);
                            }
                            Ok(Outcome::Asked { question, duplicate: false })
                        }
                        None => {
                            const SAME: &str = concat!("SELECT ", question_columns!(),
                                " FROM questions WHERE event_id = $1 AND viewer_key = $2 AND client_ref = $3");
                            let row: QuestionRow = sqlx::query_as(SAME).bind(q.event_id).bind(&q.viewer.0).bind(&q.client_ref)
                                .fetch_one(&mut *tx).await?;
                            Ok(Outcome::Asked { question: row.into_record()?, duplicate: true })
                        }
                    }
                }
                Command::Upvote { event_id, question_id, viewer, ip, per_address } => {
                    let found: Option<(String, String)> = sqlx::query_as("SELECT status, kind FROM questions WHERE id = $1 AND event_id = $2")
                        .bind(question_id).bind(event_id).fetch_optional(&mut *tx).await?;
                    match found.as_ref().map(|(s, k)| (s.as_str(), k.as_str())) {
                        None => Err(refused(ErrorCode::NotFound, "no such question in this room")),
                        Some((_, "comment")) => Err(refused(ErrorCode::NotAQuestion, "comments are not upvoted")),
                        Some((s, _)) if s != "approved" => Err(refused(ErrorCode::NotVisible, "only published questions can be upvoted")),
                        Some(_) => {
                            let mine: Option<String> = sqlx::query_scalar("SELECT viewer_key FROM upvotes WHERE question_id = $1 AND viewer_key = $2")
                                .bind(question_id).bind(&viewer.0).fetch_optional(&mut *tx).await?;
                            let full = mine.is_none() && address_full!(tx, pg, "upvotes", "question_id", *question_id, ip.as_deref(), *per_address);
                            let added = if mine.is_some() || full {
                                0
                            } else {
                                sqlx::query("INSERT INTO upvotes (question_id, viewer_key, created_at, ip) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
                                    .bind(question_id).bind(&viewer.0).bind(at).bind(ip).execute(&mut *tx).await?.rows_affected()
                            };
                            if full {
                                Err(too_many_from_address("upvoted this question"))
                            } else if added == 0 {
                                Err(refused(ErrorCode::AlreadyUpvoted, "you have already upvoted this question"))
                            } else {
                                let upvotes: i64 = sqlx::query_scalar("UPDATE questions SET upvotes = upvotes + 1 WHERE id = $1 RETURNING upvotes")
                                    .bind(question_id).fetch_one(&mut *tx).await?;
                                let change = RoomChange::Upvotes { question_id: *question_id, upvotes };
                                changes.push((log_change!(tx, *event_id, change, at), change));
                                Ok(Outcome::Upvoted { question_id: *question_id, upvotes })
                            }
                        }
                    }
                }
                Command::Moderate { event_id, question_id, action, staff_id } => {
                    // Exclusive: moderators on two nodes decide one after the other, each on the current state.
                    match fetch_question!(tx, *event_id, *question_id, lock(RowLock::Update)) {
                        None => Err(refused(ErrorCode::NotFound, "no such question in this room")),
                        Some(before) => match action.next_status(before.status) {
                            Err(why) => Err(refused(ErrorCode::WrongStatus, why)),
                            Ok(_) if before.kind == PostKind::Comment
                                && matches!(action, ModAction::Pin | ModAction::Unpin | ModAction::Answer { .. }) =>
                            {
                                Err(refused(ErrorCode::NotAQuestion, "comments are not pinned or answered; promote the comment to a question first"))
                            }
                            Ok(_) if before.kind == PostKind::Question && *action == ModAction::Promote => {
                                Err(refused(ErrorCode::NotAComment, "only comments are promoted to questions"))
                            }
                            Ok(next) => {
                                let pinned: Option<i64> = sqlx::query_scalar("SELECT pinned_question_id FROM rooms WHERE event_id = $1")
                                    .bind(event_id).fetch_optional(&mut *tx).await?.flatten();
                                match action {
                                    ModAction::Approve | ModAction::Hide | ModAction::Reject { .. } => {
                                        let reason = match action { ModAction::Reject { reason } => Some(reason.clone()), _ => None };
                                        sqlx::query("UPDATE questions SET status = $1, reject_reason = COALESCE($2, reject_reason), moderated_at = $3, moderated_by = $4 WHERE id = $5")
                                            .bind(next.as_str()).bind(reason).bind(at).bind(staff_id).bind(question_id)
                                            .execute(&mut *tx).await?;
                                    }
                                    ModAction::Edit { text } => {
                                        sqlx::query("UPDATE questions SET original_text = COALESCE(original_text, text), text = $1, moderated_at = $2, moderated_by = $3 WHERE id = $4")
                                            .bind(text).bind(at).bind(staff_id).bind(question_id).execute(&mut *tx).await?;
                                    }
                                    ModAction::Answer { text } => {
                                        sqlx::query("UPDATE questions SET answered = TRUE, answer = COALESCE($1, answer), moderated_at = $2, moderated_by = $3 WHERE id = $4")
                                            .bind(text).bind(at).bind(staff_id).bind(question_id).execute(&mut *tx).await?;
                                    }
                                    ModAction::Pin => {
                                        sqlx::query("UPDATE rooms SET pinned_question_id = $1 WHERE event_id = $2")
                                            .bind(question_id).bind(event_id).execute(&mut *tx).await?;
                                    }
                                    ModAction::Promote => {
                                        sqlx::query("UPDATE questions SET kind = 'question', moderated_at = $1, moderated_by = $2 WHERE id = $3")
                                            .bind(at).bind(staff_id).bind(question_id).execute(&mut *tx).await?;
                                    }
                                    ModAction::Unpin => {}
                                }
                                let after = fetch_question!(tx, *event_id, *question_id).ok_or(StoreError::NotFound("question"))?;
                                let visible_change = after.shown();
                                let unpin = pinned == Some(*question_id)
                                    && matches!(action, ModAction::Unpin | ModAction::Hide);
                                if unpin {
                                    sqlx::query("UPDATE rooms SET pinned_question_id = NULL WHERE event_id = $1")
                                        .bind(event_id).execute(&mut *tx).await?;
                                }
                                let mut room_changes = Vec::new();
                                match action {
                                    ModAction::Approve => room_changes.push(visible_change),
                                    ModAction::Edit { .. } | ModAction::Answer { .. } if after.status == QuestionStatus::Approved => {
                                        room_changes.push(visible_change)
                                    }
                                    ModAction::Hide => room_changes.push(before.removed()),
                                    ModAction::Promote if after.status == QuestionStatus::Approved => {
                                        room_changes.push(before.removed());
                                        room_changes.push(visible_change);
                                    }
                                    ModAction::Pin => room_changes.push(RoomChange::Pinned { question_id: Some(*question_id) }),
                                    _ => {}
                                }
                                if unpin {
                                    room_changes.push(RoomChange::Pinned { question_id: None });
                                }
                                for change in room_changes {
                                    let seq = log_change!(tx, *event_id, change, at);
                                    // A hide, an edit or a promotion reaches back: the earlier
                                    // frames of this post stop showing what is no longer public.
                                    redact_earlier!(tx, *event_id, seq, change);
                                    changes.push((seq, change));
                                }
                                audit!(tx, *event_id, "staff", staff_id.to_string(), action.name(), Some(*question_id),
                                    Some(audit_view(&before)), Some(audit_view(&after)), at);
                                Ok(Outcome::Moderated { before, after })
                            }
                        },
                    }
                }
                Command::Ban { event_id, viewer, ip, reason, staff_id } => {
                    sqlx::query("INSERT INTO bans (event_id, viewer_key, ip, reason, banned_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(event_id).bind(viewer.as_ref().map(|v| v.0.clone())).bind(ip).bind(reason).bind(staff_id).bind(at)
                        .execute(&mut *tx).await?;
                    let after = serde_json::json!({ "viewer": viewer, "ip": ip, "reason": reason }).to_string();
                    audit!(tx, *event_id, "staff", staff_id.to_string(), "ban", None::<i64>, None::<String>, Some(after), at);
                    Ok(Outcome::Banned)
                }
                Command::Settings { event_id, moderation, slow_mode_secs, staff_id } => {
                    let before: Option<(String, i64)> = sqlx::query_as("SELECT moderation, slow_mode_secs FROM rooms WHERE event_id = $1")
                        .bind(event_id).fetch_optional(&mut *tx).await?;
                    sqlx::query("UPDATE rooms SET moderation = $1, slow_mode_secs = $2 WHERE event_id = $3")
                        .bind(moderation.as_str()).bind(i64::from(*slow_mode_secs)).bind(event_id).execute(&mut *tx).await?;
                    let change = RoomChange::Settings { moderation: *moderation, slow_mode_secs: *slow_mode_secs };
                    changes.push((log_change!(tx, *event_id, change, at), change));
                    let before = before.map(|(m, s)| serde_json::json!({ "moderation": m, "slow_mode_secs": s }).to_string());
                    let after = serde_json::json!({ "moderation": moderation, "slow_mode_secs": slow_mode_secs }).to_string();
                    audit!(tx, *event_id, "staff", staff_id.to_string(), "settings", None::<i64>, before, Some(after), at);
                    Ok(Outcome::SettingsChanged)
                }
                Command::CreatePoll { event_id, spec, staff_id } => {
                    const SQL: &str = concat!(
                        "INSERT INTO polls (event_id, kind, title, options, max_choices, allow_change, results, status, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 'draft', $8, $9) RETURNING ",
                        poll_columns!()
                    );
                    let options = serde_json::to_string(&spec.options).map_err(|e| StoreError::Conflict(e.to_string()))?;
                    let row: PollRow = sqlx::query_as(SQL)
                        .bind(event_id).bind(spec.kind.as_str()).bind(&spec.title).bind(options).bind(i64::from(spec.max_choices))
                        .bind(spec.allow_change).bind(spec.results.as_str()).bind(staff_id).bind(at)
                        .fetch_one(&mut *tx).await?;
                    let poll = row.into_record()?;
                    let after = serde_json::to_string(&poll).ok();
                    audit!(tx, *event_id, "staff", staff_id.to_string(), "create_poll", Some(poll.id), None::<String>, after, at);
                    Ok(Outcome::Poll { poll, tally: None })
                }
                Command::SetPollStatus { event_id, poll_id, open, staff_id } => match fetch_poll!(tx, *event_id, *poll_id, lock(RowLock::Update)) {
                    None => Err(refused(ErrorCode::NotFound, "no such poll in this room")),
                    Some(before) => {
                        let allowed = if *open { before.status != PollStatus::Open } else { before.status == PollStatus::Open };
                        if !allowed {
                            let what = if *open { "opened" } else { "closed" };
                            Err(refused(ErrorCode::WrongStatus, format!("a {} poll cannot be {what}", before.status.as_str())))
                        } else {
                            let sql = if *open {
                                "UPDATE polls SET status = 'open', opened_at = $1, closed_at = NULL WHERE id = $2"
                            } else {
                                "UPDATE polls SET status = 'closed', closed_at = $1 WHERE id = $2"
                            };
                            sqlx::query(sql).bind(at).bind(poll_id).execute(&mut *tx).await?;
                            let after = fetch_poll!(tx, *event_id, *poll_id).ok_or(StoreError::NotFound("poll"))?;
                            // Counted in the same transaction as the close: no later vote can be in it.
                            let tally = tally!(tx, &after);
                            let change = RoomChange::Poll { poll: after.public(Some(tally.clone())) };
                            changes.push((log_change!(tx, *event_id, change, at), change));
                            let action = if *open { "open_poll" } else { "close_poll" };
                            let view = |p: &PollRecord| serde_json::json!({ "status": p.status }).to_string();
                            audit!(tx, *event_id, "staff", staff_id.to_string(), action, Some(*poll_id),
                                Some(view(&before)), Some(view(&after)), at);
                            Ok(Outcome::Poll { poll: after, tally: Some(tally) })
                        }
                    }
                },
                Command::Vote { event_id, poll_id, viewer, ballot, text_status, hits, ip, per_address } => match fetch_poll!(tx, *event_id, *poll_id, lock(RowLock::Share)) {
                    None => Err(refused(ErrorCode::NotFound, "no such poll in this room")),
                    Some(poll) if poll.status != PollStatus::Open => Err(refused(ErrorCode::PollClosed, "the poll is not open")),
                    Some(poll) => match poll.spec.check(ballot.clone()) {
                        Err(e) => Err(refused(e.code, e.message)),
                        Ok(checked) => {
                            let voted: Option<String> = sqlx::query_scalar("SELECT viewer_key FROM poll_votes WHERE poll_id = $1 AND viewer_key = $2")
                                .bind(poll_id).bind(&viewer.0).fetch_optional(&mut *tx).await?;
                            if voted.is_some() && !poll.spec.allow_change {
                                Err(refused(ErrorCode::AlreadyVoted, "you have voted in this poll, and votes cannot be changed"))
                            } else if voted.is_none() && address_full!(tx, pg, "poll_votes", "poll_id", *poll_id, ip.as_deref(), *per_address) {
                                Err(too_many_from_address("voted in this poll"))
                            } else {
                                let (text, choices) = match checked {
                                    CheckedBallot::Text(t) => (Some(t), Vec::new()),
                                    CheckedBallot::Choices(c) => (None, c),
                                };
                                let hits = hits.as_array().is_some_and(|h| !h.is_empty()).then(|| hits.to_string());
                                sqlx::query(
                                    "INSERT INTO poll_votes (poll_id, viewer_key, text, text_status, screen_hits, created_at, updated_at, ip)
                                     VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
                                     ON CONFLICT (poll_id, viewer_key) DO UPDATE SET text = excluded.text,
                                       text_status = excluded.text_status, screen_hits = excluded.screen_hits, updated_at = excluded.updated_at",
                                )
                                .bind(poll_id).bind(&viewer.0).bind(&text).bind(text.as_ref().and(*text_status)).bind(hits).bind(at).bind(ip)
                                .execute(&mut *tx).await?;
                                sqlx::query("DELETE FROM poll_choices WHERE poll_id = $1 AND viewer_key = $2")
                                    .bind(poll_id).bind(&viewer.0).execute(&mut *tx).await?;
                                for option in choices {
                                    sqlx::query("INSERT INTO poll_choices (poll_id, viewer_key, option) VALUES ($1, $2, $3)")
                                        .bind(poll_id).bind(&viewer.0).bind(i64::from(option)).execute(&mut *tx).await?;
                                }
                                Ok(Outcome::Voted { poll_id: *poll_id, changed: voted.is_some() })
                            }
                        }
                    },
                },
                Command::PollTally { event_id, poll_id } => match fetch_poll!(tx, *event_id, *poll_id) {
                    Some(poll) if poll.status == PollStatus::Open => {
                        let tally = tally!(tx, &poll);
                        let public = poll.spec.results == ResultsVisibility::Live;
                        if public {
                            let change = RoomChange::PollResults { poll_id: *poll_id, tally: tally.clone() };
                            changes.push((log_change!(tx, *event_id, change, at), change));
                        }
                        Ok(Outcome::Tally { poll_id: *poll_id, tally: Some(tally), public })
                    }
                    _ => Ok(Outcome::Tally { poll_id: *poll_id, tally: None, public: false }),
                },
                Command::EventStatus { event_id, status } => {
                    let change = RoomChange::EventStatus { status: *status };
                    changes.push((log_change!(tx, *event_id, change, at), change));
                    Ok(Outcome::StatusLogged)
                }
            };
            // A refused command leaves nothing behind: every refusal above is
            // decided before the command's first write (keep it so when adding
            // one), so the batch's transaction holds only accepted commands.
            if result.is_err() {
                changes.clear();
            }
            results.push((result, changes));
        }
        tx.commit().await?;
        Ok::<_, StoreError>(results)
        }).await;
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
