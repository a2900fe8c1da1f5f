//! A Redis connection for short questions on a hot path (the cluster's rate
//! limits, tally slots, presence): connected lazily, shared by every task, and stepping
//! aside while Redis is away, so that a caller never waits on a dead Redis
//! longer than [`TIMEOUT`], and a node goes on deciding alone meanwhile.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::ClusterSettings;

/// How long one question may take before the caller decides alone.
pub const TIMEOUT: Duration = Duration::from_millis(300);
/// After Redis failed, how long callers decide alone before it is tried again.
const RETRY: Duration = Duration::from_secs(1);

pub struct RedisLink {
    /// What the link is for, in log lines.
    purpose: &'static str,
    client: redis::Client,
    conn: Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// One connect attempt at a time; other callers decide alone meanwhile.
    connecting: AtomicBool,
    /// While Redis is away: when to try it again.
    retry_at: Mutex<Option<Instant>>,
}

impl RedisLink {
    pub fn new(purpose: &'static str, settings: &ClusterSettings) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.redis_url.expose())
            .map_err(|e| anyhow::anyhow!("the Redis URL {} is not usable: {e}", settings.redis_url))?;
        Ok(Self {
            purpose,
            client,
            conn: Mutex::new(None),
            connecting: AtomicBool::new(false),
            retry_at: Mutex::new(None),
        })
    }

    /// Run `cmd`; `None` when Redis is away or did not answer in time (the
    /// first failure is logged, and so is the recovery).
    pub async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut conn = self.connection().await?;
        self.answer(cmd.query_async::<T>(&mut conn)).await
    }

    /// [`RedisLink::query`] for a pipeline.
    pub async fn query_pipe<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Option<T> {
        let mut conn = self.connection().await?;
        self.answer(pipe.query_async::<T>(&mut conn)).await
    }

    async fn answer<T>(&self, reply: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        self.within(TIMEOUT, "no answer in time", reply).await
    }

    /// What `reply` gives within `limit`; `None` (Redis counted as away, as
    /// `late` says when the time ran out) when it fails or takes longer.
    async fn within<T>(
        &self,
        limit: Duration,
        late: &str,
        reply: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(limit, reply).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed(late);
                None
            }
        }
    }

    /// The connection, connecting first if needed; `None` while Redis is away.
    async fn connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        if let Some(conn) = lock(&self.conn).clone() {
            return Some(conn);
        }
        if lock(&self.retry_at).is_some_and(|at| Instant::now() < at) {
            return None;
        }
        if self.connecting.swap(true, Ordering::AcqRel) {
            return None;
        }
        let connected = self
            .within(
                TIMEOUT * 3,
                "connect timed out",
                self.client.get_multiplexed_async_connection(),
            )
            .await;
        self.connecting.store(false, Ordering::Release);
        let conn = connected?;
        if lock(&self.retry_at).take().is_some() {
            tracing::info!(purpose = self.purpose, "Redis is back");
        }
        *lock(&self.conn) = Some(conn.clone());
        Some(conn)
    }

    fn failed(&self, why: &str) {
        *lock(&self.conn) = None;
        let was_up = lock(&self.retry_at).replace(Instant::now() + RETRY).is_none();
        if was_up {
            tracing::warn!(
                purpose = self.purpose,
                error = why,
                "Redis unavailable; this node decides alone until it is back"
            );
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
