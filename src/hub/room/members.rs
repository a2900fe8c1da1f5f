//! Who is in a room: its connections, the viewers watching (and the address
//! each joined from), bans, slow mode, and the private frames sent to them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;

use super::{ConnEntry, Private, Room};
use crate::domain::error_code::ErrorCode;
use crate::domain::question::ViewerKey;
use crate::store::live::{BanRecord, QuestionRecord};

/// Addresses of viewers who left that a room remembers for bans, at most.
const LEFT_REMEMBERED: usize = 4096;

/// The viewers of a room: each key's sockets here and the address it last
/// joined from; the keys that left lately, bounded, with theirs.
#[derive(Default)]
pub struct Watching {
    now: HashMap<ViewerKey, (usize, String)>,
    left: VecDeque<(ViewerKey, String)>,
}

impl Watching {
    fn joined(&mut self, viewer: &ViewerKey, ip: &str) {
        let entry = self.now.entry(viewer.clone()).or_insert((0, String::new()));
        entry.0 += 1;
        ip.clone_into(&mut entry.1);
    }

    fn left(&mut self, viewer: &ViewerKey) {
        let Some(entry) = self.now.get_mut(viewer) else { return };
        entry.0 -= 1;
        if entry.0 == 0 {
            let (_, ip) = self.now.remove(viewer).unwrap_or_default();
            if self.left.len() >= LEFT_REMEMBERED {
                self.left.pop_front();
            }
            self.left.push_back((viewer.clone(), ip));
        }
    }

    fn address(&self, viewer: &ViewerKey) -> Option<String> {
        self.now.get(viewer).map(|(_, ip)| ip.clone()).or_else(|| {
            self.left
                .iter()
                .rev()
                .find(|(v, _)| v == viewer)
                .map(|(_, ip)| ip.clone())
        })
    }
}

/// The viewer keys and addresses banned from a room.
#[derive(Default)]
pub struct Bans {
    viewers: HashSet<String>,
    ips: HashSet<String>,
    /// The newest ban read from the store (bans from other nodes are re-read past it).
    last_id: i64,
}

impl Bans {
    pub fn new(viewers: Vec<String>, ips: Vec<String>, last_id: i64) -> Self {
        Self {
            viewers: viewers.into_iter().collect(),
            ips: ips.into_iter().collect(),
            last_id,
        }
    }

    pub fn is_banned(&self, viewer: Option<&ViewerKey>, ip: &str) -> bool {
        viewer.is_some_and(|v| self.viewers.contains(&v.0)) || self.ips.contains(ip)
    }

    pub fn record(&mut self, viewer: Option<&ViewerKey>, ip: Option<&str>) {
        if let Some(v) = viewer {
            self.viewers.insert(v.0.clone());
        }
        if let Some(ip) = ip {
            self.ips.insert(ip.to_owned());
        }
    }

    /// A ban read from the store: `None` when it was read before, else
    /// whether it bans someone not banned here yet (and must cut them off).
    pub fn learn(&mut self, ban: &BanRecord) -> Option<bool> {
        if ban.id <= self.last_id {
            return None;
        }
        self.last_id = ban.id;
        let known = ban.viewer_key.as_ref().is_none_or(|v| self.viewers.contains(v))
            && ban.ip.as_ref().is_none_or(|ip| self.ips.contains(ip));
        Some(!known)
    }
}

/// Slow mode: may a viewer who last posted at `last` post at `now`, with
/// posts `gap` apart? `Err(wait)` while they must wait.
pub fn may_post(gap: Duration, last: Option<Instant>, now: Instant) -> Result<(), Duration> {
    match last.map(|last| now.duration_since(last)) {
        Some(since) if since < gap => Err(gap - since),
        _ => Ok(()),
    }
}

impl Room {
    pub fn register(&self, id: u64, entry: ConnEntry) {
        if let (false, Some(viewer)) = (entry.staff, &entry.viewer) {
            let mut watching = self.watching();
            watching.joined(viewer, &entry.ip);
            self.viewers.store(watching.now.len(), Ordering::Relaxed);
        }
        self.conns().insert(id, entry);
    }

    /// Remove a connection; returns how many remain.
    pub fn unregister(&self, id: u64) -> usize {
        let mut conns = self.conns();
        let entry = conns.remove(&id);
        let remaining = conns.len();
        drop(conns);
        if let Some(ConnEntry {
            staff: false,
            viewer: Some(viewer),
            ..
        }) = &entry
        {
            let mut watching = self.watching();
            watching.left(viewer);
            self.viewers.store(watching.now.len(), Ordering::Relaxed);
        }
        remaining
    }

    /// The address `viewer` joined this room from (here, now or lately).
    pub fn viewer_address(&self, viewer: &ViewerKey) -> Option<String> {
        self.watching().address(viewer)
    }

    pub fn connections(&self) -> usize {
        self.conns().len()
    }

    /// Viewers watching here: distinct viewer keys, not sockets (one client
    /// opening many sockets counts once).
    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Relaxed)
    }

    pub fn is_banned(&self, viewer: Option<&ViewerKey>, ip: &str) -> bool {
        self.inner().bans.is_banned(viewer, ip)
    }

    /// Slow mode: `Err(wait)` while the viewer must wait; records the post otherwise.
    pub fn slow_mode_check(&self, viewer: &ViewerKey) -> Result<(), Duration> {
        let mut inner = self.inner();
        let gap = Duration::from_secs(u64::from(inner.view.slow_mode_secs));
        if gap.is_zero() {
            return Ok(());
        }
        let now = Instant::now();
        may_post(gap, inner.last_post.get(viewer).copied(), now)?;
        inner.last_post.insert(viewer.clone(), now);
        Ok(())
    }

    /// Record a ban and close the banned viewer's connections here.
    pub fn ban(&self, viewer: Option<&ViewerKey>, ip: Option<&str>, reason: &str) -> usize {
        self.inner().bans.record(viewer, ip);
        let conns = self.conns();
        let mut kicked = 0;
        for entry in conns.values().filter(|e| !e.staff) {
            let hit = viewer.is_some_and(|v| entry.viewer.as_ref() == Some(v)) || ip.is_some_and(|ip| entry.ip == ip);
            if hit {
                kicked += 1;
                let kick = Private::Kick {
                    code: ErrorCode::Banned,
                    reason: format!("you are banned from this event: {reason}"),
                };
                send_private(entry, kick);
            }
        }
        kicked
    }

    /// The newest ban this room knows from the store.
    pub fn last_ban_id(&self) -> i64 {
        self.inner().bans.last_id
    }

    /// Bans read from the store (issued on any node): the ones not known
    /// yet are recorded and cut their viewers off here. Returns how many
    /// connections were cut.
    pub fn learn_bans(&self, bans: &[BanRecord]) -> usize {
        let mut kicked = 0;
        for ban in bans {
            let new = self.inner().bans.learn(ban);
            if new == Some(true) {
                let viewer = ban.viewer_key.clone().map(ViewerKey);
                kicked += self.ban(viewer.as_ref(), ban.ip.as_deref(), &ban.reason);
            }
        }
        kicked
    }

    /// Tell the author of `question` (on every connection they have here).
    pub fn tell_author(&self, question: &QuestionRecord) {
        self.tell_viewer(&question.viewer_key, Utf8Bytes::from(Self::author_frame(question)));
    }

    /// A private frame to every connection of `viewer` here.
    pub fn tell_viewer(&self, viewer: &ViewerKey, text: Utf8Bytes) {
        for entry in self.conns().values().filter(|e| e.viewer.as_ref() == Some(viewer)) {
            send_private(entry, Private::Frame(text.clone()));
        }
    }

    /// Every connection of these viewers here is sent their posts again; how many.
    pub fn resync_viewers(&self, viewers: &HashSet<String>) -> usize {
        let mut told = 0;
        for entry in self.conns().values() {
            if entry.viewer.as_ref().is_some_and(|v| viewers.contains(&v.0)) {
                told += 1;
                send_private(entry, Private::Resync);
            }
        }
        told
    }
}

/// A full private queue means the client stopped reading: the queue remembers
/// it, and the connection is cut off (it resumes).
fn send_private(entry: &ConnEntry, message: Private) {
    let _ = entry.private.try_send(Box::new(message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_mode_makes_a_viewer_wait_out_the_gap() {
        let gap = Duration::from_secs(10);
        let now = Instant::now();
        assert_eq!(may_post(gap, None, now), Ok(()));
        let later = now + Duration::from_secs(4);
        assert_eq!(may_post(gap, Some(now), later), Err(Duration::from_secs(6)));
        assert_eq!(may_post(gap, Some(now), now + gap), Ok(()));
    }

    #[test]
    fn a_ban_read_again_is_ignored_and_a_known_one_cuts_nobody() {
        let mut bans = Bans::new(vec!["v1".into()], vec![], 3);
        let ban = |id, viewer: &str| BanRecord {
            id,
            viewer_key: Some(viewer.to_owned()),
            ip: None,
            reason: "spam".into(),
        };
        assert_eq!(bans.learn(&ban(3, "v2")), None, "read before");
        assert_eq!(bans.learn(&ban(4, "v1")), Some(false), "already banned here");
        assert_eq!(bans.learn(&ban(5, "v2")), Some(true));
        assert!(
            !bans.is_banned(Some(&ViewerKey("v2".into())), "1.2.3.4"),
            "learn does not record"
        );
        bans.record(Some(&ViewerKey("v2".into())), Some("1.2.3.4"));
        assert!(bans.is_banned(None, "1.2.3.4"));
    }
}
