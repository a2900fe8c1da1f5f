//! The `seq` ordering of a room's changes, as a plain type: which change is
//! applied now, which waits for an earlier one, which is a repeat, and what
//! range the fill task must read from the room log. No socket, no lock.

use std::collections::BTreeMap;

use crate::domain::ids::EventId;
use crate::domain::question::RoomChange;

/// Changes that may wait for an earlier seq; past this many they are dropped
/// and the fill reads them from the log with the rest.
pub const MAX_WAITING: usize = 1024;

/// Where a room's changes stand against the room log.
pub struct Order {
    /// The room's event, for log lines.
    pub event_id: EventId,
    /// The state was read from the store (before that, changes queue in `backlog`).
    pub loaded: bool,
    /// Changes committed while the room was loading.
    pub backlog: Vec<(i64, RoomChange)>,
    /// The last change applied.
    pub seq: i64,
    /// Changes beyond `seq + 1`, waiting for the ones before them.
    waiting: BTreeMap<i64, RoomChange>,
    /// The highest seq known to be committed: a fill reads up to it.
    wanted: i64,
    /// Read the log past `seq`, whatever `wanted` says (the periodic check).
    probe: bool,
}

impl Order {
    pub fn new(event_id: EventId) -> Self {
        Self {
            event_id,
            loaded: false,
            backlog: Vec::new(),
            seq: 0,
            waiting: BTreeMap::new(),
            wanted: 0,
            probe: false,
        }
    }

    /// Whether some committed change is still missing.
    pub fn gap(&self) -> bool {
        self.wanted > self.seq
    }

    /// Changes waiting for an earlier one.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Hand `change` to `apply` if it is next (then every waiting change that
    /// follows it), keep it waiting if it is ahead, ignore a repeat. True when
    /// a gap remains for the fill to read. `apply` is called in `seq` order,
    /// each seq once, and `self.seq` is the change's seq once it returns.
    pub fn accept(&mut self, seq: i64, change: &RoomChange, mut apply: impl FnMut(i64, &RoomChange)) -> bool {
        if seq <= self.seq {
            return self.gap(); // Already part of the state (loaded, or a repeat).
        }
        self.wanted = self.wanted.max(seq);
        if seq != self.seq + 1 {
            if self.waiting.len() < MAX_WAITING {
                self.waiting.insert(seq, change.clone());
            } else {
                // Bounded: the fill reads all of them from the log instead.
                tracing::warn!(
                    event_id = self.event_id.0,
                    seq = self.seq,
                    wanted = self.wanted,
                    "too many changes waiting for a gap; dropped, the fill reads them"
                );
                self.waiting.clear();
            }
            return true;
        }
        apply(seq, change);
        self.seq = seq;
        while let Some(entry) = self.waiting.first_entry() {
            let next = *entry.key();
            if next > self.seq + 1 {
                break;
            }
            let change = entry.remove();
            if next == self.seq + 1 {
                apply(next, &change);
                self.seq = next;
            }
        }
        self.gap()
    }

    /// Another node committed up to `seq`. True when the fill should read.
    pub fn want(&mut self, seq: i64) -> bool {
        self.wanted = self.wanted.max(seq);
        self.loaded && self.gap()
    }

    /// Read the log past the current seq once.
    pub fn probe(&mut self) {
        self.probe = true;
    }

    /// The range `(after, up_to]` the fill should read now, if any.
    pub fn fill_range(&mut self) -> Option<(i64, i64)> {
        if !self.loaded {
            return None;
        }
        let probe = std::mem::take(&mut self.probe);
        if self.gap() {
            Some((self.seq, self.wanted))
        } else if probe {
            Some((self.seq, i64::MAX))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::PostId;

    fn change(id: i64) -> RoomChange {
        RoomChange::QuestionRemoved {
            question_id: PostId(id),
        }
    }

    fn accept(order: &mut Order, seq: i64) -> (Vec<i64>, bool) {
        let mut applied = Vec::new();
        let gap = order.accept(seq, &change(seq), |s, _| applied.push(s));
        (applied, gap)
    }

    #[test]
    fn next_applies_ahead_waits_and_repeats_are_ignored() {
        let mut order = Order::new(EventId(1));
        order.loaded = true;
        assert_eq!(accept(&mut order, 1), (vec![1], false));
        assert_eq!(accept(&mut order, 3), (vec![], true));
        assert_eq!(order.fill_range(), Some((1, 3)));
        assert_eq!(accept(&mut order, 1), (vec![], true), "a repeat");
        assert_eq!(accept(&mut order, 2), (vec![2, 3], false));
        assert_eq!(order.seq, 3);
        assert_eq!(order.waiting(), 0);
        assert_eq!(order.fill_range(), None);
    }

    #[test]
    fn nothing_is_read_before_loading_and_a_probe_reads_once() {
        let mut order = Order::new(EventId(1));
        assert!(!order.want(4), "not loaded");
        assert_eq!(order.fill_range(), None);
        order.loaded = true;
        assert_eq!(order.fill_range(), Some((0, 4)));
        accept(&mut order, 1);
        let mut seqs = vec![];
        for s in 2..=4 {
            seqs.extend(accept(&mut order, s).0);
        }
        assert_eq!(seqs, vec![2, 3, 4]);
        order.probe();
        assert_eq!(order.fill_range(), Some((4, i64::MAX)));
        assert_eq!(order.fill_range(), None);
    }
}
