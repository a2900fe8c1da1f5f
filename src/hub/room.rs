//! One live room: its public state, the recent-message ring for resumes,
//! and the fan-out to its connections.
//!
//! A public change is encoded ONCE into a frame; every connection gets a
//! clone of the same bytes through a `broadcast` channel. The channel is the
//! bounded outbound queue of every connection: a connection that falls more
//! than its capacity behind is told `lagged` and closed (it resumes from its
//! last seq), and never slows the others. Rooms share no lock; inside a room
//! the std mutexes are held for in-memory updates only, never across `.await`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{broadcast, mpsc};

use super::protocol::{OwnQuestion, PublicFrame, ServerMsg, encode};
use crate::domain::event::EventStatus;
use crate::domain::poll::PublicPoll;
use crate::domain::question::{ModerationMode, PublicComment, PublicQuestion, RoomChange, ViewerKey};
use crate::store::live::{QuestionRecord, RECENT_COMMENTS, RoomState};
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
    pub staff: Option<broadcast::Receiver<Utf8Bytes>>,
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
        code: &'static str,
        reason: String,
    },
}

struct Inner {
    loaded: bool,
    /// Changes committed while the room was loading.
    backlog: Vec<(i64, RoomChange)>,
    seq: i64,
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
    ring: VecDeque<(i64, Utf8Bytes)>,
    banned_viewers: HashSet<String>,
    banned_ips: HashSet<String>,
    last_post: HashMap<ViewerKey, Instant>,
}

pub struct Room {
    pub event_id: i64,
    ring_capacity: usize,
    public: broadcast::Sender<Frame>,
    staff: broadcast::Sender<Utf8Bytes>,
    inner: Mutex<Inner>,
    conns: Mutex<HashMap<u64, ConnEntry>>,
    viewers: AtomicUsize,
    /// Connections holding a membership; changed only under the hub's registry lock.
    pub(super) members: AtomicUsize,
}

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
                last_post: HashMap::new(),
            }),
            conns: Mutex::new(HashMap::new()),
            viewers: AtomicUsize::new(0),
            members: AtomicUsize::new(0),
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
        inner.loaded = true;
        let backlog = std::mem::take(&mut inner.backlog);
        for (seq, change) in backlog {
            self.apply(&mut inner, seq, &change);
        }
    }

    fn apply(&self, inner: &mut Inner, seq: i64, change: &RoomChange) {
        if seq <= inner.seq {
            return; // Already part of the state (loaded, or a repeat).
        }
        if seq != inner.seq + 1 {
            tracing::warn!(
                event_id = self.event_id,
                expected = inner.seq + 1,
                got = seq,
                "room log gap"
            );
        }
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
        let text = Utf8Bytes::from(encode(&PublicFrame { seq, change }));
        inner.ring.push_back((seq, text.clone()));
        while inner.ring.len() > self.ring_capacity {
            inner.ring.pop_front();
        }
        // No receivers is fine: nobody is watching.
        let _ = self.public.send(Frame { seq: Some(seq), text });
    }

    /// Subscribe a new connection; `last_seq` is where the client left off.
    pub fn join(&self, last_seq: Option<i64>, staff: bool) -> Joined {
        let inner = self.inner();
        let public = self.public.subscribe();
        let staff = staff.then(|| self.staff.subscribe());
        let seq = inner.seq;
        let start = match last_seq {
            Some(last) if last <= seq && seq - last <= MAX_REPLAY && last >= 0 => match inner.ring.front() {
                Some((oldest, _)) if *oldest <= last + 1 => Start::Ring(
                    inner
                        .ring
                        .iter()
                        .filter(|(s, _)| *s > last)
                        .map(|(_, t)| t.clone())
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

    pub fn register(&self, id: u64, entry: ConnEntry) {
        if !entry.staff {
            self.viewers.fetch_add(1, Ordering::Relaxed);
        }
        self.conns().insert(id, entry);
    }

    /// Remove a connection; returns how many remain.
    pub fn unregister(&self, id: u64) -> usize {
        let mut conns = self.conns();
        if let Some(entry) = conns.remove(&id) {
            if !entry.staff {
                self.viewers.fetch_sub(1, Ordering::Relaxed);
            }
        }
        conns.len()
    }

    pub fn connections(&self) -> usize {
        self.conns().len()
    }

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
                    code: "banned",
                    reason: format!("you are banned from this event: {reason}"),
                };
                if entry.private.try_send(kick).is_err() {
                    entry.stalled.store(true, Ordering::Relaxed);
                }
            }
        }
        kicked
    }

    /// Tell the author of `question` (on every connection they have here).
    pub fn tell_author(&self, question: &QuestionRecord) {
        let text = Utf8Bytes::from(encode(&ServerMsg::Mine {
            question: OwnQuestion::from(question),
        }));
        for entry in self
            .conns()
            .values()
            .filter(|e| e.viewer.as_ref() == Some(&question.viewer_key))
        {
            if entry.private.try_send(Private::Frame(text.clone())).is_err() {
                // A full private queue means the client stopped reading: it is cut off and resumes.
                entry.stalled.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Moderators' and hosts' channel.
    pub fn tell_staff(&self, question: &QuestionRecord) {
        self.tell_staff_text(encode(&ServerMsg::Moderation { question }));
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
        let _ = self.staff.send(Utf8Bytes::from(text));
    }

    /// Send the viewer count (ephemeral, current seq).
    pub fn broadcast_presence(&self) {
        let seq = self.inner().seq;
        let text = Utf8Bytes::from(encode(&ServerMsg::Presence {
            seq,
            viewers: self.viewers(),
        }));
        let _ = self.public.send(Frame { seq: None, text });
    }
}

impl ChangeSink for Room {
    fn committed(&self, seq: i64, change: &RoomChange) {
        let mut inner = self.inner();
        if inner.loaded {
            self.apply(&mut inner, seq, change);
        } else {
            inner.backlog.push((seq, change.clone()));
        }
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
        });
        room.committed(3, &RoomChange::Question { question: question(7) });
        let frame = rx.try_recv().unwrap();
        assert_eq!(frame.seq, Some(3));
        assert!(rx.try_recv().is_err(), "seq 3 delivered once");
        assert!(matches!(room.join(None, false).start, Start::Snapshot(ref s) if s.questions.len() == 2));
    }
}
