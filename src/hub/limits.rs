//! Rate limits on posting: per viewer, per address, per room; and slow mode.
//!
//! Every node checks its own governor limiters first: no round trip, and
//! still warm when Redis goes away. In a cluster the same quotas are then
//! checked in Redis by one script ([`SHARED_CHECK`]: GCRA, the algorithm
//! governor uses, on Redis's clock), together with the room's slow mode, so a
//! viewer connected to several nodes has one quota, not one per node. When
//! Redis does not answer in time ([`super::redis_link`]) the node goes on
//! with its own limits alone (per node, not per cluster) and tries Redis
//! again a second later: a Redis outage never stops the questions.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::redis_link::RedisLink;
use crate::config::{ClusterSettings, LiveSettings};
use crate::domain::ids::EventId;
use crate::domain::question::ViewerKey;

/// The shared check, run atomically in Redis. KEYS: `n` GCRA keys, then the
/// slow-mode key. ARGV: `n`, then per key its emission interval and burst
/// (ms, count), then the slow-mode gap in ms (0: off). Returns `{0, 0}` when
/// allowed (and then records the post everywhere), or `{i, wait_ms}` naming
/// the first key that refuses (`n + 1`: slow mode) and how long to wait.
const SHARED_CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local tats = {}
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - burst * interval
  if allow_at > now then return {i, allow_at - now} end
  tats[i] = new_tat
end
local gap = tonumber(ARGV[2 * n + 2])
if gap > 0 then
  local left = redis.call('PTTL', KEYS[n + 1])
  if left > 0 then return {n + 1, left} end
end
for i = 1, n do
  redis.call('SET', KEYS[i], tats[i], 'PX', tats[i] - now)
end
if gap > 0 then redis.call('SET', KEYS[n + 1], 1, 'PX', gap) end
return {0, 0}
";

/// Which limit said no: a quota (per viewer, address, room or connection), or
/// the room's slow mode, which is told to the client by its own error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Viewer,
    Address,
    Room,
    Connection,
    SlowMode,
}

impl Scope {
    /// As the message of a `rate_limited` error names it (`viewer limit`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Viewer => "viewer",
            Scope::Address => "address",
            Scope::Room => "room",
            Scope::Connection => "connection",
            Scope::SlowMode => "slow_mode",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A quota as GCRA sees it: one use per `interval`, up to `burst` at once.
#[derive(Debug, Clone, Copy)]
struct Rate {
    interval_ms: u64,
    burst: u32,
}

impl Rate {
    fn per(period: Duration, n: u32) -> Self {
        let n = n.max(1);
        Self {
            interval_ms: (period.as_millis() as u64 / u64::from(n)).max(1),
            burst: n,
        }
    }
}

pub struct Limits {
    viewer_asks: DefaultKeyedRateLimiter<ViewerKey>,
    ip_asks: DefaultKeyedRateLimiter<IpAddr>,
    room_asks: DefaultKeyedRateLimiter<EventId>,
    viewer_upvotes: DefaultKeyedRateLimiter<ViewerKey>,
    frames_per_sec: NonZeroU32,
    clock: DefaultClock,
    rates: Rates,
    /// The cluster's shared limits; `None` when this node runs alone.
    shared: Option<Shared>,
}

#[derive(Debug, Clone, Copy)]
struct Rates {
    viewer_asks: Rate,
    ip_asks: Rate,
    room_asks: Rate,
    viewer_upvotes: Rate,
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// Which limit said no, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub retry_after: Duration,
}

impl Limits {
    pub fn new(s: &LiveSettings) -> anyhow::Result<Self> {
        let shared = s.cluster.as_ref().map(Shared::new).transpose()?;
        Ok(Self {
            viewer_asks: RateLimiter::keyed(Quota::per_minute(nz(s.asks_per_viewer_per_min))),
            ip_asks: RateLimiter::keyed(Quota::per_minute(nz(s.asks_per_ip_per_min))),
            room_asks: RateLimiter::keyed(Quota::per_second(nz(s.asks_per_room_per_sec))),
            viewer_upvotes: RateLimiter::keyed(Quota::per_minute(nz(s.upvotes_per_viewer_per_min))),
            frames_per_sec: nz(s.frames_per_conn_per_sec),
            clock: DefaultClock::default(),
            rates: Rates {
                viewer_asks: Rate::per(Duration::from_secs(60), s.asks_per_viewer_per_min),
                ip_asks: Rate::per(Duration::from_secs(60), s.asks_per_ip_per_min),
                room_asks: Rate::per(Duration::from_secs(1), s.asks_per_room_per_sec),
                viewer_upvotes: Rate::per(Duration::from_secs(60), s.upvotes_per_viewer_per_min),
            },
            shared,
        })
    }

    fn wait<K: std::hash::Hash + Eq + Clone>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
        scope: Scope,
    ) -> Result<(), Limited> {
        limiter.check_key(key).map_err(|not_until| Limited {
            scope,
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// A question or comment: the viewer's, the address's and the room's
    /// quotas, and in a cluster the room's slow mode (`slow_mode_secs`; the
    /// room itself checks it on this node).
    pub async fn ask(&self, viewer: &ViewerKey, ip: IpAddr, room: EventId, slow_mode_secs: u32) -> Result<(), Limited> {
        self.wait(&self.viewer_asks, viewer, Scope::Viewer)?;
        self.wait(&self.ip_asks, &ip, Scope::Address)?;
        self.wait(&self.room_asks, &room, Scope::Room)?;
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let checks = [
            (
                shared.key(&format!("ask:viewer:{}", viewer.0)),
                self.rates.viewer_asks,
                Scope::Viewer,
            ),
            (shared.key(&format!("ask:ip:{ip}")), self.rates.ip_asks, Scope::Address),
            (
                shared.key(&format!("ask:room:{room}")),
                self.rates.room_asks,
                Scope::Room,
            ),
        ];
        let slow = (
            shared.key(&format!("slow:{room}:{}", viewer.0)),
            Duration::from_secs(u64::from(slow_mode_secs)),
        );
        shared.check(&checks, Some(slow)).await
    }

    /// An upvote or a vote.
    pub async fn upvote(&self, viewer: &ViewerKey) -> Result<(), Limited> {
        self.wait(&self.viewer_upvotes, viewer, Scope::Viewer)?;
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let checks = [(
            shared.key(&format!("upvote:viewer:{}", viewer.0)),
            self.rates.viewer_upvotes,
            Scope::Viewer,
        )];
        shared.check(&checks, None).await
    }

    /// A limiter for the frames of one connection (flood protection).
    pub fn connection(&self) -> DefaultDirectRateLimiter {
        let burst = self.frames_per_sec.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        RateLimiter::direct(Quota::per_second(self.frames_per_sec).allow_burst(burst))
    }

    pub fn frame_wait(&self, limiter: &DefaultDirectRateLimiter) -> Result<(), Limited> {
        limiter.check().map_err(|not_until| Limited {
            scope: Scope::Connection,
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

/// The cluster's limits in Redis.
struct Shared {
    link: RedisLink,
    prefix: String,
}

impl Shared {
    fn new(settings: &ClusterSettings) -> anyhow::Result<Self> {
        Ok(Self {
            link: RedisLink::new("shared rate limits", settings)?,
            prefix: settings.prefix.clone(),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}:limit:{name}", self.prefix)
    }

    /// The GCRA `checks` and the slow mode `(key, gap)`, all or nothing.
    /// Allows when Redis cannot answer (the node's own limits were checked).
    async fn check(&self, checks: &[(String, Rate, Scope)], slow: Option<(String, Duration)>) -> Result<(), Limited> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SHARED_CHECK).arg(checks.len() + 1);
        for (key, _, _) in checks {
            cmd.arg(key);
        }
        let (slow_key, gap) = slow.unwrap_or_else(|| (self.key("slow:none"), Duration::ZERO));
        cmd.arg(&slow_key).arg(checks.len());
        for (_, rate, _) in checks {
            cmd.arg(rate.interval_ms).arg(rate.burst);
        }
        cmd.arg(gap.as_millis() as u64);
        match self.link.query::<(usize, u64)>(&cmd).await {
            None | Some((0, _)) => Ok(()),
            Some((i, wait_ms)) => Err(Limited {
                scope: checks
                    .get(i.wrapping_sub(1))
                    .map_or(Scope::SlowMode, |&(_, _, scope)| scope),
                retry_after: Duration::from_millis(wait_ms),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_viewer_limit_says_how_long_to_wait() {
        let limits = Limits::new(&LiveSettings {
            asks_per_viewer_per_min: 2,
            ..LiveSettings::default()
        })
        .unwrap();
        let v = ViewerKey("0123456789abcdef".into());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limits.ask(&v, ip, EventId(1), 0).await.is_ok());
        assert!(limits.ask(&v, ip, EventId(1), 0).await.is_ok());
        let limited = limits.ask(&v, ip, EventId(1), 0).await.unwrap_err();
        assert_eq!(limited.scope, Scope::Viewer);
        assert!(limited.retry_after > Duration::from_secs(1) && limited.retry_after <= Duration::from_secs(30));
        let other = ViewerKey("fedcba9876543210".into());
        assert!(limits.ask(&other, ip, EventId(1), 0).await.is_ok());
    }

    #[test]
    fn rates_match_the_governor_quotas() {
        let r = Rate::per(Duration::from_secs(60), 6);
        assert_eq!((r.interval_ms, r.burst), (10_000, 6));
        let r = Rate::per(Duration::from_secs(1), 200);
        assert_eq!((r.interval_ms, r.burst), (5, 200));
        let r = Rate::per(Duration::from_secs(1), 0);
        assert_eq!((r.interval_ms, r.burst), (1_000, 1));
    }
}
