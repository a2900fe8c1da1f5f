//! Live tallies of a room's polls: which polls have votes not yet counted
//! in a sent tally, and which tally is in flight.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::Room;
use crate::domain::ids::PollId;
use crate::domain::poll::PublicPoll;

/// Polls with votes since their tally was last sent. A poll has at most one
/// tally in flight, and the next leaves no sooner than one interval after
/// the last (so a slow commit never lets two tallies out back to back).
#[derive(Default)]
pub struct Tallies {
    dirty: HashSet<PollId>,
    in_flight: HashSet<PollId>,
    sent_at: HashMap<PollId, Instant>,
}

impl Tallies {
    pub fn voted(&mut self, poll_id: PollId) {
        self.dirty.insert(poll_id);
    }

    /// The dirty polls not in flight, now marked in flight, with when each
    /// one's last tally went out.
    pub fn take_due(&mut self) -> Vec<(PollId, Option<Instant>)> {
        let due: Vec<PollId> = self
            .dirty
            .iter()
            .copied()
            .filter(|id| !self.in_flight.contains(id))
            .collect();
        due.into_iter()
            .map(|id| {
                self.dirty.remove(&id);
                self.in_flight.insert(id);
                (id, self.sent_at.get(&id).copied())
            })
            .collect()
    }

    /// A tally went out at `now` (`sent`), or failed and is due again.
    pub fn finished(&mut self, poll_id: PollId, sent: bool, now: Instant) {
        self.in_flight.remove(&poll_id);
        if sent {
            self.sent_at.insert(poll_id, now);
        } else {
            self.dirty.insert(poll_id);
        }
    }
}

impl Room {
    /// The spec of an open or closed poll, for checking a ballot.
    pub fn poll(&self, poll_id: PollId) -> Option<PublicPoll> {
        self.inner().view.polls.get(&poll_id).cloned()
    }

    /// A vote was committed: the tally goes out with the next flush.
    pub fn poll_voted(&self, poll_id: PollId) {
        self.inner().tallies.voted(poll_id);
    }

    /// The polls whose tallies are due, with when their last tally went out;
    /// each is marked in flight until [`Room::tally_finished`]. A poll whose
    /// tally is still in flight stays dirty for a later tick.
    pub fn take_dirty_polls(&self) -> Vec<(PollId, Option<Instant>)> {
        self.inner().tallies.take_due()
    }

    /// A poll's tally went out (`sent`) or failed (it is counted again later).
    pub fn tally_finished(&self, poll_id: PollId, sent: bool) {
        self.inner().tallies.finished(poll_id, sent, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_has_one_tally_in_flight_and_a_failed_one_is_due_again() {
        let mut tallies = Tallies::default();
        tallies.voted(PollId(1));
        assert_eq!(tallies.take_due(), vec![(PollId(1), None)]);
        tallies.voted(PollId(1));
        assert!(tallies.take_due().is_empty(), "still in flight");
        let now = Instant::now();
        tallies.finished(PollId(1), true, now);
        assert_eq!(tallies.take_due(), vec![(PollId(1), Some(now))]);
        tallies.finished(PollId(1), false, now);
        assert_eq!(tallies.take_due(), vec![(PollId(1), Some(now))], "failed: due again");
    }
}
