//! The shape of a room's background tasks (the fill, the publisher): woken
//! through a `Notify` of the room (a permit is kept, so wake-ups coalesce),
//! one step per wake-up, ending with the room or at shutdown. The task holds
//! the room only weakly, and only during a step.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::room::Room;

/// Run `step` each time `wake` is notified, until the room is gone or shutdown.
pub fn spawn<F, Fut>(room: &Arc<Room>, wake: Arc<Notify>, shutdown: CancellationToken, mut step: F)
where
    F: FnMut(Arc<Room>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let weak = Arc::downgrade(room);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = wake.notified() => {}
            }
            let Some(room) = weak.upgrade() else { break };
            step(room).await;
        }
    });
}
