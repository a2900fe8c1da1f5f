//! The room's publisher task: sends the frames of applied changes to the
//! room's viewers, off the path of whoever applied them.
//!
//! Applying a committed change (the writer after its commit, the fill, the
//! bus) updates the room's state and queues the change's frame, encoded once;
//! waking the room's viewers — thousands of tasks — is this task's work. The
//! writer goes on to its next transaction at once, whatever the number of
//! viewers, and a burst of changes applied between two runs goes out in one
//! run.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::room::Room;

/// Start the publisher of `room`; it ends with the room (or at shutdown).
pub fn spawn_publisher(room: &Arc<Room>, shutdown: CancellationToken) {
    let weak = Arc::downgrade(room);
    let wake = room.publish_signal();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
            }
            let Some(room) = weak.upgrade() else { break };
            room.publish();
        }
    });
}
