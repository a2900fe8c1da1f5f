//! Issue 18, point 1: the live page's player in Chromium, at desktop size
//! and on a 390-px phone. A local server plays the test stream checked in
//! under `tests/fixtures/` (a live HLS playlist sliding over four 2-second
//! segments, the same as a VOD replay, captions, an FLV file), and the app's
//! `--media-origins` names it. Each size watches:
//!
//! - an event starting in two hours: 直播未开始 with its time and a ticking
//!   countdown; started and ended while the page is open: 直播已结束 with the
//!   way to the answers; then an FLV replay played through mpegts.js, and
//!   one from a site outside `--media-origins`, refused and said so;
//! - an announced event with a stream: its countdown, then, started, the
//!   stream playing (the picture moves, `readyState` ≥ 3) with its captions;
//!   the stream server killed: 信号中断，正在重连… while a question still goes
//!   in; the server back: playing again; ended with a replay: 直播已结束 and
//!   the replay playing.
//!
//! The desktop browser plays HLS as it is: Debian's Chromium 156 says it
//! plays HLS itself (`canPlayType` answers "maybe"), so the page hands the
//! playlist to the `<video>` element; an older one would get hls.js. On the
//! phone the page is told native HLS is missing (as in Firefox or an older
//! Chromium), so hls.js plays it. Either way the browser's MediaSource must
//! take H.264 and AAC, checked first. No page may trip the CSP.
//!
//! Like the other browser tests, it says so loudly and passes without
//! Chromium, unless MINSHENG_REQUIRE_BROWSER=1.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::browser::webdriver::{Browser, Driver};
use crate::browser::{browser_here, fits, screenshots, shows};
use crate::helpers::{Backend, TestApp, http_settings, live_settings, spawn_app_full};

/// The four segments of the test stream, 2 s each.
const SEGMENTS: [&[u8]; 4] = [
    include_bytes!("../fixtures/hls/seg0.ts"),
    include_bytes!("../fixtures/hls/seg1.ts"),
    include_bytes!("../fixtures/hls/seg2.ts"),
    include_bytes!("../fixtures/hls/seg3.ts"),
];
const SEGMENT_SECS: u64 = 2;
/// Segments in the live playlist at a time.
const WINDOW: u64 = 3;
/// The same segments as a VOD playlist: the replay.
const VOD: &str = include_str!("../fixtures/hls/stream.m3u8");
const CAPTIONS: &str = include_str!("../fixtures/hls/captions.vtt");
const FLV: &[u8] = include_bytes!("../fixtures/flv/stream.flv");
const FIRST_CUE: &str = "主持人：欢迎收看政务开放日直播。";

/// The live playlist `elapsed` after the stream began: a window of
/// [`WINDOW`] segments sliding every 2 s over the four, looping, with a
/// discontinuity where a loop starts again (the timestamps go back).
fn live_playlist(elapsed: Duration) -> String {
    let loop_len = SEGMENTS.len() as u64;
    let first = elapsed.as_secs() / SEGMENT_SECS;
    let mut out = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{SEGMENT_SECS}\n\
         #EXT-X-MEDIA-SEQUENCE:{first}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
        first / loop_len
    );
    for k in first..first + WINDOW {
        if k > first && k % loop_len == 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        out.push_str(&format!("#EXTINF:2.000000,\nseg{}.ts?n={k}\n", k % loop_len));
    }
    out
}

#[test]
fn the_live_playlist_slides_and_loops() {
    let at = |secs| live_playlist(Duration::from_secs(secs));
    assert!(at(0).contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    assert!(at(0).ends_with("seg0.ts?n=0\n#EXTINF:2.000000,\nseg1.ts?n=1\n#EXTINF:2.000000,\nseg2.ts?n=2\n"));
    let looped = at(5);
    assert!(
        looped.contains("#EXT-X-MEDIA-SEQUENCE:2\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n"),
        "{looped}"
    );
    assert!(
        looped.contains("seg3.ts?n=3\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000000,\nseg0.ts?n=4\n"),
        "{looped}"
    );
    let next = at(8);
    assert!(
        next.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n") && !next.contains("#EXT-X-DISCONTINUITY\n"),
        "{next}"
    );
    assert!(!at(0).contains("ENDLIST"), "live");
    assert!(VOD.contains("#EXT-X-ENDLIST") && VOD.matches("#EXTINF:2.000000,").count() == 4);
}

/// A tiny HTTP server for the test stream, as a district's streaming server
/// answers hls.js: the right types, `Access-Control-Allow-Origin: *`.
/// Stopping it closes its port and every open connection.
struct StreamServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl StreamServer {
    /// Serve on `port` (0: any); the live playlist counts from `epoch`.
    async fn start(port: u16, epoch: Instant) -> StreamServer {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the stream server");
        let addr = listener.local_addr().expect("its address");
        let task = tokio::spawn(async move {
            // Dropped with this task when it is aborted: the connections end with it.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((socket, _)) = accepted {
                            connections.spawn(serve(socket, epoch));
                        }
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        StreamServer { addr, task }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin())
    }

    /// The signal goes: the port refuses connections.
    async fn stop(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

/// One request, one answer, then the connection closes.
async fn serve(mut socket: TcpStream, epoch: Instant) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 && head.len() < 16 * 1024 => head.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut first = text.split_whitespace();
    let method = first.next().unwrap_or_default().to_owned();
    let path = first
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    let segment = path
        .strip_prefix("/seg")
        .and_then(|rest| rest.strip_suffix(".ts"))
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| SEGMENTS.get(i));
    let (status, kind, body): (&str, &str, Vec<u8>) = match (method.as_str(), path.as_str(), segment) {
        ("OPTIONS", _, _) => ("204 No Content", "text/plain", Vec::new()),
        (_, "/live.m3u8", _) => (
            "200 OK",
            "application/vnd.apple.mpegurl",
            live_playlist(epoch.elapsed()).into_bytes(),
        ),
        (_, "/stream.m3u8", _) => ("200 OK", "application/vnd.apple.mpegurl", VOD.as_bytes().to_vec()),
        (_, "/captions.vtt", _) => ("200 OK", "text/vtt; charset=utf-8", CAPTIONS.as_bytes().to_vec()),
        (_, "/stream.flv", _) => ("200 OK", "video/x-flv", FLV.to_vec()),
        (_, _, Some(segment)) => ("200 OK", "video/mp2t", segment.to_vec()),
        _ => ("404 Not Found", "text/plain", b"not found".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Headers: *\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    if method != "HEAD" {
        let _ = socket.write_all(&body).await;
    }
    let _ = socket.shutdown().await;
}

/// Set before each page's scripts: note every CSP violation.
const WATCH_CSP: &str = "window.__csp = []; document.addEventListener('securitypolicyviolation', \
    (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));";
/// Set before each page's scripts on the phone: a browser without native HLS.
const NO_NATIVE_HLS: &str = "const canPlay = HTMLMediaElement.prototype.canPlayType; \
    HTMLMediaElement.prototype.canPlayType = function (type) { \
      return /mpegurl/i.test(type) ? '' : canPlay.call(this, type); };";

/// How long the page may take to notice the stream is gone, or back: a
/// native player plays what it holds (up to a window, 6 s) and waits 8 s
/// before it calls the signal lost; the retries wait up to 8 s by then.
const SIGNAL_WAIT: Duration = Duration::from_secs(45);

/// Poll `script` until it returns something other than null or false, for up to `within`.
async fn wait_for(b: &Browser, what: &str, script: &str, args: Value, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let v = b.js(script, args.clone()).await;
        if !v.is_null() && v != json!(false) {
            eprintln!("[player] {what}: {} ms", started.elapsed().as_millis());
            return v;
        }
        let state = b
            .js(
                "const s = document.getElementById('stream'); \
                 return { state: s.dataset.state, text: s.innerText, csp: window.__csp };",
                json!([]),
            )
            .await;
        assert!(
            started.elapsed() < within,
            "timed out waiting for {what}; the player: {state}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The player's box: its state and the panel's texts.
const PANEL: &str = "const s = document.getElementById('stream'); const t = (c) => s.querySelector(c); \
    const shown = (c) => t(c) && !t(c).hidden ? t(c).textContent : null; \
    return { state: s.dataset.state, title: t('.player-title')?.textContent ?? null, \
      detail: shown('.player-detail'), countdown: shown('.player-countdown'), links: shown('.player-links'), \
      hrefs: [...s.querySelectorAll('.player-links a')].map((a) => a.getAttribute('href')) };";

/// Wait for the player to be in `state`.
async fn in_state(b: &Browser, state: &str, within: Duration) -> Value {
    let script = PANEL.replace(
        "return {",
        "if (s.dataset.state !== arguments[0]) return null; return {",
    );
    wait_for(b, &format!("the player {state}"), &script, json!([state]), within).await
}

/// Wait until the video plays: its picture moves on by more than a second
/// with `readyState` ≥ 3 (HAVE_FUTURE_DATA). Returns how it plays.
async fn plays(b: &Browser, what: &str) -> Value {
    b.js("window.__from = null;", json!([])).await;
    wait_for(
        b,
        what,
        "const v = document.querySelector('#stream video'); \
         if (!v || v.readyState < 3 || v.paused) return null; \
         if (window.__from === null) { window.__from = v.currentTime; return null; } \
         if (v.currentTime < window.__from + 1) return null; \
         return { src: v.src, currentSrc: v.currentSrc, currentTime: v.currentTime, readyState: v.readyState, \
                  muted: v.muted, hls: typeof window.Hls, mpegts: typeof window.mpegts };",
        json!([]),
        SIGNAL_WAIT,
    )
    .await
}

/// Wait until the page's live client is connected.
async fn connected(b: &Browser, what: &str) {
    b.wait(
        what,
        "return document.getElementById('conn').textContent === '已连接' \
         && window.minshengLive && window.minshengLive.state === 'open'",
        json!([]),
    )
    .await;
}

/// Announce event `code` (the plan imported) to start at `starts_at`; its room open to all.
async fn announce_at(app: &TestApp, code: &str, starts_at: DateTime<Utc>) -> i64 {
    let id = app.event_id(code).await;
    let admin = Some(app.admin_token.as_str());
    let r = app
        .patch(
            &format!("/api/events/{id}"),
            admin,
            json!({ "starts_at": starts_at.to_rfc3339(), "duration_minutes": 60, "identity_mode": "open" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.post(&format!("/api/events/{id}/announce"), admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    id
}

async fn lifecycle(app: &TestApp, event: i64, step: &str) {
    let r = app
        .post(
            &format!("/api/events/{event}/{step}"),
            Some(&app.admin_token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{step}: {:?}", r.body);
}

async fn set_media(app: &TestApp, event: i64, body: Value) {
    let path = format!("/api/events/{event}/media");
    let r = app
        .request(Method::PUT, &path, Some(&app.admin_token), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// One screen size: which events it watches, and whether its browser is
/// told it has no HLS of its own (else it plays as it is).
struct Watch {
    name: &'static str,
    width: u32,
    height: u32,
    mobile: bool,
    hide_native_hls: bool,
    /// Starts in two hours; has no stream.
    soon: i64,
    /// Announced for ten days from now, with the live stream and captions.
    broadcast: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_player_counts_down_plays_reconnects_and_replays() {
    if !browser_here() {
        return;
    }
    let started = Instant::now();
    let epoch = Instant::now();
    let mut stream = StreamServer::start(0, epoch).await;
    let port = stream.addr.port();
    let mut http = http_settings();
    http.media_origins = vec![stream.origin()];
    let app = spawn_app_full(Backend::Sqlite, live_settings(), http)
        .await
        .expect("SQLite is always there");
    app.import_plan().await;
    let soon_at = Utc::now() + chrono::Duration::hours(2);
    let later = Utc::now() + chrono::Duration::days(10);
    let watches = [
        Watch {
            name: "desktop",
            width: 1280,
            height: 900,
            mobile: false,
            hide_native_hls: false,
            soon: announce_at(&app, "open-day-07", soon_at).await,
            broadcast: announce_at(&app, "open-day-06", later).await,
        },
        Watch {
            name: "phone",
            width: 390,
            height: 844,
            mobile: true,
            hide_native_hls: true,
            soon: announce_at(&app, "open-day-08", soon_at).await,
            broadcast: announce_at(&app, "open-day-05", later).await,
        },
    ];
    for w in &watches {
        let admin = Some(app.admin_token.as_str());
        let r = app
            .patch(
                &format!("/api/events/{}", w.broadcast),
                admin,
                json!({ "stream_url": stream.url("/live.m3u8") }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        set_media(
            &app,
            w.broadcast,
            json!({ "captions_url": stream.url("/captions.vtt") }),
        )
        .await;
    }
    let driver = Driver::start().await;
    let shots = screenshots();
    for w in &watches {
        watch(&app, &driver, &mut stream, port, epoch, w, &shots).await;
    }
    drop(driver);
    stream.stop().await;
    app.stop().await;
    eprintln!("[player] the player's pages: {} ms", started.elapsed().as_millis());
}

async fn watch(
    app: &TestApp,
    driver: &Driver,
    stream: &mut StreamServer,
    port: u16,
    epoch: Instant,
    w: &Watch,
    shots: &Path,
) {
    let b = driver.browser(w.width, w.height, w.mobile).await;
    let before_scripts = if w.hide_native_hls {
        format!("{WATCH_CSP} {NO_NATIVE_HLS}")
    } else {
        WATCH_CSP.to_owned()
    };
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": before_scripts }),
    )
    .await;
    let page = |event: i64| app.url(&format!("/live.html?event={event}"));
    let shot = |what: &str| shots.join(format!("player-{what}-{}.png", w.name));

    // What this browser plays: the test stream is H.264 and AAC, which
    // Chromium's MediaSource must take (Debian builds it with those codecs).
    b.goto(&app.url("/live.html")).await;
    let can = b
        .js(
            "const v = document.createElement('video'); \
             return { mse: window.MediaSource ? MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42E01E,mp4a.40.2\"') : null, \
                      native: v.canPlayType('application/vnd.apple.mpegurl'), agent: navigator.userAgent };",
            json!([]),
        )
        .await;
    eprintln!("[player] {}: {can}", w.name);
    assert_eq!(
        can["mse"], true,
        "this Chromium's MediaSource does not take H.264 + AAC: hls.js and mpegts.js cannot play the test stream ({can})"
    );
    let native_hls = can["native"].as_str().is_some_and(|n| !n.is_empty());
    assert!(!(native_hls && w.hide_native_hls), "native HLS was to be hidden: {can}");

    // Two hours before: 直播未开始, the time, a countdown that ticks.
    b.goto(&page(w.soon)).await;
    connected(&b, "the viewer page to connect").await;
    let upcoming = in_state(&b, "upcoming", Duration::from_secs(20)).await;
    assert_eq!(upcoming["title"], "直播未开始", "{upcoming}");
    assert!(
        upcoming["detail"].as_str().is_some_and(|d| d.starts_with("开始时间：")),
        "{upcoming}"
    );
    let first = upcoming["countdown"].as_str().unwrap_or_default().to_owned();
    assert!(
        first.starts_with("距开始 01:5") && first.len() == "距开始 01:59:59".len(),
        "{upcoming}"
    );
    wait_for(
        &b,
        "the countdown to tick",
        "const c = document.querySelector('#stream .player-countdown').textContent; \
         return c !== arguments[0] && c.startsWith('距开始 01:5') ? c : null;",
        json!([first]),
        Duration::from_secs(5),
    )
    .await;
    if w.mobile {
        assert!(fits(&b, "#stream").await, "the player fits 390 px");
    }
    b.screenshot(&shot("upcoming")).await;

    // Started and ended while the page is open: no stream, then 直播已结束 and the way on.
    lifecycle(app, w.soon, "start").await;
    let live = in_state(&b, "none", Duration::from_secs(20)).await;
    assert_eq!(live["title"], "直播进行中", "{live}");
    lifecycle(app, w.soon, "end").await;
    let ended = in_state(&b, "ended", Duration::from_secs(20)).await;
    assert_eq!(ended["title"], "直播已结束", "{ended}");
    // The way on is the ended box's (once, below the player); the panel points to it.
    assert_eq!(ended["hrefs"], json!(["#ended-box"]), "{ended}");
    let ended_links = b
        .wait(
            "the ended box's links",
            "if (document.getElementById('ended-box').hidden) return null; \
             return [...document.querySelectorAll('a')].filter((a) => a.offsetParent !== null) \
             .map((a) => a.getAttribute('href')).filter((h) => h.startsWith('/event.html'));",
            json!([]),
        )
        .await;
    assert_eq!(
        ended_links,
        json!([format!("/event.html?id={}#feedback-title", w.soon)]),
        "one link to the answers"
    );
    b.screenshot(&shot("ended")).await;

    // An FLV replay, through mpegts.js.
    set_media(app, w.soon, json!({ "replay_url": stream.url("/stream.flv") })).await;
    b.goto(&page(w.soon)).await;
    connected(&b, "the ended page to connect").await;
    let replay = in_state(&b, "replay", Duration::from_secs(20)).await;
    assert_eq!(replay["title"], "直播已结束 · 回放", "{replay}");
    b.js(
        "const v = document.querySelector('#stream video'); v.muted = true; v.play();",
        json!([]),
    )
    .await;
    let flv = plays(&b, "the FLV replay to play").await;
    assert_eq!(flv["mpegts"], "object", "mpegts.js plays FLV: {flv}");
    assert!(flv["src"].as_str().is_some_and(|s| s.starts_with("blob:")), "{flv}");

    // A replay on a site the CSP does not let in: said at once, with the address, not retried for ever.
    let elsewhere = format!("http://127.0.0.2:{port}/stream.m3u8");
    set_media(app, w.soon, json!({ "replay_url": elsewhere })).await;
    b.goto(&page(w.soon)).await;
    connected(&b, "the page with a refused replay to connect").await;
    let refused = in_state(&b, "failed", Duration::from_secs(20)).await;
    assert_eq!(refused["title"], "回放地址未获准在本页播放", "{refused}");
    assert_eq!(refused["hrefs"], json!([elsewhere]), "{refused}");

    // The broadcast: announced, its countdown in days; started: the stream plays.
    b.goto(&page(w.broadcast)).await;
    connected(&b, "the broadcast page to connect").await;
    let upcoming = in_state(&b, "upcoming", Duration::from_secs(20)).await;
    assert!(
        upcoming["countdown"]
            .as_str()
            .is_some_and(|c| c.starts_with("距开始还有 9 天 23 小时")),
        "{upcoming}"
    );
    lifecycle(app, w.broadcast, "start").await;
    in_state(&b, "playing", SIGNAL_WAIT).await;
    let live = plays(&b, "the live stream to play").await;
    let playlist = stream.url("/live.m3u8");
    if native_hls {
        assert_eq!(live["src"], json!(playlist), "the browser plays HLS itself: {live}");
    } else {
        assert_eq!(live["hls"], "function", "hls.js plays it: {live}");
        assert!(live["src"].as_str().is_some_and(|s| s.starts_with("blob:")), "{live}");
    }
    assert_eq!(live["muted"], true, "started without sound: {live}");
    let captions = wait_for(
        &b,
        "the captions",
        "const t = document.querySelector('#stream video track'); \
         return t && t.track.cues && t.track.cues.length > 0 \
           ? { kind: t.kind, srclang: t.srclang, label: t.label, mode: t.track.mode, cue: t.track.cues[0].text } : null;",
        json!([]),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(
        captions,
        json!({ "kind": "captions", "srclang": "zh", "label": "中文字幕", "mode": "showing", "cue": FIRST_CUE })
    );
    b.click("#stream .player-unmute").await;
    let sound = b
        .js(
            "const v = document.querySelector('#stream video'); \
             return { muted: v.muted, button: document.querySelector('#stream .player-unmute').hidden };",
            json!([]),
        )
        .await;
    assert_eq!(sound, json!({ "muted": false, "button": true }));
    if w.mobile {
        assert!(fits(&b, "#stream video").await, "the video fits 390 px");
    }
    b.screenshot(&shot("live")).await;

    // The signal goes: 信号中断，正在重连…; the Q&A goes on.
    stream.stop().await;
    let lost = in_state(&b, "reconnecting", SIGNAL_WAIT).await;
    assert_eq!(lost["title"], "信号中断，正在重连…", "{lost}");
    let question = format!("直播画面断了，社银合作网点在哪里？（{}）", w.name);
    b.fill("#ask-text", &question).await;
    b.click("#ask-form button[type=submit]").await;
    shows(
        &b,
        "the question taken while the stream is down",
        "#mine .own-pending",
        &question,
    )
    .await;
    b.screenshot(&shot("reconnecting")).await;

    // ... and comes back on its address: playing again, by itself.
    *stream = StreamServer::start(port, epoch).await;
    in_state(&b, "playing", SIGNAL_WAIT).await;
    plays(&b, "the stream to play again").await;

    // Ended, with a replay: 直播已结束, and the replay plays.
    set_media(
        app,
        w.broadcast,
        json!({ "replay_url": stream.url("/stream.m3u8"), "captions_url": stream.url("/captions.vtt") }),
    )
    .await;
    lifecycle(app, w.broadcast, "end").await;
    let replay = in_state(&b, "replay", SIGNAL_WAIT).await;
    assert_eq!(replay["title"], "直播已结束 · 回放", "{replay}");
    b.js(
        "const v = document.querySelector('#stream video'); v.muted = true; v.play();",
        json!([]),
    )
    .await;
    let vod = plays(&b, "the replay to play").await;
    if native_hls {
        assert_eq!(vod["src"], json!(stream.url("/stream.m3u8")), "{vod}");
    } else {
        assert!(vod["src"].as_str().is_some_and(|s| s.starts_with("blob:")), "{vod}");
    }
    b.screenshot(&shot("replay")).await;

    let csp = b.js("return window.__csp", json!([])).await;
    assert_eq!(csp, json!([]), "no page tripped the CSP");
    b.quit().await;
}
