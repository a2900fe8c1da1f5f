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
//!
//! What was dropped is made good, not forgotten. After the subscriber was
//! away, every room here re-reads what it may have missed (the log, and for
//! staff and authors the state of the posts: see [`Hub::resync_room`]); a
//! publisher that had to drop staff or private frames asks the other nodes
//! to do the same for those rooms once Redis is back ([`Body::Resync`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::Hub;
use super::redis_link::RedisLink;
use crate::config::ClusterSettings;

/// Messages waiting for the publisher; past this they are dropped.
const OUTBOX: usize = 4096;
/// Presence entries live this long unless refreshed (a dead node's count fades).
const PRESENCE_TTL_SECS: i64 = 6;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often a publisher that owes the other nodes a [`Body::Resync`] tries Redis.
const RESYNC_RETRY: Duration = Duration::from_secs(1);
/// Clocks of the nodes may differ a little: a resync reaches this far further back.
pub const CLOCK_MARGIN: chrono::Duration = chrono::Duration::seconds(30);

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
        /// The address was asked for but the issuing node did not know it:
        /// a node that saw the viewer join bans the address it saw, recorded
        /// as by this staff member.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_by: Option<i64>,
    },
    /// Staff or private frames of the room were lost on their way (the
    /// sender dropped them): re-read what changed since `since`.
    Resync { since: DateTime<Utc> },
}

impl Body {
    /// Whether losing this message loses something no periodic check brings back.
    fn needs_resync(&self) -> bool {
        !matches!(self, Body::Seq { .. })
    }
}

/// What a node reads back every 2 s: the nodes alive in the cluster (a
/// fresh stamp in the cluster's hash, written from a node's start whether or
/// not it serves a room yet) and each room's presence.
pub struct ClusterView {
    pub nodes: HashSet<String>,
    /// Each room's viewers on every live node, in the order asked.
    pub viewers: Vec<usize>,
}

/// One room's presence across the cluster.
pub struct Presence {
    /// Viewers on every live node.
    pub viewers: usize,
    /// The nodes with a fresh count (this one included).
    pub nodes: HashSet<String>,
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
    /// Messages handed to Redis, and messages taken from other nodes (for `/metrics`).
    pub published: AtomicU64,
    pub received: AtomicU64,
    /// Rooms whose staff or private frames were dropped, and since when: the
    /// other nodes are told to resync them once Redis takes messages again.
    owed: Mutex<HashMap<i64, DateTime<Utc>>>,
    /// Short questions: tally slots, presence.
    link: RedisLink,
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
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            owed: Mutex::new(HashMap::new()),
            link: RedisLink::new("cluster checks", settings)?,
        });
        Ok((bus, rx))
    }

    /// Whether this node may send the next live tally of `poll_id`: one node
    /// of the cluster per interval (`SET NX PX`), so viewers get at most one
    /// tally per interval however many nodes take votes. Every tally counts
    /// the stored votes of all nodes, so it does not matter which node sends
    /// it; a node that is refused keeps its poll marked and asks again on its
    /// next tick. Without Redis every node sends its own.
    pub async fn claim_tally(&self, poll_id: i64, every: Duration) -> bool {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}:tally:{poll_id}", self.prefix))
            .arg(&self.node)
            .arg("NX")
            .arg("PX")
            .arg(every.as_millis().max(1) as u64);
        self.link
            .query::<Option<String>>(&cmd)
            .await
            .is_none_or(|set| set.is_some())
    }

    /// Queue a message for the other nodes; never waits.
    pub fn publish(&self, event_id: i64, body: Body) {
        let resync = body.needs_resync();
        if self.outbox.try_send((event_id, body)).is_err() {
            // Seq wake-ups are covered by the periodic check; for the rest the
            // other nodes are told to resync the room.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            if resync {
                self.owe(event_id, Utc::now());
            }
        }
    }

    fn owed(&self) -> std::sync::MutexGuard<'_, HashMap<i64, DateTime<Utc>>> {
        self.owed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remember that the room's frames since `since` were dropped.
    fn owe(&self, event_id: i64, since: DateTime<Utc>) {
        let mut owed = self.owed();
        let at = owed.entry(event_id).or_insert(since);
        *at = (*at).min(since);
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
    /// per room (the highest seq). A batch that fails is tried once more on a
    /// fresh connection (Redis restarted: the old one is dead); if that fails
    /// too it is dropped, and the rooms it concerned are owed a resync.
    pub async fn run_publisher(self: Arc<Self>, mut rx: mpsc::Receiver<(i64, Body)>) {
        let mut conn: Option<redis::aio::MultiplexedConnection> = None;
        let mut batch = Vec::with_capacity(256);
        loop {
            let owing = !self.owed().is_empty();
            let received = if owing {
                // Owed resyncs go out as soon as Redis is back, traffic or not.
                tokio::select! {
                    n = rx.recv_many(&mut batch, 256) => n,
                    () = tokio::time::sleep(RESYNC_RETRY) => usize::MAX,
                }
            } else {
                rx.recv_many(&mut batch, 256).await
            };
            if received == 0 {
                break; // The hub is gone.
            }
            let mut highest: HashMap<i64, i64> = HashMap::new();
            // Each payload with its room and whether losing it needs a resync.
            let mut payloads: Vec<(i64, bool, String)> = Vec::with_capacity(batch.len());
            for (event_id, body) in batch.drain(..) {
                match body {
                    Body::Seq { seq } => {
                        let h = highest.entry(event_id).or_insert(seq);
                        *h = (*h).max(seq);
                    }
                    body => payloads.push((event_id, true, self.encode(event_id, body))),
                }
            }
            payloads.extend(
                highest
                    .into_iter()
                    .map(|(event_id, seq)| (event_id, false, self.encode(event_id, Body::Seq { seq }))),
            );
            let owed: Vec<(i64, DateTime<Utc>)> = self.owed().drain().collect();
            payloads
                .extend(owed.iter().map(|(event_id, since)| {
                    (*event_id, true, self.encode(*event_id, Body::Resync { since: *since }))
                }));
            if payloads.is_empty() {
                continue;
            }
            if let Err(e) = self.send(&mut conn, &payloads).await {
                tracing::warn!(error = %e, dropped = payloads.len(), "bus: Redis unreachable; messages dropped, resync owed");
                self.dropped.fetch_add(payloads.len() as u64, Ordering::Relaxed);
                let now = Utc::now();
                for (event_id, resync, _) in &payloads {
                    if *resync {
                        self.owe(*event_id, now);
                    }
                }
                for (event_id, since) in owed {
                    self.owe(event_id, since);
                }
            } else {
                self.published.fetch_add(payloads.len() as u64, Ordering::Relaxed);
                if !owed.is_empty() {
                    tracing::info!(rooms = owed.len(), "bus: the other nodes were asked to resync");
                }
            }
        }
    }

    /// Publish `payloads` in one pipeline; once more on a fresh connection if that fails.
    async fn send(
        &self,
        conn: &mut Option<redis::aio::MultiplexedConnection>,
        payloads: &[(i64, bool, String)],
    ) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for (_, _, payload) in payloads {
            pipe.cmd("PUBLISH").arg(&self.channel).arg(payload).ignore();
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let c = match conn {
                Some(c) => c,
                None => conn.insert(self.connect().await?),
            };
            match pipe.query_async::<()>(c).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    *conn = None;
                    if attempt == 2 {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, "bus: publishing failed; once more on a new connection");
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
    /// each (re)subscription every room checks the log for what it missed,
    /// and after an outage re-reads what its staff and authors missed.
    pub async fn run_subscriber(self: Arc<Self>, hub: Hub) {
        let mut backoff = Duration::from_millis(100);
        // When the subscription was lost (nothing is missed before the first one).
        let mut lost: Option<DateTime<Utc>> = None;
        loop {
            match self.subscribe().await {
                Ok(mut pubsub) => {
                    tracing::info!(node = %self.node, channel = %self.channel, "bus: subscribed");
                    backoff = Duration::from_millis(100);
                    hub.probe_rooms();
                    if let Some(since) = lost.take() {
                        hub.resync_rooms(since - CLOCK_MARGIN);
                    }
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
                    lost = Some(Utc::now());
                    tracing::warn!("bus: connection to Redis lost; reconnecting");
                }
                Err(e) => {
                    lost.get_or_insert_with(Utc::now);
                    tracing::warn!(error = %e, retry_in = ?backoff, "bus: cannot subscribe");
                }
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
            Ok(msg) => {
                self.received.fetch_add(1, Ordering::Relaxed);
                hub.from_bus(msg.event_id, msg.body);
            }
            Err(e) => tracing::warn!(error = %e, "bus: unreadable message ignored"),
        }
    }

    fn presence_key(&self, event_id: i64) -> String {
        format!("{}:presence:{event_id}", self.prefix)
    }

    /// Stamp this node alive, write its viewer count of each room, and read
    /// the cluster's back. The cluster and each room are hashes with a field
    /// per node; every field carries its own write time, so a dead node is
    /// gone after [`PRESENCE_TTL_SECS`] even while other nodes keep the hash
    /// alive.
    pub async fn presence(&self, counts: &[(i64, usize)]) -> Option<ClusterView> {
        let now = chrono::Utc::now().timestamp();
        let mut pipe = redis::pipe();
        let nodes_key = format!("{}:nodes", self.prefix);
        pipe.cmd("HSET")
            .arg(&nodes_key)
            .arg(&self.node)
            .arg(format!("0:{now}"))
            .ignore();
        pipe.cmd("EXPIRE").arg(&nodes_key).arg(PRESENCE_TTL_SECS).ignore();
        pipe.cmd("HGETALL").arg(&nodes_key);
        for (event_id, viewers) in counts {
            let key = self.presence_key(*event_id);
            pipe.cmd("HSET")
                .arg(&key)
                .arg(&self.node)
                .arg(format!("{viewers}:{now}"))
                .ignore();
            pipe.cmd("EXPIRE").arg(&key).arg(PRESENCE_TTL_SECS).ignore();
            pipe.cmd("HGETALL").arg(&key);
        }
        let all = self.link.query_pipe::<Vec<HashMap<String, String>>>(&pipe).await?;
        let mut all = all.iter().map(|fields| fresh_counts(fields, now));
        let nodes = all.next().map(|cluster| cluster.nodes).unwrap_or_default();
        Some(ClusterView {
            nodes,
            viewers: all.map(|room| room.viewers).collect(),
        })
    }
}

/// The fresh fields (`node -> "viewers:written_at"`) of a presence hash.
fn fresh_counts(fields: &HashMap<String, String>, now: i64) -> Presence {
    let mut presence = Presence {
        viewers: 0,
        nodes: HashSet::new(),
    };
    for (node, value) in fields {
        let Some((n, at)) = value.split_once(':') else { continue };
        let (Ok(n), Ok(at)) = (n.parse::<usize>(), at.parse::<i64>()) else {
            continue;
        };
        if now - at <= PRESENCE_TTL_SECS {
            presence.viewers += n;
            presence.nodes.insert(node.clone());
        }
    }
    presence
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
        assert!(!back.body.needs_resync());
        let resync = Body::Resync {
            since: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        };
        assert!(resync.needs_resync());
        let msg = BusMsg {
            node: "n1".into(),
            event_id: 7,
            body: resync,
        };
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            text,
            r#"{"node":"n1","event_id":7,"kind":"resync","since":"2023-11-14T22:13:20Z"}"#
        );
    }

    #[test]
    fn presence_counts_fresh_fields_only() {
        let fields: HashMap<String, String> = [
            ("a".to_owned(), "3:100".to_owned()),
            ("b".to_owned(), "4:90".to_owned()),
            ("c".to_owned(), "5:97".to_owned()),
            ("d".to_owned(), "junk".to_owned()),
        ]
        .into();
        let p = fresh_counts(&fields, 100);
        assert_eq!(p.viewers, 8);
        assert_eq!(p.nodes, HashSet::from(["a".to_owned(), "c".to_owned()]));
    }
}
