//! Everything the client receives once it is live: the room's public frames,
//! the staff feed, private frames and pings, written in batches; and the
//! rules that cut a connection that falls behind (lagged), does not read
//! (stalled) or does not answer pings (idle).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use tokio::sync::broadcast;

use super::{Ended, Session, close, ended, error_frame, millis, send_within};
use crate::domain::error_code::ErrorCode;
use crate::hub::room::{Frame, Private, PrivateRx, StaffItem};

/// Public frames written to a socket in one go at most.
const MAX_WRITE_BATCH: usize = 64;

/// The writing half of a live connection and what feeds it.
pub(super) struct Outbox<'a> {
    pub sink: SplitSink<&'a mut WebSocket, Message>,
    /// The newest public `seq` sent (by the catch-up or here): older frames are skipped.
    pub sent: i64,
    pub public: broadcast::Receiver<Frame>,
    /// The moderation feed; staff only.
    pub staff: Option<broadcast::Receiver<StaffItem>>,
    pub private: PrivateRx,
    /// When the client was last heard of (ms since `epoch`), set by the reader.
    pub seen: &'a AtomicU64,
    pub epoch: Instant,
}

impl Session {
    /// Everything the client receives: the room, the staff feed, private frames, pings.
    pub(super) async fn write_loop(&self, out: &mut Outbox<'_>) -> Result<(), Ended> {
        // Made once: the loop wakes for every frame, and a fresh cancellation
        // future per wake-up registered on a token every connection shares.
        let shutdown = self.hub.shutdown.clone();
        let shutdown = shutdown.cancelled();
        tokio::pin!(shutdown);
        let mut heartbeat = tokio::time::interval(Duration::from_secs(self.hub.settings.ping_interval_secs.max(1)));
        heartbeat.tick().await;
        let idle_ms = self.hub.settings.idle_timeout_secs.max(1) * 1000;
        loop {
            // The room found this connection's private queue full.
            if out.private.overflowed() {
                return Err(ended(close::STALLED, "stalled: the client is not reading"));
            }
            // Biased: the room's frames first. Most wake-ups are for a room
            // frame, and then nothing else is polled (the private queue, the
            // staff feed, the timer, the shutdown token); each of them gets its
            // turn whenever the room has nothing queued, which a batch write
            // (up to 64 frames) makes the common case even under load.
            let next = tokio::select! {
                biased;
                frame = out.public.recv() => self.on_public(out, frame).await?,
                item = recv_staff(&mut out.staff) => self.on_staff(out, item).await?,
                message = out.private.recv() => self.on_private(out, message.map(|m| *m)).await?,
                () = &mut shutdown => return Err(ended(close::GOING_AWAY, "server shutting down")),
                _ = heartbeat.tick() => {
                    if millis(out.epoch).saturating_sub(out.seen.load(Ordering::Relaxed)) > idle_ms {
                        return Err(ended(close::IDLE, "no answer to pings"));
                    }
                    Some(Message::Ping(Default::default()))
                }
            };
            let Some(message) = next else { continue };
            if let Some(n) = self.write_batch(out, message).await? {
                return Err(Box::pin(self.lagged(out, n)).await);
            }
        }
    }

    /// A frame from the room: sent unless the catch-up already sent it.
    async fn on_public(
        &self,
        out: &mut Outbox<'_>,
        frame: Result<Frame, broadcast::error::RecvError>,
    ) -> Result<Option<Message>, Ended> {
        match frame {
            Ok(Frame { seq: Some(seq), text }) => {
                if seq <= out.sent {
                    return Ok(None); // Already sent in the catch-up.
                }
                out.sent = seq;
                Ok(Some(Message::Text(text)))
            }
            Ok(Frame { seq: None, text }) => Ok(Some(Message::Text(text))),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(Box::pin(self.lagged(out, n)).await),
            Err(broadcast::error::RecvError::Closed) => Err(ended(close::GOING_AWAY, "room closed")),
        }
    }

    /// An item of the moderation feed (staff only).
    async fn on_staff(
        &self,
        out: &mut Outbox<'_>,
        item: Result<StaffItem, broadcast::error::RecvError>,
    ) -> Result<Option<Message>, Ended> {
        match item {
            Ok(StaffItem::Frame(text)) => Ok(Some(Message::Text(text))),
            Ok(StaffItem::Resync) => {
                Box::pin(self.resync(&mut out.sink)).await?;
                Ok(None)
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let msg = "the moderation feed fell behind; reconnect";
                let frame = error_frame(None, ErrorCode::Lagged, msg, None);
                Box::pin(self.sink_send(&mut out.sink, frame.into())).await?;
                Err(ended(close::LAGGED, "lagged"))
            }
            Err(broadcast::error::RecvError::Closed) => Err(ended(close::GOING_AWAY, "room closed")),
        }
    }

    /// A message for this connection only: an answer, a `mine` frame, a kick.
    async fn on_private(&self, out: &mut Outbox<'_>, message: Option<Private>) -> Result<Option<Message>, Ended> {
        match message {
            Some(Private::Frame(text)) => Ok(Some(Message::Text(text))),
            Some(Private::Resync) => {
                Box::pin(self.resync(&mut out.sink)).await?;
                Ok(None)
            }
            Some(Private::Kick { code, frame }) => {
                Box::pin(self.sink_send(&mut out.sink, frame.into())).await?;
                Err(ended(close::FORBIDDEN, code.as_str()))
            }
            None => Err(ended(close::GOING_AWAY, "room closed")),
        }
    }

    /// Writes `message` and whatever else the room already queued in the
    /// same write; `Some(n)` when the room's channel dropped `n` frames meanwhile.
    async fn write_batch(&self, out: &mut Outbox<'_>, message: Message) -> Result<Option<u64>, Ended> {
        // Whatever else the room already queued goes out in the same write:
        // under load a connection catches up with one syscall, not one per message.
        let mut batch = 1;
        let mut lagged = None;
        let Outbox { sink, sent, public, .. } = out;
        let write = async {
            sink.feed(message).await?;
            while batch < MAX_WRITE_BATCH {
                match public.try_recv() {
                    Ok(Frame { seq: Some(seq), text }) => {
                        if seq > *sent {
                            *sent = seq;
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
        send_within(self.send_timeout, std::pin::pin!(write)).await?;
        Ok(lagged)
    }

    /// The client fell `n` public frames behind: it is told where to resume
    /// from, and the connection ends (the end, or the send's own failure).
    /// Boxed where it is called, as is every send before a connection ends:
    /// their state would otherwise be part of every idle connection's task.
    async fn lagged(&self, out: &mut Outbox<'_>, n: u64) -> Ended {
        let msg = format!(
            "fell {n} messages behind; reconnect with last_seq {} to resume",
            out.sent
        );
        match self
            .sink_send(&mut out.sink, error_frame(None, ErrorCode::Lagged, &msg, None).into())
            .await
        {
            Ok(()) => ended(close::LAGGED, "lagged"),
            Err(end) => end,
        }
    }

    /// Send again what may have been lost while the bus was away.
    async fn resync(&self, sink: &mut SplitSink<&mut WebSocket, Message>) -> Result<(), Ended> {
        for frame in self.resync_frames().await.unwrap_or_default() {
            self.sink_send(sink, frame.into()).await?;
        }
        Ok(())
    }

    async fn sink_send(&self, sink: &mut SplitSink<&mut WebSocket, Message>, text: Utf8Bytes) -> Result<(), Ended> {
        send_within(self.send_timeout, std::pin::pin!(sink.send(Message::Text(text)))).await
    }
}

async fn recv_staff(rx: &mut Option<broadcast::Receiver<StaffItem>>) -> Result<StaffItem, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
