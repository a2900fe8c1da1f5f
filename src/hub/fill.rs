//! Bringing a room up to the room log: the fill task that reads what a room
//! misses, and the wait of a resuming client for this node's room.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Hub;
use super::room::Room;
use super::room_task;
use crate::store::Store;

/// How long a resuming client waits for this node's room to reach its `seq`.
const REACH_WAIT: Duration = Duration::from_secs(3);

/// The room's fill task: woken when a change is missing, it reads the
/// range from the room log and hands it in (one fill in flight per room;
/// wake-ups meanwhile coalesce). It ends with the room.
pub fn spawn_fill(room: &Arc<Room>, store: Store, shutdown: CancellationToken) {
    room_task::spawn(room, room.fill_signal(), shutdown, move |room| {
        let store = store.clone();
        async move { fill(&room, &store).await }
    });
}

/// Read what the room misses until it has it all, or the log has no more.
async fn fill(room: &Room, store: &Store) {
    while let Some((after, up_to)) = room.fill_range() {
        match store.room_log(room.event_id, after, up_to).await {
            Ok(changes) => {
                let before = room.seq();
                room.filled(&changes);
                if room.seq() == before {
                    break; // Not in the log yet: the next wake-up or check retries.
                }
            }
            Err(e) => {
                tracing::warn!(event_id = room.event_id.0, error = %e, "room fill failed; retried on the next check");
                break;
            }
        }
    }
}

impl Hub {
    /// A client resuming from `seq` saw it, so the log holds it. A room here
    /// that is behind (a wake-up still on its way, or lost with the node that
    /// committed it) reads the log first, so that the client gets a replay
    /// rather than a snapshot older than what it showed. Bounded: a `seq`
    /// the log does not reach waits [`REACH_WAIT`], then the join goes on.
    pub async fn reach(&self, room: &Room, seq: i64) {
        if self.bus.is_none() {
            return; // Alone, this node's room is the log: nothing to wait for.
        }
        let deadline = tokio::time::Instant::now() + REACH_WAIT;
        let mut probe_at = tokio::time::Instant::now();
        while room.seq() < seq {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                tracing::debug!(event_id = room.event_id.0, seq, "resume from beyond the log");
                return;
            }
            if now >= probe_at {
                room.probe();
                probe_at = now + Duration::from_millis(500);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every loaded room reads the log past its seq once.
    pub fn probe_rooms(&self) {
        for room in self.rooms.all() {
            room.probe();
        }
    }
}
