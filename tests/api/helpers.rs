//! `spawn_app`: the real server on a loopback port over a fresh database —
//! a new SQLite file, or a new PostgreSQL schema — per test.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use minsheng::app;
use minsheng::config::{DatabaseUrl, HttpSettings, LiveSettings};
use minsheng::domain::staff::{Role, Username};
use minsheng::passwords;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
pub const PLAN: &str = include_str!("../../plans/daxing-2024.toml");

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The PostgreSQL server the suite uses.
pub fn postgres_url() -> String {
    std::env::var("MINSHENG_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn postgres_required() -> bool {
    std::env::var("MINSHENG_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// A fresh database; removed when dropped.
pub enum TestDb {
    Sqlite { dir: PathBuf },
    Postgres { schema: String },
}

impl TestDb {
    pub async fn create(backend: Backend) -> Option<(Self, DatabaseUrl)> {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(unique("minsheng_test"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}/test.db", dir.display());
                Some((Self::Sqlite { dir }, DatabaseUrl::resolve(Some(&url), false)))
            }
            Backend::Postgres => {
                let base = postgres_url();
                let mut conn = match sqlx::PgConnection::connect(&base).await {
                    Ok(c) => c,
                    Err(e) if !postgres_required() => {
                        eprintln!(
                            "\n*** SKIPPED: PostgreSQL at {base} is unavailable ({e}); set MINSHENG_REQUIRE_POSTGRES=1 to fail instead ***\n"
                        );
                        return None;
                    }
                    Err(e) => {
                        panic!("PostgreSQL is required (MINSHENG_REQUIRE_POSTGRES=1) but {base} is unavailable: {e}")
                    }
                };
                let schema = unique("t");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut conn)
                    .await
                    .expect("create schema");
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                Some((Self::Postgres { schema }, DatabaseUrl::resolve(Some(&url), false)))
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            Self::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Self::Postgres { schema } => {
                let schema = schema.clone();
                // Drop runs outside async: clean up on a thread with its own runtime.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let mut conn = sqlx::PgConnection::connect(&postgres_url()).await.ok()?;
                        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                            .execute(&mut conn)
                            .await
                            .ok()
                    })
                })
                .join();
            }
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub admin_token: String,
    /// The test's own database, for tests that run the binary against it.
    pub database_url: DatabaseUrl,
    /// The server's own store (its pools), for tests that reach behind the API.
    pub store: minsheng::store::Store,
    /// The identity mode [`TestApp::announce`] gives events: `open` unless
    /// a test of verified posting sets `verified`.
    pub identity_mode: &'static str,
    /// Where the server's `log` SMS sender prints (the codes it sends).
    pub sms: minsheng::identity::sms::Console,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _db: TestDb,
}

/// Live settings for tests: generous limits unless a test sets its own.
pub fn live_settings() -> LiveSettings {
    LiveSettings {
        asks_per_viewer_per_min: 1000,
        asks_per_ip_per_min: 100_000,
        asks_per_room_per_sec: 10_000,
        upvotes_per_viewer_per_min: 1000,
        frames_per_conn_per_sec: 1000,
        // Tests open many viewer sockets, and vote with many tokens, from loopback.
        viewer_sockets_per_address: 0,
        votes_per_address: 0,
        ..LiveSettings::default()
    }
}

/// Start the server; `None` when the backend is unavailable (and not required).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, live_settings()).await
}

pub async fn spawn_app_with(backend: Backend, live: LiveSettings) -> Option<TestApp> {
    spawn_app_full(backend, live, http_settings()).await
}

/// HTTP settings for tests: every test signs in from 127.0.0.1, often many
/// times, so the per-address sign-in budget is generous unless a test sets its own.
pub fn http_settings() -> HttpSettings {
    HttpSettings {
        sign_ins_per_ip_per_min: 100_000,
        // The second factor has its own tests (security.rs, browser.rs).
        second_factor_roles: Vec::new(),
        ..HttpSettings::default()
    }
}

pub async fn spawn_app_full(backend: Backend, mut live: LiveSettings, http: HttpSettings) -> Option<TestApp> {
    let sms = minsheng::identity::sms::Console::captured();
    live.identity.sender = minsheng::identity::sms::SmsSender::Log(sms.clone());
    if std::env::var("MINSHENG_TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
    let (db, url) = TestDb::create(backend).await?;
    let database_url = url.clone();
    let state = app::build_state(&url, std::path::Path::new("calendar"), http, live)
        .await
        .expect("state");
    let hash = passwords::hash_blocking(ADMIN_PASSWORD.into()).await.expect("hash");
    state
        .store
        .create_user(
            &Username::parse("admin").unwrap(),
            "数据局管理员",
            &hash,
            Role::Admin,
            None,
        )
        .await
        .expect("admin");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(
        listener,
        state.clone(),
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(2),
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut app = TestApp {
        addr,
        client,
        admin_token: String::new(),
        database_url,
        store: state.store.clone(),
        identity_mode: "open",
        sms,
        stop: Some(stop),
        server: Some(server),
        _db: db,
    };
    app.admin_token = app.login("admin", ADMIN_PASSWORD).await;
    Some(app)
}

/// A response: status and JSON body (`Value::Null` when there is none).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The error code of an error reply; asserts the error shape.
    pub fn error_code(&self) -> &str {
        let err = &self.body["error"];
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without message: {:?}",
            self.body
        );
        err["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error body: {:?}", self.body))
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.reply(req, path).await
    }

    /// GET `path` with one extra header (`name: value`), no sign-in.
    pub async fn get_with_header(&self, path: &str, name: &str, value: &str) -> Reply {
        self.reply(self.client.get(self.url(path)).header(name, value), path)
            .await
    }

    async fn reply(&self, req: reqwest::RequestBuilder, path: &str) -> Reply {
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        assert_ne!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{path} answered 500: {body:?}"
        );
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/auth/login",
                None,
                json!({ "username": username, "password": password }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {username}: {:?}", r.body);
        r.body["token"].as_str().expect("token").to_owned()
    }

    pub async fn import_plan(&self) -> Reply {
        let res = self
            .client
            .post(self.url("/api/plans/import"))
            .bearer_auth(&self.admin_token)
            .header("content-type", "application/toml")
            .body(PLAN)
            .send()
            .await
            .expect("import");
        let status = res.status();
        Reply {
            status,
            headers: res.headers().clone(),
            body: res.json().await.expect("json"),
        }
    }

    /// Create a staff account and sign in as it; returns the token.
    pub async fn staff(&self, username: &str, role: &str, unit: Option<&str>) -> String {
        let password = "staff-password-123";
        let r = self
            .post(
                "/api/users",
                Some(&self.admin_token),
                json!({ "username": username, "display_name": username, "password": password, "role": role, "unit": unit }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        self.login(username, password).await
    }

    /// The id of the event with `code`.
    pub async fn event_id(&self, code: &str) -> i64 {
        let r = self.get("/api/events", Some(&self.admin_token)).await;
        r.body
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["code"] == code)
            .unwrap_or_else(|| panic!("no event {code}"))["id"]
            .as_i64()
            .unwrap()
    }

    /// Stop the server and wait for it (bounded).
    pub async fn stop(mut self) {
        self.halt().await;
    }

    /// Stop the server but keep its database, to read it back as a restarted server would.
    pub async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Run each named test against SQLite and PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A real WebSocket client over loopback.
pub struct Ws {
    pub socket: Socket,
    /// The `welcome` frame.
    pub welcome: Value,
    /// Frames read while looking for another one, in arrival order.
    pending: std::collections::VecDeque<Value>,
}

/// How long any single wait on a socket may take.
pub const WS_WAIT: Duration = Duration::from_secs(15);

impl TestApp {
    pub fn ws_url(&self, event_id: i64) -> String {
        format!("ws://{}/api/events/{event_id}/live", self.addr)
    }

    /// Connect and say `hello` (protocol 1 merged with `hello`); returns after `welcome`.
    pub async fn ws(&self, event_id: i64, hello: Value) -> Ws {
        self.ws_via(event_id, hello, None).await
    }

    /// Open the socket, with an `X-Forwarded-For` header when `forwarded_for` is given.
    async fn open(&self, event_id: i64, forwarded_for: Option<&str>) -> Socket {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = self.ws_url(event_id).into_client_request().expect("ws request");
        if let Some(xff) = forwarded_for {
            request
                .headers_mut()
                .insert("x-forwarded-for", xff.parse().expect("header value"));
        }
        let (socket, _) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
        socket
    }

    /// [`TestApp::ws`] as if through a proxy that says the client is `forwarded_for`.
    pub async fn ws_via(&self, event_id: i64, hello: Value, forwarded_for: Option<&str>) -> Ws {
        let mut socket = self.open(event_id, forwarded_for).await;
        let mut msg = json!({ "type": "hello", "protocol": 1 });
        for (k, v) in hello.as_object().expect("hello object") {
            msg[k] = v.clone();
        }
        send_json(&mut socket, &msg).await;
        let welcome = next_json(&mut socket).await.expect("welcome");
        assert_eq!(welcome["type"], "welcome", "{welcome:?}");
        Ws {
            socket,
            welcome,
            pending: Default::default(),
        }
    }

    /// Connect, say hello and expect to be turned away: the error code and the close code.
    pub async fn refused(&self, event_id: i64, hello: Value) -> (String, Option<u16>) {
        self.refused_via(event_id, hello, None).await
    }

    /// [`TestApp::refused`] as if through a proxy that says the client is `forwarded_for`.
    pub async fn refused_via(&self, event_id: i64, hello: Value, forwarded_for: Option<&str>) -> (String, Option<u16>) {
        let socket = self.open(event_id, forwarded_for).await;
        let mut msg = json!({ "type": "hello", "protocol": 1 });
        for (k, v) in hello.as_object().expect("hello object") {
            msg[k] = v.clone();
        }
        let mut ws = Ws {
            socket,
            welcome: Value::Null,
            pending: Default::default(),
        };
        ws.send(msg).await;
        let (close, frames) = ws.closed().await;
        let error = frames
            .iter()
            .find(|f| f["type"] == "error")
            .unwrap_or_else(|| panic!("no error in {frames:?}"));
        assert!(frames.iter().all(|f| f["type"] != "welcome"), "{frames:?}");
        (error["code"].as_str().unwrap().to_owned(), close)
    }

    /// A staff connection signed in with `token`; consumes the snapshot and queue.
    pub async fn staff_ws(&self, event_id: i64, token: &str) -> Ws {
        let mut ws = self.ws(event_id, json!({ "session": token })).await;
        ws.expect("snapshot").await;
        ws.expect("queue").await;
        ws
    }

    /// A viewer connection; consumes the snapshot.
    pub async fn viewer_ws(&self, event_id: i64, nickname: &str) -> Ws {
        let mut ws = self.ws(event_id, json!({ "nickname": nickname })).await;
        ws.expect("snapshot").await;
        ws
    }

    /// Import the plan and take `open-day-06` (人保局, online) live; returns its id.
    pub async fn live_event(&self) -> i64 {
        let id = self.announced_event().await;
        let admin = Some(self.admin_token.as_str());
        let r = self.post(&format!("/api/events/{id}/start"), admin, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        id
    }

    /// Import the plan and announce `open-day-06` for ten days from now; returns its id.
    /// Its room is `open` (anyone takes part) unless the test set `identity_mode`.
    pub async fn announced_event(&self) -> i64 {
        self.import_plan().await;
        self.announce("open-day-06").await
    }

    /// Announce event `code` (the plan imported) for ten days from now; returns its id.
    pub async fn announce(&self, code: &str) -> i64 {
        let id = self.event_id(code).await;
        let admin = Some(self.admin_token.as_str());
        let start = (chrono::Utc::now() + chrono::Duration::days(10)).to_rfc3339();
        let r = self
            .patch(
                &format!("/api/events/{id}"),
                admin,
                json!({ "starts_at": start, "duration_minutes": 90, "identity_mode": self.identity_mode }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let r = self.post(&format!("/api/events/{id}/announce"), admin, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        id
    }

    /// Run `sql` straight against the test's database, with an optional
    /// timestamp as `$1` (for tests that set up what the API cannot: a
    /// lock run out, an event ended long ago).
    pub async fn sql(&self, sql: &str, at: Option<chrono::DateTime<chrono::Utc>>) {
        let url = self.database_url.expose();
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            let q = sqlx::query(sql);
            let q = if let Some(at) = at { q.bind(at) } else { q };
            q.execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
            let q = sqlx::query(sql);
            let q = if let Some(at) = at { q.bind(at) } else { q };
            q.execute(&mut conn).await.unwrap();
        }
    }

    /// The rows of a one-text-column query, read straight from the test's database.
    pub async fn sql_texts(&self, sql: &str) -> Vec<String> {
        let url = self.database_url.expose();
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        } else {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
    }

    /// The actions in event `event`'s audit log, oldest first (read as an administrator).
    pub async fn audit_actions(&self, event: i64) -> Vec<String> {
        let audit = self
            .get(&format!("/api/events/{event}/audit"), Some(&self.admin_token))
            .await
            .body;
        audit
            .as_array()
            .expect("audit entries")
            .iter()
            .map(|a| a["action"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

pub async fn send_json(socket: &mut Socket, v: &Value) {
    use futures_util::SinkExt;
    let text = v.to_string();
    tokio::time::timeout(
        WS_WAIT,
        socket.send(tokio_tungstenite::tungstenite::Message::text(text)),
    )
    .await
    .expect("send in time")
    .expect("send");
}

/// The next JSON text frame (pings skipped); `None` when the socket closed.
pub async fn next_json(socket: &mut Socket) -> Option<Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let frame = tokio::time::timeout(WS_WAIT, socket.next())
            .await
            .expect("a frame in time");
        match frame? {
            Ok(Message::Text(t)) => return Some(serde_json::from_str(t.as_str()).expect("JSON frame")),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

impl Ws {
    /// A socket opened by the test itself; `welcome` is for the test to fill in.
    pub fn new(socket: Socket) -> Self {
        Self {
            socket,
            welcome: Value::Null,
            pending: Default::default(),
        }
    }

    pub async fn send(&mut self, v: Value) {
        send_json(&mut self.socket, &v).await;
    }

    /// The next frame that is not `presence` (frames set aside earlier first).
    pub async fn next(&mut self) -> Value {
        if let Some(v) = self.pending.pop_front() {
            return v;
        }
        self.read().await
    }

    async fn read(&mut self) -> Value {
        loop {
            let v = next_json(&mut self.socket).await.expect("socket open");
            if v["type"] != "presence" {
                return v;
            }
        }
    }

    /// The first frame of type `ty`; frames of other types stay queued for later.
    pub async fn expect(&mut self, ty: &str) -> Value {
        self.expect_where(|v| v["type"] == ty).await
    }

    pub async fn expect_where(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&wanted) {
            return self.pending.remove(i).expect("index in range");
        }
        loop {
            let v = self.read().await;
            if wanted(&v) {
                return v;
            }
            self.pending.push_back(v);
        }
    }

    /// Send `v` and wait for the ack, error or pong that echoes its ref.
    pub async fn request(&mut self, mut v: Value, reference: &str) -> Value {
        v["ref"] = json!(reference);
        self.send(v).await;
        self.expect_where(|r| r["ref"] == reference && matches!(r["type"].as_str(), Some("ack" | "error" | "pong")))
            .await
    }

    /// Read until the server closes; returns the close code and every frame before it.
    pub async fn closed(&mut self) -> (Option<u16>, Vec<Value>) {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let mut frames: Vec<Value> = self.pending.drain(..).collect();
        loop {
            let frame = tokio::time::timeout(WS_WAIT, self.socket.next())
                .await
                .expect("close in time");
            match frame {
                Some(Ok(Message::Text(t))) => frames.push(serde_json::from_str(t.as_str()).expect("JSON")),
                Some(Ok(Message::Close(c))) => return (c.map(|c| u16::from(c.code)), frames),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return (None, frames),
            }
        }
    }
}
