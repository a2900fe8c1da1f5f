//! What the nodes share through Redis besides messages: who is alive, each
//! room's viewers per node, and the slot of the next live tally.

use crate::domain::ids::{EventId, PollId};

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::{Bus, PRESENCE_TTL_SECS};

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

impl Bus {
    /// Whether this node may send the next live tally of `poll_id`: one node
    /// of the cluster per interval (`SET NX PX`), so viewers get at most one
    /// tally per interval however many nodes take votes. Every tally counts
    /// the stored votes of all nodes, so it does not matter which node sends
    /// it; a node that is refused keeps its poll marked and asks again on its
    /// next tick. Without Redis every node sends its own.
    pub async fn claim_tally(&self, poll_id: PollId, every: Duration) -> bool {
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

    fn presence_key(&self, event_id: EventId) -> String {
        format!("{}:presence:{event_id}", self.prefix)
    }

    /// Stamp this node alive, write its viewer count of each room, and read
    /// the cluster's back. The cluster and each room are hashes with a field
    /// per node; every field carries its own write time, so a dead node is
    /// gone after [`PRESENCE_TTL_SECS`] even while other nodes keep the hash
    /// alive.
    pub async fn presence(&self, counts: &[(EventId, usize)]) -> Option<ClusterView> {
        let now = chrono::Utc::now().timestamp();
        let mut pipe = redis::pipe();
        // Write this node's field of hash `key` (`count:time`), keep the
        // hash alive, and read it back.
        let mut stamp = |key: &str, count: usize| {
            pipe.cmd("HSET")
                .arg(key)
                .arg(&self.node)
                .arg(format!("{count}:{now}"))
                .ignore();
            pipe.cmd("EXPIRE").arg(key).arg(PRESENCE_TTL_SECS).ignore();
            pipe.cmd("HGETALL").arg(key);
        };
        stamp(&format!("{}:nodes", self.prefix), 0);
        for (event_id, viewers) in counts {
            stamp(&self.presence_key(*event_id), *viewers);
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
