//! The bus between the nodes of a cluster (Redis pub/sub), and their
//! cluster-wide presence counts.
//!
//! The room log in PostgreSQL is the source of truth: a node that commits
//! room changes publishes only `(event id, seq)`, which wakes the other nodes
//! to read the log up to that seq (see [`super::room`]: in order, once). A
//! lost wake-up costs latency, not content: every node also compares its
//! rooms with the log every ~2 s. What is not logged travels whole: staff
//! frames (new pending posts, poll admin), private `mine` frames to an
//! author connected elsewhere, and ban kicks. A node ignores its own
//! messages (by node id).
//!
//! Publishing never blocks a room: messages go through a bounded queue to one
//! publisher task, and are dropped (and counted) when it is full or Redis is
//! away. The subscriber reconnects by itself, with backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::Hub;
use crate::config::ClusterSettings;

/// Messages waiting for the publisher; past this they are dropped.
const OUTBOX: usize = 4096;
/// Presence entries live this long unless refreshed (a dead node's count fades).
const PRESENCE_TTL_SECS: i64 = 6;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One message on the bus.
#[derive(Debug, Serialize, Deserialize)]
pub struct BusMsg {
    pub node: String,
    pub event_id: i64,
    #[serde(flatten)]
    pub body: Body,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// The room's log reaches `seq`.
    Seq { seq: i64 },
    /// A frame for the room's staff channel.
    Staff { text: String },
    /// A private frame for every connection of a viewer.
    Viewer { viewer: String, text: String },
    /// A ban: record it and cut the viewer's connections.
    Ban {
        viewer: Option<String>,
        ip: Option<String>,
        reason: String,
    },
}

pub struct Bus {
    /// This node's id (random per start).
    pub node: String,
    prefix: String,
    channel: String,
    client: redis::Client,
    outbox: mpsc::Sender<(i64, Body)>,
    /// Messages dropped because the outbox was full or Redis was away.
    pub dropped: AtomicU64,
}

impl Bus {
    /// The bus and the receiving end of its outbox (for [`Bus::run_publisher`]).
    pub fn new(settings: &ClusterSettings) -> anyhow::Result<(Arc<Self>, mpsc::Receiver<(i64, Body)>)> {
        let client = redis::Client::open(settings.redis_url.expose())
            .map_err(|e| anyhow::anyhow!("the Redis URL {} is not usable: {e}", settings.redis_url))?;
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("no randomness for the node id: {e}"))?;
        let node: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let bus = Arc::new(Self {
            node,
            channel: format!("{}:rooms", settings.prefix),
            prefix: settings.prefix.clone(),
            client,
            outbox,
            dropped: AtomicU64::new(0),
        });
        Ok((bus, rx))
    }

    /// Queue a message for the other nodes; never waits.
    pub fn publish(&self, event_id: i64, body: Body) {
        if self.outbox.try_send((event_id, body)).is_err() {
            // Seq wake-ups are covered by the periodic check; staff frames are lost.
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn connect(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_multiplexed_async_connection()).await {
            Ok(r) => r,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "connect timed out",
            ))),
        }
    }

    /// Drain the outbox into Redis. Wake-ups queued together collapse into one
    /// per room (the highest seq).
    pub async fn run_publisher(self: Arc<Self>, mut rx: mpsc::Receiver<(i64, Body)>) {
        let mut conn: Option<redis::aio::MultiplexedConnection> = None;
        let mut batch = Vec::with_capacity(256);
        while rx.recv_many(&mut batch, 256).await > 0 {
            let mut highest: HashMap<i64, i64> = HashMap::new();
            let mut payloads = Vec::with_capacity(batch.len());
            for (event_id, body) in batch.drain(..) {
                match body {
                    Body::Seq { seq } => {
                        let h = highest.entry(event_id).or_insert(seq);
                        *h = (*h).max(seq);
                    }
                    body => payloads.push(self.encode(event_id, body)),
                }
            }
            payloads.extend(
                highest
                    .into_iter()
                    .map(|(event_id, seq)| self.encode(event_id, Body::Seq { seq })),
            );
            if conn.is_none() {
                match self.connect().await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        tracing::warn!(error = %e, dropped = payloads.len(), "bus: Redis unreachable; messages dropped");
                        self.dropped.fetch_add(payloads.len() as u64, Ordering::Relaxed);
                        continue;
                    }
                }
            }
            let mut pipe = redis::pipe();
            for payload in &payloads {
                pipe.cmd("PUBLISH").arg(&self.channel).arg(payload).ignore();
            }
            if let Some(c) = conn.as_mut() {
                if let Err(e) = pipe.query_async::<()>(c).await {
                    tracing::warn!(error = %e, dropped = payloads.len(), "bus: publishing failed; reconnecting");
                    self.dropped.fetch_add(payloads.len() as u64, Ordering::Relaxed);
                    conn = None;
                }
            }
        }
    }

    fn encode(&self, event_id: i64, body: Body) -> String {
        let msg = BusMsg {
            node: self.node.clone(),
            event_id,
            body,
        };
        serde_json::to_string(&msg).unwrap_or_default()
    }

    /// Subscribe and hand every message from another node to the hub; after
    /// each (re)subscription every room checks the log for what it missed.
    pub async fn run_subscriber(self: Arc<Self>, hub: Hub) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.subscribe().await {
                Ok(mut pubsub) => {
                    tracing::info!(node = %self.node, channel = %self.channel, "bus: subscribed");
                    backoff = Duration::from_millis(100);
                    hub.probe_rooms();
                    let mut messages = pubsub.on_message();
                    loop {
                        tokio::select! {
                            () = hub.shutdown.cancelled() => return,
                            message = messages.next() => match message {
                                Some(m) => self.received(&hub, m.get_payload_bytes()),
                                None => break,
                            },
                        }
                    }
                    tracing::warn!("bus: connection to Redis lost; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, retry_in = ?backoff, "bus: cannot subscribe"),
            }
            tokio::select! {
                () = hub.shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
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

    fn received(&self, hub: &Hub, payload: &[u8]) {
        match serde_json::from_slice::<BusMsg>(payload) {
            Ok(msg) if msg.node == self.node => {}
            Ok(msg) => hub.from_bus(msg.event_id, msg.body),
            Err(e) => tracing::warn!(error = %e, "bus: unreadable message ignored"),
        }
    }

    fn presence_key(&self, event_id: i64) -> String {
        format!("{}:presence:{event_id}", self.prefix)
    }

    /// Write this node's viewer count of each room and read the cluster's
    /// totals back. Each room is a hash with a field per node; every field
    /// carries its own write time, so a dead node's count is ignored after
    /// [`PRESENCE_TTL_SECS`] even while other nodes keep the hash alive.
    pub async fn presence(
        &self,
        conn: &mut Option<redis::aio::MultiplexedConnection>,
        counts: &[(i64, usize)],
    ) -> Option<Vec<usize>> {
        if conn.is_none() {
            *conn = self.connect().await.ok();
        }
        let c = conn.as_mut()?;
        let now = chrono::Utc::now().timestamp();
        let mut pipe = redis::pipe();
        for (event_id, viewers) in counts {
            let key = self.presence_key(*event_id);
            pipe.cmd("HSET")
                .arg(&key)
                .arg(&self.node)
                .arg(format!("{viewers}:{now}"))
                .ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(PRESENCE_TTL_SECS).ignore();
            pipe.cmd("HVALS").arg(&key);
        }
        match pipe.query_async::<Vec<Vec<String>>>(c).await {
            Ok(all) => Some(
                all.iter()
                    .map(|values| {
                        values
                            .iter()
                            .filter_map(|v| v.split_once(':'))
                            .filter_map(|(n, at)| Some((n.parse::<usize>().ok()?, at.parse::<i64>().ok()?)))
                            .filter(|(_, at)| now - at <= PRESENCE_TTL_SECS)
                            .map(|(n, _)| n)
                            .sum()
                    })
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "bus: presence not shared");
                *conn = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_small_tagged_json() {
        let msg = BusMsg {
            node: "n1".into(),
            event_id: 7,
            body: Body::Seq { seq: 42 },
        };
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(text, r#"{"node":"n1","event_id":7,"kind":"seq","seq":42}"#);
        let back: BusMsg = serde_json::from_str(&text).unwrap();
        assert!(matches!(back.body, Body::Seq { seq: 42 }));
    }
}
