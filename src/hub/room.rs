//! One live room: its public state, the recent-message ring for resumes,
//! and the fan-out to its connections.
//!
//! A public change is encoded ONCE into a frame; every connection gets a
//! clone of the same bytes through a `broadcast` channel. The channel is the
//! bounded outbound queue of every connection: a connection that falls more
//! than its capacity behind is told `lagged` and closed (it resumes from its
//! last seq), and never slows the others. Rooms share no lock; inside a room
//! the std mutexes are held for in-memory updates only, never across `.await`.
//!
//! Changes are applied strictly in `seq` order. On one node they arrive in
//! order from the writer; in a cluster a change committed here may overtake
//! one committed on another node. A change beyond `seq + 1` waits (bounded)
//! while the hub's fill task reads the missing range from the room log and
//! hands it in through [`Room::filled`]; repeats are ignored.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, broadcast, mpsc};

use super::protocol::{OwnQuestion, PublicFrame, ServerMsg, encode};
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::poll::PublicPoll;
use crate::domain::question::{ModerationMode, PublicComment, PublicQuestion, RoomChange, ViewerKey};
use crate::store::live::{BanRecord, QuestionRecord, RECENT_COMMENTS, RoomState};
use crate::store::writer::ChangeSink;

/// One frame on a room's public channel.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The logged seq; `None` for ephemeral frames (presence).
    pub seq: Option<i64>,
    pub text: Utf8Bytes,
}

/// How a joining client starts.
pub enum Start {
    /// A fresh view of the room as of `seq`.
    Snapshot(Snapshot),
    /// The frames after the client's seq that the ring still holds.
    Ring(Vec<Utf8Bytes>),
    /// Further back than the ring: read `(after, up_to]` from the store.
    Store { after: i64, up_to: i64 },
}

pub struct Snapshot {
    pub status: EventStatus,
    pub moderation: ModerationMode,
    pub slow_mode_secs: u32,
    pub pinned: Option<i64>,
    pub questions: Vec<PublicQuestion>,
    pub comments: Vec<PublicComment>,
    pub polls: Vec<PublicPoll>,
}

pub struct Joined {
    pub seq: i64,
    pub start: Start,
    pub public: broadcast::Receiver<Frame>,
    pub staff: Option<broadcast::Receiver<StaffItem>>,
}

/// One item on a room's staff channel.
#[derive(Debug, Clone)]
pub enum StaffItem {
    Frame(Utf8Bytes),
    /// Frames may have been lost (the bus was away): re-read the moderation
    /// queue and the polls, and send them as at join. Staff frames sent after
    /// this follow the re-read, so none of them is overwritten by older state.
    Resync,
}

/// What the room knows of each connection.
pub struct ConnEntry {
    pub viewer: Option<ViewerKey>,
    pub ip: String,
    pub staff: bool,
    /// Private messages (own-question updates, kicks); bounded.
    pub private: mpsc::Sender<Private>,
    /// Set when the private queue overflowed: the connection is stalled.
    pub stalled: std::sync::Arc<AtomicBool>,
}

#[derive(Debug)]
pub enum Private {
    Frame(Utf8Bytes),
    /// Close with this code and reason.
    Kick {
        code: ErrorCode,
        reason: String,
    },
    /// `mine` frames may have been lost (the bus was away): send the viewer
    /// each of their posts as it is now, as after a replay.
    Resync,
}

/// One logged frame in the resume ring.
struct RingFrame {
    seq: i64,
    /// The question or comment whose public content the frame carries: a
    /// later hide or edit of it rewrites the frame ([`RoomChange::content_of`]).
    item: Option<i64>,
    text: Utf8Bytes,
}

struct Inner {
    loaded: bool,
    /// Changes committed while the room was loading.
    backlog: Vec<(i64, RoomChange)>,
    seq: i64,
    /// Changes beyond `seq + 1`, waiting for the ones before them.
    waiting: BTreeMap<i64, RoomChange>,
    /// The highest seq known to be committed: a fill reads up to it.
    wanted: i64,
    /// Read the log past `seq`, whatever `wanted` says (the periodic check).
    probe: bool,
    status: EventStatus,
    moderation: ModerationMode,
    slow_mode_secs: u32,
    pinned: Option<i64>,
    questions: BTreeMap<i64, PublicQuestion>,
    /// The latest visible comments, oldest first.
    comments: VecDeque<PublicComment>,
    /// Opened and closed polls.
    polls: BTreeMap<i64, PublicPoll>,
    /// Polls with votes since their tally was last sent.
    dirty_polls: HashSet<i64>,
    /// Polls whose tally is being counted and sent now, and when each poll's
    /// last tally went out: a poll has at most one tally in flight, and the
    /// next leaves no sooner than one interval after the last (so a slow
    /// commit never lets two tallies out back to back).
    tallies_in_flight: HashSet<i64>,
    tally_sent_at: HashMap<i64, Instant>,
    ring: VecDeque<RingFrame>,
    banned_viewers: HashSet<String>,
    banned_ips: HashSet<String>,
    /// The newest ban read from the store (bans from other nodes are re-read past it).
    last_ban_id: i64,
    last_post: HashMap<ViewerKey, Instant>,
}

pub struct Room {
    pub event_id: i64,
    ring_capacity: usize,
    public: broadcast::Sender<Frame>,
    staff: broadcast::Sender<StaffItem>,
    inner: Mutex<Inner>,
    conns: Mutex<HashMap<u64, ConnEntry>>,
    /// Who watches: each viewer key once, however many sockets it has, with
    /// the address it joined from (a ban with `include_address` bans it, even
    /// for a viewer who never posted).
    watching: Mutex<Watching>,
    /// Distinct viewer keys connected here (the size of `watching.now`).
    viewers: AtomicUsize,
    /// Connections holding a membership; changed only under the hub's registry lock.
    pub(super) members: AtomicUsize,
    /// Wakes the room's fill task (a permit is kept, so wake-ups coalesce).
    fill: Arc<Notify>,
}

/// Addresses of viewers who left that a room remembers for bans, at most.
const LEFT_REMEMBERED: usize = 4096;

/// The viewers of a room: each key's sockets here and the address it last
/// joined from; the keys that left lately, bounded, with theirs.
#[derive(Default)]
struct Watching {
    now: HashMap<ViewerKey, (usize, String)>,
    left: VecDeque<(ViewerKey, String)>,
}

impl Watching {
    fn joined(&mut self, viewer: &ViewerKey, ip: &str) {
        let entry = self.now.entry(viewer.clone()).or_insert((0, String::new()));
        entry.0 += 1;
        ip.clone_into(&mut entry.1);
    }

    fn left(&mut self, viewer: &ViewerKey) {
        let Some(entry) = self.now.get_mut(viewer) else { return };
        entry.0 -= 1;
        if entry.0 == 0 {
            let (_, ip) = self.now.remove(viewer).unwrap_or_default();
            if self.left.len() >= LEFT_REMEMBERED {
                self.left.pop_front();
            }
            self.left.push_back((viewer.clone(), ip));
        }
    }

    fn address(&self, viewer: &ViewerKey) -> Option<String> {
        self.now.get(viewer).map(|(_, ip)| ip.clone()).or_else(|| {
            self.left
                .iter()
                .rev()
                .find(|(v, _)| v == viewer)
                .map(|(_, ip)| ip.clone())
        })
    }
}

/// Changes that may wait for an earlier seq; past this many they are dropped
/// and the fill reads them from the log with the rest.
pub const MAX_WAITING: usize = 1024;

/// Joins beyond this many missed messages get a snapshot instead of a replay.
pub const MAX_REPLAY: i64 = 10_000;

impl Room {
    pub fn new(event_id: i64, status: EventStatus, outbound_queue: usize, ring_capacity: usize) -> Self {
        let (public, _) = broadcast::channel(outbound_queue.max(16));
        let (staff, _) = broadcast::channel(outbound_queue.max(16));
        Self {
            event_id,
            ring_capacity,
            public,
            staff,
            inner: Mutex::new(Inner {
                loaded: false,
                backlog: Vec::new(),
                seq: 0,
                waiting: BTreeMap::new(),
                wanted: 0,
                probe: false,
                status,
                moderation: ModerationMode::Pre,
                slow_mode_secs: 0,
                pinned: None,
                questions: BTreeMap::new(),
                comments: VecDeque::new(),
                polls: BTreeMap::new(),
                dirty_polls: HashSet::new(),
                tallies_in_flight: HashSet::new(),
                tally_sent_at: HashMap::new(),
                ring: VecDeque::new(),
                banned_viewers: HashSet::new(),
                banned_ips: HashSet::new(),
                last_ban_id: 0,
                last_post: HashMap::new(),
            }),
            conns: Mutex::new(HashMap::new()),
            watching: Mutex::new(Watching::default()),
            viewers: AtomicUsize::new(0),
            members: AtomicUsize::new(0),
            fill: Arc::new(Notify::new()),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere must not take every later join down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, ConnEntry>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Install the state read from the store, then what was committed meanwhile.
    pub fn load(&self, state: RoomState) {
        let mut inner = self.inner();
        inner.seq = state.seq;
        inner.moderation = state.moderation;
        inner.slow_mode_secs = state.slow_mode_secs;
        inner.pinned = state.pinned;
        inner.questions = state.questions.into_iter().map(|q| (q.id, q)).collect();
        inner.comments = state.comments.into_iter().collect();
        inner.polls = state.polls.into_iter().map(|p| (p.id, p)).collect();
        inner.banned_viewers = state.banned_viewers.into_iter().collect();
        inner.banned_ips = state.banned_ips.into_iter().collect();
        inner.last_ban_id = state.last_ban_id;
        inner.loaded = true;
        let mut backlog = std::mem::take(&mut inner.backlog);
        backlog.sort_by_key(|(seq, _)| *seq);
        let mut gap = inner.wanted > inner.seq;
        for (seq, change) in backlog {
            gap = self.accept(&mut inner, seq, &change);
        }
        drop(inner);
        if gap {
            self.fill.notify_one();
        }
    }

    /// Apply `change` if it is next, keep it waiting if it is ahead, ignore a
    /// repeat. True when a gap remains for the fill to read.
    fn accept(&self, inner: &mut Inner, seq: i64, change: &RoomChange) -> bool {
        if seq <= inner.seq {
            return inner.wanted > inner.seq; // Already part of the state (loaded, or a repeat).
        }
        inner.wanted = inner.wanted.max(seq);
        if seq != inner.seq + 1 {
            if inner.waiting.len() < MAX_WAITING {
                inner.waiting.insert(seq, change.clone());
            } else {
                // Bounded: the fill reads all of them from the log instead.
                tracing::warn!(
                    event_id = self.event_id,
                    seq = inner.seq,
                    wanted = inner.wanted,
                    "too many changes waiting for a gap; dropped, the fill reads them"
                );
                inner.waiting.clear();
            }
            return true;
        }
        self.apply(inner, seq, change);
        while let Some(entry) = inner.waiting.first_entry() {
            let next = *entry.key();
            if next > inner.seq + 1 {
                break;
            }
            let change = entry.remove();
            if next == inner.seq + 1 {
                self.apply(inner, next, &change);
            }
        }
        inner.wanted > inner.seq
    }

    /// Changes read from the room log by the fill (no further wake-up).
    pub fn filled(&self, changes: &[(i64, RoomChange)]) {
        let mut inner = self.inner();
        if !inner.loaded {
            return; // The load reads the state as of now anyway.
        }
        for (seq, change) in changes {
            self.accept(&mut inner, *seq, change);
        }
    }

    /// Another node committed up to `seq`: fill up to it.
    pub fn want(&self, seq: i64) {
        let mut inner = self.inner();
        inner.wanted = inner.wanted.max(seq);
        let gap = inner.loaded && inner.wanted > inner.seq;
        drop(inner);
        if gap {
            self.fill.notify_one();
        }
    }

    /// Read the log past the current seq once (the periodic check).
    pub fn probe(&self) {
        self.inner().probe = true;
        self.fill.notify_one();
    }

    /// The range `(after, up_to]` the fill should read now, if any.
    pub fn fill_range(&self) -> Option<(i64, i64)> {
        let mut inner = self.inner();
        if !inner.loaded {
            return None;
        }
        let probe = std::mem::take(&mut inner.probe);
        if inner.wanted > inner.seq {
            Some((inner.seq, inner.wanted))
        } else if probe {
            Some((inner.seq, i64::MAX))
        } else {
            None
        }
    }

    /// What wakes the fill task.
    pub fn fill_signal(&self) -> Arc<Notify> {
        self.fill.clone()
    }

    pub fn seq(&self) -> i64 {
        self.inner().seq
    }

    /// Only ever called with `seq == inner.seq + 1`.
    fn apply(&self, inner: &mut Inner, seq: i64, change: &RoomChange) {
        debug_assert_eq!(seq, inner.seq + 1);
        match change {
            RoomChange::Question { question } => {
                inner.questions.insert(question.id, question.clone());
            }
            RoomChange::Comment { comment } => match inner.comments.iter_mut().find(|c| c.id == comment.id) {
                Some(c) => *c = comment.clone(),
                None => {
                    inner.comments.push_back(comment.clone());
                    while inner.comments.len() > RECENT_COMMENTS {
                        inner.comments.pop_front();
                    }
                }
            },
            RoomChange::CommentRemoved { comment_id } => inner.comments.retain(|c| c.id != *comment_id),
            RoomChange::Poll { poll } => {
                inner.polls.insert(poll.id, poll.clone());
            }
            RoomChange::PollResults { poll_id, tally } => {
                if let Some(p) = inner.polls.get_mut(poll_id) {
                    p.tally = Some(tally.clone());
                }
            }
            RoomChange::QuestionRemoved { question_id } => {
                inner.questions.remove(question_id);
            }
            RoomChange::Upvotes { question_id, upvotes } => {
                if let Some(q) = inner.questions.get_mut(question_id) {
                    q.upvotes = *upvotes;
                }
            }
            RoomChange::Pinned { question_id } => inner.pinned = *question_id,
            RoomChange::Settings {
                moderation,
                slow_mode_secs,
            } => {
                inner.moderation = *moderation;
                inner.slow_mode_secs = *slow_mode_secs;
            }
            RoomChange::EventStatus { status } => inner.status = *status,
        }
        inner.seq = seq;
        if let Some(item) = change.supersedes() {
            Self::redact_ring(inner, item, change);
        }
        let text = Utf8Bytes::from(encode(&PublicFrame { seq, change }));
        inner.ring.push_back(RingFrame {
            seq,
            item: change.content_of(),
            text: text.clone(),
        });
        while inner.ring.len() > self.ring_capacity {
            inner.ring.pop_front();
        }
        // No receivers is fine: nobody is watching.
        let _ = self.public.send(Frame { seq: Some(seq), text });
    }

    /// The ring's frames of `item` as they read once `later` is applied: the
    /// same rewrite the writer makes in the room log in the transaction that
    /// logged `later` (a hide leaves removals, an edit the current text), so
    /// a replay from memory shows no more than one from the store. Every node
    /// applies every change in `seq` order, so each node's ring is redacted,
    /// whichever node committed the change.
    fn redact_ring(inner: &mut Inner, item: i64, later: &RoomChange) {
        for frame in inner.ring.iter_mut().filter(|f| f.item == Some(item)) {
            let Some(logged) = parse_frame(&frame.text) else {
                continue; // Encoded here from a RoomChange: cannot happen.
            };
            if let Some(redacted) = logged.redacted_by(later) {
                frame.item = redacted.content_of();
                frame.text = Utf8Bytes::from(encode(&PublicFrame {
                    seq: frame.seq,
                    change: &redacted,
                }));
            }
        }
    }

    /// Subscribe a new connection; `last_seq` is where the client left off.
    pub fn join(&self, last_seq: Option<i64>, staff: bool) -> Joined {
        let inner = self.inner();
        let public = self.public.subscribe();
        let staff = staff.then(|| self.staff.subscribe());
        let seq = inner.seq;
        let start = match last_seq {
            Some(last) if last <= seq && seq - last <= MAX_REPLAY && last >= 0 => match inner.ring.front() {
                Some(oldest) if oldest.seq <= last + 1 => Start::Ring(
                    inner
                        .ring
                        .iter()
                        .filter(|f| f.seq > last)
                        .map(|f| f.text.clone())
                        .collect(),
                ),
                None if last == seq => Start::Ring(Vec::new()),
                _ => Start::Store {
                    after: last,
                    up_to: seq,
                },
            },
            _ => Start::Snapshot(Snapshot {
                status: inner.status,
                moderation: inner.moderation,
                slow_mode_secs: inner.slow_mode_secs,
                pinned: inner.pinned,
                questions: inner.questions.values().cloned().collect(),
                comments: inner.comments.iter().cloned().collect(),
                polls: inner.polls.values().cloned().collect(),
            }),
        };
        Joined {
            seq,
            start,
            public,
            staff,
        }
    }

    pub fn is_loaded(&self) -> bool {
        self.inner().loaded
    }

    fn watching(&self) -> std::sync::MutexGuard<'_, Watching> {
        self.watching.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn register(&self, id: u64, entry: ConnEntry) {
        if let (false, Some(viewer)) = (entry.staff, &entry.viewer) {
            let mut watching = self.watching();
            watching.joined(viewer, &entry.ip);
            self.viewers.store(watching.now.len(), Ordering::Relaxed);
        }
        self.conns().insert(id, entry);
    }

    /// Remove a connection; returns how many remain.
    pub fn unregister(&self, id: u64) -> usize {
        let mut conns = self.conns();
        let entry = conns.remove(&id);
        let remaining = conns.len();
        drop(conns);
        if let Some(ConnEntry {
            staff: false,
            viewer: Some(viewer),
            ..
        }) = &entry
        {
            let mut watching = self.watching();
            watching.left(viewer);
            self.viewers.store(watching.now.len(), Ordering::Relaxed);
        }
        remaining
    }

    /// The address `viewer` joined this room from (here, now or lately).
    pub fn viewer_address(&self, viewer: &ViewerKey) -> Option<String> {
        self.watching().address(viewer)
    }

    pub fn connections(&self) -> usize {
        self.conns().len()
    }

    /// Viewers watching here: distinct viewer keys, not sockets (one client
    /// opening many sockets counts once).
    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> EventStatus {
        self.inner().status
    }

    pub fn moderation(&self) -> (ModerationMode, u32) {
        let inner = self.inner();
        (inner.moderation, inner.slow_mode_secs)
    }

    pub fn is_banned(&self, viewer: Option<&ViewerKey>, ip: &str) -> bool {
        let inner = self.inner();
        viewer.is_some_and(|v| inner.banned_viewers.contains(&v.0)) || inner.banned_ips.contains(ip)
    }

    /// Slow mode: `Err(wait)` while the viewer must wait; records the post otherwise.
    pub fn slow_mode_check(&self, viewer: &ViewerKey) -> Result<(), std::time::Duration> {
        let mut inner = self.inner();
        let gap = std::time::Duration::from_secs(u64::from(inner.slow_mode_secs));
        if gap.is_zero() {
            return Ok(());
        }
        let now = Instant::now();
        if let Some(last) = inner.last_post.get(viewer) {
            let since = now.duration_since(*last);
            if since < gap {
                return Err(gap - since);
            }
        }
        inner.last_post.insert(viewer.clone(), now);
        Ok(())
    }

    /// Record a ban and close the banned viewer's connections here.
    pub fn ban(&self, viewer: Option<&ViewerKey>, ip: Option<&str>, reason: &str) -> usize {
        {
            let mut inner = self.inner();
            if let Some(v) = viewer {
                inner.banned_viewers.insert(v.0.clone());
            }
            if let Some(ip) = ip {
                inner.banned_ips.insert(ip.to_owned());
            }
        }
        let conns = self.conns();
        let mut kicked = 0;
        for entry in conns.values().filter(|e| !e.staff) {
            let hit = viewer.is_some_and(|v| entry.viewer.as_ref() == Some(v)) || ip.is_some_and(|ip| entry.ip == ip);
            if hit {
                kicked += 1;
                let kick = Private::Kick {
                    code: ErrorCode::Banned,
                    reason: format!("you are banned from this event: {reason}"),
                };
                if entry.private.try_send(kick).is_err() {
                    entry.stalled.store(true, Ordering::Relaxed);
                }
            }
        }
        kicked
    }

    /// The newest ban this room knows from the store.
    pub fn last_ban_id(&self) -> i64 {
        self.inner().last_ban_id
    }

    /// Bans read from the store (issued on any node): the ones not known
    /// yet are recorded and cut their viewers off here. Returns how many
    /// connections were cut.
    pub fn learn_bans(&self, bans: &[BanRecord]) -> usize {
        let mut kicked = 0;
        for ban in bans {
            let known = {
                let mut inner = self.inner();
                if ban.id <= inner.last_ban_id {
                    continue;
                }
                inner.last_ban_id = ban.id;
                ban.viewer_key.as_ref().is_none_or(|v| inner.banned_viewers.contains(v))
                    && ban.ip.as_ref().is_none_or(|ip| inner.banned_ips.contains(ip))
            };
            if !known {
                let viewer = ban.viewer_key.clone().map(ViewerKey);
                kicked += self.ban(viewer.as_ref(), ban.ip.as_deref(), &ban.reason);
            }
        }
        kicked
    }

    /// The `mine` frame telling the author of `question` its news.
    pub fn author_frame(question: &QuestionRecord) -> String {
        encode(&ServerMsg::Mine {
            question: OwnQuestion::from(question),
        })
    }

    /// Tell the author of `question` (on every connection they have here).
    pub fn tell_author(&self, question: &QuestionRecord) {
        self.tell_viewer(&question.viewer_key, Utf8Bytes::from(Self::author_frame(question)));
    }

    /// A private frame to every connection of `viewer` here.
    pub fn tell_viewer(&self, viewer: &ViewerKey, text: Utf8Bytes) {
        for entry in self.conns().values().filter(|e| e.viewer.as_ref() == Some(viewer)) {
            if entry.private.try_send(Private::Frame(text.clone())).is_err() {
                // A full private queue means the client stopped reading: it is cut off and resumes.
                entry.stalled.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The staff frame of a question (new, or moderated).
    pub fn staff_frame(question: &QuestionRecord) -> String {
        encode(&ServerMsg::Moderation { question })
    }

    /// The spec of an open or closed poll, for checking a ballot.
    pub fn poll(&self, poll_id: i64) -> Option<PublicPoll> {
        self.inner().polls.get(&poll_id).cloned()
    }

    /// A vote was committed: the tally goes out with the next flush.
    pub fn poll_voted(&self, poll_id: i64) {
        self.inner().dirty_polls.insert(poll_id);
    }

    /// The polls whose tallies are due, with when their last tally went out;
    /// each is marked in flight until [`Room::tally_finished`]. A poll whose
    /// tally is still in flight stays dirty for a later tick.
    pub fn take_dirty_polls(&self) -> Vec<(i64, Option<Instant>)> {
        let mut inner = self.inner();
        let inner = &mut *inner;
        let due: Vec<i64> = inner
            .dirty_polls
            .iter()
            .copied()
            .filter(|id| !inner.tallies_in_flight.contains(id))
            .collect();
        due.into_iter()
            .map(|id| {
                inner.dirty_polls.remove(&id);
                inner.tallies_in_flight.insert(id);
                (id, inner.tally_sent_at.get(&id).copied())
            })
            .collect()
    }

    /// A poll's tally went out (`sent`) or failed (it is counted again later).
    pub fn tally_finished(&self, poll_id: i64, sent: bool) {
        let mut inner = self.inner();
        inner.tallies_in_flight.remove(&poll_id);
        if sent {
            inner.tally_sent_at.insert(poll_id, Instant::now());
        } else {
            inner.dirty_polls.insert(poll_id);
        }
    }

    /// Staff's channel: a poll they manage (drafts included) or a tally they see before the public.
    pub fn tell_staff_text(&self, text: String) {
        let _ = self.staff.send(StaffItem::Frame(Utf8Bytes::from(text)));
    }

    /// Every staff connection re-reads the queue and the polls.
    pub fn resync_staff(&self) {
        let _ = self.staff.send(StaffItem::Resync);
    }

    /// Every connection of these viewers here is sent their posts again; how many.
    pub fn resync_viewers(&self, viewers: &HashSet<String>) -> usize {
        let mut told = 0;
        for entry in self.conns().values() {
            if entry.viewer.as_ref().is_some_and(|v| viewers.contains(&v.0)) {
                told += 1;
                if entry.private.try_send(Private::Resync).is_err() {
                    entry.stalled.store(true, Ordering::Relaxed);
                }
            }
        }
        told
    }

    /// Send the viewer count (ephemeral, current seq).
    pub fn broadcast_presence(&self) {
        self.broadcast_viewers(self.viewers());
    }

    /// Send a viewer count (the cluster's total in a cluster).
    pub fn broadcast_viewers(&self, viewers: usize) {
        let seq = self.inner().seq;
        let text = Utf8Bytes::from(encode(&ServerMsg::Presence { seq, viewers }));
        let _ = self.public.send(Frame { seq: None, text });
    }
}

/// The change in a public frame this room encoded (`{"seq": …, "type": …}`).
fn parse_frame(text: &Utf8Bytes) -> Option<RoomChange> {
    let mut value: serde_json::Value = serde_json::from_str(text.as_str()).ok()?;
    value.as_object_mut()?.remove("seq");
    serde_json::from_value(value).ok()
}

impl ChangeSink for Room {
    fn committed(&self, seq: i64, change: &RoomChange) {
        let mut inner = self.inner();
        if !inner.loaded {
            inner.backlog.push((seq, change.clone()));
            return;
        }
        let gap = self.accept(&mut inner, seq, change);
        drop(inner);
        if gap {
            self.fill.notify_one();
        }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        // The fill task wakes, finds the room gone and ends.
        self.fill.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn question(id: i64) -> PublicQuestion {
        PublicQuestion {
            id,
            nickname: "网友".into(),
            text: format!("问题{id}"),
            upvotes: 0,
            answered: false,
            answer: None,
            edited: false,
            created_at: Utc::now(),
        }
    }

    fn loaded(ring: usize) -> Room {
        let room = Room::new(1, EventStatus::Live, 64, ring);
        room.load(RoomState {
            seq: 0,
            moderation: ModerationMode::Pre,
            slow_mode_secs: 0,
            pinned: None,
            questions: vec![],
            comments: vec![],
            polls: vec![],
            banned_viewers: vec![],
            banned_ips: vec![],
            last_ban_id: 0,
        });
        room
    }

    #[test]
    fn joins_resume_from_the_ring_or_the_store() {
        let room = loaded(3);
        for seq in 1..=5 {
            room.committed(
                seq,
                &RoomChange::Question {
                    question: question(seq),
                },
            );
        }
        // Ring holds 3, 4, 5.
        match room.join(Some(2), false).start {
            Start::Ring(frames) => assert_eq!(frames.len(), 3),
            _ => panic!("expected a ring replay"),
        }
        match room.join(Some(1), false).start {
            Start::Store { after: 1, up_to: 5 } => {}
            _ => panic!("expected a store replay"),
        }
        assert!(matches!(room.join(Some(5), false).start, Start::Ring(ref f) if f.is_empty()));
        assert!(matches!(room.join(None, false).start, Start::Snapshot(ref s) if s.questions.len() == 5));
        assert!(matches!(room.join(Some(99), false).start, Start::Snapshot(_)));
    }

    #[test]
    fn changes_during_loading_wait_and_repeats_are_ignored() {
        let room = Room::new(1, EventStatus::Live, 64, 16);
        room.committed(3, &RoomChange::Question { question: question(7) });
        let mut rx = room.join(None, false).public;
        room.load(RoomState {
            seq: 2,
            moderation: ModerationMode::Post,
            slow_mode_secs: 5,
            pinned: None,
            questions: vec![question(1)],
            comments: vec![],
            polls: vec![],
            banned_viewers: vec![],
            banned_ips: vec![],
            last_ban_id: 0,
        });
        room.committed(3, &RoomChange::Question { question: question(7) });
        let frame = rx.try_recv().unwrap();
        assert_eq!(frame.seq, Some(3));
        assert!(rx.try_recv().is_err(), "seq 3 delivered once");
        assert!(matches!(room.join(None, false).start, Start::Snapshot(ref s) if s.questions.len() == 2));
    }

    fn ask(seq: i64) -> RoomChange {
        RoomChange::Question {
            question: question(seq),
        }
    }

    fn seqs(rx: &mut broadcast::Receiver<Frame>) -> Vec<i64> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|f| f.seq)
            .collect()
    }

    #[test]
    fn a_change_ahead_waits_for_the_fill_and_everything_goes_out_in_order() {
        let room = loaded(16);
        let mut rx = room.join(None, false).public;
        room.committed(1, &ask(1));
        // 2 and 3 were committed on another node; 4 (ours) overtakes them.
        room.committed(4, &ask(4));
        room.committed(5, &ask(5));
        assert_eq!(seqs(&mut rx), vec![1], "4 and 5 wait for 2 and 3");
        assert_eq!(room.seq(), 1);
        assert_eq!(room.fill_range(), Some((1, 5)));
        // The fill reads (1, 5] from the log: 2 and 3 are new, 4 and 5 repeats.
        room.filled(&[(2, ask(2)), (3, ask(3)), (4, ask(4)), (5, ask(5))]);
        assert_eq!(seqs(&mut rx), vec![2, 3, 4, 5], "in order, each once");
        assert_eq!(room.fill_range(), None);
        room.committed(5, &ask(5));
        room.committed(6, &ask(6));
        assert_eq!(seqs(&mut rx), vec![6]);
        assert!(matches!(room.join(None, false).start, Start::Snapshot(ref s) if s.questions.len() == 6));
    }

    #[test]
    fn a_partial_fill_applies_what_is_next_and_leaves_the_rest_wanted() {
        let room = loaded(16);
        let mut rx = room.join(None, false).public;
        room.want(3); // A wake-up from another node.
        room.committed(5, &ask(5));
        assert_eq!(room.fill_range(), Some((0, 5)));
        room.filled(&[(1, ask(1)), (2, ask(2))]);
        assert_eq!(seqs(&mut rx), vec![1, 2]);
        assert_eq!(room.fill_range(), Some((2, 5)));
        room.filled(&[(3, ask(3)), (4, ask(4))]);
        assert_eq!(seqs(&mut rx), vec![3, 4, 5]);
        assert_eq!(room.fill_range(), None);
        // The periodic check reads past the seq once.
        room.probe();
        assert_eq!(room.fill_range(), Some((5, i64::MAX)));
        assert_eq!(room.fill_range(), None);
    }

    #[test]
    fn the_wait_is_bounded_and_the_fill_reads_what_was_dropped() {
        let room = loaded(4096);
        let mut rx = room.join(None, false).public;
        let last = MAX_WAITING as i64 + 10;
        for seq in 2..=last {
            room.committed(seq, &ask(seq));
        }
        assert!(room.inner().waiting.len() < MAX_WAITING, "dropped past the bound");
        assert!(seqs(&mut rx).is_empty());
        assert_eq!(room.fill_range(), Some((0, last)));
        let log: Vec<(i64, RoomChange)> = (1..=last).map(|s| (s, ask(s))).collect();
        room.filled(&log);
        assert_eq!(room.seq(), last);
        // More than the channel holds: the resume ring shows the order.
        match room.join(Some(0), false).start {
            Start::Ring(frames) => {
                let seqs: Vec<i64> = frames
                    .iter()
                    .map(|t| {
                        serde_json::from_str::<serde_json::Value>(t.as_str()).unwrap()["seq"]
                            .as_i64()
                            .unwrap()
                    })
                    .collect();
                assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
            }
            _ => panic!("expected a ring replay"),
        }
        assert!(room.inner().waiting.is_empty());
    }

    fn ring_texts(room: &Room, after: i64) -> Vec<String> {
        match room.join(Some(after), false).start {
            Start::Ring(frames) => frames.iter().map(|t| t.as_str().to_owned()).collect(),
            _ => panic!("expected a ring replay"),
        }
    }

    #[test]
    fn a_hide_or_an_edit_redacts_the_ring_replay() {
        let room = loaded(16);
        let mut secret = question(1);
        secret.text = "我的手机13812345678".into();
        room.committed(
            1,
            &RoomChange::Question {
                question: secret.clone(),
            },
        );
        room.committed(2, &ask(2));
        room.committed(
            3,
            &RoomChange::Upvotes {
                question_id: 1,
                upvotes: 1,
            },
        );
        let mut edited = question(2);
        edited.text = "改过的问题".into();
        edited.edited = true;
        room.committed(4, &RoomChange::Question { question: edited });
        room.committed(5, &RoomChange::QuestionRemoved { question_id: 1 });
        let frames = ring_texts(&room, 0);
        assert_eq!(frames.len(), 5, "no frame dropped: {frames:?}");
        assert!(frames.iter().all(|f| !f.contains("13812345678")), "{frames:?}");
        assert!(
            frames[0].contains(r#""seq":1"#) && frames[0].contains("question_removed"),
            "{frames:?}"
        );
        assert!(
            frames[1].contains(r#""seq":2"#) && frames[1].contains("改过的问题"),
            "{frames:?}"
        );
        assert!(
            frames.iter().all(|f| !f.contains("问题2")),
            "the old text is gone: {frames:?}"
        );
        assert!(frames[2].contains("upvotes"), "{frames:?}");
    }

    #[test]
    fn changes_during_loading_are_sorted_and_a_gap_after_loading_is_wanted() {
        let room = Room::new(1, EventStatus::Live, 64, 16);
        room.committed(6, &ask(6));
        room.committed(4, &ask(4));
        let mut rx = room.join(None, false).public;
        room.load(RoomState {
            seq: 3,
            moderation: ModerationMode::Pre,
            slow_mode_secs: 0,
            pinned: None,
            questions: vec![],
            comments: vec![],
            polls: vec![],
            banned_viewers: vec![],
            banned_ips: vec![],
            last_ban_id: 0,
        });
        assert_eq!(seqs(&mut rx), vec![4]);
        assert_eq!(room.fill_range(), Some((4, 6)));
        room.filled(&[(5, ask(5)), (6, ask(6))]);
        assert_eq!(seqs(&mut rx), vec![5, 6]);
    }
}
