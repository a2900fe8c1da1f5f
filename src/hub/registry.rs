//! The room registry: a room per event, created on the first join (loaded
//! from the store) and dropped with its last membership.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Hub;
use super::fill::spawn_fill;
use super::publish::spawn_publisher;
use super::room::Room;
use crate::domain::event::EventStatus;
use crate::domain::ids::EventId;
use crate::store::StoreError;

/// Why a connection cannot join a room.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("there is no event {0}")]
    UnknownEvent(EventId),
    #[error("the event is {0}: it has no live room")]
    Unavailable(&'static str),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The rooms loaded on this node.
#[derive(Default)]
pub struct Rooms {
    map: Mutex<HashMap<EventId, Arc<Room>>>,
    /// Joiners of a room that is still loading wait here.
    loading: tokio::sync::Mutex<()>,
}

/// A connection's place in a room; leaving happens on drop, on every path.
pub struct Membership {
    rooms: Arc<Rooms>,
    pub room: Arc<Room>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.rooms.leave(&self.room);
    }
}

impl Rooms {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, Arc<Room>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, event_id: EventId) -> Option<Arc<Room>> {
        self.map().get(&event_id).cloned()
    }

    /// Every loaded room, as of now (the registry is not held meanwhile).
    pub fn all(&self) -> Vec<Arc<Room>> {
        self.map().values().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.map().len()
    }

    pub fn connections(&self) -> usize {
        self.map().values().map(|r| r.connections()).sum()
    }

    /// Count a member in, under the registry lock (so a room is never dropped
    /// between being found and being joined).
    fn enter(self: &Arc<Self>, event_id: EventId) -> Option<Membership> {
        let map = self.map();
        let room = map.get(&event_id)?.clone();
        room.members.fetch_add(1, Ordering::Relaxed);
        Some(Membership {
            rooms: self.clone(),
            room,
        })
    }

    /// Register a new room with its first member.
    fn insert(self: &Arc<Self>, room: Arc<Room>) -> Membership {
        room.members.fetch_add(1, Ordering::Relaxed);
        self.map().insert(room.event_id, room.clone());
        Membership {
            rooms: self.clone(),
            room,
        }
    }

    /// A member left; a room without members is dropped (it reloads on the next join).
    fn leave(&self, room: &Arc<Room>) {
        let mut map = self.map();
        if room.members.fetch_sub(1, Ordering::Relaxed) == 1
            && map.get(&room.event_id).is_some_and(|r| Arc::ptr_eq(r, room))
        {
            map.remove(&room.event_id);
        }
    }
}

impl Hub {
    /// Membership of the room of `event_id`, loaded from the store on first
    /// use. The room stays registered while any membership is alive, so
    /// everybody in an event shares one room.
    pub async fn join(&self, event_id: EventId) -> Result<Membership, JoinError> {
        if let Some(membership) = self.rooms.enter(event_id) {
            if membership.room.is_loaded() {
                return Ok(membership);
            }
            // Still loading: the loader holds `loading` until it is done.
            drop(self.rooms.loading.lock().await);
            if membership.room.is_loaded() {
                return Ok(membership);
            }
            return Err(JoinError::Store(StoreError::Conflict(
                "the room could not be loaded".into(),
            )));
        }
        // Loading is rare (first join of a room): one at a time keeps two
        // joiners from loading the same room twice.
        let _loading = self.rooms.loading.lock().await;
        if let Some(membership) = self.rooms.enter(event_id) {
            return Ok(membership);
        }
        self.load(event_id).await
    }

    /// Create, register and load the room of `event_id` (under `loading`).
    async fn load(&self, event_id: EventId) -> Result<Membership, JoinError> {
        let event = match self.store.event(event_id).await {
            Ok(e) => e,
            Err(StoreError::NotFound(_)) => return Err(JoinError::UnknownEvent(event_id)),
            Err(e) => return Err(e.into()),
        };
        if matches!(event.status, EventStatus::Draft | EventStatus::Cancelled) {
            return Err(JoinError::Unavailable(event.status.as_str()));
        }
        let room = Arc::new(
            Room::new(
                event_id,
                event.status,
                self.settings.outbound_queue,
                self.settings.ring_capacity,
            )
            .with_identity(event.about.identity_mode),
        );
        // Registered before loading: changes committed meanwhile queue in the room.
        let membership = self.rooms.insert(room);
        spawn_fill(&membership.room, self.store.clone(), self.shutdown.clone());
        let tick = Duration::from_millis(self.settings.publish_tick_ms);
        spawn_publisher(&membership.room, tick, self.shutdown.clone());
        match self.store.load_room(event_id).await {
            Ok(state) => {
                membership.room.load(state);
                Ok(membership)
            }
            Err(e) => {
                self.rooms.map().remove(&event_id);
                Err(e.into())
            }
        }
    }

    pub fn room_count(&self) -> usize {
        self.rooms.count()
    }

    pub fn connection_count(&self) -> usize {
        self.rooms.connections()
    }
}
