//! This node's side of the cluster: what it does with what the bus
//! receives from the other nodes ([`BusEvent`]s, consumed here; the bus never
//! calls into the hub), and its periodic checks against the log, the bans
//! and the cluster's presence.

use crate::hub::room::Term;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::Hub;
use super::bus::{self, Body, Bus, BusEvent};
use super::room::Room;
use crate::domain::ids::{EventId, StaffId};
use crate::domain::question::ViewerKey;
use crate::store::writer::Command;

/// Events from the bus waiting for the hub; past this the subscriber waits
/// (Redis holds the rest meanwhile).
pub const BUS_EVENTS: usize = 1024;

impl Hub {
    /// Hand what the bus receives to the rooms here, until shutdown or the bus ends.
    pub(super) async fn run_bus_events(self, mut events: mpsc::Receiver<BusEvent>) {
        loop {
            let event = tokio::select! {
                () = self.shutdown.cancelled() => break,
                event = events.recv() => event,
            };
            match event {
                None => break,
                Some(BusEvent::Subscribed { missed_since }) => {
                    // Every room checks the log for what it missed; after an
                    // outage, staff and authors re-read theirs.
                    self.probe_rooms();
                    if let Some(since) = missed_since {
                        self.resync_rooms(since);
                    }
                }
                Some(BusEvent::Message { event_id, body }) => self.on_bus(event_id, body),
            }
        }
    }

    /// A message from another node.
    fn on_bus(&self, event_id: EventId, body: Body) {
        let Some(room) = self.rooms.get(event_id) else {
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
                until,
                address_by,
            } => {
                let viewer = viewer.map(ViewerKey);
                let term = Term { reason, until };
                room.ban(viewer.as_ref(), ip.as_deref(), &term);
                if let (Some(staff_id), Some(viewer), None) = (address_by, &viewer, &ip) {
                    self.ban_seen_address(&room, viewer, term, staff_id);
                }
            }
            Body::Resync { since } => self.resync_room(&room, since),
        }
    }

    /// Another node banned `viewer` with their address, which it did not
    /// know: if the viewer joined here, ban the address they joined from, and
    /// record it (so it outlives this room and reaches every node's ban check).
    fn ban_seen_address(&self, room: &Arc<Room>, viewer: &ViewerKey, term: Term, staff_id: StaffId) {
        let Some(ip) = room.viewer_address(viewer) else { return };
        room.ban(None, Some(&ip), &term);
        let command = Command::Ban {
            event_id: room.event_id,
            viewer: Some(viewer.clone()),
            ip: Some(ip),
            reason: term.reason,
            until: term.until,
            permanent: false,
            staff_id,
        };
        let writer = self.writer.clone();
        let event_id = room.event_id;
        tokio::spawn(async move {
            if let Err(e) = writer.submit(command, None).await {
                tracing::warn!(event_id = event_id.0, error = %e, "the address of a banned viewer was not recorded");
            }
        });
    }

    /// Every loaded room re-reads what its staff and authors may have missed since `since`.
    pub fn resync_rooms(&self, since: DateTime<Utc>) {
        let rooms = self.rooms.all();
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
                    tracing::debug!(event_id = room.event_id.0, told, "authors sent their posts again");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(event_id = room.event_id.0, error = %e, "authors not resynced"),
            }
        });
    }

    /// Every 2 s: each room checks the log for changes it missed (lost
    /// wake-ups, a Redis outage), and shares its viewer count; viewers see
    /// the cluster's total. A node that stops stamping itself alive (killed,
    /// or cut off) may have taken staff or private frames with it: every
    /// room here resyncs.
    pub(super) async fn run_cluster_checks(self, bus: Arc<Bus>) {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_totals: HashMap<EventId, usize> = HashMap::new();
        let mut peaks: HashMap<EventId, usize> = HashMap::new();
        let mut last_nodes: Option<HashSet<String>> = None;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            self.probe_rooms();
            let rooms = self.rooms.all();
            let totals = self.cluster_presence(&bus, &rooms, &mut last_nodes).await;
            last_totals.retain(|id, _| rooms.iter().any(|r| r.event_id == *id));
            let counts: Vec<_> = rooms.iter().map(|r| r.event_id).zip(totals.iter().copied()).collect();
            self.record_peaks(&counts, &mut peaks);
            for (room, total) in rooms.iter().zip(totals) {
                if last_totals.insert(room.event_id, total) != Some(total) {
                    room.broadcast_viewers(total);
                }
            }
        }
    }

    /// Share the viewer counts of `rooms` and read the cluster's totals back
    /// (without Redis each node shows its own count until it is back). A node
    /// that stopped stamping itself since `last_nodes` (killed) may have taken
    /// unpublished staff or private frames with it: every room resyncs.
    async fn cluster_presence(
        &self,
        bus: &Bus,
        rooms: &[Arc<Room>],
        last_nodes: &mut Option<HashSet<String>>,
    ) -> Vec<usize> {
        let counts: Vec<(EventId, usize)> = rooms.iter().map(|r| (r.event_id, r.viewers())).collect();
        let Some(view) = bus.presence(&counts).await else {
            return counts.iter().map(|(_, n)| *n).collect();
        };
        let gone = last_nodes
            .as_ref()
            .is_some_and(|before| before.iter().any(|n| !view.nodes.contains(n)));
        if gone {
            tracing::info!(nodes = view.nodes.len(), "a node left the cluster; resyncing the rooms");
            self.resync_rooms(Utc::now() - bus::CLOCK_MARGIN);
        }
        *last_nodes = Some(view.nodes);
        view.viewers
    }

    /// Every 2 s: each room reads the bans issued since its newest, so a
    /// ban from another node holds here even if its bus message was lost
    /// (Redis restarted): a banned viewer cannot stay on, or come back
    /// through, another node.
    pub(super) async fn run_ban_checks(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            for room in self.rooms.all() {
                match self.store.active_bans(room.event_id).await {
                    Ok(bans) => {
                        let kicked = room.set_bans(&bans);
                        if kicked > 0 {
                            tracing::info!(event_id = room.event_id.0, kicked, "ban from another node applied");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(event_id = room.event_id.0, error = %e, "bans not re-read; retried in 2 s")
                    }
                }
            }
        }
    }
}
