//! The live hub: a WebSocket room per event with moderated Q&A.
//!
//! - [`protocol`]: the typed wire messages;
//! - [`room`]: a room's state, resume ring and fan-out;
//! - [`registry`]: the rooms loaded on this node and the memberships that keep them;
//! - [`conn`]: one task per connection — handshake, catch-up, the reader and the outbox (the writer);
//! - `actions`: what each client message does, by family (posts, moderation, polls), and the one dispatch;
//! - `announce`: what the hub tells a room and, in a cluster, the other nodes (the change sink, staff
//!   and author frames, bans);
//! - `fill`: the fill task that brings a room up to the room log, and a resuming client's wait for it;
//! - `housekeeping`: tallies, presence, word-list reloads, limiter cleanup;
//! - [`limits`]: governor rate limits; [`screen`]: the reloadable word list;
//! - [`bus`]: the Redis bus between the nodes of a cluster (off without a Redis URL); it hands what it
//!   receives to `cluster`, which applies it here and runs the cluster's periodic checks.
//!
//! Writes go through the store's group-commit [`Writer`]; rooms learn of
//! committed changes through [`crate::store::writer::ChangeSink`].

use crate::domain::calendar::WorkingCalendar;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::LiveSettings;
use crate::store::Store;
use crate::store::writer::Writer;
use bus::Bus;

mod actions;
pub mod addresses;
mod announce;
pub mod bus;
mod cluster;
pub mod conn;
mod fill;
mod housekeeping;
pub mod limits;
pub mod protocol;
mod publish;
pub mod redis_link;
pub mod registry;
pub mod room;
mod room_task;
pub mod screen;

use limits::Limits;
use registry::Rooms;
pub use registry::{JoinError, Membership};
use screen::Screen;

pub struct HubInner {
    pub store: Store,
    pub writer: Writer,
    pub settings: LiveSettings,
    pub limits: Limits,
    pub screen: Screen,
    rooms: Arc<Rooms>,
    next_conn: AtomicU64,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// The other nodes; `None` when this node runs alone.
    pub bus: Option<Arc<Bus>>,
    /// Viewer sockets per client address on this node.
    pub addresses: Arc<addresses::Addresses>,
    /// The working-day calendar: when reports and appeals are due.
    pub calendar: Arc<WorkingCalendar>,
}

/// A handle to the hub; cheap to clone.
#[derive(Clone)]
pub struct Hub(Arc<HubInner>);

impl std::ops::Deref for Hub {
    type Target = HubInner;
    fn deref(&self) -> &HubInner {
        &self.0
    }
}

impl Hub {
    /// The rooms loaded on this node.
    pub fn rooms(&self) -> Vec<Arc<room::Room>> {
        self.rooms.all()
    }

    pub fn new(store: Store, settings: LiveSettings, calendar: Arc<WorkingCalendar>) -> anyhow::Result<Self> {
        let writer = Writer::spawn(store.clone(), settings.writer_queue, settings.writer_batch);
        let screen = Screen::load(settings.words_file.clone())?;
        let (bus, outbox) = match &settings.cluster {
            Some(cluster) => {
                let (bus, outbox) = Bus::new(cluster)?;
                (Some(bus), Some(outbox))
            }
            None => (None, None),
        };
        let hub = Self(Arc::new(HubInner {
            store,
            writer,
            limits: Limits::new(&settings)?,
            screen,
            settings,
            rooms: Arc::default(),
            next_conn: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            bus,
            addresses: Arc::default(),
            calendar,
        }));
        hub.spawn_housekeeping();
        if let (Some(bus), Some(outbox)) = (hub.bus.clone(), outbox) {
            hub.join_cluster(bus, outbox);
        }
        Ok(hub)
    }

    /// Start the bus (its publisher and subscriber) and this node's side of
    /// the cluster. The bus hands what it receives over a bounded channel to
    /// a hub task: effects go one way, hub → bus, and the bus → rooms path
    /// runs through that channel only.
    fn join_cluster(&self, bus: Arc<Bus>, outbox: bus::Outbox) {
        tracing::info!(node = %bus.node, "joining the cluster");
        let (events, received) = mpsc::channel(cluster::BUS_EVENTS);
        tokio::spawn(bus.clone().run_publisher(outbox));
        tokio::spawn(bus.clone().run_subscriber(events, self.shutdown.clone()));
        tokio::spawn(self.clone().run_bus_events(received));
        tokio::spawn(self.clone().run_cluster_checks(bus));
        tokio::spawn(self.clone().run_ban_checks());
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Close every live connection (code 1001) and wait for them, at most `grace`.
    pub async fn shut_down(&self, grace: Duration) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait()).await.is_err() {
            tracing::warn!("some live connections did not close in time");
        }
    }
}
