//! The resume ring: the latest logged frames of a room, replayed to a
//! client that resumes from a recent `seq`, and redacted as later changes
//! hide or edit what they carry.

use std::collections::VecDeque;

use axum::extract::ws::Utf8Bytes;

use super::super::protocol::{PublicFrame, encode};
use crate::domain::ids::PostId;
use crate::domain::question::RoomChange;

/// Joins beyond this many missed messages get a snapshot instead of a replay.
pub const MAX_REPLAY: i64 = 10_000;

/// One logged frame in the resume ring.
struct RingFrame {
    seq: i64,
    /// The change the frame carries, kept beside its text: a redaction works
    /// on it directly instead of parsing the text back (a question answered
    /// again and again redacts every earlier frame of it, each time).
    change: RoomChange,
    text: Utf8Bytes,
}

/// Where a resuming client's replay comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum Replay {
    /// The frames after the client's seq that the ring still holds.
    Ring(Vec<Utf8Bytes>),
    /// Further back than the ring: read `(after, up_to]` from the store.
    Store { after: i64, up_to: i64 },
    /// Nothing to replay from: the client gets a snapshot.
    Snapshot,
}

pub struct Ring {
    frames: VecDeque<RingFrame>,
    capacity: usize,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            capacity,
        }
    }

    /// Encode the change applied as `seq`, keep it for resumes, and return
    /// the frame. A change that supersedes an item's earlier content first
    /// redacts the frames that carry it.
    pub fn push(&mut self, seq: i64, change: &RoomChange) -> Utf8Bytes {
        if let Some(item) = change.supersedes() {
            self.redact(item, change);
        }
        let text = Utf8Bytes::from(encode(&PublicFrame { seq, change }));
        self.frames.push_back(RingFrame {
            seq,
            change: change.clone(),
            text: text.clone(),
        });
        while self.frames.len() > self.capacity {
            self.frames.pop_front();
        }
        text
    }

    /// The ring's frames of `item` as they read once `later` is applied: the
    /// same rewrite the writer makes in the room log in the transaction that
    /// logged `later` (a hide leaves removals, an edit the current text), so
    /// a replay from memory shows no more than one from the store. Every node
    /// applies every change in `seq` order, so each node's ring is redacted,
    /// whichever node committed the change.
    fn redact(&mut self, item: PostId, later: &RoomChange) {
        for frame in self.frames.iter_mut().filter(|f| f.change.content_of() == Some(item)) {
            // Encoded again only when the redaction changes it.
            if let Some(redacted) = frame.change.redacted_by(later).filter(|r| *r != frame.change) {
                frame.text = Utf8Bytes::from(encode(&PublicFrame {
                    seq: frame.seq,
                    change: &redacted,
                }));
                frame.change = redacted;
            }
        }
    }

    /// How a client that saw up to `last_seq` catches up with a room at `seq`.
    pub fn replay(&self, last_seq: Option<i64>, seq: i64) -> Replay {
        let Some(last) = last_seq.filter(|last| *last <= seq && seq - last <= MAX_REPLAY && *last >= 0) else {
            return Replay::Snapshot;
        };
        match self.frames.front() {
            Some(oldest) if oldest.seq <= last + 1 => Replay::Ring(
                self.frames
                    .iter()
                    .filter(|f| f.seq > last)
                    .map(|f| f.text.clone())
                    .collect(),
            ),
            None if last == seq => Replay::Ring(Vec::new()),
            _ => Replay::Store {
                after: last,
                up_to: seq,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(id: i64) -> RoomChange {
        RoomChange::QuestionRemoved {
            question_id: PostId(id),
        }
    }

    #[test]
    fn a_resume_replays_from_the_ring_the_store_or_a_snapshot() {
        let mut ring = Ring::new(2);
        assert_eq!(ring.replay(Some(0), 0), Replay::Ring(vec![]));
        for seq in 1..=3 {
            ring.push(seq, &removed(seq));
        }
        assert!(matches!(ring.replay(Some(1), 3), Replay::Ring(ref f) if f.len() == 2));
        assert_eq!(ring.replay(Some(0), 3), Replay::Store { after: 0, up_to: 3 });
        assert_eq!(ring.replay(Some(4), 3), Replay::Snapshot, "ahead of the room");
        assert_eq!(ring.replay(Some(-1), 3), Replay::Snapshot);
        assert_eq!(ring.replay(None, 3), Replay::Snapshot);
        assert_eq!(ring.replay(Some(0), MAX_REPLAY + 1), Replay::Snapshot, "too far back");
    }
}
