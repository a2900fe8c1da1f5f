//! The live hub: a WebSocket room per event with moderated Q&A.
//!
//! - [`protocol`]: the typed wire messages;
//! - [`room`]: a room's state, resume ring and fan-out;
//! - [`conn`]: one task per connection — handshake, catch-up, the reader and the outbox (the writer);
//! - `actions`: what each client message does, by family (posts, moderation, polls), and the one dispatch;
//! - [`limits`]: governor rate limits; [`screen`]: the reloadable word list;
//! - [`bus`]: the Redis bus between the nodes of a cluster (off without a Redis URL).
//!
//! Writes go through the store's group-commit [`Writer`]; rooms learn of
//! committed changes through [`crate::store::writer::ChangeSink`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::LiveSettings;
use crate::domain::event::EventStatus;
use crate::domain::question::{RoomChange, ViewerKey};
use crate::store::live::QuestionRecord;
use crate::store::writer::{ChangeSink, Command, Outcome, Writer};
use crate::store::{Store, StoreError};
use axum::extract::ws::Utf8Bytes;
use bus::{Body, Bus};
use protocol::ServerMsg;

mod actions;
pub mod addresses;
pub mod bus;
pub mod conn;
pub mod limits;
pub mod protocol;
pub mod redis_link;
pub mod room;
pub mod screen;

use limits::Limits;
use room::Room;
use screen::Screen;

/// How long a resuming client waits for this node's room to reach its `seq`.
const REACH_WAIT: Duration = Duration::from_secs(3);

/// Why a connection cannot join a room.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("there is no event {0}")]
    UnknownEvent(i64),
    #[error("the event is {0}: it has no live room")]
    Unavailable(&'static str),
    #[error("{0}")]
    Store(#[from] StoreError),
}

pub struct HubInner {
    pub store: Store,
    pub writer: Writer,
    pub settings: LiveSettings,
    pub limits: Limits,
    pub screen: Screen,
    rooms: Mutex<HashMap<i64, Arc<Room>>>,
    /// Joiners of a room that is still loading wait here.
    loading: tokio::sync::Mutex<()>,
    next_conn: AtomicU64,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// The other nodes; `None` when this node runs alone.
    pub bus: Option<Arc<Bus>>,
    /// Viewer sockets per client address on this node.
    pub addresses: Arc<addresses::Addresses>,
}

/// A connection's place in a room; leaving happens on drop, on every path.
pub struct Membership {
    hub: Hub,
    pub room: Arc<Room>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave(&self.room);
    }
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
    pub fn new(store: Store, settings: LiveSettings) -> anyhow::Result<Self> {
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
            rooms: Mutex::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
            next_conn: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            bus,
            addresses: Arc::default(),
        }));
        hub.spawn_housekeeping();
        if let (Some(bus), Some(outbox)) = (hub.bus.clone(), outbox) {
            tracing::info!(node = %bus.node, "joining the cluster");
            tokio::spawn(bus.clone().run_publisher(outbox));
            tokio::spawn(bus.clone().run_subscriber(hub.clone()));
            tokio::spawn(hub.clone().run_cluster_checks(bus));
            tokio::spawn(hub.clone().run_ban_checks());
        }
        Ok(hub)
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Room>>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Membership of the room of `event_id`, loaded from the store on first
    /// use. The room stays registered while any membership is alive, so
    /// everybody in an event shares one room.
    pub async fn join(&self, event_id: i64) -> Result<Membership, JoinError> {
        if let Some(membership) = self.enter(event_id) {
            if membership.room.is_loaded() {
                return Ok(membership);
            }
            // Still loading: the loader holds `loading` until it is done.
            drop(self.loading.lock().await);
            if membership.room.is_loaded() {
                return Ok(membership);
            }
            return Err(JoinError::Store(StoreError::Conflict(
                "the room could not be loaded".into(),
            )));
        }
        // Loading is rare (first join of a room): one at a time keeps two
        // joiners from loading the same room twice.
        let _loading = self.loading.lock().await;
        if let Some(membership) = self.enter(event_id) {
            return Ok(membership);
        }
        let event = match self.store.event(event_id).await {
            Ok(e) => e,
            Err(StoreError::NotFound(_)) => return Err(JoinError::UnknownEvent(event_id)),
            Err(e) => return Err(e.into()),
        };
        if matches!(event.status, EventStatus::Draft | EventStatus::Cancelled) {
            return Err(JoinError::Unavailable(event.status.as_str()));
        }
        let room = Arc::new(Room::new(
            event_id,
            event.status,
            self.settings.outbound_queue,
            self.settings.ring_capacity,
        ));
        // Registered before loading: changes committed meanwhile queue in the room.
        room.members.fetch_add(1, Ordering::Relaxed);
        self.rooms().insert(event_id, room.clone());
        self.spawn_fill(&room);
        let membership = Membership {
            hub: self.clone(),
            room,
        };
        match self.store.load_room(event_id).await {
            Ok(state) => {
                membership.room.load(state);
                Ok(membership)
            }
            Err(e) => {
                self.rooms().remove(&event_id);
                Err(e.into())
            }
        }
    }

    /// Count a member in, under the registry lock (so a room is never dropped
    /// between being found and being joined).
    fn enter(&self, event_id: i64) -> Option<Membership> {
        let rooms = self.rooms();
        let room = rooms.get(&event_id)?.clone();
        room.members.fetch_add(1, Ordering::Relaxed);
        Some(Membership {
            hub: self.clone(),
            room,
        })
    }

    /// A member left; a room without members is dropped (it reloads on the next join).
    fn leave(&self, room: &Arc<Room>) {
        let mut rooms = self.rooms();
        if room.members.fetch_sub(1, Ordering::Relaxed) == 1
            && rooms.get(&room.event_id).is_some_and(|r| Arc::ptr_eq(r, room))
        {
            rooms.remove(&room.event_id);
        }
    }

    /// What the writer hands a room's committed changes to: the room here,
    /// and in a cluster a wake-up for the other nodes (even when no room of
    /// the event is loaded here).
    pub fn sink(&self, event_id: i64, room: Option<Arc<Room>>) -> Option<Arc<dyn ChangeSink>> {
        match &self.bus {
            None => room.map(|r| r as Arc<dyn ChangeSink>),
            Some(bus) => Some(Arc::new(Announced {
                event_id,
                room,
                bus: bus.clone(),
            })),
        }
    }

    /// A frame for the staff of a room, here and on the other nodes.
    pub fn tell_staff(&self, room: &Room, text: String) {
        if let Some(bus) = &self.bus {
            bus.publish(room.event_id, Body::Staff { text: text.clone() });
        }
        room.tell_staff_text(text);
    }

    /// Tell the author of `question` its news, wherever they are connected.
    pub fn tell_author(&self, room: &Room, question: &QuestionRecord) {
        let text = Room::author_frame(question);
        if let Some(bus) = &self.bus {
            bus.publish(
                room.event_id,
                Body::Viewer {
                    viewer: question.viewer_key.0.clone(),
                    text: text.clone(),
                },
            );
        }
        room.tell_viewer(&question.viewer_key, Utf8Bytes::from(text));
    }

    /// Record a ban and cut the viewer's connections on every node; returns
    /// how many were cut here. `address_by`: the banning staff member, when
    /// the viewer's address was asked for but is not known here (the other
    /// nodes ban the address they saw the viewer join from).
    pub fn ban(
        &self,
        room: &Room,
        viewer: Option<&ViewerKey>,
        ip: Option<&str>,
        reason: &str,
        address_by: Option<i64>,
    ) -> usize {
        if let Some(bus) = &self.bus {
            bus.publish(
                room.event_id,
                Body::Ban {
                    viewer: viewer.map(|v| v.0.clone()),
                    ip: ip.map(str::to_owned),
                    reason: reason.to_owned(),
                    address_by,
                },
            );
        }
        room.ban(viewer, ip, reason)
    }

    /// Another node banned `viewer` with their address, which it did not
    /// know: if the viewer joined here, ban the address they joined from, and
    /// record it (so it outlives this room and reaches every node's ban check).
    fn ban_seen_address(&self, room: &Arc<Room>, viewer: &ViewerKey, reason: String, staff_id: i64) {
        let Some(ip) = room.viewer_address(viewer) else { return };
        room.ban(None, Some(&ip), &reason);
        let command = Command::Ban {
            event_id: room.event_id,
            viewer: Some(viewer.clone()),
            ip: Some(ip),
            reason,
            staff_id,
        };
        let writer = self.writer.clone();
        let event_id = room.event_id;
        tokio::spawn(async move {
            if let Err(e) = writer.submit(command, None).await {
                tracing::warn!(event_id, error = %e, "the address of a banned viewer was not recorded");
            }
        });
    }

    /// A message from another node.
    pub fn from_bus(&self, event_id: i64, body: Body) {
        let Some(room) = self.rooms().get(&event_id).cloned() else {
            return; // Nobody here watches that room.
        };
        match body {
            Body::Seq { seq } => room.want(seq),
            Body::Staff { text } => room.tell_staff_text(text),
            Body::Viewer { viewer, text } => room.tell_viewer(&ViewerKey(viewer), Utf8Bytes::from(text)),
            Body::Ban {
                viewer,
                ip,
                reason,
                address_by,
            } => {
                let viewer = viewer.map(ViewerKey);
                room.ban(viewer.as_ref(), ip.as_deref(), &reason);
                if let (Some(staff_id), Some(viewer), None) = (address_by, &viewer, &ip) {
                    self.ban_seen_address(&room, viewer, reason, staff_id);
                }
            }
            Body::Resync { since } => self.resync_room(&room, since),
        }
    }

    /// Every loaded room re-reads what its staff and authors may have missed since `since`.
    pub fn resync_rooms(&self, since: DateTime<Utc>) {
        let rooms: Vec<Arc<Room>> = self.rooms().values().cloned().collect();
        tracing::info!(rooms = rooms.len(), %since, "resyncing the rooms after frames were lost");
        for room in rooms {
            self.resync_room(&room, since);
        }
    }

    /// Staff and private frames of other nodes travel only over the bus: when
    /// some may have been lost (Redis away, a node killed before it published),
    /// the room's staff re-read the moderation queue and polls, and the
    /// authors of posts moderated since `since` are sent their posts again.
    pub fn resync_room(&self, room: &Arc<Room>, since: DateTime<Utc>) {
        room.resync_staff();
        let room = room.clone();
        let store = self.store.clone();
        tokio::spawn(async move {
            match store.authors_since(room.event_id, since).await {
                Ok(authors) if !authors.is_empty() => {
                    let authors: HashSet<String> = authors.into_iter().map(|k| k.0).collect();
                    let told = room.resync_viewers(&authors);
                    tracing::debug!(event_id = room.event_id, told, "authors sent their posts again");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(event_id = room.event_id, error = %e, "authors not resynced"),
            }
        });
    }

    /// A client resuming from `seq` saw it, so the log holds it. A room here
    /// that is behind (a wake-up still on its way, or lost with the node that
    /// committed it) reads the log first, so that the client gets a replay
    /// rather than a snapshot older than what it showed. Bounded: a `seq`
    /// the log does not reach waits [`REACH_WAIT`], then the join goes on.
    pub async fn reach(&self, room: &Room, seq: i64) {
        if self.bus.is_none() {
            return; // Alone, this node's room is the log: nothing to wait for.
        }
        let deadline = tokio::time::Instant::now() + REACH_WAIT;
        let mut probe_at = tokio::time::Instant::now();
        while room.seq() < seq {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                tracing::debug!(event_id = room.event_id, seq, "resume from beyond the log");
                return;
            }
            if now >= probe_at {
                room.probe();
                probe_at = now + Duration::from_millis(500);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every 2 s: each room checks the log for changes it missed (lost
    /// wake-ups, a Redis outage), and shares its viewer count; viewers see
    /// the cluster's total. A node that stops stamping itself alive (killed,
    /// or cut off) may have taken staff or private frames with it: every
    /// room here resyncs.
    async fn run_cluster_checks(self, bus: Arc<Bus>) {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_totals: HashMap<i64, usize> = HashMap::new();
        let mut last_nodes: Option<HashSet<String>> = None;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            self.probe_rooms();
            let rooms: Vec<Arc<Room>> = self.rooms().values().cloned().collect();
            let counts: Vec<(i64, usize)> = rooms.iter().map(|r| (r.event_id, r.viewers())).collect();
            // Without Redis each node shows its own count until it is back.
            let totals: Vec<usize> = match bus.presence(&counts).await {
                Some(view) => {
                    // A node that stopped stamping itself (killed) may have
                    // taken unpublished staff or private frames with it.
                    let gone = last_nodes
                        .as_ref()
                        .is_some_and(|before| before.iter().any(|n| !view.nodes.contains(n)));
                    if gone {
                        tracing::info!(nodes = view.nodes.len(), "a node left the cluster; resyncing the rooms");
                        self.resync_rooms(Utc::now() - bus::CLOCK_MARGIN);
                    }
                    last_nodes = Some(view.nodes);
                    view.viewers
                }
                None => counts.iter().map(|(_, n)| *n).collect(),
            };
            last_totals.retain(|id, _| rooms.iter().any(|r| r.event_id == *id));
            for (room, total) in rooms.iter().zip(totals) {
                if last_totals.insert(room.event_id, total) != Some(total) {
                    room.broadcast_viewers(total);
                }
            }
        }
    }

    /// Every 2 s: each room reads the bans issued since its newest, so a
    /// ban from another node holds here even if its bus message was lost
    /// (Redis restarted): a banned viewer cannot stay on, or come back
    /// through, another node.
    async fn run_ban_checks(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let rooms: Vec<Arc<Room>> = self.rooms().values().cloned().collect();
            for room in rooms {
                match self.store.bans_after(room.event_id, room.last_ban_id()).await {
                    Ok(bans) => {
                        let kicked = room.learn_bans(&bans);
                        if kicked > 0 {
                            tracing::info!(event_id = room.event_id, kicked, "ban from another node applied");
                        }
                    }
                    Err(e) => tracing::warn!(event_id = room.event_id, error = %e, "bans not re-read; retried in 2 s"),
                }
            }
        }
    }

    /// Every loaded room reads the log past its seq once.
    pub fn probe_rooms(&self) {
        let rooms: Vec<Arc<Room>> = self.rooms().values().cloned().collect();
        for room in rooms {
            room.probe();
        }
    }

    /// The room's fill task: woken when a change is missing, it reads the
    /// range from the room log and hands it in (one fill in flight per room;
    /// wake-ups meanwhile coalesce). It ends with the room.
    fn spawn_fill(&self, room: &Arc<Room>) {
        let weak = Arc::downgrade(room);
        let wake = room.fill_signal();
        let store = self.store.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = wake.notified() => {}
                }
                let Some(room) = weak.upgrade() else { break };
                while let Some((after, up_to)) = room.fill_range() {
                    match store.room_log(room.event_id, after, up_to).await {
                        Ok(changes) => {
                            let before = room.seq();
                            room.filled(&changes);
                            if room.seq() == before {
                                break; // Not in the log yet: the next wake-up or check retries.
                            }
                        }
                        Err(e) => {
                            tracing::warn!(event_id = room.event_id, error = %e, "room fill failed; retried on the next check");
                            break;
                        }
                    }
                }
            }
        });
    }

    /// An event went live or ended (HTTP): log it in the room.
    pub async fn event_status_changed(&self, event_id: i64, status: EventStatus) {
        let sink = self.sink(event_id, self.rooms().get(&event_id).cloned());
        if let Err(e) = self
            .writer
            .submit(Command::EventStatus { event_id, status }, sink)
            .await
        {
            tracing::warn!(event_id, error = %e, "event status not logged in the room");
        }
    }

    pub fn room_count(&self) -> usize {
        self.rooms().len()
    }

    pub fn connection_count(&self) -> usize {
        self.rooms().values().map(|r| r.connections()).sum()
    }

    /// Presence every 2 s, word-list changes every 5 s, limiter cleanup every minute.
    fn spawn_housekeeping(&self) {
        let hub = self.clone();
        let shutdown = self.shutdown.clone();
        let every = Duration::from_millis(self.settings.tally_interval_ms.max(10));
        // Everything else runs on multiples of the tally tick.
        let ticks = |d: Duration| (d.as_millis() / every.as_millis()).max(1) as u64;
        let (presence, words, limits) = (
            ticks(Duration::from_secs(2)),
            ticks(Duration::from_secs(5)),
            ticks(Duration::from_secs(60)),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_counts: HashMap<i64, usize> = HashMap::new();
            let mut n: u64 = 0;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                n += 1;
                let rooms: Vec<Arc<Room>> = hub.rooms().values().cloned().collect();
                for room in &rooms {
                    hub.flush_tallies(room);
                }
                // In a cluster, presence is the cluster's (see `run_cluster_checks`).
                if n % presence == 0 && hub.bus.is_none() {
                    last_counts.retain(|id, _| rooms.iter().any(|r| r.event_id == *id));
                    for room in &rooms {
                        let viewers = room.viewers();
                        if last_counts.insert(room.event_id, viewers) != Some(viewers) {
                            room.broadcast_presence();
                        }
                    }
                }
                if n % words == 0 {
                    hub.screen.reload_if_changed();
                }
                if n % limits == 0 {
                    hub.limits.shrink();
                }
            }
        });
    }

    /// Live tallies are coalesced: a poll with new votes gets one tally,
    /// counted from the store, at most once per interval — never one message
    /// per vote, and never two back to back when a commit is slow.
    fn flush_tallies(&self, room: &Arc<Room>) {
        let every = Duration::from_millis(self.settings.tally_interval_ms.max(10));
        for (poll_id, last_sent) in room.take_dirty_polls() {
            let hub = self.clone();
            let room = room.clone();
            tokio::spawn(async move {
                if let Some(next) = last_sent.map(|at| at + every) {
                    tokio::time::sleep_until(next.into()).await;
                }
                // In a cluster one node sends each interval's tally (of everybody's votes).
                if let Some(bus) = &hub.bus
                    && !bus.claim_tally(poll_id, every).await
                {
                    room.tally_finished(poll_id, false);
                    return;
                }
                let sink = hub.sink(room.event_id, Some(room.clone()));
                let command = Command::PollTally {
                    event_id: room.event_id,
                    poll_id,
                };
                let sent = match hub.writer.submit(command, sink).await {
                    Ok(Outcome::Tally {
                        tally: Some(tally),
                        public: false,
                        ..
                    }) => {
                        let frame = ServerMsg::PollAdmin {
                            poll: None,
                            poll_id,
                            tally: Some(&tally),
                        };
                        hub.tell_staff(&room, protocol::encode(&frame));
                        true
                    }
                    Ok(_) => true,
                    Err(e) => {
                        tracing::warn!(poll_id, error = %e, "tally not sent; retrying on the next tick");
                        false
                    }
                };
                room.tally_finished(poll_id, sent);
            });
        }
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

/// A sink that hands changes to the room here and wakes the other nodes.
struct Announced {
    event_id: i64,
    room: Option<Arc<Room>>,
    bus: Arc<Bus>,
}

impl ChangeSink for Announced {
    fn committed(&self, seq: i64, change: &RoomChange) {
        if let Some(room) = &self.room {
            room.committed(seq, change);
        }
        self.bus.publish(self.event_id, Body::Seq { seq });
    }
}
