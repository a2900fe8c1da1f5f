//! The studio's text feed (图文直播) in the pages: a host signed in to the
//! console posts an update with a picture (chosen in the file input, as a
//! person would), edits it and withdraws it; a viewer on a 390-px phone
//! follows it live in the 图文直播 tab (its badge counting what is new, the
//! tabs worked by keyboard), gets what was posted while their connection was
//! down when it resumes, and the big screen shows the latest update. The
//! questions still go from the phone to the console.
//!
//! Like the other browser tests, it says so loudly and passes without
//! Chromium, unless MINSHENG_REQUIRE_BROWSER=1.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::browser::webdriver::{Browser, Driver};
use crate::browser::{browser_here, fits, screenshots, shows};
use crate::helpers::{TestApp, spawn_app};

/// The password `TestApp::staff` gives the accounts it creates.
const STAFF_PASSWORD: &str = "staff-password-123";
/// What the host posts: markup in it stays text.
const POSTED: &str = "嘉宾已到场，直播即将开始。<img src=x onerror=alert(1)>";
const EDITED: &str = "主讲人正在介绍灵活就业人员参保政策，欢迎提问。";
const WHILE_AWAY: &str = "现场问答环节开始";
/// The picture's size in pixels.
const WIDTH: u32 = 64;
const HEIGHT: u32 = 40;

/// A file for the browser to upload, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("minsheng_feed_{}_{name}", std::process::id()));
        std::fs::write(&path, bytes).expect("write the file to upload");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A `width`×`height` PNG (8-bit RGB, deflate's stored blocks, no crate
/// needed): a red field with a yellow band, enough to see in a screenshot.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // the row's filter: none
        let band = y >= height / 3 && y < 2 * height / 3;
        for _ in 0..width {
            raw.extend_from_slice(if band { &[0xFF, 0xD6, 0x66] } else { &[0xA8, 0x07, 0x1A] });
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(usize::from(u16::MAX)).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).expect("a stored block");
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter choice, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", header), (b"IDAT", zlib), (b"IEND", Vec::new())] {
        out.extend_from_slice(&u32::try_from(data.len()).expect("a chunk").to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(&data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn the_test_picture_is_a_png() {
    let bytes = png(WIDTH, HEIGHT);
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR"));
    assert_eq!(&bytes[16..24], &[0, 0, 0, 64, 0, 0, 0, 40]);
    // The check value of the standard test input.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
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

/// The console for `event`, signed in as `username` (sent to the sign-in
/// page first, then back); connected as a host.
async fn console_as_host(app: &TestApp, driver: &Driver, event: i64, username: &str) -> Browser {
    let host = driver.browser(1280, 900, false).await;
    host.goto(&app.url(&format!("/moderate.html?event={event}"))).await;
    host.wait(
        "the redirect to the sign-in page",
        "return location.pathname === '/login.html' && document.readyState === 'complete'",
        json!([]),
    )
    .await;
    host.fill("#username", username).await;
    host.fill("#password", STAFF_PASSWORD).await;
    host.click("#login-button").await;
    host.wait(
        "the console after signing in",
        "return location.pathname === '/moderate.html' && !!window.minshengLive",
        json!([]),
    )
    .await;
    connected(&host, "the console to connect").await;
    let capability = host
        .js("return window.minshengLive.welcome.capability", json!([]))
        .await;
    assert_eq!(capability, json!("host"));
    host
}

/// The `data-id` of the console's feed item whose text is `text`.
async fn console_item(host: &Browser, text: &str) -> i64 {
    let id = host
        .wait(
            &format!("the console's item {text:?}"),
            "const n = [...document.querySelectorAll('#feed-list .feed-item')] \
             .find(e => e.querySelector('.post-text')?.textContent === arguments[0]); \
             return n ? n.dataset.id : null;",
            json!([text]),
        )
        .await;
    id.as_str().and_then(|s| s.parse().ok()).expect("numeric data-id")
}

/// The viewer's feed tab: whether it is selected, and its badge (null when hidden).
async fn feed_tab(viewer: &Browser) -> Value {
    viewer
        .js(
            "const badge = document.getElementById('feed-badge'); \
             return { selected: document.getElementById('tab-feed').getAttribute('aria-selected'), \
                      badge: badge.hidden ? null : badge.textContent };",
            json!([]),
        )
        .await
}

/// The viewer's feed items: text, 已编辑, time, datetime and image attributes.
async fn viewer_items(viewer: &Browser) -> Value {
    viewer
        .js(
            "return [...document.querySelectorAll('#feed .feed-item')].map(li => { \
               const img = li.querySelector('img'); const time = li.querySelector('time'); \
               return { id: Number(li.dataset.id), text: li.querySelector('.post-text').textContent, \
                 edited: [...li.querySelectorAll('.tag')].some(t => t.textContent === '已编辑'), \
                 time: time.textContent, datetime: time.dateTime, \
                 img: img && { src: img.getAttribute('src'), alt: img.alt, loading: img.getAttribute('loading'), \
                               loaded: img.complete && img.naturalWidth } }; });",
            json!([]),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_runs_the_text_feed_and_the_phone_follows_it() {
    if !browser_here() {
        return;
    }
    let started = std::time::Instant::now();
    let app = spawn_app(crate::helpers::Backend::Sqlite)
        .await
        .expect("SQLite is always there");
    let event = app.live_event().await;
    app.staff("host1", "host", None).await;
    let picture = TempFile::new("stage.png", &png(WIDTH, HEIGHT));
    let not_a_picture = TempFile::new("notes.txt", "这不是图片".as_bytes());
    let driver = Driver::start().await;
    let shots = screenshots();

    // The viewer on a 390-px phone: the Q&A open, the feed one arrow key away.
    let viewer = driver.browser(390, 844, true).await;
    viewer.goto(&app.url(&format!("/live.html?event={event}"))).await;
    connected(&viewer, "the viewer page to connect").await;
    assert!(
        fits(&viewer, "#tab-feed").await,
        "the viewer page scrolls sideways at 390 px"
    );
    assert_eq!(feed_tab(&viewer).await, json!({ "selected": "false", "badge": null }));
    viewer.js("document.getElementById('tab-ask').focus()", json!([])).await;
    viewer.keys("\u{E014}").await; // ArrowRight
    viewer
        .wait(
            "the feed tab by the arrow key",
            "return document.activeElement.id === 'tab-feed' \
             && document.getElementById('tab-feed').getAttribute('aria-selected') === 'true' \
             && document.getElementById('tab-feed').tabIndex === 0 \
             && !document.getElementById('panel-feed').hidden \
             && document.getElementById('panel-ask').hidden \
             && !document.getElementById('feed-empty').hidden",
            json!([]),
        )
        .await;
    viewer.keys("\u{E012}").await; // ArrowLeft
    viewer
        .wait(
            "back to the questions",
            "return document.activeElement.id === 'tab-ask' && !document.getElementById('panel-ask').hidden",
            json!([]),
        )
        .await;

    let host = console_as_host(&app, &driver, event, "host1").await;
    shows(&host, "the empty feed", "#feed-empty:not([hidden])", "还没有").await;

    // Not a picture: the server's 415, said in Chinese; nothing to post with.
    host.send_keys("#feed-image", not_a_picture.path()).await;
    shows(
        &host,
        "the refused file",
        "#feed-msg.msg-error",
        "只能上传 PNG、JPEG、WebP 或 GIF",
    )
    .await;
    let cleared = host
        .js(
            "return document.getElementById('feed-preview').hidden && document.getElementById('feed-image').value === ''",
            json!([]),
        )
        .await;
    assert_eq!(cleared, json!(true), "the refused file is not kept");

    // The picture: uploaded when chosen, its preview from /api/images/ID.
    host.fill("#feed-text", POSTED).await;
    shows(
        &host,
        "the character count",
        "#feed-count",
        &format!("{} / 1000", POSTED.chars().count()),
    )
    .await;
    host.send_keys("#feed-image", picture.path()).await;
    let preview = host
        .wait(
            "the preview",
            "const img = document.querySelector('#feed-preview:not([hidden]) img'); \
             return img && img.complete && img.naturalWidth \
               ? { src: img.getAttribute('src'), width: img.getAttribute('width'), height: img.getAttribute('height') } : null;",
            json!([]),
        )
        .await;
    let src = preview["src"].as_str().expect("a src").to_owned();
    assert!(src.starts_with("/api/images/"), "{preview}");
    assert_eq!(preview["width"], json!(WIDTH.to_string()));
    assert_eq!(preview["height"], json!(HEIGHT.to_string()));
    shows(
        &host,
        "the upload's size",
        "#feed-msg.msg-ok",
        &format!("{WIDTH}×{HEIGHT}"),
    )
    .await;
    host.click("#feed-submit").await;
    shows(&host, "posted", "#feed-msg.msg-ok", "已发布").await;
    let id = console_item(&host, POSTED).await;
    let form_reset = host
        .js(
            "return document.getElementById('feed-text').value === '' \
             && document.getElementById('feed-preview').hidden \
             && document.getElementById('feed-count').textContent === '0 / 1000'",
            json!([]),
        )
        .await;
    assert_eq!(form_reset, json!(true), "the form is ready for the next update");

    // The phone: a badge on the tab until the viewer looks.
    viewer
        .wait(
            "the badge on the feed tab",
            "const b = document.getElementById('feed-badge'); return !b.hidden && b.textContent.startsWith('1');",
            json!([]),
        )
        .await;
    let badge = viewer
        .js("return document.getElementById('tab-feed').textContent", json!([]))
        .await;
    assert_eq!(
        badge,
        json!("图文直播 1 条新内容"),
        "the tab's name says it to a screen reader"
    );
    viewer.click("#tab-feed").await;
    assert_eq!(feed_tab(&viewer).await, json!({ "selected": "true", "badge": null }));
    viewer
        .js("document.getElementById('panel-feed').scrollIntoView()", json!([]))
        .await;
    let items = viewer
        .wait(
            "the update with its picture on the phone",
            "const li = document.querySelector('#feed .feed-item'); const img = li?.querySelector('img'); \
             return img && img.complete && img.naturalWidth ? true : null;",
            json!([]),
        )
        .await;
    assert_eq!(items, json!(true));
    let items = viewer_items(&viewer).await;
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    let item = &items[0];
    assert_eq!(item["id"], json!(id));
    assert_eq!(item["text"], json!(POSTED), "the markup is text");
    assert_eq!(item["edited"], json!(false));
    assert_eq!(
        item["img"],
        json!({ "src": src, "alt": "图文直播图片", "loading": "lazy", "loaded": WIDTH })
    );
    let time = item["time"].as_str().unwrap_or_default();
    assert!(
        time.len() == 5 && time.as_bytes()[2] == b':',
        "the time of day in Beijing: {time}"
    );
    assert!(item["datetime"].as_str().is_some_and(|d| d.ends_with('Z')), "{item}");
    let images = viewer
        .js("return document.getElementsByTagName('img').length", json!([]))
        .await;
    assert_eq!(images, json!(1), "the posted markup made no <img>");
    assert!(fits(&viewer, "#feed img").await, "the picture fits the phone");
    viewer.screenshot(&shots.join("live-feed.png")).await;

    // Edited: the phone shows the new text marked 已编辑 (an edit is no news for the badge).
    viewer.click("#tab-ask").await;
    host.click(&format!("#feed-list li[data-id=\"{id}\"] [data-role=\"edit\"]"))
        .await;
    host.wait(
        "the inline editor, focused",
        "return document.activeElement.id === `feed-edit-${arguments[0]}`",
        json!([id]),
    )
    .await;
    host.fill(&format!("#feed-edit-{id}"), EDITED).await;
    shows(
        &host,
        "the editor's count",
        &format!("#feed-edit-count-{id}"),
        &format!("{} / 1000", EDITED.chars().count()),
    )
    .await;
    host.js("document.getElementById('feed-title').scrollIntoView()", json!([]))
        .await;
    host.screenshot(&shots.join("moderate-feed-edit.png")).await;
    host.click(&format!("#feed-list li[data-id=\"{id}\"] [data-role=\"edit-save\"]"))
        .await;
    shows(&host, "saved", "#feed-list-msg.msg-ok", "修改已保存").await;
    shows(&host, "the edited text in the console", "#feed-list .post-text", EDITED).await;
    let focus = host.js("return document.activeElement.dataset.role", json!([])).await;
    assert_eq!(focus, json!("edit"), "the focus is back on the item's 编辑");
    shows(&viewer, "the edited text on the phone", "#feed .post-text", EDITED).await;
    assert_eq!(feed_tab(&viewer).await, json!({ "selected": "false", "badge": null }));
    viewer.click("#tab-feed").await;
    let items = viewer_items(&viewer).await;
    assert_eq!(items[0]["text"], json!(EDITED), "{items}");
    assert_eq!(items[0]["edited"], json!(true), "marked 已编辑");
    assert_eq!(items[0]["img"]["src"], json!(src), "the picture is kept");

    // Away and back: what was posted meanwhile comes with the replay.
    viewer.click("#tab-ask").await;
    let before = viewer
        .js(
            "return { connections: window.minshengLive.connections, seq: window.minshengLive.lastSeq }",
            json!([]),
        )
        .await;
    viewer.js("window.minshengLive.restart(2000)", json!([])).await;
    viewer
        .wait(
            "the reconnecting indicator",
            "return document.getElementById('conn').textContent === '重新连接中'",
            json!([]),
        )
        .await;
    host.fill("#feed-text", WHILE_AWAY).await;
    host.click("#feed-submit").await;
    let away_id = console_item(&host, WHILE_AWAY).await;
    let after = viewer
        .wait(
            "the viewer to come back",
            "const c = window.minshengLive; const [n, seq] = arguments; \
             return c.state === 'open' && c.connections === n + 1 && c.lastSeq > seq ? { start: c.welcome.start } : null",
            json!([before["connections"], before["seq"]]),
        )
        .await;
    assert_eq!(after["start"], json!("replay"), "resumed, not a new snapshot");
    shows(&viewer, "the update posted while away", "#feed .post-text", WHILE_AWAY).await;
    shows(&viewer, "counted on the badge", "#feed-badge:not([hidden])", "1").await;
    let order: Vec<i64> = viewer_items(&viewer)
        .await
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_i64())
        .collect();
    assert_eq!(order, vec![away_id, id], "newest first");

    // The big screen: the latest update under the poll.
    let presenter = driver.browser(1280, 720, false).await;
    presenter.goto(&app.url(&format!("/present.html?event={event}"))).await;
    connected(&presenter, "the big screen to connect").await;
    shows(
        &presenter,
        "the latest update on the big screen",
        "#feed-corner:not([hidden]) .present-update-text",
        WHILE_AWAY,
    )
    .await;
    presenter.screenshot(&shots.join("present-feed.png")).await;

    // Withdrawn, after an in-page confirmation: gone from the console, the phone and the big screen.
    for withdrawn in [away_id, id] {
        host.click(&format!(
            "#feed-list li[data-id=\"{withdrawn}\"] [data-role=\"withdraw\"]"
        ))
        .await;
        host.wait(
            "the confirmation, focused",
            "return document.activeElement.dataset.role === 'withdraw-ok' \
             && document.activeElement.closest('li').dataset.id === String(arguments[0])",
            json!([withdrawn]),
        )
        .await;
        if withdrawn == id {
            host.screenshot(&shots.join("moderate-feed.png")).await;
        }
        host.click(&format!(
            "#feed-list li[data-id=\"{withdrawn}\"] [data-role=\"withdraw-ok\"]"
        ))
        .await;
        shows(&host, "withdrawn", "#feed-list-msg.msg-ok", "已撤回").await;
        host.wait(
            "the item gone from the console",
            "return !document.querySelector(`#feed-list li[data-id=\"${arguments[0]}\"]`)",
            json!([withdrawn]),
        )
        .await;
    }
    viewer.click("#tab-feed").await;
    viewer
        .wait(
            "the feed empty on the phone",
            "return document.querySelectorAll('#feed .feed-item').length === 0 \
             && !document.getElementById('feed-empty').hidden",
            json!([]),
        )
        .await;
    assert_eq!(feed_tab(&viewer).await, json!({ "selected": "true", "badge": null }));
    presenter
        .wait(
            "the big screen's corner gone",
            "return document.getElementById('feed-corner').hidden",
            json!([]),
        )
        .await;
    shows(&host, "the console's list empty", "#feed-empty:not([hidden])", "还没有").await;

    // The questions still work: asked on the phone, waiting in the host's console.
    viewer.click("#tab-ask").await;
    let question = "灵活就业人员怎么参加职工医保？";
    viewer.fill("#ask-text", question).await;
    viewer.click("#ask-form button[type=submit]").await;
    shows(&viewer, "own question pending", "#mine .own-pending", question).await;
    shows(&host, "the question in the host's queue", "#queue .mod-item", question).await;

    viewer.quit().await;
    host.quit().await;
    presenter.quit().await;
    drop(driver);
    app.stop().await;
    eprintln!("[browser] text feed pages: {} ms", started.elapsed().as_millis());
}
