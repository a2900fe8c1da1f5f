//! The walls around sign-in and the session cookie (issue 13): a sign-in
//! flood is refused per address before any hashing, a password reset ends
//! the account's sessions, cookie-borne changes and staff sockets must come
//! from our own origin, and a username cannot forge a log line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{ADMIN_PASSWORD, Backend, TestApp, http_settings, live_settings, spawn_app, spawn_app_full};
use crate::on_both_backends;

on_both_backends!(
    a_sign_in_flood_is_throttled_per_address_before_hashing,
    a_password_reset_signs_out_every_session_of_the_account,
    cookie_borne_changes_from_a_foreign_origin_are_refused,
    a_staff_socket_from_a_foreign_origin_is_refused
);

/// Sign in from `forwarded_for` (through the trusted proxy 127.0.0.1).
async fn sign_in_from(app: &TestApp, forwarded_for: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "username": "admin", "password": password }))
        .send()
        .await
        .expect("sign-in request")
}

async fn a_sign_in_flood_is_throttled_per_address_before_hashing(backend: Backend) {
    const BUDGET: u32 = 3;
    let http = minsheng::config::HttpSettings {
        sign_ins_per_ip_per_min: BUDGET,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..http_settings()
    };
    let Some(app) = spawn_app_full(backend, live_settings(), http).await else {
        return;
    };
    // 20 wrong passwords at once from one address: the budget's worth are
    // checked (and fail), the rest are refused without hashing.
    let flood = (0..20).map(|_| sign_in_from(&app, "203.0.113.7", "wrong password"));
    let replies = futures_util::future::join_all(flood).await;
    let mut wrong = 0;
    let mut limited = 0;
    for reply in replies {
        match reply.status() {
            StatusCode::UNAUTHORIZED => wrong += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let wait: u64 = reply.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .expect("Retry-After in seconds");
                assert!((1..=60).contains(&wait), "Retry-After {wait}");
                let body: serde_json::Value = reply.json().await.unwrap();
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(wrong <= BUDGET, "{wrong} passwords checked for one address");
    assert_eq!(wrong + limited, 20);
    // Even the right password waits: the address's budget is spent.
    let right = sign_in_from(&app, "203.0.113.7", ADMIN_PASSWORD).await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another address has its own budget.
    let elsewhere = sign_in_from(&app, "203.0.113.8", ADMIN_PASSWORD).await;
    assert_eq!(elsewhere.status(), StatusCode::OK);
    app.stop().await;
}

async fn a_password_reset_signs_out_every_session_of_the_account(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let second = app.login("admin", ADMIN_PASSWORD).await;
    let moderator = app.staff("mod", "moderator", None).await;
    // The operator resets the administrator's password with the binary.
    let database_url = app.database_url.expose().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_minsheng"))
            .args(["create-admin", "--username", "admin"])
            .env("DATABASE_URL", database_url)
            .env("MINSHENG_ADMIN_PASSWORD", "a-brand-new-password")
            .env("MINSHENG_LOG", "warn")
            .output()
    })
    .await
    .unwrap()
    .expect("run create-admin");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for token in [&app.admin_token, &second] {
        let me = app.get("/api/auth/me", Some(token)).await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED, "a session outlived the reset");
    }
    assert!(stdout.contains("2 session(s) signed out"), "{stdout}");
    // Other accounts keep theirs; the new password works.
    assert_eq!(app.get("/api/auth/me", Some(&moderator)).await.status, StatusCode::OK);
    app.login("admin", "a-brand-new-password").await;
    app.stop().await;
}

/// Sign in and return the `name=value` pair of the session cookie.
async fn session_cookie(app: &TestApp, username: &str, password: &str) -> String {
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({ "username": username, "password": password }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// POST `path` with the session `cookie` and these extra headers.
async fn cookie_post(app: &TestApp, path: &str, cookie: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut req = app.client.post(app.url(path)).header("cookie", cookie).json(&json!({}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

async fn cookie_borne_changes_from_a_foreign_origin_are_refused(backend: Backend) {
    let http = minsheng::config::HttpSettings {
        public_origins: vec!["https://minsheng.example.gov.cn".into()],
        ..http_settings()
    };
    let Some(app) = spawn_app_full(backend, live_settings(), http).await else {
        return;
    };
    let cookie = session_cookie(&app, "admin", ADMIN_PASSWORD).await;
    let own = format!("http://{}", app.addr);
    let me = || async {
        app.client
            .get(app.url("/api/auth/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status()
    };

    // A page elsewhere posts with the browser's cookie: refused, nothing done.
    let (status, body) = cookie_post(&app, "/api/auth/logout", &cookie, &[("origin", "https://evil.example")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("\"bad_origin\""), "{body}");
    assert_eq!(me().await, StatusCode::OK, "the session survived");
    // No Origin and no Referer: refused too (browsers always send one).
    let (status, _) = cookie_post(&app, "/api/auth/logout", &cookie, &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = cookie_post(&app, "/api/auth/logout", &cookie, &[("origin", "null")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A bearer token is not cookie-borne: no Origin needed, a foreign one ignored.
    let token = app.login("admin", ADMIN_PASSWORD).await;
    let r = app
        .client
        .post(app.url("/api/screen/reload"))
        .bearer_auth(&token)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Our own pages, and the configured public origin, may.
    let (status, body) = cookie_post(&app, "/api/screen/reload", &cookie, &[("origin", &own)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = cookie_post(
        &app,
        "/api/screen/reload",
        &cookie,
        &[("origin", "https://minsheng.example.gov.cn")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let referer = format!("{own}/moderate.html?event=1");
    let (status, _) = cookie_post(&app, "/api/auth/logout", &cookie, &[("referer", &referer)]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(me().await, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// Open the room's socket with the session `cookie` and `origin`; `Err(status)` when refused.
async fn open_with(app: &TestApp, event: i64, cookie: Option<&str>, origin: &str) -> Result<crate::helpers::Ws, u16> {
    let mut request = app.ws_url(event).into_client_request().unwrap();
    request.headers_mut().insert("origin", origin.parse().unwrap());
    if let Some(cookie) = cookie {
        request.headers_mut().insert("cookie", cookie.parse().unwrap());
    }
    let socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => return Err(response.status().as_u16()),
        Err(e) => panic!("ws connect: {e}"),
    };
    let mut ws = crate::helpers::Ws::new(socket);
    ws.send(json!({ "type": "hello", "protocol": 1 })).await;
    ws.welcome = ws.expect("welcome").await;
    Ok(ws)
}

async fn a_staff_socket_from_a_foreign_origin_is_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let event = app.live_event().await;
    app.staff("mod", "moderator", None).await;
    let cookie = session_cookie(&app, "mod", "staff-password-123").await;
    // A page elsewhere opens the console's socket with the moderator's cookie.
    let refused = open_with(&app, event, Some(&cookie), "https://evil.example").await;
    assert_eq!(refused.err(), Some(403), "a foreign page got a moderator's socket");
    // From our own page the cookie makes it the console.
    let console = open_with(&app, event, Some(&cookie), &format!("http://{}", app.addr))
        .await
        .expect("own origin");
    assert_eq!(console.welcome["capability"], "moderator");
    // A viewer's socket carries no cookie: a page elsewhere may embed the room.
    let viewer = open_with(&app, event, None, "https://portal.example")
        .await
        .expect("viewer");
    assert_eq!(viewer.welcome["capability"], "viewer");
    app.stop().await;
}

/// A server started from the binary, its plain-text log captured: a sign-in
/// with a username made of a newline and an escape code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_cannot_forge_log_lines() {
    let dir = std::env::temp_dir().join(format!("minsheng_log_{}_{}", std::process::id(), line!()));
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("server.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_minsheng"))
        .args(["serve", "--listen", "127.0.0.1:0", "--print-addr"])
        .env("DATABASE_URL", format!("sqlite://{}/log.db", dir.display()))
        .env("MINSHENG_LOG", "info")
        .env_remove("MINSHENG_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("start the server");
    // Its address, printed once bound (read on a thread: the wait has a deadline).
    let stdout = server.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap();
    let Ok(addr) = addr else {
        let _ = server.kill();
        panic!("the server never said where it listens");
    };
    let forged = "x\nFORGED line\u{1b}[31m";
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/api/auth/login"))
        .json(&json!({ "username": forged, "password": "whatever it is" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = std::fs::read(&log_path).unwrap();
        if String::from_utf8_lossy(&log).contains("failed sign-in") || tokio::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&log).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(text.contains("failed sign-in"), "{text}");
    assert!(!log.contains(&0x1b), "a raw ESC byte in the log:\n{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("FORGED")),
        "a forged line in the log:\n{text}"
    );
    assert!(text.contains("FORGED line"), "the name is logged, escaped:\n{text}");
}
