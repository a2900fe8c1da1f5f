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
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::StreamExt;
use governor::DefaultDirectRateLimiter;
use tokio::sync::Notify;
use tracing::Instrument;

use super::Hub;
use super::Membership;
use super::addresses::AddressSlot;
use super::protocol::{Capability, ServerMsg, encode};
use super::room::{ConnEntry, Joined, PrivateRx, PrivateTx, Room, private_queue};
use crate::domain::error_code::ErrorCode;
use crate::domain::ids::EventId;
use crate::domain::question::{Nickname, ViewerKey, ViewerToken};
use crate::domain::staff::Staff;
use crate::store::identities::Verified;

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
        /// The token's key, or in a `verified` room the identity's: what
        /// upvotes, votes, limits and bans are keyed on.
        key: ViewerKey,
        nickname: Nickname,
        /// The verified number behind this browser, if any (boxed: most
        /// idle connections in an open room have none).
        verified: Option<Box<Verified>>,
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
    /// A staff console did something (not a ping) since its session was last checked.
    pub(in crate::hub) acted: std::sync::atomic::AtomicBool,
    send_timeout: Duration,
}

/// The connection's task. A plain function returning the instrumented
/// future, not an `async fn` awaiting it: that would hold its arguments and
/// the whole inner future again, in every idle connection's task. The socket
/// stays where the task captured it (moving it into a local would hold it
/// twice); the upgrade is boxed, and let go once the handshake is done.
pub fn run(mut socket: WebSocket, hub: Hub, upgrade: Upgrade) -> impl Future<Output = ()> + Send {
    let conn_id = hub.next_conn_id();
    let span = tracing::info_span!("ws", event_id = upgrade.event_id.0, conn = conn_id);
    let upgrade = Box::new(upgrade);
    async move {
        let send_timeout = Duration::from_millis(hub.settings.send_timeout_ms);
        let outcome = session(&mut socket, &hub, upgrade, conn_id).await;
        let Err(end) = outcome else { return };
        tracing::debug!(code = end.code, reason = %end.reason, "closing");
        let frame = CloseFrame {
            code: end.code,
            reason: Utf8Bytes::from(truncate(&end.reason, 120)),
        };
        let close = std::pin::pin!(socket.send(Message::Close(Some(frame))));
        let _ = send_within(send_timeout, close).await;
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
/// finishes at once (the socket had room: nearly always) arms no timer, and
/// the timer is boxed when it is armed: it is not part of the resident state
/// of every connection's task. The send is pinned by the caller: taken by
/// value, it would be held twice (as the argument and as the pinned local).
async fn send_within<E>(limit: Duration, mut send: Pin<&mut impl Future<Output = Result<(), E>>>) -> Result<(), Ended> {
    let mut deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let sent = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = send.as_mut().poll(cx) {
            return Poll::Ready(Some(result));
        }
        let deadline = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        deadline.as_mut().poll(cx).map(|()| None)
    })
    .await;
    match sent {
        Some(result) => result.map_err(|_| ended(close::GOING_AWAY, "connection lost")),
        None => Err(ended(close::STALLED, "stalled: the client is not reading")),
    }
}

async fn send_text(ws: &mut WebSocket, text: Utf8Bytes, timeout: Duration) -> Result<(), Ended> {
    send_within(timeout, std::pin::pin!(ws.send(Message::Text(text)))).await
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
        ban: None,
    })
}

fn millis(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The whole life of a connection; `Err` says how it ends.
async fn session(ws: &mut WebSocket, hub: &Hub, mut upgrade: Box<Upgrade>, conn_id: u64) -> Result<(), Ended> {
    let mut slot = upgrade.slot.take();
    // The handshake runs once: boxed, its locals and store reads are not part
    // of every idle connection's task (which is as large as its largest step).
    let admitted = Box::pin(admit(ws, hub, &mut upgrade)).await;
    drop(upgrade);
    let Some(Admitted {
        session,
        membership,
        last_seq,
    }) = admitted?
    else {
        return Ok(());
    };
    let viewer_key = match &session.who {
        Who::Viewer { key, .. } => Some(key.clone()),
        Who::Staff { .. } => {
            // Staff (signed in by `hello`) are not viewers: the slot goes back.
            slot = None;
            None
        }
    };
    let (private_tx, private_rx) = private_queue(PRIVATE_QUEUE);
    let room = &session.room;
    room.register(
        conn_id,
        ConnEntry {
            viewer: viewer_key,
            ip: session.ip.to_string(),
            staff: session.capability != Capability::Viewer,
            private: private_tx.clone(),
        },
    );
    let result = session.live(ws, last_seq, private_tx, private_rx).await;
    room.unregister(conn_id);
    drop(membership);
    drop(slot);
    result
}

/// Messages a connection's private queue holds; one more means the client
/// stopped reading.
const PRIVATE_QUEUE: usize = 64;

/// A connection the handshake let in.
struct Admitted {
    session: Session,
    membership: Membership,
    /// The last `seq` the client saw, from its `hello`.
    last_seq: Option<i64>,
}

/// The handshake: the `hello`, who is on the other end, the room, and a
/// refusal for the banned. `None`: the client went away first.
async fn admit(ws: &mut WebSocket, hub: &Hub, upgrade: &mut Upgrade) -> Result<Option<Admitted>, Ended> {
    let timeout = Duration::from_millis(hub.settings.send_timeout_ms);
    let mut handshake = Handshake { ws, hub, timeout };
    let Some(mut hello) = handshake.hello().await? else {
        return Ok(None);
    };
    let session_token = hello.session.take();
    let staff = handshake
        .staff(session_token.as_deref(), upgrade.cookie_staff.take())
        .await?;
    let staff_session = session_token.or(upgrade.cookie_session.take());
    let membership = handshake.join(upgrade.event_id).await?;
    let room = membership.room.clone();
    let (who, capability) = handshake
        .identify(upgrade.event_id, staff, staff_session, &hello, room.identity)
        .await?;
    handshake.refuse_banned(&room, &who, &upgrade.ip.to_string()).await?;
    let session = Session {
        hub: hub.clone(),
        room,
        ip: upgrade.ip,
        who,
        capability,
        limiter: hub.limits.connection(),
        turn: Turn::default(),
        acted: std::sync::atomic::AtomicBool::new(false),
        send_timeout: timeout,
    };
    Ok(Some(Admitted {
        session,
        membership,
        last_seq: hello.last_seq,
    }))
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
        // Boxed, and given the start to keep: a snapshot is held only while it is sent.
        Box::pin(self.catch_up(ws, start, seq)).await?;
        // From here a reader and a writer share the socket: the reader may
        // wait on the store while the writer keeps draining the room.
        let epoch = Instant::now();
        let seen = AtomicU64::new(0);
        let (sink, mut stream) = StreamExt::split(&mut *ws);
        let mut outbox = Outbox {
            sink,
            sent: seq,
            public,
            staff: staff_rx,
            private,
            seen: &seen,
            epoch,
        };
        // When the writer ends first (the connection is lost), the reader
        // stops reading but finishes the requests it has read.
        let writer_ended = Notify::new();
        let reader = self.read_loop(&mut stream, &private_tx, &seen, epoch, &writer_ended);
        tokio::pin!(reader);
        tokio::select! {
            end = &mut reader => end,
            end = self.write_loop(&mut outbox) => {
                writer_ended.notify_one();
                let _ = reader.await;
                end
            }
        }
    }
}
