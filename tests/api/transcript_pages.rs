//! The 访谈实录 editor in the browser: the unit's staff open an ended
//! event's transcript, see the draft assembled from the text feed and the
//! answered question, edit a paragraph, save and publish it; the public
//! then reads the edited text. Skips loudly without Chromium, unless
//! MINSHENG_REQUIRE_BROWSER=1.

use serde_json::json;

use crate::browser::webdriver::Driver;
use crate::browser::{browser_here, screenshots, shows};
use crate::helpers::spawn_app;

const STAFF_PASSWORD: &str = "staff-password-123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unit_edits_and_publishes_the_transcript_in_the_page() {
    if !browser_here() {
        return;
    }
    let app = spawn_app(crate::helpers::Backend::Sqlite)
        .await
        .expect("SQLite is always there");
    let event = app.live_event().await;
    let admin = Some(app.admin_token.as_str());
    let r = app
        .post(
            &format!("/api/events/{event}/updates"),
            admin,
            json!({ "text": "访谈开始" }),
        )
        .await;
    assert_eq!(r.status, reqwest::StatusCode::CREATED, "{:?}", r.body);
    let moderator = app.staff("mod", "moderator", None).await;
    let mut console = app.staff_ws(event, &moderator).await;
    let mut asker = app.viewer_ws(event, "张三").await;
    let asked = asker
        .request(json!({ "type": "ask", "text": "灵活就业怎么参保？" }), "q")
        .await;
    let question = asked["question"]["id"].as_i64().unwrap();
    for (msg, reference) in [
        (json!({ "type": "approve", "question_id": question }), "a"),
        (
            json!({ "type": "answer", "question_id": question, "text": "线上即可办理。" }),
            "b",
        ),
    ] {
        assert_eq!(console.request(msg, reference).await["type"], "ack");
    }
    let r = app.post(&format!("/api/events/{event}/end"), admin, json!({})).await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{:?}", r.body);
    app.staff("rsj-editor", "unit_staff", Some("rsj")).await;

    let driver = Driver::start().await;
    let unit = driver.browser(1280, 900, false).await;
    unit.goto(&app.url(&format!("/transcript.html?event={event}"))).await;
    unit.wait(
        "the sign-in page",
        "return location.pathname === '/login.html' && document.readyState === 'complete'",
        json!([]),
    )
    .await;
    unit.fill("#username", "rsj-editor").await;
    unit.fill("#password", STAFF_PASSWORD).await;
    unit.click("#login-button").await;
    unit.wait(
        "the draft assembled from the feed and the answered question",
        "return location.pathname === '/transcript.html' && document.querySelectorAll('#entries > li').length === 3",
        json!([]),
    )
    .await;
    shows(&unit, "the draft's state", "#state-text", "尚未保存").await;
    unit.wait(
        "the answer in its paragraph",
        "return [...document.querySelectorAll('#entries textarea')].some(t => t.value === '线上即可办理。')",
        json!([]),
    )
    .await;
    unit.js(
        "const t = document.querySelector('#entries > li textarea'); \
         t.value = '访谈开始，嘉宾介绍参保政策'; t.dispatchEvent(new Event('input'));",
        json!([]),
    )
    .await;
    unit.click("#save").await;
    shows(&unit, "saved", "#save-msg", "已保存").await;
    unit.click("#publish").await;
    unit.click("#confirm-yes").await;
    shows(&unit, "published", "#save-msg", "已发布").await;
    shows(&unit, "the state", "#state-text", "已于").await;
    unit.screenshot(&screenshots().join("transcript-editor.png")).await;

    let public = app.get(&format!("/api/events/{event}/transcript"), None).await;
    assert_eq!(public.status, reqwest::StatusCode::OK, "{:?}", public.body);
    assert_eq!(public.body["entries"][0]["text"], "访谈开始，嘉宾介绍参保政策");
    unit.quit().await;
    app.stop().await;
}
