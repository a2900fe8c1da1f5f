//! The publisher: one task drains the bus's outbox into Redis.

use crate::domain::ids::EventId;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::{Body, Bus, BusMsg, CONNECT_TIMEOUT, Outbox, RESYNC_RETRY};

impl Bus {
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
    pub async fn run_publisher(self: Arc<Self>, mut rx: Outbox) {
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
            let mut payloads = self.payloads(&mut batch);
            let owed: Vec<(EventId, DateTime<Utc>)> = self.owed().drain().collect();
            payloads
                .extend(owed.iter().map(|(event_id, since)| {
                    (*event_id, true, self.encode(*event_id, Body::Resync { since: *since }))
                }));
            if !payloads.is_empty() {
                self.publish_batch(&mut conn, &payloads, owed).await;
            }
        }
    }

    /// The batch's messages as payloads, each with its room and whether
    /// losing it needs a resync; a room's wake-ups collapse into the highest.
    fn payloads(&self, batch: &mut Vec<(EventId, Body)>) -> Vec<(EventId, bool, String)> {
        let mut highest: HashMap<EventId, i64> = HashMap::new();
        let mut payloads: Vec<(EventId, bool, String)> = Vec::with_capacity(batch.len());
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
        payloads
    }

    /// Publish the payloads (`owed`: the resyncs among them); what cannot be
    /// published is counted and owed again.
    async fn publish_batch(
        &self,
        conn: &mut Option<redis::aio::MultiplexedConnection>,
        payloads: &[(EventId, bool, String)],
        owed: Vec<(EventId, DateTime<Utc>)>,
    ) {
        if let Err(e) = self.send(conn, payloads).await {
            tracing::warn!(error = %e, dropped = payloads.len(), "bus: Redis unreachable; messages dropped, resync owed");
            self.dropped.fetch_add(payloads.len() as u64, Ordering::Relaxed);
            let now = Utc::now();
            for (event_id, resync, _) in payloads {
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

    /// Publish `payloads` in one pipeline; once more on a fresh connection if that fails.
    async fn send(
        &self,
        conn: &mut Option<redis::aio::MultiplexedConnection>,
        payloads: &[(EventId, bool, String)],
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

    fn encode(&self, event_id: EventId, body: Body) -> String {
        let msg = BusMsg {
            node: self.node.clone(),
            event_id,
            body,
        };
        serde_json::to_string(&msg).unwrap_or_default()
    }
}
