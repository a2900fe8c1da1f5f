//! Issue 18, point 1 (the server's side): what the live page plays — the
//! stream, the replay and the captions, each with how it plays — read by
//! the public, set by the event's managers (also after the event ended, when
//! its description is closed); the Content-Security-Policy opened to the
//! configured media origins and nothing else; the vendored players served
//! byte for byte with their licences.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, http_settings, live_settings, spawn_app, spawn_app_full};
use crate::on_both_backends;

on_both_backends!(an_event_s_media_is_read_by_all_and_set_by_its_managers);

const STREAM: &str = "https://live.bjdx.gov.cn/hls/dx06/index.m3u8";
const REPLAY: &str = "https://live.bjdx.gov.cn/vod/dx06.m3u8";
const CAPTIONS: &str = "https://live.bjdx.gov.cn/vod/dx06.zh.vtt";

async fn put(app: &TestApp, event: i64, token: Option<&str>, body: Value) -> crate::helpers::Reply {
    app.request(Method::PUT, &format!("/api/events/{event}/media"), token, Some(body))
        .await
}

async fn an_event_s_media_is_read_by_all_and_set_by_its_managers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    app.import_plan().await;
    let admin = Some(app.admin_token.as_str());
    let draft = app.event_id("open-day-06").await;
    let media = format!("/api/events/{draft}/media");

    // A draft's media is not public; its managers see it.
    assert_eq!(app.get(&media, None).await.status, StatusCode::NOT_FOUND);
    let r = app.get(&media, admin).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({ "stream_url": null, "stream_kind": "none", "replay_url": null, "replay_kind": "none", "captions_url": null })
    );

    let event = app.announce("open-day-06").await;
    assert_eq!(event, draft);
    let r = app
        .patch(&format!("/api/events/{event}"), admin, json!({ "stream_url": STREAM }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.get(&media, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["stream_url"], STREAM);
    assert_eq!(r.body["stream_kind"], "hls");
    assert_eq!(r.body["replay_kind"], "none");

    // Who may set it: the event's managers, not the public, not another unit.
    let body = json!({ "replay_url": REPLAY, "captions_url": CAPTIONS });
    assert_eq!(
        put(&app, event, None, body.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let other_unit = app.staff("gzw-staff", "unit_staff", Some("gzw")).await;
    assert_eq!(
        put(&app, event, Some(&other_unit), body.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;

    // Only http(s) addresses, and nothing unknown.
    for (field, bad) in [
        ("replay_url", "javascript:alert(1)"),
        ("captions_url", "ftp://live.bjdx.gov.cn/a.vtt"),
        ("replay_url", "https://live.bjdx.gov.cn/a b.m3u8"),
    ] {
        let r = put(&app, event, Some(&unit), json!({ field: bad })).await;
        assert_eq!(r.error_code(), "invalid", "{bad}: {:?}", r.body);
        assert_eq!(r.body["error"]["details"]["field"], field);
    }
    let r = put(&app, event, Some(&unit), json!({ "stream_url": STREAM })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);

    let r = put(&app, event, Some(&unit), body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let expected = json!({
        "stream_url": STREAM, "stream_kind": "hls",
        "replay_url": REPLAY, "replay_kind": "hls", "captions_url": CAPTIONS,
    });
    assert_eq!(r.body, expected);
    assert_eq!(app.get(&media, None).await.body, expected);

    // Live, then ended: the description is closed, the replay can still change.
    let r = app.post(&format!("/api/events/{event}/start"), admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.post(&format!("/api/events/{event}/end"), admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let closed = app
        .patch(&format!("/api/events/{event}"), admin, json!({ "stream_url": null }))
        .await;
    assert_eq!(closed.error_code(), "event_closed");
    let flv = "http://10.1.2.3:8080/vod/dx06.flv";
    let r = put(&app, event, Some(&unit), json!({ "replay_url": flv })).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["replay_kind"], "flv");
    assert_eq!(r.body["captions_url"], Value::Null, "a PUT replaces both");

    // Cleared, the replay is the video published with the materials.
    let r = put(&app, event, Some(&unit), json!({})).await;
    assert_eq!(r.body["replay_kind"], "none", "{:?}", r.body);
    let video = "https://www.bjdx.gov.cn/video/dx06.mp4";
    let r = app
        .post(
            &format!("/api/events/{event}/materials"),
            Some(&unit),
            json!({ "materials_url": "https://www.bjdx.gov.cn/kfr/6", "video_url": video }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.get(&media, None).await;
    assert_eq!(r.body["replay_url"], video);
    assert_eq!(r.body["replay_kind"], "file");
    let page = "https://v.bjdx.gov.cn/watch?id=6";
    let r = put(&app, event, Some(&unit), json!({ "replay_url": page })).await;
    assert_eq!(r.body["replay_url"], page, "the one set here comes first");
    assert_eq!(r.body["replay_kind"], "page");

    // Each change is in the security log, before and after.
    let log = app.get("/api/security-log?kind=event_changed", admin).await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    let text = log.body.to_string();
    assert!(text.contains(REPLAY) && text.contains(page), "{text}");

    // A cancelled event has no replay.
    let other = app.announce("open-day-07").await;
    let r = app
        .post(
            &format!("/api/events/{other}/cancel"),
            admin,
            json!({ "reason": "场地不可用" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(put(&app, other, admin, body).await.error_code(), "event_closed");
    assert_eq!(
        app.get("/api/events/999999/media", None).await.status,
        StatusCode::NOT_FOUND
    );
    app.stop().await;
}

/// The policy of a page as served.
async fn csp(app: &TestApp, path: &str) -> String {
    let r = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.headers()["content-security-policy"].to_str().unwrap().to_owned()
}

/// The directive `name` of `policy`, as written.
fn directive<'a>(policy: &'a str, name: &str) -> Option<&'a str> {
    policy
        .split(';')
        .map(str::trim)
        .find(|d| d.split_whitespace().next() == Some(name))
}

#[tokio::test]
async fn the_csp_opens_to_the_media_origins_and_nothing_else() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite");
    let plain = csp(&app, "/live.html").await;
    assert_eq!(directive(&plain, "connect-src"), Some("connect-src 'self'"), "{plain}");
    assert_eq!(
        directive(&plain, "media-src"),
        Some("media-src https: blob:"),
        "{plain}"
    );
    assert_eq!(directive(&plain, "script-src"), Some("script-src 'self'"), "{plain}");
    assert_eq!(
        directive(&plain, "worker-src"),
        None,
        "hls.js runs without a worker: {plain}"
    );
    app.stop().await;

    let mut http = http_settings();
    http.media_origins = vec!["https://live.bjdx.gov.cn".into(), "http://10.1.2.3:8080".into()];
    let app = spawn_app_full(Backend::Sqlite, live_settings(), http)
        .await
        .expect("SQLite");
    for path in ["/live.html", "/moderate.html"] {
        let policy = csp(&app, path).await;
        assert_eq!(
            directive(&policy, "connect-src"),
            Some("connect-src 'self' https://live.bjdx.gov.cn http://10.1.2.3:8080"),
            "{path}: {policy}"
        );
        assert_eq!(
            directive(&policy, "media-src"),
            Some("media-src https: blob: https://live.bjdx.gov.cn http://10.1.2.3:8080"),
            "{path}: {policy}"
        );
        for strict in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(policy.split(';').any(|d| d.trim() == strict), "{path}: {policy}");
        }
    }
    assert!(csp(&app, "/live.html").await.ends_with("frame-ancestors 'self'"));
    assert!(csp(&app, "/moderate.html").await.ends_with("frame-ancestors 'none'"));
    app.stop().await;
}

#[tokio::test]
async fn the_vendored_players_are_served_as_checked_in_with_their_licences() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite");
    let vendor = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/vendor");
    for (file, kind, says) in [
        ("hls.min.js", "text/javascript; charset=utf-8", "Hls"),
        ("mpegts.js", "text/javascript; charset=utf-8", "mpegts"),
        ("hls.js.LICENSE", "text/plain; charset=utf-8", "Apache License"),
        ("mpegts.js.LICENSE", "text/plain; charset=utf-8", "Apache License"),
        ("mpegts.js.LICENSE.txt", "text/plain; charset=utf-8", "es6-promise"),
    ] {
        let r = app
            .client
            .get(app.url(&format!("/vendor/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{file}");
        assert_eq!(r.headers()["content-type"], kind, "{file}");
        let served = r.bytes().await.unwrap();
        let checked_in = std::fs::read(vendor.join(file)).expect("the checked-in file");
        assert!(served[..] == checked_in[..], "{file} is served as checked in");
        assert!(String::from_utf8_lossy(&served).contains(says), "{file}");
    }
    // The README names each file's checksum.
    let readme = std::fs::read_to_string(vendor.join("README.md")).expect("web/vendor/README.md");
    for file in ["hls.min.js", "mpegts.js"] {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(std::fs::read(vendor.join(file)).unwrap());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            readme.contains(&hex),
            "web/vendor/README.md gives {file}'s sha256 {hex}"
        );
    }
    app.stop().await;
}
