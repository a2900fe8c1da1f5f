//! The way in and the way out (issue 18, point 8), in Chromium.
//!
//! - The programme page on a 390-px phone: a 正在直播 banner at the top whose
//!   link to the live page is within the first screen; past events below,
//!   filtered by the title search; with nothing live, 即将开始 and the next
//!   event within a week, its Beijing time.
//! - Staff signing in without `next` land on their workspace: an
//!   administrator on the bureau's, unit staff on the unit's, a moderator on
//!   the programme page while nothing is live and on the console of the one
//!   live event once there is one.
//! - The ended live page on a phone: the text boxes no longer editable, and
//!   a box that stays, leading to the answers, the 访谈实录 and the record.
//! - A post's outcome stays under its form; one too soon in slow mode counts
//!   down the server's `retry_after_ms` with the button off, then frees it.
//! - An API error reads as its Chinese label; the server's English shows
//!   only for an error without one, and only on a staff page.
//!
//! Like the other browser tests, they say so loudly and pass without
//! Chromium, unless MINSHENG_REQUIRE_BROWSER=1.

use serde_json::json;

use crate::accessibility_pages::ended_event;
use crate::browser::webdriver::{Browser, Driver};
use crate::browser::{browser_here, fits, screenshots, shows};
use crate::helpers::{Backend, TestApp, spawn_app};

/// The password `TestApp::staff` gives the accounts it creates.
const STAFF_PASSWORD: &str = "staff-password-123";

async fn start(app: &TestApp, event: i64) {
    let r = app
        .post(&format!("/api/events/{event}/start"), Some(&app.admin_token), json!({}))
        .await;
    assert!(r.status.is_success(), "started: {:?}", r.body);
}

async fn title(app: &TestApp, event: i64) -> String {
    let r = app.get(&format!("/api/events/{event}"), None).await;
    r.body["title"].as_str().expect("a title").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_programme_shows_the_live_event_first_and_searches_the_past() {
    if !browser_here() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    app.staff("admin1", "admin", None).await;
    let live = app.announced_event().await; // open-day-06, the plan imported
    let past = ended_event(&app).await; // open-day-05, ended, its materials published
    start(&app, live).await;
    let past_title = title(&app, past).await;
    let live_title = title(&app, live).await;

    let driver = Driver::start().await;
    let phone = driver.browser(390, 844, true).await;
    phone.goto(&app.url("/")).await;
    shows(&phone, "the banner", "#now-title", "正在直播").await;
    shows(&phone, "the live event in the banner", "#now-list", &live_title).await;
    let link = phone
        .js(
            "const a = document.querySelector('#now-list a.now-live'); const r = a.getBoundingClientRect(); \
             return {href: a.getAttribute('href'), text: a.textContent, bottom: r.bottom, screen: window.innerHeight};",
            json!([]),
        )
        .await;
    assert_eq!(link["href"], json!(format!("/live.html?event={live}")), "{link}");
    assert_eq!(link["text"], json!("进入直播互动"), "{link}");
    assert!(
        link["bottom"].as_f64().unwrap() <= link["screen"].as_f64().unwrap(),
        "the live link is below the first screen: {link}"
    );
    assert!(
        fits(&phone, "#past").await,
        "the programme scrolls sideways on the phone"
    );
    phone
        .screenshot(&screenshots().join("programme-banner-phone.png"))
        .await;

    // The past: the ended event there and not among the events to come.
    shows(&phone, "the past event", "#past li", &past_title).await;
    let upcoming = phone
        .js(
            "return [...document.querySelectorAll('#open-days li, #lectures li')].map(li => li.dataset.id || '');",
            json!([]),
        )
        .await;
    assert!(!upcoming.to_string().contains(&format!("\"{past}\"")), "{upcoming}");
    let visible = "return [...document.querySelectorAll('#past li')].filter(li => !li.hidden).length";
    phone.fill("#past-search", "没有这样的标题").await;
    phone
        .wait("nothing found", &format!("{visible} === 0"), json!([]))
        .await;
    shows(&phone, "said so", "#past-status", "没有标题含").await;
    let word: String = past_title.chars().take(4).collect();
    phone.fill("#past-search", &word).await;
    phone
        .wait("the past event found", &format!("{visible} === 1"), json!([]))
        .await;
    shows(&phone, "the count", "#past-status", "1 场").await;
    phone.quit().await;
    drop(driver);
    app.stop().await;
}

/// Sign in on the bare sign-in page; returns where it landed (path and query).
async fn lands(driver: &Driver, app: &TestApp, username: &str) -> String {
    let b: Browser = driver.browser(1280, 900, false).await;
    b.goto(&app.url("/login.html")).await;
    b.wait(
        "the sign-in page",
        "return document.readyState === 'complete' && !!document.getElementById('username')",
        json!([]),
    )
    .await;
    b.fill("#username", username).await;
    b.fill("#password", STAFF_PASSWORD).await;
    b.click("#login-button").await;
    let landed = b
        .wait(
            &format!("{username} landing"),
            "return location.pathname !== '/login.html' ? location.pathname + location.search : null",
            json!([]),
        )
        .await;
    b.quit().await;
    landed.as_str().expect("a path").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_signing_in_land_on_their_workspace() {
    if !browser_here() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let event = app.announced_event().await; // the plan (and its units) imported
    app.staff("admin1", "admin", None).await;
    app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    app.staff("moderator1", "moderator", None).await;
    app.staff("host1", "host", None).await;
    let driver = Driver::start().await;
    assert_eq!(lands(&driver, &app, "admin1").await, "/bureau.html");
    assert_eq!(lands(&driver, &app, "rsj-staff").await, "/unit.html");
    assert_eq!(
        lands(&driver, &app, "moderator1").await,
        "/",
        "nothing live: the programme"
    );
    start(&app, event).await;
    let console = format!("/moderate.html?event={event}");
    assert_eq!(lands(&driver, &app, "moderator1").await, console);
    assert_eq!(lands(&driver, &app, "host1").await, console);
    drop(driver);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ended_live_page_leads_on_and_takes_no_text() {
    if !browser_here() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    app.staff("admin1", "admin", None).await;
    app.import_plan().await;
    let event = ended_event(&app).await; // transcript and materials published
    let driver = Driver::start().await;
    let phone = driver.browser(390, 844, true).await;
    phone.goto(&app.url(&format!("/live.html?event={event}"))).await;
    shows(&phone, "the ended box", "#ended-box:not([hidden])", "直播已结束").await;
    phone
        .wait(
            "the transcript link",
            "return !!document.getElementById('ended-transcript')",
            json!([]),
        )
        .await;
    let state = phone
        .js(
            "const href = (id) => document.getElementById(id)?.getAttribute('href'); \
             return {ask: document.getElementById('ask-text').disabled, \
                     comment: document.getElementById('comment-text').disabled, \
                     answers: href('ended-answers'), mine: href('ended-mine'), transcript: href('ended-transcript'), record: href('ended-record')};",
            json!([]),
        )
        .await;
    assert_eq!(
        state,
        json!({
            "ask": true,
            "comment": true,
            "answers": format!("/event.html?id={event}#feedback-title"),
            "mine": null,
            "transcript": format!("/api/events/{event}/transcript?format=html"),
            "record": format!("/events/{event}/record"),
        })
    );
    assert!(
        fits(&phone, "#ended-box").await,
        "the ended page scrolls sideways on the phone"
    );
    phone.screenshot(&screenshots().join("live-ended-phone.png")).await;
    // The links lead somewhere real.
    for path in [
        format!("/api/events/{event}/transcript?format=html"),
        format!("/events/{event}/record"),
    ] {
        let r = app.client.get(app.url(&path)).send().await.expect("GET");
        assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
    }
    phone.click("#ended-answers").await;
    phone
        .wait(
            "the answers",
            "return location.pathname === '/event.html' && !document.getElementById('feedback-box').hidden",
            json!([]),
        )
        .await;
    phone.quit().await;
    drop(driver);
    app.stop().await;
}

/// Slow mode on: the viewer's first question is taken and says so under the
/// form, and stays said; the second, too soon, counts down the seconds the
/// server named with the button off, then says the viewer may send again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_too_soon_counts_down_and_the_outcome_stays() {
    if !browser_here() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let event = app.announced_event().await;
    start(&app, event).await;
    let mut desk = app.staff_ws(event, &app.admin_token).await;
    let r = desk
        .request(json!({ "type": "set_slow_mode", "seconds": 4 }), "slow")
        .await;
    assert_eq!(r["type"], "ack", "{r:?}");
    let driver = Driver::start().await;
    let phone = driver.browser(390, 844, true).await;
    phone.goto(&app.url(&format!("/live.html?event={event}"))).await;
    phone
        .wait(
            "the room",
            "return window.minshengLive && window.minshengLive.state === 'open'",
            json!([]),
        )
        .await;
    phone.fill("#ask-text", "社区养老服务站什么时候开？").await;
    phone.click("#ask-form button[type=submit]").await;
    shows(&phone, "the question taken", "#ask-status", "问题已提交").await;
    phone.fill("#ask-text", "还有一个问题：公交线路能加密吗？").await;
    phone.click("#ask-form button[type=submit]").await;
    shows(&phone, "the countdown", "#ask-status", "秒后再发送").await;
    let off = phone
        .js(
            "return document.querySelector('#ask-form button[type=submit]').disabled",
            json!([]),
        )
        .await;
    assert_eq!(off, json!(true), "the button stays off while the countdown runs");
    shows(&phone, "free to send again", "#ask-status", "现在可以再次发送").await;
    let text = phone
        .js(
            "return [document.querySelector('#ask-form button[type=submit]').disabled, document.getElementById('ask-text').value]",
            json!([]),
        )
        .await;
    assert_eq!(
        text,
        json!([false, "还有一个问题：公交线路能加密吗？"]),
        "the typed text stays"
    );
    phone.quit().await;
    drop(driver);
    drop(desk);
    app.stop().await;
}

/// Nothing live: the banner says 即将开始 with the next event within a week
/// and its Beijing start time; one ten days out is not in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_live_the_banner_names_the_next_event_this_week() {
    if !browser_here() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let later = app.announced_event().await; // open-day-06, ten days out
    let soon = app.event_id("open-day-05").await;
    let admin = Some(app.admin_token.as_str());
    // 2 days ahead at 02:00 UTC: 10:00 in Beijing.
    let day = (chrono::Utc::now() + chrono::Duration::days(2)).date_naive();
    let starts = day.and_hms_opt(2, 0, 0).expect("a time").and_utc();
    let r = app
        .patch(
            &format!("/api/events/{soon}"),
            admin,
            json!({ "starts_at": starts.to_rfc3339(), "duration_minutes": 90, "identity_mode": app.identity_mode }),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let r = app
        .post(&format!("/api/events/{soon}/announce"), admin, json!({}))
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let soon_title = title(&app, soon).await;

    let driver = Driver::start().await;
    let phone = driver.browser(390, 844, true).await;
    phone.goto(&app.url("/")).await;
    shows(&phone, "the banner", "#now-title", "即将开始").await;
    shows(&phone, "the next event", "#now-list", &soon_title).await;
    shows(&phone, "its Beijing time", "#now-list .now-time", "北京时间").await;
    shows(&phone, "10:00", "#now-list .now-time", "10:00").await;
    let ids = phone
        .js(
            "return [...document.querySelectorAll('#now-list li')].map(li => li.dataset.id)",
            json!([]),
        )
        .await;
    assert_eq!(ids, json!([soon.to_string()]), "only the next one, not {later}");
    let href = phone
        .js(
            "return document.querySelector('#now-list a.now-live').getAttribute('href')",
            json!([]),
        )
        .await;
    assert_eq!(href, json!(format!("/live.html?event={soon}")));
    phone.quit().await;
    drop(driver);
    app.stop().await;
}

/// `errorText`: the Chinese label alone where there is one; the server's
/// English only for an error without a label, and only on a staff page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_messages_keep_the_english_to_staff_and_unlabelled_errors() {
    if !browser_here() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    app.staff("admin1", "admin", None).await;
    let driver = Driver::start().await;
    let b = driver.browser(1280, 900, false).await;
    let texts = "return import('/dom.js').then(m => [\
         m.errorText({code: 'rate_limited', message: 'too many requests'}), \
         m.errorText({code: 'no_such_code', message: 'something odd'})])";
    b.goto(&app.url("/")).await;
    shows(&b, "the programme", "#status", "共").await;
    let public = b.wait("errorText on a public page", texts, json!([])).await;
    assert_eq!(public, json!(["操作太频繁，请稍后再试", "操作失败，请重试"]));
    crate::browser::sign_in(&b, &app, "/bureau.html", "admin1").await;
    let staff = b.wait("errorText on a staff page", texts, json!([])).await;
    assert_eq!(
        staff,
        json!(["操作太频繁，请稍后再试", "操作失败，请重试（something odd）"])
    );
    b.quit().await;
    drop(driver);
    app.stop().await;
}
