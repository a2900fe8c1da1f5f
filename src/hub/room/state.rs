//! A room's state: what a snapshot shows ([`View`]), kept under the room's
//! one lock ([`Inner`]) with the `seq` order, the resume ring, tallies, bans
//! and slow mode; and the path from a committed change to its frame.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Notify;

use super::bans::Bans;
use super::order::Order;
use super::polls::Tallies;
use super::ring::Ring;
use super::{Frame, Room, Snapshot};
use crate::domain::event::EventStatus;
use crate::domain::ids::{EventId, PollId, PostId, UpdateId};
use crate::domain::poll::PublicPoll;
use crate::domain::question::{ModerationMode, PublicComment, PublicQuestion, RoomChange, ViewerKey};
use crate::domain::update::PublicUpdate;
use crate::store::live::{PublicRoom, RECENT_COMMENTS, RoomState};
use crate::store::writer::ChangeSink;

/// The public state of a room, as of its `seq`.
pub struct View {
    pub status: EventStatus,
    pub moderation: ModerationMode,
    pub slow_mode_secs: u32,
    /// Interaction paused (the kill switch).
    pub paused: bool,
    pub pinned: Option<PostId>,
    pub questions: BTreeMap<PostId, PublicQuestion>,
    /// The latest visible comments, oldest first.
    pub comments: VecDeque<PublicComment>,
    /// Opened and closed polls.
    pub polls: BTreeMap<PollId, PublicPoll>,
    /// The text feed's public updates.
    pub updates: BTreeMap<UpdateId, PublicUpdate>,
}

impl View {
    pub fn new(status: EventStatus) -> Self {
        Self {
            status,
            moderation: ModerationMode::Pre,
            slow_mode_secs: 0,
            paused: false,
            pinned: None,
            questions: BTreeMap::new(),
            comments: VecDeque::new(),
            polls: BTreeMap::new(),
            updates: BTreeMap::new(),
        }
    }

    /// The state read from the store (the event's status stays as it is).
    fn load(&mut self, state: PublicRoom) {
        self.moderation = state.moderation;
        self.slow_mode_secs = state.slow_mode_secs;
        self.paused = state.paused;
        self.pinned = state.pinned;
        self.questions = state.questions.into_iter().map(|q| (q.id, q)).collect();
        self.comments = state.comments.into_iter().collect();
        self.polls = state.polls.into_iter().map(|p| (p.id, p)).collect();
        self.updates = state.updates.into_iter().map(|u| (u.id, u)).collect();
    }

    /// Apply the next change.
    pub fn apply(&mut self, change: &RoomChange) {
        match change {
            RoomChange::Question { question } => {
                self.questions.insert(question.id, question.clone());
            }
            RoomChange::Comment { comment } => self.comment(comment),
            RoomChange::CommentRemoved { comment_id } => self.comments.retain(|c| c.id != *comment_id),
            RoomChange::Poll { poll } => {
                self.polls.insert(poll.id, poll.clone());
            }
            RoomChange::PollResults { poll_id, tally } => {
                if let Some(p) = self.polls.get_mut(poll_id) {
                    p.tally = Some(tally.clone());
                }
            }
            RoomChange::QuestionRemoved { question_id } => {
                self.questions.remove(question_id);
            }
            RoomChange::Upvotes { question_id, upvotes } => {
                if let Some(q) = self.questions.get_mut(question_id) {
                    q.upvotes = *upvotes;
                }
            }
            RoomChange::Pinned { question_id } => self.pinned = *question_id,
            RoomChange::Settings {
                moderation,
                slow_mode_secs,
            } => {
                self.moderation = *moderation;
                self.slow_mode_secs = *slow_mode_secs;
            }
            RoomChange::Interaction { paused } => self.paused = *paused,
            RoomChange::EventStatus { status } => self.status = *status,
            RoomChange::Update { update } => {
                self.updates.insert(update.id, update.clone());
            }
            RoomChange::UpdateRemoved { update_id } => {
                self.updates.remove(update_id);
            }
        }
    }

    /// A new or edited comment; the oldest fall out past [`RECENT_COMMENTS`].
    fn comment(&mut self, comment: &PublicComment) {
        match self.comments.iter_mut().find(|c| c.id == comment.id) {
            Some(c) => *c = comment.clone(),
            None => {
                self.comments.push_back(comment.clone());
                while self.comments.len() > RECENT_COMMENTS {
                    self.comments.pop_front();
                }
            }
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            status: self.status,
            room: PublicRoom {
                moderation: self.moderation,
                slow_mode_secs: self.slow_mode_secs,
                paused: self.paused,
                pinned: self.pinned,
                questions: self.questions.values().cloned().collect(),
                comments: self.comments.iter().cloned().collect(),
                polls: self.polls.values().cloned().collect(),
                updates: self.updates.values().cloned().collect(),
            },
        }
    }
}

/// Everything under a room's one lock: held for in-memory updates only.
pub struct Inner {
    pub order: Order,
    pub view: View,
    pub ring: Ring,
    pub tallies: Tallies,
    pub bans: Bans,
    /// When each viewer last posted (slow mode).
    pub last_post: HashMap<ViewerKey, Instant>,
}

impl Inner {
    pub fn new(event_id: EventId, status: EventStatus, ring_capacity: usize) -> Self {
        Self {
            order: Order::new(event_id),
            view: View::new(status),
            ring: Ring::new(ring_capacity),
            tallies: Tallies::default(),
            bans: Bans::default(),
            last_post: HashMap::new(),
        }
    }
}

impl Room {
    /// Install the state read from the store, then what was committed meanwhile.
    pub fn load(&self, state: RoomState) {
        let mut guard = self.inner();
        let inner = &mut *guard;
        inner.order.seq = state.seq;
        inner.view.load(state.public);
        inner.bans = Bans::from_records(&state.bans);
        inner.order.loaded = true;
        let mut backlog = std::mem::take(&mut inner.order.backlog);
        backlog.sort_by_key(|(seq, _)| *seq);
        let mut gap = inner.order.gap();
        for (seq, change) in backlog {
            gap = self.accept(inner, seq, &change);
        }
        drop(guard);
        self.applied(gap);
    }

    /// Apply `change` if it is next, keep it waiting if it is ahead, ignore a
    /// repeat. True when a gap remains for the fill to read.
    fn accept(&self, inner: &mut Inner, seq: i64, change: &RoomChange) -> bool {
        let (view, ring) = (&mut inner.view, &mut inner.ring);
        inner
            .order
            .accept(seq, change, |seq, change| self.apply(view, ring, seq, change))
    }

    /// Apply the next change (`seq` is the room's seq + 1) and queue its
    /// frame for the publisher ([`Room::publish`]), woken once the state lock
    /// is released ([`Room::applied`]).
    fn apply(&self, view: &mut View, ring: &mut Ring, seq: i64, change: &RoomChange) {
        view.apply(change);
        let text = ring.push(seq, change);
        self.queue_frame(Frame { seq: Some(seq), text });
    }

    /// After changes were applied: wake the publisher, and the fill if a gap remains.
    fn applied(&self, gap: bool) {
        self.publish.notify_one();
        if gap {
            self.fill.notify_one();
        }
    }

    /// Changes read from the room log by the fill (no further wake-up).
    pub fn filled(&self, changes: &[(i64, RoomChange)]) {
        let mut guard = self.inner();
        if !guard.order.loaded {
            return; // The load reads the state as of now anyway.
        }
        for (seq, change) in changes {
            self.accept(&mut guard, *seq, change);
        }
        drop(guard);
        self.applied(false);
    }

    /// Another node committed up to `seq`: fill up to it.
    pub fn want(&self, seq: i64) {
        let gap = self.inner().order.want(seq);
        if gap {
            self.fill.notify_one();
        }
    }

    /// Read the log past the current seq once (the periodic check).
    pub fn probe(&self) {
        self.inner().order.probe();
        self.fill.notify_one();
    }

    /// The range `(after, up_to]` the fill should read now, if any.
    pub fn fill_range(&self) -> Option<(i64, i64)> {
        self.inner().order.fill_range()
    }

    /// What wakes the fill task.
    pub fn fill_signal(&self) -> Arc<Notify> {
        self.fill.clone()
    }

    pub fn seq(&self) -> i64 {
        self.inner().order.seq
    }
}

impl ChangeSink for Room {
    fn committed(&self, seq: i64, change: &RoomChange) {
        let mut guard = self.inner();
        if !guard.order.loaded {
            guard.order.backlog.push((seq, change.clone()));
            return;
        }
        let gap = self.accept(&mut guard, seq, change);
        drop(guard);
        self.applied(gap);
    }
}
