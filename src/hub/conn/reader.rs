//! The client's frames once it is live, and the periodic re-check that a
//! staff console's session still exists. Every answer goes to the writer
//! through the private queue, so the reader may wait on the store while the
//! writer keeps draining the room.

use crate::store::sessions::SessionLookup;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use futures_util::stream::{FuturesOrdered, SplitStream};
use tokio::sync::Notify;

use super::{Ended, Session, Who, close, ended, error_frame, millis};
use crate::domain::error_code::ErrorCode;
use crate::hub::room::{Private, PrivateTx};

/// How often a staff console's session is re-checked: a password reset or
/// a sign-out elsewhere closes an open console within this time.
const STAFF_SESSION_CHECK: Duration = Duration::from_secs(5);

/// A request being handled: its answer once done.
type InFlight<'a> = std::pin::Pin<Box<dyn Future<Output = String> + Send + 'a>>;

/// The requests read and not yet answered, answered in the order they were
/// read. Made with the first request: an empty `FuturesOrdered` allocates (a
/// stub task), and most viewers never send one. Each request is boxed: the
/// stub is as large as the future type, which would be a request's whole
/// state (3.5 KiB) unboxed.
#[derive(Default)]
struct Requests<'a>(Option<FuturesOrdered<InFlight<'a>>>);

impl<'a> Requests<'a> {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, FuturesOrdered::len)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, request: InFlight<'a>) {
        self.0.get_or_insert_with(FuturesOrdered::new).push_back(request);
    }

    /// The answer to the oldest request, once it is done; `None`: there is none.
    async fn next(&mut self) -> Option<String> {
        match &mut self.0 {
            Some(requests) => requests.next().await,
            None => None,
        }
    }
}

/// How long an answer may wait for room in the private queue once the
/// connection is ending.
const SETTLE_SEND: Duration = Duration::from_secs(1);

/// Client requests a connection may have in flight (read, not yet answered).
const MAX_IN_FLIGHT: usize = 16;

/// Which of a connection's requests may still queue a write: the client's
/// requests are read one after the other, but a request that has queued its
/// command with the writer lets the next one be read while it waits for the
/// commit. Commands are therefore queued (and committed) in the order the
/// client sent them, and a moderator's commands share transactions instead
/// of each waiting for the last one's commit.
#[derive(Default)]
pub(in crate::hub) struct Turn {
    /// The ticket of the request that has not queued its write yet; 0: none.
    holder: AtomicU64,
    freed: Notify,
}

impl Turn {
    fn take(&self, ticket: u64) {
        self.holder.store(ticket, Ordering::Release);
    }

    fn is_free(&self) -> bool {
        self.holder.load(Ordering::Acquire) == 0
    }

    /// The request `ticket` is answered: if it still held the turn, the next may be read.
    fn finished(&self, ticket: u64) {
        if self
            .holder
            .compare_exchange(ticket, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.freed.notify_one();
        }
    }

    /// The request holding the turn has queued its write.
    pub(in crate::hub) fn queued(&self) {
        if self.holder.swap(0, Ordering::AcqRel) != 0 {
            self.freed.notify_one();
        }
    }
}

impl Session {
    /// The client's frames; every answer goes to the writer through the
    /// private queue, in the order of the requests.
    pub(super) async fn read_loop(
        &self,
        stream: &mut SplitStream<&mut WebSocket>,
        replies: &PrivateTx,
        seen: &AtomicU64,
        epoch: Instant,
        writer_ended: &Notify,
    ) -> Result<(), Ended> {
        let shutdown = self.hub.shutdown.clone();
        let shutdown = shutdown.cancelled();
        tokio::pin!(shutdown);
        let session = match &self.who {
            Who::Staff { session, .. } => session.as_deref(),
            Who::Viewer { .. } => None,
        };
        // Only a staff console's session is re-checked: a viewer's connection holds no timer for it.
        let mut session_check = session.map(|_| {
            let first = tokio::time::Instant::now() + STAFF_SESSION_CHECK;
            tokio::time::interval_at(first, STAFF_SESSION_CHECK)
        });
        let mut in_flight = Requests::default();
        let mut ticket = 0;
        loop {
            let may_read = in_flight.len() < MAX_IN_FLIGHT && self.turn.is_free();
            let incoming = tokio::select! {
                () = &mut shutdown => {
                    let end = Err(ended(close::GOING_AWAY, "server shutting down"));
                    return Box::pin(self.settle(in_flight, replies, end)).await;
                }
                // The connection is lost: nothing more is read, what was read is done.
                () = writer_ended.notified() => return Box::pin(self.settle(in_flight, replies, Ok(()))).await,
                m = stream.next(), if may_read => m,
                Some(reply) = in_flight.next(), if !in_flight.is_empty() => {
                    send_reply(replies, reply).await?;
                    continue;
                }
                () = self.turn.freed.notified(), if !may_read => continue,
                () = next_check(&mut session_check) => {
                    if let Some(token) = session {
                        Box::pin(self.check_staff_session(token, replies)).await;
                    }
                    continue;
                }
            };
            seen.store(millis(epoch), Ordering::Relaxed);
            let request = match incoming {
                None | Some(Ok(Message::Close(_))) => return Box::pin(self.settle(in_flight, replies, Ok(()))).await,
                Some(Err(e)) => return Box::pin(self.settle(in_flight, replies, Err(classify(&e)))).await,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(request)) => request,
            };
            ticket += 1;
            self.turn.take(ticket);
            in_flight.push(Box::pin(self.handle(ticket, request)));
        }
    }

    /// The answer to one text or binary frame.
    async fn handle(&self, ticket: u64, request: Message) -> String {
        let reply = match request {
            Message::Text(text) => self.reply_to(text.as_str()).await,
            _ => error_frame(None, ErrorCode::BinaryNotSupported, "send JSON text frames", None),
        };
        self.turn.finished(ticket);
        reply
    }

    /// The client is gone or closing, or the server is: the requests already
    /// read are still done, to the end (a committed question is still shown to
    /// the moderators, whether or not its author is still there to read the
    /// answer), then the loop ends with `end`. Answers go out while the
    /// connection can take them. Boxed where it is called: it runs once, and
    /// its state would otherwise be part of every idle connection's task.
    async fn settle(
        &self,
        mut in_flight: Requests<'_>,
        replies: &PrivateTx,
        end: Result<(), Ended>,
    ) -> Result<(), Ended> {
        while let Some(reply) = in_flight.next().await {
            let _ = replies
                .send_timeout(Box::new(Private::Frame(reply.into())), SETTLE_SEND)
                .await;
        }
        end
    }

    /// A staff session that no longer exists (signed out, expired, ended by a
    /// password reset) closes the console: the writer sends
    /// `session_ended` and closes with 4403. A store that does not answer
    /// keeps the console open (the next check asks again).
    async fn check_staff_session(&self, token: &str, replies: &PrivateTx) {
        // A console's actions (not its pings) keep its session from idling out.
        let touch = self.acted.swap(false, Ordering::Relaxed);
        match self.hub.store.session(token, touch).await {
            Ok(SessionLookup::Active(..)) => {}
            Ok(SessionLookup::Expired | SessionLookup::Unknown) => {
                let reason = "your session has ended (signed out, expired, or the password was changed); sign in again";
                let _ = replies
                    .send(Box::new(Private::Kick {
                        code: ErrorCode::SessionEnded,
                        frame: error_frame(None, ErrorCode::SessionEnded, reason, None),
                    }))
                    .await;
            }
            Err(e) => tracing::debug!(error = %e, "staff session not re-checked"),
        }
    }
}

/// The next re-check of a staff session; never, without one.
async fn next_check(check: &mut Option<tokio::time::Interval>) {
    match check {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn send_reply(replies: &PrivateTx, reply: String) -> Result<(), Ended> {
    replies
        .send(Box::new(Private::Frame(reply.into())))
        .await
        .map_err(|_| ended(close::GOING_AWAY, "connection closing"))
}

/// How a socket error ends the connection, by the WebSocket library's own
/// error type (axum wraps tungstenite's error): a message past
/// `max_message_size` is 1009, a text frame that is not UTF-8 is 1003
/// (docs/protocol.md), anything else a protocol error (1002). Before, the
/// error's text was searched for "too long" or "UTF-8".
fn classify(e: &axum::Error) -> Ended {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match std::error::Error::source(e).and_then(|inner| inner.downcast_ref::<WsError>()) {
        Some(WsError::Capacity(_)) => ended(close::TOO_BIG, "message too big"),
        Some(WsError::Utf8(_)) => ended(close::UNSUPPORTED, "invalid UTF-8"),
        _ => ended(close::PROTOCOL, "protocol error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};

    #[test]
    fn socket_errors_are_told_apart_by_type_not_by_text() {
        let too_big = axum::Error::new(WsError::Capacity(CapacityError::MessageTooLong {
            size: 70_000,
            max_size: 16_384,
        }));
        assert_eq!(classify(&too_big).code, close::TOO_BIG);
        let not_utf8 = axum::Error::new(WsError::Utf8("invalid utf-8 sequence".into()));
        assert_eq!(classify(&not_utf8).code, close::UNSUPPORTED);
        let protocol = axum::Error::new(WsError::Protocol(ProtocolError::NonZeroReservedBits));
        assert_eq!(classify(&protocol).code, close::PROTOCOL);
        // A message that merely mentions "too long" is not a capacity error.
        let io = axum::Error::new(std::io::Error::other("the line was too long"));
        assert_eq!(classify(&io).code, close::PROTOCOL);
    }
}
