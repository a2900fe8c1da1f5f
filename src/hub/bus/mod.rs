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
//! Effects go one way: the hub publishes through [`Bus::publish`]; the bus
//! never calls into the hub. What it receives from the other nodes, and each
//! (re)subscription, it hands on as [`BusEvent`]s over a bounded channel that
//! a hub task drains.
//!
//! - `publisher`: the outbox's drain into Redis;
//! - `subscriber`: the subscription and the [`BusEvent`]s it yields;
//! - `presence`: the cluster's live nodes and viewer counts, and tally slots.
//!
//! What was dropped is made good, not forgotten. After the subscriber was
//! away, every room here re-reads what it may have missed (the log, and for
//! staff and authors the state of the posts: the hub's `cluster` module); a
//! publisher that had to drop staff or private frames asks the other nodes
//! to do the same for those rooms once Redis is back ([`Body::Resync`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::redis_link::RedisLink;
use crate::config::ClusterSettings;
use crate::domain::ids::{EventId, StaffId};

mod presence;
mod publisher;
mod subscriber;

pub use presence::{ClusterView, Presence};
pub use subscriber::BusEvent;

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

/// The receiving end of the bus's outbox: each message with its room.
pub type Outbox = mpsc::Receiver<(EventId, Body)>;

/// One message on the bus.
#[derive(Debug, Serialize, Deserialize)]
pub struct BusMsg {
    pub node: String,
    pub event_id: EventId,
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
        /// The end of the ban's term; none: the rest of the event.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// The address was asked for but the issuing node did not know it:
        /// a node that saw the viewer join bans the address it saw, recorded
        /// as by this staff member.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address_by: Option<StaffId>,
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

pub struct Bus {
    /// This node's id (random per start).
    pub node: String,
    prefix: String,
    channel: String,
    client: redis::Client,
    outbox: mpsc::Sender<(EventId, Body)>,
    /// Messages dropped because the outbox was full or Redis was away.
    pub dropped: AtomicU64,
    /// Messages handed to Redis, and messages taken from other nodes (for `/metrics`).
    pub published: AtomicU64,
    pub received: AtomicU64,
    /// Rooms whose staff or private frames were dropped, and since when: the
    /// other nodes are told to resync them once Redis takes messages again.
    owed: Mutex<HashMap<EventId, DateTime<Utc>>>,
    /// Short questions: tally slots, presence.
    link: RedisLink,
}

impl Bus {
    /// The bus and the receiving end of its outbox (for [`Bus::run_publisher`]).
    pub fn new(settings: &ClusterSettings) -> anyhow::Result<(Arc<Self>, Outbox)> {
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

    /// Queue a message for the other nodes; never waits.
    pub fn publish(&self, event_id: EventId, body: Body) {
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

    fn owed(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, DateTime<Utc>>> {
        self.owed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remember that the room's frames since `since` were dropped.
    fn owe(&self, event_id: EventId, since: DateTime<Utc>) {
        let mut owed = self.owed();
        let at = owed.entry(event_id).or_insert(since);
        *at = (*at).min(since);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_small_tagged_json() {
        let msg = BusMsg {
            node: "n1".into(),
            event_id: EventId(7),
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
            event_id: EventId(7),
            body: resync,
        };
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(
            text,
            r#"{"node":"n1","event_id":7,"kind":"resync","since":"2023-11-14T22:13:20Z"}"#
        );
    }
}
