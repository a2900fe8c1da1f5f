//! A connection's private queue: the frames for that connection only (its
//! answers, `mine` frames, kicks, resyncs), bounded, read by the connection's
//! writer and fed by the room and the connection's reader.
//!
//! Not tokio's `mpsc`: every idle connection holds one, and tokio's channel
//! allocates about 0.9 KiB as it is made (a cache-padded shared state and a
//! first block of 32 slots). This one is a mutex around a `VecDeque` that
//! allocates with the first message and gives its room back once drained.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::Private;

/// A queue this short keeps its room when drained; a longer one (after a
/// burst) gives it back.
const KEPT_ROOM: usize = 8;

/// The room's and the reader's end; cloned for each.
pub struct PrivateTx(Arc<Shared>);

/// The writer's end.
pub struct PrivateRx(Arc<Shared>);

/// The receiver is gone: the connection is ending.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed;

/// Why `try_send` did not queue a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds `capacity` messages: the client stopped reading.
    Full,
    Closed,
}

struct Shared {
    state: Mutex<State>,
    /// Set when a message was refused because the queue was full.
    overflowed: AtomicBool,
}

struct State {
    queue: VecDeque<Box<Private>>,
    capacity: usize,
    senders: usize,
    receiver_alive: bool,
    /// The receiver, waiting for a message.
    receiver: Option<Waker>,
    /// Senders waiting for room (or for the receiver to go).
    senders_waiting: Vec<Waker>,
}

/// A bounded queue of `capacity` messages.
pub fn private_queue(capacity: usize) -> (PrivateTx, PrivateRx) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            capacity,
            senders: 1,
            receiver_alive: true,
            receiver: None,
            senders_waiting: Vec::new(),
        }),
        overflowed: AtomicBool::new(false),
    });
    (PrivateTx(shared.clone()), PrivateRx(shared))
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

impl PrivateTx {
    /// Queue `message` now, or say why not. A full queue is remembered (see
    /// [`PrivateRx::overflowed`]): a sender that cannot wait found the client
    /// not reading. [`Self::send`], which waits for room, marks nothing.
    pub fn try_send(&self, message: Box<Private>) -> Result<(), Refused> {
        self.push(message).map_err(|(refused, _)| {
            if refused == Refused::Full {
                self.0.overflowed.store(true, Ordering::Relaxed);
            }
            refused
        })
    }

    /// Queue `message`, waiting for room.
    pub async fn send(&self, message: Box<Private>) -> Result<(), Closed> {
        let mut message = Some(message);
        std::future::poll_fn(|cx| {
            let Some(next) = message.take() else {
                return Poll::Ready(Err(Closed));
            };
            match self.push(next) {
                Ok(()) => Poll::Ready(Ok(())),
                Err((Refused::Closed, _)) => Poll::Ready(Err(Closed)),
                Err((Refused::Full, back)) => {
                    message = Some(back);
                    let mut state = self.0.state();
                    // Room may have been made since the push: try again at once.
                    if state.queue.len() < state.capacity || !state.receiver_alive {
                        cx.waker().wake_by_ref();
                    } else if !state.senders_waiting.iter().any(|w| w.will_wake(cx.waker())) {
                        state.senders_waiting.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Queue `message`, waiting at most `limit` for room (`Full`: the queue
    /// stayed full all that time).
    pub async fn send_timeout(&self, message: Box<Private>, limit: Duration) -> Result<(), Refused> {
        match tokio::time::timeout(limit, self.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(Closed)) => Err(Refused::Closed),
            Err(_) => Err(Refused::Full),
        }
    }

    fn push(&self, message: Box<Private>) -> Result<(), (Refused, Box<Private>)> {
        let mut state = self.0.state();
        if !state.receiver_alive {
            return Err((Refused::Closed, message));
        }
        if state.queue.len() >= state.capacity {
            return Err((Refused::Full, message));
        }
        state.queue.push_back(message);
        let receiver = state.receiver.take();
        drop(state);
        if let Some(receiver) = receiver {
            receiver.wake();
        }
        Ok(())
    }
}

impl Clone for PrivateTx {
    fn clone(&self) -> Self {
        self.0.state().senders += 1;
        Self(self.0.clone())
    }
}

impl Drop for PrivateTx {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.senders -= 1;
        let receiver = if state.senders == 0 {
            state.receiver.take()
        } else {
            None
        };
        drop(state);
        if let Some(receiver) = receiver {
            receiver.wake();
        }
    }
}

impl PrivateRx {
    /// The next message; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Box<Private>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Box<Private>>> {
        let mut state = self.0.state();
        if let Some(message) = state.queue.pop_front() {
            if state.queue.is_empty() && state.queue.capacity() > KEPT_ROOM {
                state.queue = VecDeque::new();
            }
            let senders = std::mem::take(&mut state.senders_waiting);
            drop(state);
            wake_all(senders);
            return Poll::Ready(Some(message));
        }
        if state.senders == 0 {
            return Poll::Ready(None);
        }
        match &mut state.receiver {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Whether a message was ever refused because the queue was full (the
    /// client stopped reading).
    pub fn overflowed(&self) -> bool {
        self.0.overflowed.load(Ordering::Relaxed)
    }
}

impl Drop for PrivateRx {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.receiver_alive = false;
        let queued = std::mem::take(&mut state.queue);
        let senders = std::mem::take(&mut state.senders_waiting);
        drop(state);
        drop(queued);
        wake_all(senders);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Box<Private> {
        Box::new(Private::Frame(text.to_owned().into()))
    }

    fn text(message: Option<Box<Private>>) -> String {
        match message.map(|m| *m) {
            Some(Private::Frame(text)) => text.as_str().to_owned(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn messages_come_out_in_order_and_a_full_queue_refuses_and_is_remembered() {
        let (tx, mut rx) = private_queue(2);
        tx.try_send(frame("a")).unwrap();
        tx.send(frame("b")).await.unwrap();
        assert!(!rx.overflowed());
        assert_eq!(tx.try_send(frame("c")), Err(Refused::Full));
        assert!(rx.overflowed());
        assert_eq!(text(rx.recv().await), "a");
        assert_eq!(text(rx.recv().await), "b");
        tx.try_send(frame("d")).unwrap();
        assert_eq!(text(rx.recv().await), "d");
    }

    #[tokio::test]
    async fn a_sender_waits_for_room_and_the_receiver_for_a_message() {
        let (tx, mut rx) = private_queue(1);
        tx.try_send(frame("first")).unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(frame("second")).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the queue is full: the send waits");
        assert_eq!(text(rx.recv().await), "first");
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert!(
            !rx.overflowed(),
            "a sender that waited for room found no stalled client"
        );
        assert_eq!(text(rx.recv().await), "second");
        let receiving = tokio::spawn(async move { text(rx.recv().await) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!receiving.is_finished(), "the queue is empty: the receiver waits");
        tx.try_send(frame("third")).unwrap();
        assert_eq!(receiving.await.unwrap(), "third");
    }

    #[tokio::test]
    async fn a_send_gives_up_at_its_limit_or_when_the_receiver_goes() {
        let (tx, rx) = private_queue(1);
        tx.try_send(frame("a")).unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(
            tx.send_timeout(frame("b"), Duration::from_millis(30)).await,
            Err(Refused::Full)
        );
        assert!(started.elapsed() >= Duration::from_millis(30));
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(frame("c")).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        assert_eq!(waiting.await.unwrap(), Err(Closed));
        assert_eq!(tx.try_send(frame("d")), Err(Refused::Closed));
    }

    #[tokio::test]
    async fn the_receiver_ends_once_every_sender_is_gone_and_the_queue_is_drained() {
        let (tx, mut rx) = private_queue(4);
        let other = tx.clone();
        tx.try_send(frame("last")).unwrap();
        drop(tx);
        let receiving = tokio::spawn(async move {
            let last = text(rx.recv().await);
            (last, rx.recv().await.is_none())
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!receiving.is_finished(), "a sender is left: the receiver waits");
        drop(other);
        assert_eq!(receiving.await.unwrap(), ("last".to_owned(), true));
    }

    #[tokio::test]
    async fn a_drained_queue_gives_back_the_room_of_a_burst() {
        let (tx, mut rx) = private_queue(64);
        for n in 0..64 {
            tx.try_send(frame(&n.to_string())).unwrap();
        }
        for _ in 0..64 {
            rx.recv().await.unwrap();
        }
        assert_eq!(rx.0.state().queue.capacity(), 0);
    }
}
