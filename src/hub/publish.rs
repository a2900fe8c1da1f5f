//! The room's publisher task: sends the frames of applied changes to the
//! room's viewers, off the path of whoever applied them.
//!
//! Applying a committed change (the writer after its commit, the fill, the
//! bus) updates the room's state and queues the change's frame, encoded once;
//! waking the room's viewers — thousands of tasks — is this task's work. The
//! writer goes on to its next transaction at once, whatever the number of
//! viewers, and a burst of changes applied between two runs goes out in one
//! run.
//!
//! A large room publishes at most once per tick (`--publish-tick-ms`, 50 ms
//! unless set): the first frame after a quiet spell goes out at once, and what
//! is applied within the tick after it waits for the tick's end and goes out
//! together. Each viewer is then woken, and writes to its socket, once per
//! tick instead of once per frame — at 50 frames a second and 50 ms, about
//! half the wake-ups and system calls — for at most one tick of added delay.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::room::Room;
use super::room_task;

/// Rooms with at least this many connections publish once per tick at most.
pub const TICK_FROM_CONNECTIONS: usize = 1000;

/// Start the publisher of `room`, which publishes at most once per `tick`
/// when the room is large; it ends with the room (or at shutdown).
pub fn spawn_publisher(room: &Arc<Room>, tick: Duration, shutdown: CancellationToken) {
    room_task::spawn(room, room.publish_signal(), shutdown, move |room| async move {
        room.publish();
        let large = room.connections() >= TICK_FROM_CONNECTIONS;
        drop(room);
        if large && !tick.is_zero() {
            // What is applied meanwhile keeps the wake-up's permit and goes out after.
            tokio::time::sleep(tick).await;
        }
    });
}
