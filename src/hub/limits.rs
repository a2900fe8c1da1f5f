//! Rate limits on posting, with governor: per viewer, per address, per room.
//! Slow mode (per room, per viewer) sits on top, in the room.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::LiveSettings;
use crate::domain::question::ViewerKey;

pub struct Limits {
    viewer_asks: DefaultKeyedRateLimiter<ViewerKey>,
    ip_asks: DefaultKeyedRateLimiter<IpAddr>,
    room_asks: DefaultKeyedRateLimiter<i64>,
    viewer_upvotes: DefaultKeyedRateLimiter<ViewerKey>,
    frames_per_sec: NonZeroU32,
    clock: DefaultClock,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// Which limit said no, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: &'static str,
    pub retry_after: Duration,
}

impl Limits {
    pub fn new(s: &LiveSettings) -> Self {
        Self {
            viewer_asks: RateLimiter::keyed(Quota::per_minute(nz(s.asks_per_viewer_per_min))),
            ip_asks: RateLimiter::keyed(Quota::per_minute(nz(s.asks_per_ip_per_min))),
            room_asks: RateLimiter::keyed(Quota::per_second(nz(s.asks_per_room_per_sec))),
            viewer_upvotes: RateLimiter::keyed(Quota::per_minute(nz(s.upvotes_per_viewer_per_min))),
            frames_per_sec: nz(s.frames_per_conn_per_sec),
            clock: DefaultClock::default(),
        }
    }

    fn wait<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
        scope: &'static str,
    ) -> Result<(), Limited> {
        limiter.check_key(key).map_err(|not_until| Limited {
            scope,
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    pub fn ask(&self, viewer: &ViewerKey, ip: IpAddr, room: i64) -> Result<(), Limited> {
        self.wait(&self.viewer_asks, viewer, "viewer")?;
        self.wait(&self.ip_asks, &ip, "address")?;
        self.wait(&self.room_asks, &room, "room")
    }

    pub fn upvote(&self, viewer: &ViewerKey) -> Result<(), Limited> {
        self.wait(&self.viewer_upvotes, viewer, "viewer")
    }

    /// A limiter for the frames of one connection (flood protection).
    pub fn connection(&self) -> DefaultDirectRateLimiter {
        let burst = self.frames_per_sec.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        RateLimiter::direct(Quota::per_second(self.frames_per_sec).allow_burst(burst))
    }

    pub fn frame_wait(&self, limiter: &DefaultDirectRateLimiter) -> Result<(), Limited> {
        limiter.check().map_err(|not_until| Limited {
            scope: "connection",
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// Forget keys that are back at full quota (bounded memory).
    pub fn shrink(&self) {
        self.viewer_asks.retain_recent();
        self.ip_asks.retain_recent();
        self.room_asks.retain_recent();
        self.viewer_upvotes.retain_recent();
        self.viewer_asks.shrink_to_fit();
        self.ip_asks.shrink_to_fit();
        self.viewer_upvotes.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_viewer_limit_says_how_long_to_wait() {
        let limits = Limits::new(&LiveSettings {
            asks_per_viewer_per_min: 2,
            ..LiveSettings::default()
        });
        let v = ViewerKey("0123456789abcdef".into());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limits.ask(&v, ip, 1).is_ok());
        assert!(limits.ask(&v, ip, 1).is_ok());
        let limited = limits.ask(&v, ip, 1).unwrap_err();
        assert_eq!(limited.scope, "viewer");
        assert!(limited.retry_after > Duration::from_secs(1) && limited.retry_after <= Duration::from_secs(30));
        let other = ViewerKey("fedcba9876543210".into());
        assert!(limits.ask(&other, ip, 1).is_ok());
    }
}
