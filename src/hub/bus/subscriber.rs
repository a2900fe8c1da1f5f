//! The subscriber: messages of the other nodes, handed on as [`BusEvent`]s.

use crate::domain::ids::EventId;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Body, Bus, BusMsg, CLOCK_MARGIN, CONNECT_TIMEOUT, MAX_BACKOFF};

/// What the bus hands the hub, in the order it happened, over a bounded
/// channel that a hub task drains (the bus never calls into the hub).
#[derive(Debug)]
pub enum BusEvent {
    /// Subscribed (again): every room checks the log for what it missed.
    /// After an outage, `missed_since` says since when staff and private
    /// frames of other nodes may have been lost ([`CLOCK_MARGIN`] included).
    Subscribed { missed_since: Option<DateTime<Utc>> },
    /// A message from another node.
    Message { event_id: EventId, body: Body },
}

impl Bus {
    /// Subscribe and hand every message from another node to `events`,
    /// each (re)subscription first; reconnect with backoff, until `stop` or
    /// until nobody takes the events any more.
    pub async fn run_subscriber(self: Arc<Self>, events: mpsc::Sender<BusEvent>, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        // When the subscription was lost (nothing is missed before the first one).
        let mut lost: Option<DateTime<Utc>> = None;
        loop {
            match self.subscribe().await {
                Ok(pubsub) => {
                    tracing::info!(node = %self.node, channel = %self.channel, "bus: subscribed");
                    backoff = Duration::from_millis(100);
                    let missed_since = lost.take().map(|since| since - CLOCK_MARGIN);
                    if !self.relay(pubsub, missed_since, &events, &stop).await {
                        return;
                    }
                    lost = Some(Utc::now());
                    tracing::warn!("bus: connection to Redis lost; reconnecting");
                }
                Err(e) => {
                    lost.get_or_insert_with(Utc::now);
                    tracing::warn!(error = %e, retry_in = ?backoff, "bus: cannot subscribe");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Hand on what one subscription receives until it ends (true), or
    /// until `stop` or the consumer is gone (false).
    async fn relay(
        &self,
        mut pubsub: redis::aio::PubSub,
        missed_since: Option<DateTime<Utc>>,
        events: &mpsc::Sender<BusEvent>,
        stop: &CancellationToken,
    ) -> bool {
        if !hand_on(events, stop, BusEvent::Subscribed { missed_since }).await {
            return false;
        }
        let mut messages = pubsub.on_message();
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => return false,
                message = messages.next() => message,
            };
            let Some(message) = message else { return true };
            if let Some(event) = self.received(message.get_payload_bytes())
                && !hand_on(events, stop, event).await
            {
                return false;
            }
        }
    }

    async fn subscribe(&self) -> redis::RedisResult<redis::aio::PubSub> {
        let connect = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(&self.channel).await?;
            Ok(pubsub)
        };
        match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            Ok(r) => r,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "subscribe timed out",
            ))),
        }
    }

    /// A message of another node as an event; `None` for this node's own
    /// messages and unreadable ones.
    fn received(&self, payload: &[u8]) -> Option<BusEvent> {
        match serde_json::from_slice::<BusMsg>(payload) {
            Ok(msg) if msg.node == self.node => None,
            Ok(msg) => {
                self.received.fetch_add(1, Ordering::Relaxed);
                Some(BusEvent::Message {
                    event_id: msg.event_id,
                    body: msg.body,
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "bus: unreadable message ignored");
                None
            }
        }
    }
}

/// Queue an event for the hub. The channel is bounded: while the hub is
/// behind, the subscriber waits and Redis holds the messages. False when the
/// hub is gone or `stop` came first.
async fn hand_on(events: &mpsc::Sender<BusEvent>, stop: &CancellationToken, event: BusEvent) -> bool {
    tokio::select! {
        () = stop.cancelled() => false,
        sent = events.send(event) => sent.is_ok(),
    }
}
