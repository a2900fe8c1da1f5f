//! One task per WebSocket connection: handshake, resume, then a loop over the
//! client's frames, the room's public channel, private messages and a heartbeat.
//!
//! - `handshake`: the `hello`, who is on the other end, their capability;
//! - `catch_up`: the welcome, then a snapshot or a replay (and a resync after the bus was away);
//! - `outbox`: the write loop, its batching and its lag and stall rules;
//! - `reader`: the read loop and the staff-session re-check.
//!
//! What each client message does is in [`super::actions`].

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::StreamExt;
use governor::DefaultDirectRateLimiter;
use tokio::sync::{Notify, mpsc};
use tracing::Instrument;

use super::Hub;
use super::addresses::AddressSlot;
use super::protocol::{Capability, ServerMsg, encode};
use super::room::{ConnEntry, Joined, PrivateRx, PrivateTx, Room};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::EventId;
use crate::domain::question::{Nickname, ViewerKey, ViewerToken};
use crate::domain::staff::Staff;

mod catch_up;
mod handshake;
mod outbox;
mod reader;

use handshake::Handshake;
use outbox::Outbox;
use reader::Turn;

/// Close codes (the 4xxx ones are ours; see docs/protocol.md).
pub mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const UNSUPPORTED: u16 = 1003;
    pub const TOO_BIG: u16 = 1009;
    pub const LAGGED: u16 = 4001;
    pub const STALLED: u16 = 4002;
    pub const HANDSHAKE: u16 = 4400;
    pub const FORBIDDEN: u16 = 4403;
    pub const UNKNOWN_EVENT: u16 = 4404;
    pub const IDLE: u16 = 4408;
    pub const UNAVAILABLE: u16 = 4503;
}

/// What the upgrade request told us.
pub struct Upgrade {
    pub event_id: EventId,
    pub ip: IpAddr,
    /// Staff signed in by the session cookie.
    pub cookie_staff: Option<Staff>,
    /// That cookie's session token, re-checked while the console stays open.
    pub cookie_session: Option<String>,
    /// This socket's place among its address's viewer sockets (none for
    /// cookie staff); held for the connection's life.
    pub slot: Option<AddressSlot>,
}

/// How a connection ends: the close frame it is sent.
struct Ended {
    code: u16,
    reason: String,
}

fn ended(code: u16, reason: impl Into<String>) -> Ended {
    Ended {
        code,
        reason: reason.into(),
    }
}

/// Who is on the other end.
pub(in crate::hub) enum Who {
    Viewer {
        token: ViewerToken,
        key: ViewerKey,
        nickname: Nickname,
    },
    Staff {
        staff: Staff,
        /// The session that signed them in; the socket closes when it ends
        /// (signed out, expired, or every session ended by a password reset).
        session: Option<String>,
    },
}

/// One connection after its handshake: what every step after it (catch-up,
/// reader, writer, the actions) needs to know.
pub(in crate::hub) struct Session {
    pub(in crate::hub) hub: Hub,
    pub(in crate::hub) room: Arc<Room>,
    pub(in crate::hub) ip: IpAddr,
    pub(in crate::hub) who: Who,
    pub(in crate::hub) capability: Capability,
    pub(in crate::hub) limiter: DefaultDirectRateLimiter,
    /// Whether the request being handled has queued its write yet.
    turn: Turn,
    send_timeout: Duration,
}

/// The connection's task. A plain function returning the instrumented
/// future, not an `async fn` awaiting it: that would hold its arguments and
/// the whole inner future again, in every idle connection's task.
pub fn run(socket: WebSocket, hub: Hub, upgrade: Upgrade) -> impl Future<Output = ()> + Send {
    let conn_id = hub.next_conn_id();
    let span = tracing::info_span!("ws", event_id = upgrade.event_id.0, conn = conn_id);
    async move {
        let mut ws = socket;
        let send_timeout = Duration::from_millis(hub.settings.send_timeout_ms);
        let outcome = session(&mut ws, &hub, upgrade, conn_id).await;
        let Err(end) = outcome else { return };
        tracing::debug!(code = end.code, reason = %end.reason, "closing");
        let frame = CloseFrame {
            code: end.code,
            reason: Utf8Bytes::from(truncate(&end.reason, 120)),
        };
        let _ = send_within(send_timeout, ws.send(Message::Close(Some(frame)))).await;
    }
    .instrument(span)
}

fn truncate(s: &str, max_bytes: usize) -> String {
    let mut end = s.len().min(max_bytes);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// Every timed send to the client goes through here: a send that fails means
/// the connection is lost, one that does not finish within `limit` means the
/// client is not reading (and the connection is cut as stalled). A send that
/// finishes at once (the socket had room: nearly always) arms no timer.
async fn send_within<E>(limit: Duration, send: impl Future<Output = Result<(), E>>) -> Result<(), Ended> {
    let mut send = std::pin::pin!(send);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(send.as_mut().poll(cx))).await;
    let result = match first {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => match tokio::time::timeout(limit, send).await {
            Ok(result) => result,
            Err(_) => return Err(ended(close::STALLED, "stalled: the client is not reading")),
        },
    };
    result.map_err(|_| ended(close::GOING_AWAY, "connection lost"))
}

async fn send_text(ws: &mut WebSocket, text: Utf8Bytes, timeout: Duration) -> Result<(), Ended> {
    send_within(timeout, ws.send(Message::Text(text))).await
}

pub(in crate::hub) fn error_frame(
    reference: Option<&str>,
    code: ErrorCode,
    message: &str,
    retry_after: Option<Duration>,
) -> String {
    let retry_after_ms = retry_after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
    encode(&ServerMsg::Error {
        reference,
        code,
        message,
        retry_after_ms,
    })
}

fn millis(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The whole life of a connection; `Err` says how it ends.
async fn session(ws: &mut WebSocket, hub: &Hub, mut upgrade: Upgrade, conn_id: u64) -> Result<(), Ended> {
    let mut slot = upgrade.slot.take();
    let timeout = Duration::from_millis(hub.settings.send_timeout_ms);
    // Each step before the live loop is boxed: they run once, and their
    // futures (store reads) would otherwise be part of the resident state of
    // every idle connection (the task's future is as large as its largest step).
    let mut handshake = Handshake { ws, hub, timeout };
    let Some(mut hello) = Box::pin(handshake.hello()).await? else {
        return Ok(());
    };
    let session_token = hello.session.take();
    let staff = Box::pin(handshake.staff(session_token.as_deref(), upgrade.cookie_staff)).await?;
    let staff_session = session_token.or(upgrade.cookie_session.take());
    let membership = Box::pin(handshake.join(upgrade.event_id)).await?;
    let room = membership.room.clone();
    let (who, capability) = Box::pin(handshake.identify(upgrade.event_id, staff, staff_session, &hello)).await?;
    if let Who::Staff { .. } = who {
        // Staff (signed in by `hello`) are not viewers: the slot goes back.
        slot = None;
    }
    let ip_text = upgrade.ip.to_string();
    Box::pin(handshake.refuse_banned(&room, &who, &ip_text)).await?;

    let (private_tx, private_rx) = mpsc::channel(64);
    let stalled = Arc::new(AtomicBool::new(false));
    let viewer_key = match &who {
        Who::Viewer { key, .. } => Some(key.clone()),
        Who::Staff { .. } => None,
    };
    room.register(
        conn_id,
        ConnEntry {
            viewer: viewer_key,
            ip: ip_text,
            staff: capability != Capability::Viewer,
            private: private_tx.clone(),
            stalled: stalled.clone(),
        },
    );
    let session = Session {
        hub: hub.clone(),
        room: room.clone(),
        ip: upgrade.ip,
        who,
        capability,
        limiter: hub.limits.connection(),
        turn: Turn::default(),
        send_timeout: timeout,
    };
    let result = session.live(ws, hello.last_seq, private_tx, private_rx, stalled).await;
    room.unregister(conn_id);
    drop(membership);
    drop(slot);
    result
}

impl Session {
    /// The request being handled has queued its write: the next may be read.
    pub(in crate::hub) fn queued(&self) {
        self.turn.queued();
    }

    async fn send(&self, ws: &mut WebSocket, text: impl Into<Utf8Bytes>) -> Result<(), Ended> {
        send_text(ws, text.into(), self.send_timeout).await
    }

    async fn live(
        &self,
        ws: &mut WebSocket,
        last_seq: Option<i64>,
        private_tx: PrivateTx,
        private: PrivateRx,
        stalled: Arc<AtomicBool>,
    ) -> Result<(), Ended> {
        let staff = self.capability != Capability::Viewer;
        if let Some(last) = last_seq {
            // The client saw `last`: this node's room reads the log up to it
            // first (it may lag the node the client came from), so that the
            // client gets a replay rather than an older snapshot.
            Box::pin(self.hub.reach(&self.room, last)).await;
        }
        let Joined {
            seq,
            start,
            public,
            staff: staff_rx,
        } = self.room.join(last_seq, staff);
        Box::pin(self.welcome(ws, seq, &start)).await?;
        Box::pin(self.catch_up(ws, start, seq)).await?;
        // From here a reader and a writer share the socket: the reader may
        // wait on the store while the writer keeps draining the room.
        let epoch = Instant::now();
        let seen = AtomicU64::new(0);
        let (sink, mut stream) = StreamExt::split(&mut *ws);
        let outbox = Outbox {
            sink,
            sent: seq,
            public,
            staff: staff_rx,
            private,
            seen: &seen,
            epoch,
            stalled: &stalled,
        };
        // When the writer ends first (the connection is lost), the reader
        // stops reading but finishes the requests it has read.
        let writer_ended = Notify::new();
        let reader = self.read_loop(&mut stream, &private_tx, &seen, epoch, &writer_ended);
        tokio::pin!(reader);
        tokio::select! {
            end = &mut reader => end,
            end = self.write_loop(outbox) => {
                writer_ended.notify_one();
                let _ = reader.await;
                end
            }
        }
    }
}
