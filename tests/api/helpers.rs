//! `spawn_app`: the real server on a loopback port over a fresh database —
//! a new SQLite file, or a new PostgreSQL schema — per test.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use minsheng::app;
use minsheng::config::{DatabaseUrl, HttpSettings};
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
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _db: TestDb,
}

/// Start the server; `None` when the backend is unavailable (and not required).
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    if std::env::var("MINSHENG_TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
    let (db, url) = TestDb::create(backend).await?;
    let state = app::build_state(&url, std::path::Path::new("calendar"), HttpSettings::default())
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
