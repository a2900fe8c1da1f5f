//! One live room: its public state, the recent-message ring for resumes,
//! and the fan-out to its connections.
//!
//! - [`state`]: the state under the room's lock, and a change's way to its frame;
//! - [`order`]: the `seq` ordering (what applies now, what waits, what the fill reads);
//! - [`ring`]: the resume ring and its redaction;
//! - [`members`]: connections, watching viewers, bans, slow mode, private frames;
//! - [`polls`]: which polls' tallies are due.
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

mod bans;
mod members;
mod order;
mod polls;
mod private;
mod ring;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, broadcast};

use super::protocol::{OwnQuestion, ServerMsg, encode};
use crate::domain::error_code::ErrorCode;
use crate::domain::event::EventStatus;
use crate::domain::identity::IdentityMode;
use crate::domain::ids::EventId;
use crate::domain::question::{ModerationMode, ViewerKey};
use crate::store::live::{PublicRoom, QuestionRecord};
pub use bans::Term;
use members::Watching;
pub use members::may_post;
pub use order::MAX_WAITING;
pub use private::{PrivateRx, PrivateTx, Refused, private_queue};
pub use ring::{MAX_REPLAY, Replay};
use state::Inner;

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

/// A fresh view of a room: the event's status and what the public sees.
pub struct Snapshot {
    pub status: EventStatus,
    pub room: PublicRoom,
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
    /// Private messages (own-question updates, kicks); bounded: a full
    /// queue marks the connection stalled.
    pub private: PrivateTx,
}

#[derive(Debug)]
pub enum Private {
    Frame(Utf8Bytes),
    /// Send this error frame, then close for this code.
    Kick {
        code: ErrorCode,
        frame: String,
    },
    /// `mine` frames may have been lost (the bus was away): send the viewer
    /// each of their posts as it is now, as after a replay.
    Resync,
}

pub struct Room {
    pub event_id: EventId,
    /// Who may take part (fixed once the event is announced, before a room exists).
    pub identity: IdentityMode,
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
    /// Frames applied to the state, in `seq` order, not yet sent on `public`.
    /// Whoever applies a change (the writer, the fill, the bus) only queues
    /// its frame here; the room's publisher task sends it, so waking every
    /// viewer never runs on the writer's path. Bounded by what is applied
    /// between two runs of the publisher, which takes everything each time.
    outgoing: Mutex<Vec<Frame>>,
    /// Wakes the publisher (a permit is kept, so wake-ups coalesce).
    publish: Arc<Notify>,
}

impl Room {
    pub fn new(event_id: EventId, status: EventStatus, outbound_queue: usize, ring_capacity: usize) -> Self {
        let (public, _) = broadcast::channel(outbound_queue.max(16));
        let (staff, _) = broadcast::channel(outbound_queue.max(16));
        Self {
            event_id,
            identity: IdentityMode::Verified,
            public,
            staff,
            inner: Mutex::new(Inner::new(event_id, status, ring_capacity)),
            conns: Mutex::new(HashMap::new()),
            watching: Mutex::new(Watching::default()),
            viewers: AtomicUsize::new(0),
            members: AtomicUsize::new(0),
            fill: Arc::new(Notify::new()),
            outgoing: Mutex::new(Vec::new()),
            publish: Arc::new(Notify::new()),
        }
    }

    /// The room of an event whose viewers take part as `identity` says.
    pub fn with_identity(mut self, identity: IdentityMode) -> Self {
        self.identity = identity;
        self
    }

    /// Send the frames applied since the last call, in order, on the public
    /// channel (the publisher task; tests call it directly).
    pub fn publish(&self) {
        let frames = std::mem::take(&mut *self.outgoing.lock().unwrap_or_else(|e| e.into_inner()));
        for frame in frames {
            // No receivers is fine: nobody is watching.
            let _ = self.public.send(frame);
        }
    }

    /// What wakes the publisher task.
    pub fn publish_signal(&self) -> Arc<Notify> {
        self.publish.clone()
    }

    /// Queue an applied change's frame for the publisher (called under the state lock, so in `seq` order).
    fn queue_frame(&self, frame: Frame) {
        self.outgoing.lock().unwrap_or_else(|e| e.into_inner()).push(frame);
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere must not take every later join down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, ConnEntry>> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn watching(&self) -> std::sync::MutexGuard<'_, Watching> {
        self.watching.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribe a new connection; `last_seq` is where the client left off.
    pub fn join(&self, last_seq: Option<i64>, staff: bool) -> Joined {
        // Subscribed under the lock: the frames after `seq` reach the channel.
        let mut inner = self.inner();
        let public = self.public.subscribe();
        let staff = staff.then(|| self.staff.subscribe());
        let seq = inner.order.seq;
        let start = match inner.ring.replay(last_seq, seq) {
            Replay::Ring(frames) => Start::Ring(frames),
            Replay::Store { after, up_to } => Start::Store { after, up_to },
            Replay::Snapshot => Start::Snapshot(inner.view.snapshot()),
        };
        Joined {
            seq,
            start,
            public,
            staff,
        }
    }

    pub fn is_loaded(&self) -> bool {
        self.inner().order.loaded
    }

    pub fn status(&self) -> EventStatus {
        self.inner().view.status
    }

    /// Whether a moderator has paused the room's interaction.
    pub fn paused(&self) -> bool {
        self.inner().view.paused
    }

    pub fn moderation(&self) -> (ModerationMode, u32) {
        let inner = self.inner();
        (inner.view.moderation, inner.view.slow_mode_secs)
    }

    /// The `mine` frame telling the author of `question` its news.
    pub fn author_frame(question: &QuestionRecord) -> String {
        encode(&ServerMsg::Mine {
            question: OwnQuestion::from(question),
        })
    }

    /// The staff frame of a question (new, or moderated).
    pub fn staff_frame(question: &QuestionRecord) -> String {
        encode(&ServerMsg::Moderation { question })
    }

    /// Staff's channel: a poll they manage (drafts included) or a tally they see before the public.
    pub fn tell_staff_text(&self, text: String) {
        let _ = self.staff.send(StaffItem::Frame(Utf8Bytes::from(text)));
    }

    /// Every staff connection re-reads the queue and the polls.
    pub fn resync_staff(&self) {
        let _ = self.staff.send(StaffItem::Resync);
    }

    /// Send the viewer count (ephemeral, current seq).
    pub fn broadcast_presence(&self) {
        self.broadcast_viewers(self.viewers());
    }

    /// Send a viewer count (the cluster's total in a cluster).
    pub fn broadcast_viewers(&self, viewers: usize) {
        let seq = self.seq();
        let text = Utf8Bytes::from(encode(&ServerMsg::Presence { seq, viewers }));
        let _ = self.public.send(Frame { seq: None, text });
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        // The fill and publisher tasks wake, find the room gone and end.
        self.fill.notify_one();
        self.publish.notify_one();
    }
}
