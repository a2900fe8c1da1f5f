//! The resume ring: the latest logged frames of a room, replayed to a
//! client that resumes from a recent `seq`, and redacted as later changes
//! hide, edit or answer what they carry.

use std::collections::{HashMap, VecDeque};

use axum::extract::ws::Utf8Bytes;

use super::super::protocol::{PublicFrame, encode};
use crate::domain::question::LogItem;
use crate::domain::question::RoomChange;

/// Joins beyond this many missed messages get a snapshot instead of a replay.
pub const MAX_REPLAY: i64 = 10_000;

/// One logged frame in the resume ring.
struct RingFrame {
    seq: i64,
    /// The change the frame carries, kept beside its text: a redaction works
    /// on it directly instead of parsing the text back.
    change: RoomChange,
    text: Utf8Bytes,
    /// The seq of the item's latest change this frame was redacted by (its
    /// own seq until then).
    current_as_of: i64,
}

/// What later changes say of one item, as the ring's frames are redacted by
/// them when replayed.
struct Item {
    /// The item's latest change (new content or removal) and its seq.
    latest: (i64, RoomChange),
    /// Its latest removal: every content frame before it reads as removed.
    removed: Option<(i64, RoomChange)>,
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
    /// The items the ring's frames carry or remove, by id.
    items: HashMap<LogItem, Item>,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            capacity,
            items: HashMap::new(),
        }
    }

    /// Encode the change applied as `seq`, keep it for resumes, and return
    /// the frame. A change that supersedes an item's earlier content is noted
    /// for the item; its earlier frames are redacted when a replay reads
    /// them, so a question answered again and again costs the same each time
    /// however many of its frames the ring holds.
    pub fn push(&mut self, seq: i64, change: &RoomChange) -> Utf8Bytes {
        if let Some(item) = change.supersedes() {
            let removal = change.content_of().is_none();
            let noted = self.items.entry(item).or_insert_with(|| Item {
                latest: (seq, change.clone()),
                removed: None,
            });
            noted.latest = (seq, change.clone());
            if removal {
                noted.removed = Some((seq, change.clone()));
            }
        }
        let text = Utf8Bytes::from(encode(&PublicFrame { seq, change }));
        self.frames.push_back(RingFrame {
            seq,
            change: change.clone(),
            text: text.clone(),
            current_as_of: seq,
        });
        while self.frames.len() > self.capacity {
            self.drop_oldest();
        }
        text
    }

    /// Drop the oldest frame, and what is noted of its item once no frame of
    /// the item is left (the latest change of an item is its newest frame).
    fn drop_oldest(&mut self) {
        let Some(frame) = self.frames.pop_front() else {
            return;
        };
        if let Some(item) = frame.change.supersedes().or_else(|| frame.change.content_of()) {
            if self.items.get(&item).is_some_and(|noted| noted.latest.0 <= frame.seq) {
                self.items.remove(&item);
            }
        }
    }

    /// The frames after `last`, each redacted by what was applied since: a
    /// removal after it leaves the matching removal, a later edit or answer
    /// the item's current text and answer ([`RoomChange::redacted_by`]), the
    /// same as the writer and the store do to the room log, so a replay from
    /// memory shows no more than one from the store. A frame is encoded again
    /// only when that changes it, and once per later change, however many
    /// clients resume. Every node applies every change in `seq` order, so
    /// each node's ring reads the same, whichever node committed the change.
    fn frames_after(&mut self, last: i64) -> Vec<Utf8Bytes> {
        let items = &self.items;
        self.frames
            .iter_mut()
            .filter(|f| f.seq > last)
            .map(|frame| {
                let noted = frame.change.content_of().and_then(|item| items.get(&item));
                if let Some(noted) = noted.filter(|noted| noted.latest.0 > frame.current_as_of) {
                    let later = match &noted.removed {
                        Some((at, removal)) if *at > frame.seq => removal,
                        _ => &noted.latest.1,
                    };
                    if let Some(redacted) = frame.change.redacted_by(later).filter(|r| *r != frame.change) {
                        frame.text = Utf8Bytes::from(encode(&PublicFrame {
                            seq: frame.seq,
                            change: &redacted,
                        }));
                        frame.change = redacted;
                    }
                    frame.current_as_of = noted.latest.0;
                }
                frame.text.clone()
            })
            .collect()
    }

    /// How a client that saw up to `last_seq` catches up with a room at `seq`.
    pub fn replay(&mut self, last_seq: Option<i64>, seq: i64) -> Replay {
        let Some(last) = last_seq.filter(|last| *last <= seq && seq - last <= MAX_REPLAY && *last >= 0) else {
            return Replay::Snapshot;
        };
        match self.frames.front() {
            Some(oldest) if oldest.seq <= last + 1 => Replay::Ring(self.frames_after(last)),
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
    use crate::domain::ids::PostId;

    fn removed(id: i64) -> RoomChange {
        RoomChange::QuestionRemoved {
            question_id: PostId(id),
        }
    }

    fn question(id: i64, text: &str, answer: Option<&str>) -> RoomChange {
        RoomChange::Question {
            question: crate::domain::question::PublicQuestion {
                id: PostId(id),
                nickname: "网友".into(),
                text: text.into(),
                upvotes: 0,
                answered: answer.is_some(),
                answer: answer.map(str::to_owned),
                edited: false,
                created_at: chrono::DateTime::UNIX_EPOCH,
            },
        }
    }

    fn replayed(ring: &mut Ring, after: i64) -> Vec<RoomChange> {
        let seq = ring.frames.back().map_or(0, |f| f.seq);
        let Replay::Ring(frames) = ring.replay(Some(after), seq) else {
            panic!("expected a ring replay");
        };
        let frames: Vec<serde_json::Value> = frames.iter().map(|f| serde_json::from_str(f).unwrap()).collect();
        frames.into_iter().map(|f| serde_json::from_value(f).unwrap()).collect()
    }

    #[test]
    fn every_earlier_frame_of_a_question_answered_again_replays_the_latest_answer() {
        let mut ring = Ring::new(100);
        ring.push(1, &question(1, "问", None));
        for seq in 2..=50 {
            ring.push(seq, &question(1, "问", Some(&format!("答{seq}"))));
        }
        let frames = replayed(&mut ring, 0);
        assert_eq!(frames.len(), 50);
        assert_eq!(frames[0], question(1, "问", None), "no answer yet then");
        assert!(
            frames[1..].iter().all(|f| *f == question(1, "问", Some("答50"))),
            "{frames:?}"
        );
        // Answered again: the frames replayed before are redacted again.
        ring.push(51, &question(1, "问", Some("答51")));
        assert!(
            replayed(&mut ring, 0)[1..]
                .iter()
                .all(|f| *f == question(1, "问", Some("答51")))
        );
    }

    #[test]
    fn frames_before_a_removal_stay_removed_when_the_item_is_shown_again() {
        let mut ring = Ring::new(100);
        ring.push(1, &question(1, "手机13812345678", None));
        ring.push(2, &removed(1));
        ring.push(3, &question(1, "改过", None));
        ring.push(4, &question(1, "改过", Some("答")));
        assert_eq!(
            replayed(&mut ring, 0),
            vec![
                removed(1),
                removed(1),
                question(1, "改过", None),
                question(1, "改过", Some("答"))
            ]
        );
        ring.push(5, &removed(1));
        assert!(replayed(&mut ring, 0).iter().all(|f| *f == removed(1)));
    }

    #[test]
    fn what_is_noted_of_an_item_leaves_with_its_last_frame() {
        let mut ring = Ring::new(3);
        ring.push(1, &question(1, "一", None));
        ring.push(2, &question(2, "二", None));
        ring.push(3, &question(1, "一", Some("答")));
        assert_eq!(ring.items.len(), 2);
        ring.push(4, &removed(9));
        ring.push(5, &removed(8));
        assert_eq!(ring.items.len(), 3, "items 1 (seq 3), 9 and 8");
        ring.push(6, &removed(7));
        assert!(
            !ring.items.contains_key(&LogItem::post(PostId(1))),
            "its last frame left the ring"
        );
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
