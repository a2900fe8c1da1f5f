//! The hub's periodic work on this node: live poll tallies, presence (when
//! alone), word-list reloads and rate-limiter cleanup.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::Hub;
use super::protocol::{self, ServerMsg};
use super::room::Room;
use crate::domain::ids::{EventId, PollId};
use crate::store::writer::{Command, Outcome};

impl Hub {
    /// The tally tick: everything else runs on multiples of it.
    fn tally_every(&self) -> Duration {
        Duration::from_millis(self.settings.tally_interval_ms.max(10))
    }

    /// Presence every 2 s, word-list changes every 5 s, limiter cleanup every minute.
    pub(super) fn spawn_housekeeping(&self) {
        let hub = self.clone();
        let every = self.tally_every();
        let ticks = |d: Duration| (d.as_millis() / every.as_millis()).max(1) as u64;
        let (presence, words, limits) = (
            ticks(Duration::from_secs(2)),
            ticks(Duration::from_secs(5)),
            ticks(Duration::from_secs(60)),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_counts: HashMap<EventId, usize> = HashMap::new();
            let mut peaks: HashMap<EventId, usize> = HashMap::new();
            let mut n: u64 = 0;
            loop {
                tokio::select! {
                    () = hub.shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                n += 1;
                let rooms = hub.rooms.all();
                for room in &rooms {
                    hub.flush_tallies(room);
                }
                // In a cluster, presence is the cluster's (see `run_cluster_checks`).
                if n % presence == 0 && hub.bus.is_none() {
                    share_presence(&rooms, &mut last_counts);
                    let counts: Vec<_> = rooms.iter().map(|r| (r.event_id, r.viewers())).collect();
                    hub.record_peaks(&counts, &mut peaks);
                }
                if n % words == 0 {
                    hub.screen.reload_if_changed();
                }
                if n % limits == 0 {
                    hub.limits.shrink();
                }
            }
        });
    }

    /// Keep each room's highest viewer count (the event record's 在线观看峰值):
    /// a store write only when a room passes its highest yet; never waited on.
    pub(super) fn record_peaks(&self, counts: &[(EventId, usize)], peaks: &mut HashMap<EventId, usize>) {
        peaks.retain(|id, _| counts.iter().any(|(e, _)| e == id));
        for &(event_id, viewers) in counts {
            if peaks.get(&event_id).is_some_and(|&p| p >= viewers) || viewers == 0 {
                continue;
            }
            peaks.insert(event_id, viewers);
            let store = self.store.clone();
            tokio::spawn(async move {
                let viewers = i64::try_from(viewers).unwrap_or(i64::MAX);
                if let Err(e) = store.record_peak_viewers(event_id, viewers).await {
                    tracing::warn!(event_id = event_id.0, error = %e, "peak viewers not recorded");
                }
            });
        }
    }

    /// Live tallies are coalesced: a poll with new votes gets one tally,
    /// counted from the store, at most once per interval — never one message
    /// per vote, and never two back to back when a commit is slow.
    fn flush_tallies(&self, room: &Arc<Room>) {
        let every = self.tally_every();
        for (poll_id, last_sent) in room.take_dirty_polls() {
            let hub = self.clone();
            let room = room.clone();
            tokio::spawn(async move {
                if let Some(next) = last_sent.map(|at| at + every) {
                    tokio::time::sleep_until(next.into()).await;
                }
                // In a cluster one node sends each interval's tally (of everybody's votes).
                if let Some(bus) = &hub.bus
                    && !bus.claim_tally(poll_id, every).await
                {
                    room.tally_finished(poll_id, false);
                    return;
                }
                let sent = hub.send_tally(&room, poll_id).await;
                room.tally_finished(poll_id, sent);
            });
        }
    }

    /// Count a poll's tally and send it (to staff only while the poll is not
    /// public: the public one goes out as a room change). Whether it went out.
    async fn send_tally(&self, room: &Arc<Room>, poll_id: PollId) -> bool {
        let sink = self.sink(room.event_id, Some(room.clone()));
        let command = Command::PollTally {
            event_id: room.event_id,
            poll_id,
        };
        match self.writer.submit(command, sink).await {
            Ok(Outcome::Tally {
                tally: Some(tally),
                public: false,
                ..
            }) => {
                let frame = ServerMsg::PollAdmin {
                    poll: None,
                    poll_id,
                    tally: Some(&tally),
                };
                self.tell_staff(room, protocol::encode(&frame));
                true
            }
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(poll_id = poll_id.0, error = %e, "tally not sent; retrying on the next tick");
                false
            }
        }
    }
}

/// Each room whose viewer count changed since the last round sends it.
fn share_presence(rooms: &[Arc<Room>], last_counts: &mut HashMap<EventId, usize>) {
    last_counts.retain(|id, _| rooms.iter().any(|r| r.event_id == *id));
    for room in rooms {
        let viewers = room.viewers();
        if last_counts.insert(room.event_id, viewers) != Some(viewers) {
            room.broadcast_presence();
        }
    }
}
