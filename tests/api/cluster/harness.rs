//! Real `minsheng serve` processes on one PostgreSQL schema and one Redis,
//! and WebSocket clients for them. Shared by the cluster tests and the
//! failure tests.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::proxy::PgProxy;
use crate::helpers::{Backend, PLAN, Socket, TestDb, WS_WAIT, next_json, postgres_url, send_json};

const PASSWORD: &str = "cluster-admin-password";

/// The machine's shared Redis (never restarted by the tests).
pub fn redis_url() -> String {
    std::env::var("MINSHENG_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Redis answers `PING` at `url` within `wait`.
pub async fn redis_answers(url: &str, wait: Duration) -> Result<(), String> {
    let ping = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(wait, ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("Redis at {url} is unavailable ({e})")),
        Err(_) => Err(format!("Redis at {url} does not answer")),
    }
}

/// Why the cluster tests cannot run here, if they cannot.
async fn unavailable(redis: Option<&str>) -> Option<String> {
    match redis {
        Some(url) => {
            if let Err(why) = redis_answers(url, Duration::from_secs(5)).await {
                return Some(why);
            }
        }
        None => {
            let found = Command::new("redis-server")
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !found.is_ok_and(|s| s.success()) {
                return Some("`redis-server` is not on the PATH (the failure tests start their own)".into());
            }
        }
    }
    use sqlx::Connection;
    match sqlx::PgConnection::connect(&postgres_url()).await {
        Ok(_) => None,
        Err(e) => Some(format!("PostgreSQL at {} is unavailable ({e})", postgres_url())),
    }
}

/// `None` and a loud note, or a panic under MINSHENG_REQUIRE_REDIS=1.
fn skip(why: &str) {
    if std::env::var("MINSHENG_REQUIRE_REDIS").is_ok_and(|v| v == "1") {
        panic!("the cluster tests are required (MINSHENG_REQUIRE_REDIS=1) but {why}");
    }
    eprintln!("\n*** SKIPPED cluster tests: {why}; set MINSHENG_REQUIRE_REDIS=1 to fail instead ***\n");
}

/// One node: a child process, killed on drop.
pub struct Node {
    pub addr: SocketAddr,
    child: Child,
    /// What the node printed to its console after the address (the `log`
    /// SMS sender's messages), read by a thread of its own.
    pub console: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// The identity secret every node of a test cluster shares.
pub const IDENTITY_SECRET: &str = "cluster-test-identity-secret-0123456789abcdef";

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn minsheng(db: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_minsheng"));
    cmd.env("DATABASE_URL", db)
        .env("MINSHENG_LOG", "warn")
        // The cluster tests sign in as the administrator with a password
        // only; the second factor has tests of its own.
        .env("MINSHENG_SECOND_FACTOR_ROLES", "none")
        .env_remove("MINSHENG_REDIS_URL")
        .env_remove("MINSHENG_ADMIN_PASSWORD");
    cmd
}

fn run_ok(mut cmd: Command) {
    let out = cmd.output().expect("run minsheng");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// How to start a cluster.
pub struct Options {
    pub nodes: usize,
    /// The Redis to use; `None`: the machine's shared one (which must answer).
    pub redis: Option<String>,
    /// These nodes reach PostgreSQL through a [`PgProxy`] of their own.
    pub proxied: Vec<usize>,
    /// These nodes reach Redis through a proxy of their own (the same cuttable TCP proxy).
    pub redis_proxied: Vec<usize>,
    /// Questions per viewer per minute (high by default, so tests that ask a lot are not limited).
    pub asks_per_viewer_per_min: u32,
    /// Viewer tokens per address that may upvote a question or vote in a
    /// poll (`0`, no cap, by default: every test client is on loopback).
    pub votes_per_address: u32,
}

impl Options {
    pub fn nodes(nodes: usize) -> Self {
        Self {
            nodes,
            redis: None,
            proxied: Vec::new(),
            redis_proxied: Vec::new(),
            asks_per_viewer_per_min: 1000,
            votes_per_address: 0,
        }
    }
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// The proxy of each proxied node, by node index.
    pub proxies: Vec<(usize, PgProxy)>,
    /// The Redis proxy of each node in `redis_proxied`, by node index.
    pub redis_proxies: Vec<(usize, PgProxy)>,
    pub client: reqwest::Client,
    pub token: String,
    pub prefix: String,
    /// The nodes' database (its own schema), for a test's own connection.
    pub db_url: String,
    _db: TestDb,
}

impl Cluster {
    /// `nodes` nodes on the shared Redis; `None` (and a loud note) when Redis
    /// or PostgreSQL is missing.
    pub async fn start(nodes: usize) -> Option<Self> {
        Self::start_with(Options::nodes(nodes)).await
    }

    /// Whether the failure tests can run (PostgreSQL, and `redis-server` to
    /// start private ones); skips loudly (or panics when required) if not.
    pub async fn can_run_private() -> bool {
        match unavailable(None).await {
            None => true,
            Some(why) => {
                skip(&why);
                false
            }
        }
    }

    pub async fn start_with(options: Options) -> Option<Self> {
        let redis = match options.redis {
            Some(url) => url,
            None => {
                if let Some(why) = unavailable(Some(&redis_url())).await {
                    skip(&why);
                    return None;
                }
                redis_url()
            }
        };
        let (db, url) = TestDb::create(Backend::Postgres).await?;
        let url = url.expose().to_owned();
        // A prefix of its own, so parallel runs sharing the Redis never cross
        // (and a plan file of its own, so parallel tests never share one).
        let prefix = format!(
            "minsheng-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let plan = std::env::temp_dir().join(format!("{prefix}-plan.toml"));
        std::fs::write(&plan, PLAN).expect("plan file");
        run_ok({
            let mut c = minsheng(&url);
            c.arg("migrate");
            c
        });
        run_ok({
            let mut c = minsheng(&url);
            c.args(["create-admin", "--password-env", PASSWORD]);
            c
        });
        run_ok({
            let mut c = minsheng(&url);
            c.arg("import-plan").arg(&plan);
            c
        });
        let _ = std::fs::remove_file(&plan);
        let mut proxies = Vec::new();
        let mut redis_proxies = Vec::new();
        let mut started = Vec::new();
        for i in 0..options.nodes {
            let db_url = if options.proxied.contains(&i) {
                let proxy = PgProxy::start(&url).await;
                let proxied = proxy.url(&url);
                proxies.push((i, proxy));
                proxied
            } else {
                url.clone()
            };
            let node_redis = if options.redis_proxied.contains(&i) {
                let proxy = PgProxy::start(&redis).await;
                let proxied = proxy.url(&redis);
                redis_proxies.push((i, proxy));
                proxied
            } else {
                redis.clone()
            };
            let (url, redis, prefix) = (db_url, node_redis, prefix.clone());
            let (asks, votes) = (options.asks_per_viewer_per_min, options.votes_per_address);
            // Blocking (a process and its first line): off the runtime's threads,
            // so that a proxy on them keeps serving the node meanwhile.
            let node = tokio::task::spawn_blocking(move || spawn_node(&url, &redis, &prefix, asks, votes))
                .await
                .expect("start a node");
            started.push(node);
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut cluster = Self {
            nodes: started,
            proxies,
            redis_proxies,
            client,
            token: String::new(),
            prefix,
            db_url: url.clone(),
            _db: db,
        };
        let r = cluster
            .http(
                0,
                reqwest::Method::POST,
                "/api/auth/login",
                Some(json!({ "username": "admin", "password": PASSWORD })),
            )
            .await;
        cluster.token = r["token"].as_str().expect("token").to_owned();
        Some(cluster)
    }

    /// The proxy between node `i` and Redis.
    pub fn redis_proxy(&self, node: usize) -> &PgProxy {
        &self
            .redis_proxies
            .iter()
            .find(|(i, _)| *i == node)
            .expect("a node behind a Redis proxy")
            .1
    }

    /// The proxy between node `i` and PostgreSQL.
    pub fn proxy(&self, node: usize) -> &PgProxy {
        &self.proxies.iter().find(|(i, _)| *i == node).expect("a proxied node").1
    }

    /// SIGKILL node `i` (no shutdown of any kind) and reap it.
    pub fn kill(&mut self, node: usize) {
        let child = &mut self.nodes[node].child;
        child.kill().expect("SIGKILL the node");
        child.wait().expect("reap the node");
    }

    pub async fn http(&self, node: usize, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("http://{}{path}", self.nodes[node].addr);
        let mut req = self.client.request(method, url);
        if !self.token.is_empty() {
            req = req.bearer_auth(&self.token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body:?}");
        body
    }

    /// Take `open-day-06` live (through node 0), its room `open`; returns its id.
    pub async fn live_event(&self) -> i64 {
        self.live_event_as("open").await
    }

    /// Take `open-day-06` live with identity mode `mode`; returns its id.
    pub async fn live_event_as(&self, mode: &str) -> i64 {
        let events = self.http(0, reqwest::Method::GET, "/api/events", None).await;
        let id = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["code"] == "open-day-06")
            .expect("open-day-06")["id"]
            .as_i64()
            .unwrap();
        let start = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
        let patch = json!({ "starts_at": start, "duration_minutes": 90, "identity_mode": mode });
        self.http(0, reqwest::Method::PATCH, &format!("/api/events/{id}"), Some(patch))
            .await;
        for step in ["announce", "start"] {
            self.http(
                0,
                reqwest::Method::POST,
                &format!("/api/events/{id}/{step}"),
                Some(json!({})),
            )
            .await;
        }
        id
    }

    pub async fn connect(&self, node: usize, event_id: i64, hello: Value) -> Client {
        match self.try_connect(node, event_id, hello).await {
            Ok(client) => client,
            Err(first) => panic!("no welcome: {first:?}"),
        }
    }

    /// A connection, or the first frame when it is not a `welcome` (an error).
    pub async fn try_connect(&self, node: usize, event_id: i64, hello: Value) -> Result<Client, Option<Value>> {
        let url = format!("ws://{}/api/events/{event_id}/live", self.nodes[node].addr);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("ws connect");
        let mut msg = json!({ "type": "hello", "protocol": 1 });
        for (k, v) in hello.as_object().expect("hello object") {
            msg[k] = v.clone();
        }
        send_json(&mut socket, &msg).await;
        match next_json(&mut socket).await {
            Some(welcome) if welcome["type"] == "welcome" => Ok(Client {
                socket,
                welcome,
                skipped: Vec::new(),
            }),
            first => Err(first),
        }
    }

    /// A staff connection; consumes frames up to its `queue`.
    pub async fn moderator(&self, node: usize, event_id: i64) -> Client {
        let mut c = self.connect(node, event_id, json!({ "session": self.token })).await;
        c.expect(|f| f["type"] == "queue").await;
        c
    }

    /// A viewer with a fresh snapshot (and its token, to come back as the same viewer).
    pub async fn viewer(&self, node: usize, event_id: i64, nickname: &str) -> Client {
        let mut c = self.connect(node, event_id, json!({ "nickname": nickname })).await;
        c.expect(|f| f["type"] == "snapshot").await;
        c
    }
}

fn spawn_node(db: &str, redis: &str, prefix: &str, asks_per_viewer_per_min: u32, votes_per_address: u32) -> Node {
    let mut child = minsheng(db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--print-addr",
            "--shutdown-grace",
            "1",
        ])
        .args(["--redis-url", redis, "--redis-prefix", prefix])
        .env("MINSHENG_ASKS_PER_VIEWER_PER_MIN", asks_per_viewer_per_min.to_string())
        // Every test client comes from loopback: no caps per address.
        .env("MINSHENG_VIEWER_SOCKETS_PER_ADDRESS", "0")
        .env("MINSHENG_VOTES_PER_ADDRESS", votes_per_address.to_string())
        .env("MINSHENG_IDENTITY_SECRET", IDENTITY_SECRET)
        .stdout(Stdio::piped())
        .stderr(if std::env::var("MINSHENG_TEST_LOG").is_ok() {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .spawn()
        .expect("spawn a node");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    let mut stdout = BufReader::new(stdout);
    stdout.read_line(&mut line).expect("the bound address");
    let console = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let lines = console.clone();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("an address");
    Node { addr, child, console }
}

pub struct Client {
    pub socket: Socket,
    pub welcome: Value,
    /// Frames skipped while waiting for others.
    pub skipped: Vec<Value>,
}

/// Long enough for anything a node does by itself on a busy machine (the
/// periodic check every 2 s, a dead node's presence fading after 6 s, the
/// bus's reconnect backoff of up to 5 s).
pub const SLOW_WAIT: Duration = Duration::from_secs(45);

impl Client {
    pub async fn send(&mut self, v: Value) {
        send_json(&mut self.socket, &v).await;
    }

    /// The next JSON frame before `deadline`: `Ok(None)` when the socket
    /// closed, `Err(())` when nothing came in time.
    pub async fn read_until(&mut self, deadline: Instant) -> Result<Option<Value>, ()> {
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .map_err(|_| ())?;
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return Ok(Some(serde_json::from_str(t.as_str()).expect("JSON frame")));
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Ok(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame that matches, skipping others (within [`WS_WAIT`]).
    pub async fn expect(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        self.expect_within(WS_WAIT, wanted).await
    }

    /// The next frame that matches within `wait`, skipping others; the socket must stay open.
    pub async fn expect_within(&mut self, wait: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + wait;
        loop {
            let frame = self
                .read_until(deadline)
                .await
                .unwrap_or_else(|()| panic!("no matching frame within {wait:?}; skipped {:?}", self.skipped))
                .expect("socket closed");
            if wanted(&frame) {
                return frame;
            }
            self.skipped.push(frame);
        }
    }

    /// A matching frame skipped earlier, or the next one.
    pub async fn find(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.skipped.iter().position(&wanted) {
            return self.skipped.remove(i);
        }
        self.expect(wanted).await
    }

    /// Send `v` with `ref` and wait for the `ack` or `error` that echoes it.
    pub async fn request(&mut self, mut v: Value, reference: &str) -> Value {
        v["ref"] = json!(reference);
        self.send(v).await;
        self.expect_within(SLOW_WAIT, |f| {
            f["ref"] == reference && matches!(f["type"].as_str(), Some("ack" | "error"))
        })
        .await
    }

    /// Ask a question; returns its id (asserting the ack).
    pub async fn ask(&mut self, reference: &str, text: &str) -> i64 {
        let ack = self.request(json!({ "type": "ask", "text": text }), reference).await;
        assert_eq!(ack["type"], "ack", "{ack:?}");
        ack["question"]["id"].as_i64().expect("question id")
    }

    /// Every public (logged) frame up to and including `seq`, in arrival order.
    pub async fn public_up_to(&mut self, seq: i64) -> Vec<Value> {
        self.public_up_to_within(seq, WS_WAIT).await
    }

    /// [`Client::public_up_to`], allowing `wait` between two frames.
    pub async fn public_up_to_within(&mut self, seq: i64, wait: Duration) -> Vec<Value> {
        let mut frames = Vec::new();
        // Public frames set aside while waiting for something else come first.
        let skipped: Vec<Value> = std::mem::take(&mut self.skipped);
        let (public, other): (Vec<Value>, Vec<Value>) = skipped.into_iter().partition(is_public);
        self.skipped = other;
        let mut public = public.into_iter();
        for f in public.by_ref() {
            let s = f["seq"].as_i64().unwrap();
            frames.push(f);
            if s >= seq {
                self.skipped.extend(public);
                return frames;
            }
        }
        loop {
            let f = self.expect_within(wait, is_public).await;
            let s = f["seq"].as_i64().unwrap();
            frames.push(f);
            if s >= seq {
                return frames;
            }
        }
    }

    /// Read until the server side goes away; returns every frame read.
    pub async fn until_closed(&mut self) -> Vec<Value> {
        let deadline = Instant::now() + SLOW_WAIT;
        let mut frames = std::mem::take(&mut self.skipped);
        while let Some(f) = self.read_until(deadline).await.expect("the socket closes") {
            frames.push(f);
        }
        frames
    }
}

/// A logged public frame (it carries a `seq` and is not `presence`).
pub fn is_public(f: &Value) -> bool {
    f["seq"].is_i64() && f["type"] != "presence" && f["type"] != "snapshot"
}

/// The seqs of public frames, in order.
pub fn seqs(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .filter(|f| is_public(f))
        .map(|f| f["seq"].as_i64().unwrap())
        .collect()
}

/// Poll `check` (every 100 ms) until it holds, at most `wait`.
pub async fn eventually<F, Fut>(wait: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + wait;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "not within {wait:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
