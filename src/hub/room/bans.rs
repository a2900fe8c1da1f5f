//! The bans that hold in a room: viewer keys and addresses, each with its
//! reason and the end of its term (none: the rest of the event). The store
//! keeps them (`bans`); a room holds the ones in force, re-read from the
//! store when one is lifted and, in a cluster, every few seconds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::super::protocol::{BanNotice, ServerMsg, encode};
use crate::domain::error_code::ErrorCode;
use crate::domain::question::ViewerKey;
use crate::domain::time::shanghai;
use crate::store::live::BanRecord;

/// Why and until when someone is banned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub reason: String,
    /// `None`: until the event ends.
    pub until: Option<DateTime<Utc>>,
}

impl Term {
    /// Whether the ban still holds at `now`.
    fn holds(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    /// Of two bans of the same key, the one that lasts longer.
    fn longer(self, other: Term) -> Term {
        match (self.until, other.until) {
            (None, _) => self,
            (_, None) => other,
            (Some(a), Some(b)) if a >= b => self,
            _ => other,
        }
    }

    /// The `banned` error the banned viewer gets: the reason and the end of
    /// the ban, in words and as fields.
    pub fn frame(&self) -> String {
        encode(&ServerMsg::Error {
            reference: None,
            code: ErrorCode::Banned,
            message: &self.message(),
            retry_after_ms: None,
            ban: Some(BanNotice {
                reason: &self.reason,
                until: self.until,
            }),
        })
    }

    /// What the banned viewer is told: why, and until when (Beijing time).
    pub fn message(&self) -> String {
        match self.until {
            Some(until) => format!(
                "you are banned from this event until {} (Beijing time): {}",
                until.with_timezone(&shanghai()).format("%Y-%m-%d %H:%M"),
                self.reason
            ),
            None => format!("you are banned from this event until it ends: {}", self.reason),
        }
    }
}

#[derive(Debug, Default)]
pub struct Bans {
    viewers: HashMap<String, Term>,
    ips: HashMap<String, Term>,
}

impl Bans {
    /// The bans of `records` (those in force, as the store reads them).
    pub fn from_records(records: &[BanRecord]) -> Self {
        let mut bans = Self::default();
        for ban in records {
            let term = Term {
                reason: ban.reason.clone(),
                until: ban.expires_at,
            };
            bans.record(ban.viewer_key.as_deref(), ban.ip.as_deref(), &term);
        }
        bans
    }

    /// The ban that holds at `now` for this viewer key or address, if any.
    pub fn find(&self, viewer: Option<&ViewerKey>, ip: &str, now: DateTime<Utc>) -> Option<&Term> {
        let by_key = viewer.and_then(|v| holding(&self.viewers, &v.0, now));
        by_key.or_else(|| holding(&self.ips, ip, now))
    }

    pub fn record(&mut self, viewer: Option<&str>, ip: Option<&str>, term: &Term) {
        for (map, key) in [(&mut self.viewers, viewer), (&mut self.ips, ip)] {
            if let Some(key) = key {
                let term = match map.remove(key) {
                    Some(known) => known.longer(term.clone()),
                    None => term.clone(),
                };
                map.insert(key.to_owned(), term);
            }
        }
    }

    /// Whether `ban` is already in force here (nobody new to cut off).
    pub fn covers(&self, ban: &BanRecord, now: DateTime<Utc>) -> bool {
        let by_key = ban
            .viewer_key
            .as_deref()
            .is_none_or(|k| holding(&self.viewers, k, now).is_some());
        let by_ip = ban.ip.as_deref().is_none_or(|ip| holding(&self.ips, ip, now).is_some());
        by_key && by_ip
    }
}

/// The ban of `key` in `bans` if it holds at `now`.
fn holding<'a>(bans: &'a HashMap<String, Term>, key: &str, now: DateTime<Utc>) -> Option<&'a Term> {
    bans.get(key).filter(|t| t.holds(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::StaffId;

    fn ban(viewer: &str, ip: Option<&str>, until: Option<DateTime<Utc>>) -> BanRecord {
        BanRecord {
            id: 1,
            viewer_key: Some(viewer.to_owned()),
            ip: ip.map(str::to_owned),
            reason: "刷屏".into(),
            expires_at: until,
            permanent: false,
            banned_by: StaffId(1),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_ban_holds_until_its_term_ends() {
        let now = Utc::now();
        let later = now + chrono::Duration::minutes(10);
        let bans = Bans::from_records(&[ban("v1", Some("1.2.3.4"), Some(later))]);
        let v1 = ViewerKey("v1".into());
        assert!(bans.find(Some(&v1), "9.9.9.9", now).is_some());
        assert!(bans.find(None, "1.2.3.4", now).is_some(), "the address too");
        assert!(bans.find(Some(&v1), "9.9.9.9", later).is_none(), "over at its end");
        let message = bans.find(Some(&v1), "", now).unwrap().message();
        assert!(message.contains("刷屏") && message.contains("until 20"), "{message}");
    }

    #[test]
    fn the_longer_of_two_bans_holds_and_a_known_ban_covers() {
        let now = Utc::now();
        let soon = Some(now + chrono::Duration::minutes(10));
        let mut bans = Bans::from_records(&[ban("v1", None, soon)]);
        assert!(bans.covers(&ban("v1", None, soon), now));
        assert!(
            !bans.covers(&ban("v1", Some("1.2.3.4"), soon), now),
            "the address is new"
        );
        bans.record(
            Some("v1"),
            None,
            &Term {
                reason: "再犯".into(),
                until: None,
            },
        );
        let v1 = ViewerKey("v1".into());
        let later = now + chrono::Duration::days(1);
        assert_eq!(bans.find(Some(&v1), "", later).map(|t| t.reason.as_str()), Some("再犯"));
        assert!(
            bans.find(Some(&v1), "", later)
                .unwrap()
                .message()
                .contains("until it ends")
        );
    }
}
