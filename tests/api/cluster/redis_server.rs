//! A private `redis-server` per test (never the machine's shared one), on a
//! free loopback port, that a test can kill and start again on that port.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::harness::redis_answers;

pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Start one on a free port and wait until it answers.
    pub async fn start() -> Self {
        // Bound and released: free unless someone takes it right now (then the start fails loudly).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL it (nothing saved: it comes back empty).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it (again) on the same port and wait until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if redis_answers(&self.url(), Duration::from_secs(2)).await.is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server on port {} exited ({status})", self.port);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server on port {} does not answer",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How many connections of the Redis at `url` subscribe to `channel` (one per live node).
pub async fn subscribers(url: &str, channel: &str) -> usize {
    let query = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query_async::<(String, usize)>(&mut conn)
            .await
    };
    match tokio::time::timeout(Duration::from_secs(5), query).await {
        Ok(Ok((_, n))) => n,
        _ => 0,
    }
}
