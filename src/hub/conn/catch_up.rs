//! Bringing a client up to the room: the welcome, then a snapshot or exactly
//! the frames it missed, its own posts and (for staff) the moderation queue
//! and polls; and the same again after the bus between nodes was away.

use std::time::Duration;

use axum::extract::ws::WebSocket;

use super::{Ended, Session, Who, close, ended};
use crate::domain::poll::PollStatus;
use crate::domain::question::ViewerKey;
use crate::hub::protocol::{
    Capability, OwnQuestion, PROTOCOL_VERSION, PublicFrame, ServerMsg, StaffInfo, ViewerInfo, encode,
};
use crate::hub::room::{Snapshot, Start};
use crate::store::StoreError;

/// How long a resync (after the bus was away) may wait for the store.
const RESYNC_TIMEOUT: Duration = Duration::from_secs(5);

impl Session {
    async fn welcome(&self, ws: &mut WebSocket, seq: i64, start: &Start) -> Result<(), Ended> {
        let (viewer, staff) = match &self.who {
            Who::Viewer {
                token,
                key,
                nickname,
                verified,
            } => (
                Some(ViewerInfo {
                    token: token.expose(),
                    key: &key.0,
                    nickname: nickname.as_str(),
                    verified: verified.is_some(),
                    phone: verified.as_ref().map(|v| v.phone.as_str()),
                }),
                None,
            ),
            Who::Staff { staff, .. } => (
                None,
                Some(StaffInfo {
                    id: staff.id,
                    display_name: &staff.display_name,
                    role: staff.role.as_str(),
                }),
            ),
        };
        let start = if matches!(start, Start::Snapshot(_)) {
            "snapshot"
        } else {
            "replay"
        };
        let welcome = ServerMsg::Welcome {
            protocol: PROTOCOL_VERSION,
            event_id: self.room.event_id,
            capability: self.capability,
            identity: self.room.identity,
            viewer,
            staff,
            start,
            seq,
        };
        self.send(ws, encode(&welcome)).await
    }

    /// Bring the client to `seq`: the welcome, then a snapshot or exactly the frames it missed.
    pub(super) async fn catch_up(&self, ws: &mut WebSocket, start: Start, seq: i64) -> Result<(), Ended> {
        self.welcome(ws, seq, &start).await?;
        let resumed = !matches!(start, Start::Snapshot(_));
        match start {
            Start::Snapshot(s) => self.snapshot(ws, &s, seq).await?,
            Start::Ring(frames) => {
                for text in frames {
                    self.send(ws, text).await?;
                }
            }
            Start::Store { after, up_to } => {
                let log = self
                    .hub
                    .store
                    .room_log(self.room.event_id, after, up_to)
                    .await
                    .map_err(unavailable)?;
                for (seq, change) in &log {
                    self.send(ws, encode(&PublicFrame { seq: *seq, change })).await?;
                }
            }
        }
        if resumed && let Who::Viewer { key, .. } = &self.who {
            // Private `mine` frames are not in the room log: after a replay the
            // author gets each of their posts as it is now (a rejection or a
            // hide while they were away included).
            for frame in self.own_posts(key).await.map_err(unavailable)? {
                self.send(ws, frame).await?;
            }
        }
        if self.capability != Capability::Viewer {
            for frame in self.staff_frames().await.map_err(unavailable)? {
                self.send(ws, frame).await?;
            }
        }
        Ok(())
    }

    /// A fresh view of the room as of `seq`, with the viewer's own posts, upvotes and votes.
    async fn snapshot(&self, ws: &mut WebSocket, s: &Snapshot, seq: i64) -> Result<(), Ended> {
        let (mine, upvoted, votes) = match &self.who {
            Who::Viewer { key, .. } => {
                let store = &self.hub.store;
                let mine = store
                    .viewer_questions(self.room.event_id, key)
                    .await
                    .map_err(unavailable)?;
                let upvoted = store
                    .viewer_upvotes(self.room.event_id, key)
                    .await
                    .map_err(unavailable)?;
                let votes = store.viewer_votes(self.room.event_id, key).await.map_err(unavailable)?;
                (mine.iter().map(OwnQuestion::from).collect(), upvoted, votes)
            }
            Who::Staff { .. } => (Vec::new(), Vec::new(), Vec::new()),
        };
        let snapshot = ServerMsg::Snapshot {
            seq,
            status: s.status,
            viewers: self.room.viewers(),
            room: &s.room,
            mine: &mine,
            upvoted: &upvoted,
            my_votes: &votes,
        };
        self.send(ws, encode(&snapshot)).await
    }

    /// What to send again after the bus was away (it may have lost frames):
    /// staff get the queue and polls, a viewer their own posts, as at join. A
    /// store that does not answer in time costs the connection this resync
    /// only (`None`: nothing to send).
    pub(super) async fn resync_frames(&self) -> Option<Vec<String>> {
        let frames = async {
            match &self.who {
                Who::Staff { .. } => self.staff_frames().await,
                Who::Viewer { key, .. } => self.own_posts(key).await,
            }
        };
        match tokio::time::timeout(RESYNC_TIMEOUT, frames).await {
            Ok(Ok(frames)) => Some(frames),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "resync skipped: the store is unavailable");
                None
            }
            Err(_) => {
                tracing::warn!("resync skipped: the store did not answer in time");
                None
            }
        }
    }

    /// A `mine` frame for each of the viewer's posts, as it is now.
    async fn own_posts(&self, key: &ViewerKey) -> Result<Vec<String>, StoreError> {
        let mine = self.hub.store.viewer_questions(self.room.event_id, key).await?;
        Ok(mine
            .iter()
            .map(|question| {
                encode(&ServerMsg::Mine {
                    question: OwnQuestion::from(question),
                })
            })
            .collect())
    }

    /// What staff get after the snapshot or replay: the moderation queue, the
    /// polls and the tally of each open or closed poll.
    async fn staff_frames(&self) -> Result<Vec<String>, StoreError> {
        let store = &self.hub.store;
        let queue = store.moderation_queue(self.room.event_id, 200).await?;
        let polls = store.polls(self.room.event_id).await?;
        let authors = store.published_authors(self.room.event_id).await?;
        let reports = store.reported_posts(self.room.event_id, false).await?;
        let mut frames = vec![
            encode(&ServerMsg::Queue { questions: &queue }),
            encode(&ServerMsg::Authors { authors: &authors }),
            encode(&ServerMsg::Reports { reports: &reports }),
            encode(&ServerMsg::Polls { polls: &polls }),
        ];
        // Staff see every tally, "after close" ones too: send the current
        // counts now rather than at the next vote.
        for poll in polls.iter().filter(|p| p.status != PollStatus::Draft) {
            let tally = store.poll_tally(poll).await?;
            frames.push(encode(&ServerMsg::PollAdmin {
                poll: None,
                poll_id: poll.id,
                tally: Some(&tally),
            }));
        }
        Ok(frames)
    }
}

fn unavailable(e: StoreError) -> Ended {
    tracing::error!(error = %e, "store unavailable during join");
    ended(close::UNAVAILABLE, "store unavailable")
}
