//! [`LiveTx`]: the transaction of one batch, and the steps every family of
//! commands shares (the room log, the audit log, reading a row to decide on,
//! the per-address caps).

use chrono::{DateTime, Utc};

use super::command::{Command, Outcome, WriteError, refused};
use super::{Applied, StoreError};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::{EventId, PollId, PostId, StaffId};
use crate::domain::question::RoomChange;
use crate::store::StoreResult;
use crate::store::live::{QuestionRecord, QuestionRow, question_columns};
use crate::store::polls::{PollRecord, PollRow, poll_columns};
use crate::store::room_log::parse_frame;
use crate::store::tx::{AuditLine, Tx, on_tx};

/// What a command decided: its outcome, or why it was refused. A store
/// error (`Err` of the [`StoreResult`] around it) fails the batch instead.
pub(super) type Decided = Result<Outcome, WriteError>;

/// The transaction of one batch: every command of the batch runs in it, each
/// through its one method, and what a command publishes to its room is
/// collected here until the command is done.
pub(super) struct LiveTx<'c> {
    tx: Tx<'c>,
    /// The time of the batch: every row it writes carries it.
    pub(super) at: DateTime<Utc>,
    /// The room changes of the command being applied, with their seqs.
    changes: Vec<(i64, RoomChange)>,
}

impl<'c> LiveTx<'c> {
    pub(super) fn new(tx: Tx<'c>, at: DateTime<Utc>) -> Self {
        Self {
            tx,
            at,
            changes: Vec::new(),
        }
    }

    /// Apply every command, then commit.
    pub(super) async fn apply_all(mut self, commands: &[Command]) -> StoreResult<Vec<Applied>> {
        let mut results: Vec<Applied> = Vec::with_capacity(commands.len());
        for command in commands {
            let result = self.apply(command).await?;
            let mut changes = std::mem::take(&mut self.changes);
            // A refused command leaves nothing behind: every refusal is
            // decided before the command's first write (keep it so when adding
            // one), so the batch's transaction holds only accepted commands.
            if result.is_err() {
                changes.clear();
            }
            results.push((result, changes));
        }
        self.tx.commit().await?;
        Ok(results)
    }

    pub(super) fn tx(&mut self) -> &mut Tx<'c> {
        &mut self.tx
    }

    /// Log `change` in its room and publish it after the commit.
    pub(super) async fn publish(&mut self, event_id: EventId, change: RoomChange) -> StoreResult<()> {
        let seq = self.log(event_id, &change).await?;
        self.changes.push((seq, change));
        Ok(())
    }

    /// [`LiveTx::publish`], and redact what it supersedes in the room log:
    /// a hide, an edit or a promotion reaches back, and the earlier frames of
    /// the post stop showing what is no longer public.
    pub(super) async fn publish_redacting(&mut self, event_id: EventId, change: RoomChange) -> StoreResult<()> {
        let seq = self.log(event_id, &change).await?;
        self.redact_earlier(event_id, seq, &change).await?;
        self.changes.push((seq, change));
        Ok(())
    }

    /// Append `change` to the room log; returns its seq.
    async fn log(&mut self, event_id: EventId, change: &RoomChange) -> StoreResult<i64> {
        let seq = match self.next_seq(event_id).await? {
            Some(seq) => seq,
            None => {
                const ROOM: &str = "INSERT INTO rooms (event_id, last_seq) VALUES ($1, 1)";
                on_tx!(&mut self.tx, c => sqlx::query(ROOM).bind(event_id).execute(c).await.map(|_| ()))?;
                1
            }
        };
        let json = serde_json::to_string(change).map_err(|e| StoreError::Conflict(e.to_string()))?;
        const SQL: &str =
            "INSERT INTO room_log (event_id, seq, change, created_at, item_id) VALUES ($1, $2, $3, $4, $5)";
        let (at, item) = (self.at, change.content_of());
        on_tx!(&mut self.tx, c => sqlx::query(SQL).bind(event_id).bind(seq).bind(&json).bind(at).bind(item)
            .execute(c).await.map(|_| ()))?;
        Ok(seq)
    }

    /// The room's next seq, taken; `None` when the room has no row yet.
    async fn next_seq(&mut self, event_id: EventId) -> StoreResult<Option<i64>> {
        const SQL: &str = "UPDATE rooms SET last_seq = last_seq + 1 WHERE event_id = $1 RETURNING last_seq";
        Ok(on_tx!(&mut self.tx, c => sqlx::query_scalar::<_, i64>(SQL).bind(event_id).fetch_optional(c).await)?)
    }

    /// Rewrite the frames logged before `seq` that carry the public text of
    /// the item `later` (logged at `seq`) hides or edits: the log is replayed
    /// to every client that resumes or starts from `last_seq: 0`, so a hide
    /// turns them into removals and an edit gives them the current text
    /// ([`RoomChange::redacted_by`]), and the stored record no longer holds
    /// what was taken back. Seqs stay as they are and no row is deleted.
    ///
    /// A change that leaves the text as it was (an answer, given once or
    /// again and again) rewrites nothing: the item's frames already carry
    /// its text, and [`Store::room_log`](crate::store::Store::room_log)
    /// applies the latest answer as it reads them. So an answer costs one
    /// indexed read here, however often the question was answered before.
    /// The rooms' in-memory rings redact the same way, on every node.
    async fn redact_earlier(&mut self, event_id: EventId, seq: i64, later: &RoomChange) -> StoreResult<()> {
        let Some(item) = later.supersedes() else {
            return Ok(());
        };
        const LATEST: &str =
            "SELECT change FROM room_log WHERE event_id = $1 AND item_id = $2 AND seq < $3 ORDER BY seq DESC LIMIT 1";
        let latest: Option<String> = on_tx!(&mut self.tx, c => sqlx::query_scalar(LATEST)
            .bind(event_id).bind(item).bind(seq).fetch_optional(c).await)?;
        match latest {
            Some(json) if parse_frame(&json, || format!("{event_id} before {seq}"))?.rewrites_text(later) => {}
            _ => return Ok(()),
        }
        // The item's earlier frames read alike but for their own upvotes and
        // answer, and frames that read alike redact alike: each distinct text
        // is read, parsed and rewritten once, by one statement for all its
        // frames.
        const EARLIER: &str = "SELECT DISTINCT change FROM room_log WHERE event_id = $1 AND item_id = $2 AND seq < $3";
        const REWRITE: &str = "UPDATE room_log SET change = $1, item_id = $2
             WHERE event_id = $3 AND item_id = $4 AND seq < $5 AND change = $6";
        let earlier: Vec<String> = on_tx!(&mut self.tx, c => sqlx::query_scalar(EARLIER)
            .bind(event_id).bind(item).bind(seq).fetch_all(c).await)?;
        for json in earlier {
            let Some(redacted) = parse_frame(&json, || format!("{event_id} before {seq}"))?.redacted_by(later) else {
                continue;
            };
            let text = serde_json::to_string(&redacted).map_err(|e| StoreError::Conflict(e.to_string()))?;
            if text != json {
                on_tx!(&mut self.tx, c => sqlx::query(REWRITE)
                    .bind(&text).bind(redacted.content_of()).bind(event_id).bind(item).bind(seq).bind(&json)
                    .execute(c).await.map(|_| ()))?;
            }
        }
        Ok(())
    }

    /// An audit line by a staff member.
    pub(super) async fn audit_staff(
        &mut self,
        event_id: EventId,
        staff_id: StaffId,
        action: &str,
        subject_id: Option<i64>,
        before: Option<String>,
        after: Option<String>,
    ) -> StoreResult<()> {
        let line = AuditLine {
            subject_id,
            ..AuditLine::staff(staff_id, event_id, action).change(before, after)
        };
        self.tx.audit(line, self.at).await
    }

    /// An audit line by the sensitive-word screen, on a post it held or refused.
    pub(super) async fn audit_screen(&mut self, action: &str, post: &QuestionRecord) -> StoreResult<()> {
        let line = AuditLine::by(("system", "screen"), post.event_id, action)
            .on(post.id)
            .change(None, Some(audit_view(post)));
        self.tx.audit(line, self.at).await
    }

    /// Read row `id` of the room `event_id` to decide on, with the row lock
    /// asked for (on PostgreSQL only: SQLite has one writer and no locks).
    pub(super) async fn fetch<R: ById>(
        &mut self,
        event_id: EventId,
        id: R::Id,
        lock: RowLock,
    ) -> StoreResult<Option<R::Record>> {
        let lock = if self.tx.backend().has_row_locks() {
            lock
        } else {
            RowLock::None
        };
        let sql = R::SELECT[lock as usize];
        let row: Option<R> =
            on_tx!(&mut self.tx, c => sqlx::query_as(sql).bind(id.into()).bind(event_id).fetch_optional(c).await)?;
        row.map(R::record).transpose()
    }

    /// Whether `from` already has its cap of viewer tokens in `table` for
    /// this question or poll (`column = id`): until viewers have an identity,
    /// one address may upvote a question or vote in a poll with that many
    /// tokens. On PostgreSQL several nodes write at once: an advisory lock on
    /// (what, address) makes two nodes count one after the other (held to
    /// the commit).
    pub(super) async fn address_full(
        &mut self,
        cap: AddressCap,
        id: impl Into<i64>,
        from: Address<'_>,
    ) -> StoreResult<bool> {
        let (Some(ip), max) = (from.ip, from.per_address) else {
            return Ok(false);
        };
        let id: i64 = id.into();
        if max == 0 {
            return Ok(false);
        }
        if self.tx.backend().has_row_locks() {
            let key = address_lock_key(cap.table(), id, ip);
            on_tx!(&mut self.tx, c => sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(c).await.map(|_| ()))?;
        }
        let n: i64 = on_tx!(&mut self.tx, c => sqlx::query_scalar(cap.count()).bind(id).bind(ip).fetch_one(c).await)?;
        Ok(n >= i64::from(max))
    }
}

/// The client's address, kept with an upvote or a vote, and how many of its
/// viewer tokens may upvote one question or vote in one poll (0: no cap).
#[derive(Debug, Clone, Copy)]
pub(super) struct Address<'a> {
    pub ip: Option<&'a str>,
    pub per_address: u32,
}

impl<'a> Address<'a> {
    pub(super) fn new(ip: &'a Option<String>, per_address: u32) -> Self {
        Self {
            ip: ip.as_deref(),
            per_address,
        }
    }
}

/// What an address is capped on.
#[derive(Debug, Clone, Copy)]
pub(super) enum AddressCap {
    Upvotes,
    PollVotes,
}

impl AddressCap {
    fn table(self) -> &'static str {
        match self {
            Self::Upvotes => "upvotes",
            Self::PollVotes => "poll_votes",
        }
    }

    fn count(self) -> &'static str {
        match self {
            Self::Upvotes => "SELECT COUNT(*) FROM upvotes WHERE question_id = $1 AND ip = $2",
            Self::PollVotes => "SELECT COUNT(*) FROM poll_votes WHERE poll_id = $1 AND ip = $2",
        }
    }
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

pub(super) fn too_many_from_address(what: &str) -> WriteError {
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
pub(super) enum RowLock {
    None = 0,
    Share = 1,
    Update = 2,
}

/// A row of a room that a command reads by id ([`LiveTx::fetch`]).
pub(super) trait ById:
    Sized
    + Send
    + Unpin
    + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
{
    type Record;
    /// The id of the row.
    type Id: Into<i64>;
    /// `SELECT <columns> FROM <table> WHERE id = $1 AND event_id = $2`, as
    /// is, `FOR SHARE` and `FOR UPDATE` (indexed by [`RowLock`]).
    const SELECT: [&'static str; 3];
    fn record(self) -> StoreResult<Self::Record>;
}

/// [`ById`] for `$row`, read from `$table` by its `$id` with `$columns`.
macro_rules! by_id {
    ($row:ty => $record:ty, $id:ty, $columns:expr, $table:literal) => {
        impl ById for $row {
            type Record = $record;
            type Id = $id;
            const SELECT: [&'static str; 3] = [
                by_id!(@select $columns, $table, ""),
                by_id!(@select $columns, $table, " FOR SHARE"),
                by_id!(@select $columns, $table, " FOR UPDATE"),
            ];
            fn record(self) -> StoreResult<$record> {
                self.into_record()
            }
        }
    };
    (@select $columns:expr, $table:literal, $lock:literal) => {
        concat!(
            "SELECT ",
            $columns,
            " FROM ",
            $table,
            " WHERE id = $1 AND event_id = $2",
            $lock
        )
    };
}

by_id!(QuestionRow => QuestionRecord, PostId, question_columns!(), "questions");
by_id!(PollRow => PollRecord, PollId, poll_columns!(), "polls");

/// What the audit log keeps of a question.
pub(super) fn audit_view(q: &QuestionRecord) -> String {
    serde_json::json!({ "status": q.status, "text": q.text, "answered": q.answered, "answer": q.answer,
        "reject_reason": q.reject_reason })
    .to_string()
}
