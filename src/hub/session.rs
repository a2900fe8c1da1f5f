//! One task per WebSocket connection: handshake, resume, then a loop over the
//! client's frames, the room's public channel, private messages and a heartbeat.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use governor::DefaultDirectRateLimiter;
use tokio::sync::{broadcast, mpsc};
use tracing::Instrument;

use super::addresses::AddressSlot;
use super::protocol::{
    Banned, Capability, ClientMsg, Envelope, MAX_REF_CHARS, OwnQuestion, PROTOCOL_VERSION, PublicFrame, ServerMsg,
    StaffInfo, ViewerInfo, encode,
};
use super::room::{ConnEntry, Frame, Joined, Private, Room, StaffItem, Start};
use super::{Hub, JoinError, limits};
use crate::domain::event::EventStatus;
use crate::domain::poll::{Ballot, CheckedBallot, PollSpec, PollStatus};
use crate::domain::question::{
    ModAction, ModerationMode, Nickname, PostKind, QuestionStatus, QuestionText, ViewerKey, ViewerToken, answer_text,
    reason_text,
};
use crate::domain::screen::Verdict;
use crate::domain::staff::{Role, Staff};
use crate::store::StoreError;
use crate::store::live::QuestionRecord;
use crate::store::writer::{Command, NewQuestion, Outcome, WriteError};

/// Public frames written to a socket in one go at most.
const MAX_WRITE_BATCH: usize = 64;

/// How long a resync (after the bus was away) may wait for the store.
const RESYNC_TIMEOUT: Duration = Duration::from_secs(5);

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
    pub event_id: i64,
    pub ip: IpAddr,
    /// Staff signed in by the session cookie.
    pub cookie_staff: Option<Staff>,
    /// That cookie's session token, re-checked while the console stays open.
    pub cookie_session: Option<String>,
    /// This socket's place among its address's viewer sockets (none for
    /// cookie staff); held for the connection's life.
    pub slot: Option<AddressSlot>,
}

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
enum Who {
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

/// How often a staff console's session is re-checked: a password reset or
/// a sign-out elsewhere closes an open console within this time.
const STAFF_SESSION_CHECK: Duration = Duration::from_secs(5);

struct Session {
    hub: Hub,
    room: Arc<Room>,
    ip: IpAddr,
    who: Who,
    capability: Capability,
    limiter: DefaultDirectRateLimiter,
    send_timeout: Duration,
}

pub async fn run(socket: WebSocket, hub: Hub, upgrade: Upgrade) {
    let conn_id = hub.next_conn_id();
    let span = tracing::info_span!("ws", event_id = upgrade.event_id, conn = conn_id);
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
        let _ = tokio::time::timeout(send_timeout, ws.send(Message::Close(Some(frame)))).await;
    }
    .instrument(span)
    .await;
}

fn truncate(s: &str, max_bytes: usize) -> String {
    let mut end = s.len().min(max_bytes);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

async fn send_text(ws: &mut WebSocket, text: Utf8Bytes, timeout: Duration) -> Result<(), Ended> {
    match tokio::time::timeout(timeout, ws.send(Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(ended(close::GOING_AWAY, "connection lost")),
        Err(_) => Err(ended(close::STALLED, "stalled: the client is not reading")),
    }
}

async fn send_error(
    ws: &mut WebSocket,
    timeout: Duration,
    reference: Option<&str>,
    code: &str,
    message: &str,
    retry_after: Option<Duration>,
) -> Result<(), Ended> {
    send_text(ws, error_frame(reference, code, message, retry_after).into(), timeout).await
}

fn error_frame(reference: Option<&str>, code: &str, message: &str, retry_after: Option<Duration>) -> String {
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
    let hello = tokio::select! {
        () = hub.shutdown.cancelled() => return Err(ended(close::GOING_AWAY, "server shutting down")),
        h = tokio::time::timeout(Duration::from_secs(10), next_text(ws)) => h,
    };
    let text = match hello {
        Err(_) => return Err(ended(close::HANDSHAKE, "no hello within 10 seconds")),
        Ok(None) => return Ok(()),
        Ok(Some(Err(code))) => {
            send_error(
                ws,
                timeout,
                None,
                code,
                "the first frame must be a JSON text `hello`",
                None,
            )
            .await?;
            return Err(ended(close::HANDSHAKE, "hello required"));
        }
        Ok(Some(Ok(text))) => text,
    };
    let (protocol, viewer_token, nickname, session_token, last_seq) = match serde_json::from_str::<Envelope>(&text) {
        Ok(Envelope {
            message:
                ClientMsg::Hello {
                    protocol,
                    viewer_token,
                    nickname,
                    session,
                    last_seq,
                },
            ..
        }) => (protocol, viewer_token, nickname, session, last_seq),
        _ => {
            send_error(
                ws,
                timeout,
                None,
                "hello_required",
                "the first frame must be {\"type\":\"hello\",\"protocol\":1}",
                None,
            )
            .await?;
            return Err(ended(close::HANDSHAKE, "hello required"));
        }
    };
    if protocol != PROTOCOL_VERSION {
        let msg = format!("this server speaks protocol {PROTOCOL_VERSION}, not {protocol}");
        send_error(ws, timeout, None, "unsupported_protocol", &msg, None).await?;
        return Err(ended(close::PROTOCOL, "unsupported protocol"));
    }

    // Who is it? A staff session (hello or cookie), else an anonymous viewer.
    let staff = match session_token.as_deref() {
        Some(token) => match hub.store.session_account(token).await {
            Ok(Some((account, _))) => Some(account.staff),
            Ok(None) => {
                send_error(
                    ws,
                    timeout,
                    None,
                    "unauthorized",
                    "the session token is invalid or expired",
                    None,
                )
                .await?;
                return Err(ended(close::FORBIDDEN, "invalid session"));
            }
            Err(_) => return Err(ended(close::UNAVAILABLE, "store unavailable")),
        },
        None => upgrade.cookie_staff,
    };
    let staff_session = session_token.or(upgrade.cookie_session.take());

    let membership = match hub.join(upgrade.event_id).await {
        Ok(m) => m,
        Err(e) => {
            let (code, close_code) = match &e {
                JoinError::UnknownEvent(_) => ("unknown_event", close::UNKNOWN_EVENT),
                JoinError::Unavailable(_) => ("event_unavailable", close::FORBIDDEN),
                JoinError::Store(_) => ("unavailable", close::UNAVAILABLE),
            };
            send_error(ws, timeout, None, code, &e.to_string(), None).await?;
            return Err(ended(close_code, code));
        }
    };
    let room = membership.room.clone();

    let (who, capability) = match staff {
        Some(staff) => {
            let hosts = match hub.store.event(upgrade.event_id).await {
                Ok(e) => e.host_ids(),
                Err(_) => return Err(ended(close::UNAVAILABLE, "store unavailable")),
            };
            if !staff.serves(&hosts) {
                send_error(
                    ws,
                    timeout,
                    None,
                    "forbidden",
                    "your account does not serve this event",
                    None,
                )
                .await?;
                return Err(ended(close::FORBIDDEN, "forbidden"));
            }
            // Staff (signed in by `hello`) are not viewers: the slot goes back.
            slot = None;
            let capability = if staff.role == Role::Host {
                Capability::Host
            } else {
                Capability::Moderator
            };
            let session = staff_session;
            (Who::Staff { staff, session }, capability)
        }
        None => {
            let token = viewer_token
                .as_deref()
                .and_then(ViewerToken::parse)
                .unwrap_or_else(ViewerToken::generate);
            let nickname = match Nickname::parse(nickname.as_deref()) {
                Ok(n) => n,
                Err(e) => {
                    send_error(ws, timeout, None, "invalid_nickname", &e.to_string(), None).await?;
                    Nickname::parse(None).map_err(|_| ended(close::HANDSHAKE, "nickname"))?
                }
            };
            let key = token.key();
            (Who::Viewer { token, key, nickname }, Capability::Viewer)
        }
    };

    let ip_text = upgrade.ip.to_string();
    if let Who::Viewer { key, .. } = &who {
        if room.is_banned(Some(key), &ip_text) {
            send_error(ws, timeout, None, "banned", "you are banned from this event", None).await?;
            return Err(ended(close::FORBIDDEN, "banned"));
        }
    }

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
        send_timeout: timeout,
    };
    let result = session.live(ws, last_seq, private_tx, private_rx, stalled).await;
    room.unregister(conn_id);
    drop(membership);
    drop(slot);
    result
}

/// The next text frame: `None` when the client went away, `Err(code)` for a non-text frame.
async fn next_text(ws: &mut WebSocket) -> Option<Result<String, &'static str>> {
    loop {
        match ws.recv().await? {
            Ok(Message::Text(t)) => return Some(Ok(t.to_string())),
            Ok(Message::Binary(_)) => return Some(Err("binary_not_supported")),
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return None,
        }
    }
}

impl Session {
    async fn send(&self, ws: &mut WebSocket, text: impl Into<Utf8Bytes>) -> Result<(), Ended> {
        send_text(ws, text.into(), self.send_timeout).await
    }

    async fn live(
        &self,
        ws: &mut WebSocket,
        last_seq: Option<i64>,
        private_tx: mpsc::Sender<Private>,
        private: mpsc::Receiver<Private>,
        stalled: Arc<AtomicBool>,
    ) -> Result<(), Ended> {
        let staff = self.capability != Capability::Viewer;
        if let Some(last) = last_seq {
            // The client saw `last`: this node's room reads the log up to it
            // first (it may lag the node the client came from), so that the
            // client gets a replay rather than an older snapshot.
            self.hub.reach(&self.room, last).await;
        }
        let Joined {
            seq,
            start,
            public,
            staff: staff_rx,
        } = self.room.join(last_seq, staff);
        self.welcome(ws, seq, &start).await?;
        self.catch_up(ws, start, seq).await?;
        // From here a reader and a writer share the socket: the reader may
        // wait on the store while the writer keeps draining the room.
        let epoch = Instant::now();
        let seen = AtomicU64::new(0);
        let (mut sink, mut stream) = StreamExt::split(&mut *ws);
        tokio::select! {
            end = self.read_loop(&mut stream, &private_tx, &seen, epoch) => end,
            end = self.write_loop(&mut sink, seq, public, staff_rx, private, &seen, epoch, &stalled) => end,
        }
    }

    /// The client's frames; every answer goes to the writer through the private queue.
    async fn read_loop(
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
                    error_frame(None, "binary_not_supported", "send JSON text frames", None)
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
                        code: "session_ended",
                        reason: reason.into(),
                    })
                    .await;
            }
            Err(e) => tracing::debug!(error = %e, "staff session not re-checked"),
        }
    }

    /// Everything the client receives: the room, the staff feed, private frames, pings.
    #[allow(clippy::too_many_arguments)]
    async fn write_loop(
        &self,
        sink: &mut SplitSink<&mut WebSocket, Message>,
        mut sent: i64,
        mut public: broadcast::Receiver<Frame>,
        mut staff: Option<broadcast::Receiver<StaffItem>>,
        mut private: mpsc::Receiver<Private>,
        seen: &AtomicU64,
        epoch: Instant,
        stalled: &AtomicBool,
    ) -> Result<(), Ended> {
        let shutdown = self.hub.shutdown.clone();
        let mut heartbeat = tokio::time::interval(Duration::from_secs(self.hub.settings.ping_interval_secs.max(1)));
        heartbeat.tick().await;
        let idle_ms = self.hub.settings.idle_timeout_secs.max(1) * 1000;
        loop {
            if stalled.load(Ordering::Relaxed) {
                return Err(ended(close::STALLED, "stalled: the client is not reading"));
            }
            let message = tokio::select! {
                () = shutdown.cancelled() => return Err(ended(close::GOING_AWAY, "server shutting down")),
                frame = public.recv() => match frame {
                    Ok(Frame { seq: Some(seq), text }) => {
                        if seq <= sent {
                            continue; // Already sent in the catch-up.
                        }
                        sent = seq;
                        Message::Text(text)
                    }
                    Ok(Frame { seq: None, text }) => Message::Text(text),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let msg = format!("fell {n} messages behind; reconnect with last_seq {sent} to resume");
                        self.sink_send(sink, error_frame(None, "lagged", &msg, None).into()).await?;
                        return Err(ended(close::LAGGED, "lagged"));
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(ended(close::GOING_AWAY, "room closed")),
                },
                frame = recv_staff(&mut staff) => match frame {
                    Ok(StaffItem::Frame(text)) => Message::Text(text),
                    Ok(StaffItem::Resync) => {
                        self.resync(sink).await?;
                        continue;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let msg = "the moderation feed fell behind; reconnect";
                        self.sink_send(sink, error_frame(None, "lagged", msg, None).into()).await?;
                        return Err(ended(close::LAGGED, "lagged"));
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(ended(close::GOING_AWAY, "room closed")),
                },
                message = private.recv() => match message {
                    Some(Private::Frame(text)) => Message::Text(text),
                    Some(Private::Resync) => {
                        self.resync(sink).await?;
                        continue;
                    }
                    Some(Private::Kick { code, reason }) => {
                        self.sink_send(sink, error_frame(None, code, &reason, None).into()).await?;
                        return Err(ended(close::FORBIDDEN, code));
                    }
                    None => return Err(ended(close::GOING_AWAY, "room closed")),
                },
                _ = heartbeat.tick() => {
                    if millis(epoch).saturating_sub(seen.load(Ordering::Relaxed)) > idle_ms {
                        return Err(ended(close::IDLE, "no answer to pings"));
                    }
                    Message::Ping(Default::default())
                }
            };
            // Whatever else the room already queued goes out in the same write:
            // under load a connection catches up with one syscall, not one per message.
            let mut batch = 1;
            let mut lagged = None;
            let write = async {
                sink.feed(message).await?;
                while batch < MAX_WRITE_BATCH {
                    match public.try_recv() {
                        Ok(Frame { seq: Some(seq), text }) => {
                            if seq > sent {
                                sent = seq;
                                sink.feed(Message::Text(text)).await?;
                                batch += 1;
                            }
                        }
                        Ok(Frame { seq: None, text }) => {
                            sink.feed(Message::Text(text)).await?;
                            batch += 1;
                        }
                        Err(broadcast::error::TryRecvError::Lagged(n)) => {
                            lagged = Some(n);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                sink.flush().await
            };
            match tokio::time::timeout(self.send_timeout, write).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(ended(close::GOING_AWAY, "connection lost")),
                Err(_) => return Err(ended(close::STALLED, "stalled: the client is not reading")),
            }
            if let Some(n) = lagged {
                let msg = format!("fell {n} messages behind; reconnect with last_seq {sent} to resume");
                self.sink_send(sink, error_frame(None, "lagged", &msg, None).into())
                    .await?;
                return Err(ended(close::LAGGED, "lagged"));
            }
        }
    }

    /// Send again what may have been lost while the bus was away: staff get
    /// the queue and polls, a viewer their own posts, as at join. A store that
    /// does not answer in time costs the connection this resync only.
    async fn resync(&self, sink: &mut SplitSink<&mut WebSocket, Message>) -> Result<(), Ended> {
        let frames = async {
            match &self.who {
                Who::Staff { .. } => self.staff_frames().await,
                Who::Viewer { key, .. } => self.own_posts(key).await,
            }
        };
        match tokio::time::timeout(RESYNC_TIMEOUT, frames).await {
            Ok(Ok(frames)) => {
                for frame in frames {
                    self.sink_send(sink, frame.into()).await?;
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "resync skipped: the store is unavailable"),
            Err(_) => tracing::warn!("resync skipped: the store did not answer in time"),
        }
        Ok(())
    }

    async fn sink_send(&self, sink: &mut SplitSink<&mut WebSocket, Message>, text: Utf8Bytes) -> Result<(), Ended> {
        self.sink_send_message(sink, Message::Text(text)).await
    }

    async fn sink_send_message(
        &self,
        sink: &mut SplitSink<&mut WebSocket, Message>,
        message: Message,
    ) -> Result<(), Ended> {
        match tokio::time::timeout(self.send_timeout, sink.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(ended(close::GOING_AWAY, "connection lost")),
            Err(_) => Err(ended(close::STALLED, "stalled: the client is not reading")),
        }
    }

    async fn welcome(&self, ws: &mut WebSocket, seq: i64, start: &Start) -> Result<(), Ended> {
        let (viewer, staff) = match &self.who {
            Who::Viewer { token, key, nickname } => (
                Some(ViewerInfo {
                    token: token.expose(),
                    key: &key.0,
                    nickname: nickname.as_str(),
                }),
                None,
            ),
            Who::Staff { staff, .. } => (
                None,
                Some(StaffInfo {
                    id: staff.id,
                    display_name: &staff.display_name,
                    role: staff.role.as_str(),
                }),
            ),
        };
        let start = if matches!(start, Start::Snapshot(_)) {
            "snapshot"
        } else {
            "replay"
        };
        let welcome = ServerMsg::Welcome {
            protocol: PROTOCOL_VERSION,
            event_id: self.room.event_id,
            capability: self.capability,
            viewer,
            staff,
            start,
            seq,
        };
        self.send(ws, encode(&welcome)).await
    }

    /// Bring the client to `seq`: a snapshot, or exactly the frames it missed.
    async fn catch_up(&self, ws: &mut WebSocket, start: Start, seq: i64) -> Result<(), Ended> {
        let resumed = !matches!(start, Start::Snapshot(_));
        match start {
            Start::Snapshot(s) => {
                let (mine, upvoted, votes) = match &self.who {
                    Who::Viewer { key, .. } => {
                        let store = &self.hub.store;
                        let mine = store
                            .viewer_questions(self.room.event_id, key)
                            .await
                            .map_err(unavailable)?;
                        let upvoted = store
                            .viewer_upvotes(self.room.event_id, key)
                            .await
                            .map_err(unavailable)?;
                        let votes = store.viewer_votes(self.room.event_id, key).await.map_err(unavailable)?;
                        (mine.iter().map(OwnQuestion::from).collect(), upvoted, votes)
                    }
                    Who::Staff { .. } => (Vec::new(), Vec::new(), Vec::new()),
                };
                let snapshot = ServerMsg::Snapshot {
                    seq,
                    status: s.status,
                    moderation: s.moderation,
                    slow_mode_secs: s.slow_mode_secs,
                    pinned: s.pinned,
                    viewers: self.room.viewers(),
                    questions: &s.questions,
                    comments: &s.comments,
                    mine: &mine,
                    upvoted: &upvoted,
                    polls: &s.polls,
                    my_votes: &votes,
                };
                self.send(ws, encode(&snapshot)).await?;
            }
            Start::Ring(frames) => {
                for text in frames {
                    self.send(ws, text).await?;
                }
            }
            Start::Store { after, up_to } => {
                let log = self
                    .hub
                    .store
                    .room_log(self.room.event_id, after, up_to)
                    .await
                    .map_err(unavailable)?;
                for (seq, change) in &log {
                    self.send(ws, encode(&PublicFrame { seq: *seq, change })).await?;
                }
            }
        }
        if resumed && let Who::Viewer { key, .. } = &self.who {
            // Private `mine` frames are not in the room log: after a replay the
            // author gets each of their posts as it is now (a rejection or a
            // hide while they were away included).
            for frame in self.own_posts(key).await.map_err(unavailable)? {
                self.send(ws, frame).await?;
            }
        }
        if self.capability != Capability::Viewer {
            for frame in self.staff_frames().await.map_err(unavailable)? {
                self.send(ws, frame).await?;
            }
        }
        Ok(())
    }

    /// A `mine` frame for each of the viewer's posts, as it is now.
    async fn own_posts(&self, key: &ViewerKey) -> Result<Vec<String>, StoreError> {
        let mine = self.hub.store.viewer_questions(self.room.event_id, key).await?;
        Ok(mine
            .iter()
            .map(|question| {
                encode(&ServerMsg::Mine {
                    question: OwnQuestion::from(question),
                })
            })
            .collect())
    }

    /// What staff get after the snapshot or replay: the moderation queue, the
    /// polls and the tally of each open or closed poll.
    async fn staff_frames(&self) -> Result<Vec<String>, StoreError> {
        let store = &self.hub.store;
        let queue = store.moderation_queue(self.room.event_id, 200).await?;
        let polls = store.polls(self.room.event_id).await?;
        let authors = store.published_authors(self.room.event_id).await?;
        let mut frames = vec![
            encode(&ServerMsg::Queue { questions: &queue }),
            encode(&ServerMsg::Authors { authors: &authors }),
            encode(&ServerMsg::Polls { polls: &polls }),
        ];
        // Staff see every tally, "after close" ones too: send the current
        // counts now rather than at the next vote.
        for poll in polls.iter().filter(|p| p.status != PollStatus::Draft) {
            let tally = store.poll_tally(poll).await?;
            frames.push(encode(&ServerMsg::PollAdmin {
                poll: None,
                poll_id: poll.id,
                tally: Some(&tally),
            }));
        }
        Ok(frames)
    }

    /// The answer to one client frame: an ack, a pong or an error frame.
    async fn reply_to(&self, text: &str) -> String {
        if let Err(limited) = self.hub.limits.frame_wait(&self.limiter) {
            return error_frame(
                None,
                "rate_limited",
                "too many messages; slow down",
                Some(limited.retry_after),
            );
        }
        let envelope = match serde_json::from_str::<Envelope>(text) {
            Ok(e) => e,
            Err(e) => {
                let value = serde_json::from_str::<serde_json::Value>(text).ok();
                let (code, message) = match &value {
                    None => ("malformed_json", "the frame is not valid JSON".to_owned()),
                    Some(v) => match v.get("type").and_then(|t| t.as_str()) {
                        None => ("bad_message", "every message needs a string `type`".to_owned()),
                        Some(t) if !KNOWN_TYPES.contains(&t) => ("unknown_type", format!("unknown message type `{t}`")),
                        Some(t) => ("bad_message", format!("`{t}`: {e}")),
                    },
                };
                let reference = value
                    .as_ref()
                    .and_then(|v| v.get("ref").and_then(|r| r.as_str()))
                    .filter(|r| r.chars().count() <= MAX_REF_CHARS);
                return error_frame(reference, code, &message, None);
            }
        };
        let reference = envelope.reference.as_deref();
        if reference.is_some_and(|r| r.chars().count() > MAX_REF_CHARS) {
            return error_frame(None, "bad_ref", "`ref` is at most 64 characters", None);
        }
        match self.dispatch(envelope.message, reference).await {
            Ok(text) => text,
            Err(Refusal {
                code,
                message,
                retry_after,
            }) => error_frame(reference, code, &message, retry_after),
        }
    }

    async fn dispatch(&self, message: ClientMsg, reference: Option<&str>) -> Result<String, Refusal> {
        let message_kind = if matches!(message, ClientMsg::OpenPoll { .. }) {
            PollStep::Open
        } else {
            PollStep::Other
        };
        match message {
            ClientMsg::Hello { .. } => Err(refuse("already_greeted", "hello is sent once, as the first frame")),
            ClientMsg::Ping => Ok(encode(&ServerMsg::Pong { reference })),
            ClientMsg::Ask { text } => self.post(PostKind::Question, &text, reference).await,
            ClientMsg::CreatePoll {
                kind,
                title,
                options,
                max_choices,
                allow_change,
                results,
            } => {
                let spec =
                    PollSpec::parse(kind, &title, options, max_choices, allow_change, results).map_err(invalid)?;
                let staff_id = self.staff_id(Capability::Host)?;
                let command = Command::CreatePoll {
                    event_id: self.room.event_id,
                    spec,
                    staff_id,
                };
                self.poll_step(command, "create_poll", reference).await
            }
            ClientMsg::OpenPoll { poll_id } | ClientMsg::ClosePoll { poll_id } => {
                let open = matches!(message_kind, PollStep::Open);
                let staff_id = self.staff_id(Capability::Host)?;
                let command = Command::SetPollStatus {
                    event_id: self.room.event_id,
                    poll_id,
                    open,
                    staff_id,
                };
                self.poll_step(command, if open { "open_poll" } else { "close_poll" }, reference)
                    .await
            }
            ClientMsg::Vote {
                poll_id,
                choices,
                rating,
                text,
            } => self.vote(poll_id, choices, rating, text, reference).await,
            ClientMsg::Comment { text } => self.post(PostKind::Comment, &text, reference).await,
            ClientMsg::Promote { question_id } => self.moderate(question_id, ModAction::Promote, reference).await,
            ClientMsg::Upvote { question_id } => self.upvote(question_id, reference).await,
            ClientMsg::Approve { question_id } => self.moderate(question_id, ModAction::Approve, reference).await,
            ClientMsg::Reject { question_id, reason } => {
                let reason = reason_text(&reason).map_err(invalid)?;
                self.moderate(question_id, ModAction::Reject { reason }, reference)
                    .await
            }
            ClientMsg::Edit { question_id, text } => {
                let text = QuestionText::parse(&text).map_err(invalid)?.as_str().to_owned();
                self.moderate(question_id, ModAction::Edit { text }, reference).await
            }
            ClientMsg::Pin { question_id } => self.moderate(question_id, ModAction::Pin, reference).await,
            ClientMsg::Unpin { question_id } => self.moderate(question_id, ModAction::Unpin, reference).await,
            ClientMsg::Answer { question_id, text } => {
                let text = text.as_deref().map(answer_text).transpose().map_err(invalid)?;
                self.moderate(question_id, ModAction::Answer { text }, reference).await
            }
            ClientMsg::Hide { question_id } => self.moderate(question_id, ModAction::Hide, reference).await,
            ClientMsg::Ban {
                viewer,
                reason,
                include_address,
            } => self.ban(&viewer, &reason, include_address, reference).await,
            ClientMsg::SetSlowMode { seconds } => {
                if seconds > 3600 {
                    return Err(refuse("invalid", "slow mode is at most 3600 seconds"));
                }
                let (moderation, _) = self.room.moderation();
                self.settings(moderation, seconds, reference).await
            }
            ClientMsg::SetModeration { mode } => {
                let (_, slow) = self.room.moderation();
                self.settings(mode, slow, reference).await
            }
        }
    }

    async fn poll_step(&self, command: Command, action: &str, reference: Option<&str>) -> Result<String, Refusal> {
        match self.submit(command).await? {
            Outcome::Poll { poll, tally } => {
                self.hub.tell_staff(
                    &self.room,
                    encode(&ServerMsg::PollAdmin {
                        poll: Some(&poll),
                        poll_id: poll.id,
                        tally: tally.as_ref(),
                    }),
                );
                Ok(encode(&ServerMsg::Ack {
                    reference,
                    action,
                    question: None,
                    upvotes: None,
                    poll: Some(&poll),
                    changed: None,
                    text_status: None,
                    banned: None,
                }))
            }
            _ => Err(refuse("internal", "unexpected outcome")),
        }
    }

    async fn vote(
        &self,
        poll_id: i64,
        choices: Option<Vec<u32>>,
        rating: Option<u8>,
        text: Option<String>,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let Who::Viewer { key, .. } = &self.who else {
            return Err(refuse("forbidden", "staff connections do not vote"));
        };
        let ballot = match (choices, rating, text) {
            (Some(c), None, None) => Ballot::Choices(c),
            (None, Some(r), None) => Ballot::Rating(r),
            (None, None, Some(t)) => Ballot::Text(t),
            _ => {
                return Err(refuse(
                    "invalid_vote",
                    "give exactly one of `choices`, `rating` or `text`",
                ));
            }
        };
        let poll = self
            .room
            .poll(poll_id)
            .ok_or_else(|| refuse("not_found", "no such poll in this room"))?;
        if poll.status != PollStatus::Open {
            return Err(refuse("poll_closed", "the poll is not open"));
        }
        let checked = poll.spec.check(ballot.clone()).map_err(|e| Refusal {
            code: e.code,
            message: e.message,
            retry_after: None,
        })?;
        if let Err(l) = self.hub.limits.upvote(key).await {
            return Err(Refusal {
                code: "rate_limited",
                message: "too many votes".into(),
                retry_after: Some(l.retry_after),
            });
        }
        // Open-text answers go through the same screen as questions.
        let (text_status, hits) = match &checked {
            CheckedBallot::Text(t) => match self.hub.screen.current().screen(t) {
                Verdict::Clean => (Some("approved"), Vec::new()),
                Verdict::Hold { hits } => (Some("pending"), hits),
                Verdict::Reject { hits, .. } => (Some("rejected"), hits),
            },
            CheckedBallot::Choices(_) => (None, Vec::new()),
        };
        let command = Command::Vote {
            event_id: self.room.event_id,
            poll_id,
            viewer: key.clone(),
            ballot,
            text_status,
            hits: serde_json::to_value(&hits).unwrap_or_default(),
            ip: Some(self.ip.to_string()),
            per_address: self.hub.settings.votes_per_address,
        };
        match self.submit(command).await? {
            Outcome::Voted { changed, .. } => {
                self.room.poll_voted(poll_id);
                Ok(encode(&ServerMsg::Ack {
                    reference,
                    action: "vote",
                    question: None,
                    upvotes: None,
                    poll: None,
                    changed: Some(changed),
                    text_status,
                    banned: None,
                }))
            }
            _ => Err(refuse("internal", "unexpected outcome")),
        }
    }

    fn staff_id(&self, needed: Capability) -> Result<i64, Refusal> {
        match (&self.who, self.capability, needed) {
            (Who::Staff { staff, .. }, Capability::Moderator, _) => Ok(staff.id),
            (Who::Staff { staff, .. }, Capability::Host, Capability::Host) => Ok(staff.id),
            _ => Err(refuse("forbidden", "your role may not do this")),
        }
    }

    /// A question or a comment: screened, limited and moderated alike.
    async fn post(&self, kind: PostKind, text: &str, reference: Option<&str>) -> Result<String, Refusal> {
        let Who::Viewer { key, nickname, .. } = &self.who else {
            return Err(refuse(
                "forbidden",
                "staff connections do not post questions or comments",
            ));
        };
        if !matches!(
            self.room.status(),
            EventStatus::Announced | EventStatus::Rescheduled | EventStatus::Live
        ) {
            return Err(refuse("event_closed", "the event is not taking questions"));
        }
        let text = QuestionText::parse(text).map_err(invalid)?;
        let (moderation, slow_mode_secs) = self.room.moderation();
        let slow_mode = |wait| Refusal {
            code: "slow_mode",
            message: "slow mode is on: wait before posting again".to_owned(),
            retry_after: Some(wait),
        };
        // The cluster's limits (and slow mode) first, then the room's own slow mode.
        match self
            .hub
            .limits
            .ask(key, self.ip, self.room.event_id, slow_mode_secs)
            .await
        {
            Ok(()) => {}
            Err(l) if l.scope == limits::SLOW_MODE => return Err(slow_mode(l.retry_after)),
            Err(l) => {
                return Err(Refusal {
                    code: "rate_limited",
                    message: format!("too many questions ({} limit); try again later", l.scope),
                    retry_after: Some(l.retry_after),
                });
            }
        }
        self.room.slow_mode_check(key).map_err(slow_mode)?;
        let (status, reject_reason, hits) = match self.hub.screen.current().screen(text.as_str()) {
            Verdict::Clean if moderation == ModerationMode::Post => (QuestionStatus::Approved, None, Vec::new()),
            Verdict::Clean => (QuestionStatus::Pending, None, Vec::new()),
            // A hit is held for a moderator, even in post-moderation: never dropped silently.
            Verdict::Hold { hits } => (QuestionStatus::Pending, None, hits),
            Verdict::Reject { message, hits, .. } => (QuestionStatus::Rejected, Some(message), hits),
        };
        let command = Command::Ask(NewQuestion {
            event_id: self.room.event_id,
            viewer: key.clone(),
            nickname: nickname.as_str().to_owned(),
            text: text.as_str().to_owned(),
            client_ref: reference.map(str::to_owned),
            kind,
            ip: Some(self.ip.to_string()),
            status,
            reject_reason,
            hits: serde_json::to_value(&hits).unwrap_or_default(),
        });
        match self.submit(command).await? {
            Outcome::Asked { question, duplicate } => {
                if !duplicate {
                    self.hub.tell_staff(&self.room, Room::staff_frame(&question));
                }
                Ok(ack(reference, kind_action(kind), Some(&question), None))
            }
            _ => Err(refuse("internal", "unexpected outcome")),
        }
    }

    async fn upvote(&self, question_id: i64, reference: Option<&str>) -> Result<String, Refusal> {
        let Who::Viewer { key, .. } = &self.who else {
            return Err(refuse("forbidden", "staff connections do not upvote"));
        };
        if let Err(l) = self.hub.limits.upvote(key).await {
            return Err(Refusal {
                code: "rate_limited",
                message: "too many upvotes".into(),
                retry_after: Some(l.retry_after),
            });
        }
        let command = Command::Upvote {
            event_id: self.room.event_id,
            question_id,
            viewer: key.clone(),
            ip: Some(self.ip.to_string()),
            per_address: self.hub.settings.votes_per_address,
        };
        match self.submit(command).await? {
            Outcome::Upvoted { upvotes, .. } => Ok(ack(reference, "upvote", None, Some(upvotes))),
            _ => Err(refuse("internal", "unexpected outcome")),
        }
    }

    async fn moderate(&self, question_id: i64, action: ModAction, reference: Option<&str>) -> Result<String, Refusal> {
        let needed = if matches!(action, ModAction::Pin | ModAction::Unpin | ModAction::Answer { .. }) {
            Capability::Host
        } else {
            Capability::Moderator
        };
        let staff_id = self.staff_id(needed)?;
        let name = action.name();
        let command = Command::Moderate {
            event_id: self.room.event_id,
            question_id,
            action,
            staff_id,
        };
        match self.submit(command).await? {
            Outcome::Moderated { before, after } => {
                self.hub.tell_staff(&self.room, Room::staff_frame(&after));
                if author_sees_change(&before, &after) {
                    self.hub.tell_author(&self.room, &after);
                }
                Ok(encode(&ServerMsg::Ack {
                    reference,
                    action: name,
                    question: Some(OwnQuestion::from(&after)),
                    upvotes: None,
                    poll: None,
                    changed: None,
                    text_status: None,
                    banned: None,
                }))
            }
            _ => Err(refuse("internal", "unexpected outcome")),
        }
    }

    async fn ban(
        &self,
        viewer: &str,
        reason: &str,
        include_address: bool,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let staff_id = self.staff_id(Capability::Moderator)?;
        let key = ViewerKey::parse(viewer)
            .ok_or_else(|| refuse("invalid", "`viewer` is a viewer key (16 hex characters)"))?;
        let reason = reason_text(reason).map_err(invalid)?;
        // The address the viewer joined from (kept by the room, so a viewer
        // who never posted is covered), else the one they last posted from.
        let ip = match (include_address, self.room.viewer_address(&key)) {
            (false, _) => None,
            (true, Some(ip)) => Some(ip),
            (true, None) => self
                .hub
                .store
                .viewer_last_ip(self.room.event_id, &key)
                .await
                .map_err(|_| unavailable_refusal())?,
        };
        let command = Command::Ban {
            event_id: self.room.event_id,
            viewer: Some(key.clone()),
            ip: ip.clone(),
            reason: reason.clone(),
            staff_id,
        };
        self.submit(command).await?;
        // Not known here: in a cluster, a node that saw the viewer join bans the address.
        let address_by = (include_address && ip.is_none()).then_some(staff_id);
        let kicked = self.hub.ban(&self.room, Some(&key), ip.as_deref(), &reason, address_by);
        tracing::info!(viewer = %key.0, address = ip.is_some(), kicked, "viewer banned");
        Ok(encode(&ServerMsg::Ack {
            reference,
            action: "ban",
            question: None,
            upvotes: None,
            poll: None,
            changed: None,
            text_status: None,
            banned: Some(Banned {
                viewer: &key.0,
                address: ip.is_some(),
            }),
        }))
    }

    async fn settings(
        &self,
        moderation: ModerationMode,
        slow_mode_secs: u32,
        reference: Option<&str>,
    ) -> Result<String, Refusal> {
        let staff_id = self.staff_id(Capability::Moderator)?;
        let command = Command::Settings {
            event_id: self.room.event_id,
            moderation,
            slow_mode_secs,
            staff_id,
        };
        self.submit(command).await?;
        Ok(ack(reference, "settings", None, None))
    }

    async fn submit(&self, command: Command) -> Result<Outcome, Refusal> {
        let sink = self.hub.sink(self.room.event_id, Some(self.room.clone()));
        self.hub.writer.submit(command, sink).await.map_err(|e| match e {
            WriteError::Refused { code, message } => Refusal {
                code,
                message,
                retry_after: None,
            },
            WriteError::Unavailable(message) => Refusal {
                code: "unavailable",
                message,
                retry_after: None,
            },
        })
    }
}

/// Message types clients may send (for telling `unknown_type` from `bad_message`).
const KNOWN_TYPES: [&str; 20] = [
    "hello",
    "create_poll",
    "open_poll",
    "close_poll",
    "vote",
    "ask",
    "comment",
    "promote",
    "upvote",
    "approve",
    "reject",
    "edit",
    "pin",
    "unpin",
    "answer",
    "hide",
    "ban",
    "set_slow_mode",
    "set_moderation",
    "ping",
];

enum PollStep {
    Open,
    Other,
}

fn kind_action(kind: PostKind) -> &'static str {
    match kind {
        PostKind::Question => "ask",
        PostKind::Comment => "comment",
    }
}

struct Refusal {
    code: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

fn refuse(code: &'static str, message: &str) -> Refusal {
    Refusal {
        code,
        message: message.to_owned(),
        retry_after: None,
    }
}

fn invalid(e: crate::domain::values::Invalid) -> Refusal {
    Refusal {
        code: "invalid",
        message: e.to_string(),
        retry_after: None,
    }
}

fn unavailable_refusal() -> Refusal {
    refuse("unavailable", "the store is unavailable; try again")
}

fn unavailable(e: crate::store::StoreError) -> Ended {
    tracing::error!(error = %e, "store unavailable during join");
    ended(close::UNAVAILABLE, "store unavailable")
}

fn ack(reference: Option<&str>, action: &str, question: Option<&QuestionRecord>, upvotes: Option<i64>) -> String {
    encode(&ServerMsg::Ack {
        reference,
        action,
        question: question.map(OwnQuestion::from),
        poll: None,
        changed: None,
        text_status: None,
        upvotes,
        banned: None,
    })
}

/// Whether the author should hear of a moderation step.
fn author_sees_change(before: &QuestionRecord, after: &QuestionRecord) -> bool {
    before.kind != after.kind
        || before.status != after.status
        || before.text != after.text
        || before.answer != after.answer
        || before.answered != after.answered
}

async fn recv_staff(rx: &mut Option<broadcast::Receiver<StaffItem>>) -> Result<StaffItem, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn classify(e: &axum::Error) -> Ended {
    let text = e.to_string();
    if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
        ended(close::TOO_BIG, "message too big")
    } else if text.contains("UTF-8") || text.contains("utf-8") {
        ended(close::UNSUPPORTED, "invalid UTF-8")
    } else {
        ended(close::PROTOCOL, "protocol error")
    }
}
