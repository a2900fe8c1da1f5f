//! Issue 13's smaller holes, each closed and tested on both backends: the
//! audit log's readers and masking (point 7), the lead host unit (8), NUL in
//! input (9), invisible characters in what viewers post (11), and the small
//! things of point 17 (no-store API answers, quiet 404s).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    audit_log_is_read_only_by_staff_serving_the_event_with_addresses_masked,
    only_administrators_change_the_lead_host_unit,
    a_nul_in_text_input_is_a_400_not_a_500,
    invisible_characters_are_stripped_from_what_viewers_post,
    api_answers_are_never_stored_by_caches,
);

async fn audit_log_is_read_only_by_staff_serving_the_event_with_addresses_masked(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await; // open-day-06, hosted by 人保局 (rsj)
    let other = app.event_id("open-day-01").await;
    let acting = app.staff("mod-acting", "moderator", None).await;
    let idle = app.staff("mod-idle", "moderator", None).await;
    let host = app.staff("host-idle", "host", None).await;
    let unit_host = app.staff("host-rsj", "host", Some("rsj")).await;
    let rsj = app.staff("staff-rsj", "unit_staff", Some("rsj")).await;
    let other_unit = app.staff("staff-gzw", "unit_staff", Some("gzw")).await;

    // A viewer posts (so their address is known) and is banned with it.
    let mut moderator = app.staff_ws(event, &acting).await;
    let mut troll = app.ws(event, json!({ "nickname": "捣乱" })).await;
    let key = troll.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    troll.expect("snapshot").await;
    let ack = troll.request(json!({ "type": "ask", "text": "刷屏" }), "q").await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "反复刷屏", "include_address": true }),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");

    let path = format!("/api/events/{event}/audit");
    let ban_ip = |body: &serde_json::Value| {
        body.as_array()
            .expect("entries")
            .iter()
            .find(|e| e["action"] == "ban")
            .map(|e| e["after"]["ip"].clone())
            .expect("a ban entry")
    };
    // Administrators read every event's log, addresses in full.
    let r = app.get(&path, Some(&app.admin_token)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(ban_ip(&r.body), "127.0.0.1");
    // The moderator who acted in the room reads it, the address masked.
    let r = app.get(&path, Some(&acting)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(ban_ip(&r.body), "127.0.*.*");
    assert!(!r.body.to_string().contains("127.0.0.1"), "{}", r.body);
    // So do the host unit's staff and the unit's own host.
    for token in [&rsj, &unit_host] {
        let r = app.get(&path, Some(token)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(ban_ip(&r.body), "127.0.*.*");
    }
    // District-wide moderators and hosts who never served the room, and
    // another unit's staff, do not.
    for token in [&idle, &host, &other_unit] {
        let r = app.get(&path, Some(token)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    }
    // Having acted in one room opens no other room's log.
    let r = app.get(&format!("/api/events/{other}/audit"), Some(&acting)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    app.stop().await;
}

async fn only_administrators_change_the_lead_host_unit(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    app.import_plan().await;
    let id = app.event_id("open-day-06").await; // led by rsj
    let rsj = app.staff("staff-rsj", "unit_staff", Some("rsj")).await;
    let path = format!("/api/events/{id}");

    // Unit staff may add a co-host, but not hand the lead to another unit.
    let r = app
        .patch(&path, Some(&rsj), json!({ "host_units": ["gzw", "rsj"] }))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.error_code(), "forbidden");
    let r = app
        .patch(&path, Some(&rsj), json!({ "host_units": ["rsj", "gzw"] }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["hosts"][0]["code"], "rsj");
    // Nor create an event that another unit leads.
    let r = app
        .post(
            "/api/events",
            Some(&rsj),
            json!({ "code": "rsj-extra", "kind": "open_day", "title": "加场", "host_units": ["gzw", "rsj"], "form": "online" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    // Administrators move the lead.
    let r = app
        .patch(&path, Some(&app.admin_token), json!({ "host_units": ["gzw", "rsj"] }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["hosts"][0]["code"], "gzw");
    app.stop().await;
}

async fn a_nul_in_text_input_is_a_400_not_a_500(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    app.import_plan().await;
    let admin = Some(app.admin_token.as_str());
    let id = app.event_id("open-day-06").await;

    for path in [
        "/api/opinions?q=%00abc",
        "/api/opinions?q=a%00",
        "/api/events?theme=%00",
    ] {
        let r = app.get(path, admin).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {:?}", r.body);
        assert_eq!(r.error_code(), "nul_in_input", "{path}");
    }
    let r = app
        .patch(&format!("/api/events/{id}"), admin, json!({ "title": "开放日\u{0}" }))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.error_code(), "nul_in_input");
    let r = app
        .post(
            &format!("/api/events/{id}/opinions"),
            admin,
            json!({ "text": "\u{0}", "nickname": "张三" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    // A backslash followed by u0000 as text is not a NUL.
    let r = app
        .patch(
            &format!("/api/events/{id}"),
            admin,
            json!({ "title": "路径 C:\\u0000" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["title"], "路径 C:\\u0000");
    // The same searches without the NUL work.
    let r = app.get("/api/opinions?q=abc", admin).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app.stop().await;
}

async fn invisible_characters_are_stripped_from_what_viewers_post(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;

    let mut asker = app.ws(event, json!({ "nickname": "张\u{200B}三\u{202E}" })).await;
    asker.expect("snapshot").await;
    let ack = asker
        .request(
            json!({ "type": "ask", "text": "加\u{200B}微\u{FEFF}信 \u{202E}gpj.exe\u{202C} 怎么办？" }),
            "q1",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(ack["question"]["text"], "加微信 gpj.exe 怎么办？");
    let seen = moderator.expect("moderation").await;
    assert_eq!(seen["question"]["text"], "加微信 gpj.exe 怎么办？");
    assert_eq!(seen["question"]["nickname"], "张三");

    // Only invisible characters is no text at all.
    let r = asker
        .request(json!({ "type": "ask", "text": "\u{200B}\u{200D}\u{2066}" }), "q2")
        .await;
    assert_eq!(r["type"], "error", "{r:?}");
    let mut blank = app.ws(event, json!({ "nickname": "\u{200B}\u{202E}" })).await;
    blank.expect("snapshot").await;
    let ack = blank.request(json!({ "type": "ask", "text": "问题" }), "q3").await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    let seen = moderator.expect("moderation").await;
    assert_eq!(seen["question"]["nickname"], "网友", "{seen:?}");
    app.stop().await;
}

async fn api_answers_are_never_stored_by_caches(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    app.import_plan().await;
    for path in ["/api/opinions", "/api/users", "/api/events", "/api/auth/me"] {
        let res = app
            .client
            .get(app.url(path))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
    }
    let res = app
        .client
        .get(app.url("/api/opinions/export?format=csv"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    // Errors too: they may echo what was asked.
    let res = app.client.get(app.url("/api/opinions")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    app.stop().await;
}

/// An anonymous request for something that is not there is the caller's
/// mistake, not the service's: it must not be logged at ERROR (it was, by the
/// store's instrumentation, once per 404).
#[test]
fn an_anonymous_404_is_not_logged_as_an_error() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    let dir = std::env::temp_dir().join(format!("minsheng_404_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}/quiet.db", dir.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_minsheng"))
        .args(["serve", "--listen", "127.0.0.1:0", "--print-addr"])
        .env("DATABASE_URL", &db)
        .env("MINSHENG_LOG", "info")
        .env("MINSHENG_ADMIN_PASSWORD", "an admin password")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the server prints its address").unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.trim().to_owned();
        }
    };
    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        std::io::Write::write_all(
            &mut stream,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    for path in [
        "/api/events/424242",
        "/api/units/424242",
        "/api/nope",
        "/events/424242/record",
    ] {
        let answer = get(path);
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
    }
    assert!(get("/healthz").starts_with("HTTP/1.1 200"));
    let _ = child.kill();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "404s logged as errors:\n{}", errors.join("\n"));
}

on_both_backends!(an_open_console_closes_when_its_session_ends);

/// Point 6's other half: ending an account's sessions (a password reset, a
/// sign-out) must also close a moderator console that is already open, not
/// only refuse the next HTTP request.
async fn an_open_console_closes_when_its_session_ends(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let token = app.staff("mod", "moderator", None).await;
    let other = app.login("mod", "staff-password-123").await;
    let mut console = app.staff_ws(event, &token).await;
    let mut stays = app.staff_ws(event, &other).await;
    let r = app.post("/api/auth/logout", Some(&token), json!({})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    // Within the re-check interval (5 s), well inside closed()'s deadline.
    let (code, frames) = console.closed().await;
    assert_eq!(code, Some(4403), "{frames:?}");
    assert!(frames.iter().any(|f| f["code"] == "session_ended"), "{frames:?}");
    // The account's other session is untouched.
    assert_eq!(stays.request(json!({ "type": "ping" }), "p").await["type"], "pong");
    app.stop().await;
}

/// Point 17: `/metrics` can be protected, and HSTS sent behind HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_protected_and_hsts_sent() {
    let http = minsheng::config::HttpSettings {
        hsts: true,
        metrics_token: minsheng::config::Secret::parse("scrape-token-123"),
        ..crate::helpers::http_settings()
    };
    let app = crate::helpers::spawn_app_full(Backend::Sqlite, crate::helpers::live_settings(), http)
        .await
        .expect("SQLite is always there");
    let get = |token: Option<&'static str>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    let res = get(None).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(Some("scrape-token-12")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // An administrator's session is not the metrics token either.
    let res = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = get(Some("scrape-token-123")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert!(res.text().await.unwrap().contains("minsheng_up 1"));
    app.stop().await;

    // Without the settings: open metrics, no HSTS (a plain-HTTP deployment
    // must not pin browsers to HTTPS).
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("strict-transport-security").is_none());
    app.stop().await;
}

/// Point 4's other half: a request whose head arrived but whose body never
/// finishes is answered 408 `body_timeout` and its connection closed (the
/// server loop's header timeout covers only the head).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_body_that_never_finishes_is_answered_and_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let mut socket = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    socket
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\":",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        minsheng::http::error::BODY_TIMEOUT + std::time::Duration::from_secs(30),
        socket.read_to_end(&mut answer),
    )
    .await
    .expect("the server answers and closes in time");
    assert!(read.is_ok(), "{read:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    app.stop().await;
}
