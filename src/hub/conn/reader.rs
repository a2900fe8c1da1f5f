//! The client's frames once it is live, and the periodic re-check that a
//! staff console's session still exists. Every answer goes to the writer
//! through the private queue, so the reader may wait on the store while the
//! writer keeps draining the room.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use futures_util::stream::SplitStream;
use tokio::sync::mpsc;

use super::{Ended, Session, Who, close, ended, error_frame, millis};
use crate::domain::error_code::ErrorCode;
use crate::hub::room::Private;

/// How often a staff console's session is re-checked: a password reset or
/// a sign-out elsewhere closes an open console within this time.
const STAFF_SESSION_CHECK: Duration = Duration::from_secs(5);

impl Session {
    /// The client's frames; every answer goes to the writer through the private queue.
    pub(super) async fn read_loop(
        &self,
        stream: &mut SplitStream<&mut WebSocket>,
        replies: &mpsc::Sender<Private>,
        seen: &AtomicU64,
        epoch: Instant,
    ) -> Result<(), Ended> {
        let shutdown = self.hub.shutdown.clone();
        let session = match &self.who {
            Who::Staff { session, .. } => session.as_deref(),
            Who::Viewer { .. } => None,
        };
        let mut session_check = tokio::time::interval(STAFF_SESSION_CHECK);
        session_check.tick().await;
        loop {
            let incoming = tokio::select! {
                () = shutdown.cancelled() => return Err(ended(close::GOING_AWAY, "server shutting down")),
                m = stream.next() => m,
                _ = session_check.tick(), if session.is_some() => {
                    if let Some(token) = session {
                        self.check_staff_session(token, replies).await;
                    }
                    continue;
                }
            };
            seen.store(millis(epoch), Ordering::Relaxed);
            let reply = match incoming {
                None | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Err(e)) => return Err(classify(&e)),
                Some(Ok(Message::Text(text))) => self.reply_to(text.as_str()).await,
                Some(Ok(Message::Binary(_))) => {
                    error_frame(None, ErrorCode::BinaryNotSupported, "send JSON text frames", None)
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            };
            if replies.send(Private::Frame(reply.into())).await.is_err() {
                return Err(ended(close::GOING_AWAY, "connection closing"));
            }
        }
    }

    /// A staff session that no longer exists (signed out, expired, ended by a
    /// password reset) closes the console: the writer sends
    /// `session_ended` and closes with 4403. A store that does not answer
    /// keeps the console open (the next check asks again).
    async fn check_staff_session(&self, token: &str, replies: &mpsc::Sender<Private>) {
        match self.hub.store.session_account(token).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let reason = "your session has ended (signed out, expired, or the password was changed); sign in again";
                let _ = replies
                    .send(Private::Kick {
                        code: ErrorCode::SessionEnded,
                        reason: reason.into(),
                    })
                    .await;
            }
            Err(e) => tracing::debug!(error = %e, "staff session not re-checked"),
        }
    }
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
