//! Who is in a room: its connections, the viewers watching (and the address
//! each joined from), bans, slow mode, and the private frames sent to them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;

use chrono::Utc;

use super::bans::{Bans, Term};
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

    /// The ban that holds now for this viewer key or address, if any.
    pub fn ban_of(&self, viewer: Option<&ViewerKey>, ip: &str) -> Option<Term> {
        self.inner().bans.find(viewer, ip, Utc::now()).cloned()
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
    pub fn ban(&self, viewer: Option<&ViewerKey>, ip: Option<&str>, term: &Term) -> usize {
        self.inner().bans.record(viewer.map(|v| v.0.as_str()), ip, term);
        self.cut_off(viewer, ip, term)
    }

    /// Close the connections of a banned viewer key or address here.
    fn cut_off(&self, viewer: Option<&ViewerKey>, ip: Option<&str>, term: &Term) -> usize {
        let conns = self.conns();
        let mut kicked = 0;
        for entry in conns.values().filter(|e| !e.staff) {
            let hit = viewer.is_some_and(|v| entry.viewer.as_ref() == Some(v)) || ip.is_some_and(|ip| entry.ip == ip);
            if hit {
                kicked += 1;
                let kick = Private::Kick {
                    code: ErrorCode::Banned,
                    frame: term.frame(),
                };
                send_private(entry, kick);
            }
        }
        kicked
    }

    /// The bans in force as the store has them (issued or lifted on any
    /// node): they replace this room's, and those not in force here yet cut
    /// their viewers off. Returns how many connections were cut.
    pub fn set_bans(&self, records: &[BanRecord]) -> usize {
        let now = Utc::now();
        let fresh: Vec<&BanRecord> = {
            let mut inner = self.inner();
            let fresh = records.iter().filter(|b| !inner.bans.covers(b, now)).collect();
            inner.bans = Bans::from_records(records);
            fresh
        };
        fresh
            .into_iter()
            .map(|ban| {
                let term = Term {
                    reason: ban.reason.clone(),
                    until: ban.expires_at,
                };
                let viewer = ban.viewer_key.clone().map(ViewerKey);
                self.cut_off(viewer.as_ref(), ban.ip.as_deref(), &term)
            })
            .sum()
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
}
