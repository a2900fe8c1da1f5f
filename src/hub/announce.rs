//! What the hub tells a room here and, in a cluster, the other nodes too
//! (hub → bus, one way): committed changes, staff frames, private frames to
//! an author, bans.

use crate::hub::room::Term;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;

use super::Hub;
use super::bus::{Body, Bus};
use super::room::Room;
use crate::domain::event::EventStatus;
use crate::domain::ids::{EventId, StaffId};
use crate::domain::question::{RoomChange, ViewerKey};
use crate::store::live::QuestionRecord;
use crate::store::writer::{ChangeSink, Command, Outcome, UpdateCommand, WriteError};

/// A sink that hands changes to the room here and wakes the other nodes.
struct Announced {
    event_id: EventId,
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

impl Hub {
    /// What the writer hands a room's committed changes to: the room here,
    /// and in a cluster a wake-up for the other nodes (even when no room of
    /// the event is loaded here).
    pub fn sink(&self, event_id: EventId, room: Option<Arc<Room>>) -> Option<Arc<dyn ChangeSink>> {
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
        term: &Term,
        address_by: Option<StaffId>,
    ) -> usize {
        if let Some(bus) = &self.bus {
            bus.publish(
                room.event_id,
                Body::Ban {
                    viewer: viewer.map(|v| v.0.clone()),
                    ip: ip.map(str::to_owned),
                    reason: term.reason.clone(),
                    until: term.until,
                    address_by,
                },
            );
        }
        room.ban(viewer, ip, term)
    }

    /// An event went live or ended (HTTP): log it in the room.
    pub async fn event_status_changed(&self, event_id: EventId, status: EventStatus) {
        let sink = self.sink(event_id, self.rooms.get(event_id));
        if let Err(e) = self
            .writer
            .submit(Command::EventStatus { event_id, status }, sink)
            .await
        {
            tracing::warn!(event_id = event_id.0, error = %e, "event status not logged in the room");
        }
    }

    /// A step on the text feed (HTTP), committed and logged in the room
    /// here and, in a cluster, on every node.
    pub async fn text_feed(&self, event_id: EventId, command: UpdateCommand) -> Result<Outcome, WriteError> {
        let sink = self.sink(event_id, self.rooms.get(event_id));
        self.writer.submit(Command::Update(command), sink).await
    }
}
