//! Issue 18, point 5: an event's page carries its Open Graph tags (a pasted
//! link shows the title and time) and a QR code of its address, for WeChat
//! and posters; a draft shows neither, and the title is escaped.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(an_event_page_carries_its_open_graph_tags_and_a_qr_code);

async fn page(app: &crate::helpers::TestApp, query: &str) -> String {
    let res = app
        .client
        .get(app.url(&format!("/event.html{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    res.text().await.unwrap()
}

async fn an_event_page_carries_its_open_graph_tags_and_a_qr_code(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    app.import_plan().await;
    let admin = Some(app.admin_token.as_str());
    let draft = app.event_id("open-day-07").await;
    let hostile = "开放日\"><script>alert(1)</script>";
    let r = app
        .patch(&format!("/api/events/{draft}"), admin, json!({ "title": hostile }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let html = page(&app, &format!("?id={draft}")).await;
    assert!(!html.contains("og:title"), "a draft is not shared");
    assert_eq!(
        app.get(&format!("/api/events/{draft}/qr.svg"), None).await.status,
        StatusCode::NOT_FOUND
    );

    let event = app.announce("open-day-07").await;
    assert_eq!(event, draft);
    let html = page(&app, &format!("?id={event}")).await;
    assert!(
        html.contains("<meta property=\"og:title\" content=\"开放日&quot;&gt;&lt;script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "the title is escaped: {html}");
    assert!(
        html.contains("og:description") && html.contains("国资委"),
        "time and host: {html}"
    );
    assert!(
        html.contains(&format!("/event.html?id={event}\">")),
        "its address: {html}"
    );
    assert!(
        html.contains("<script type=\"module\" src=\"/event.js\"></script>"),
        "the page itself"
    );
    let plain = page(&app, "?id=nope").await;
    assert!(!plain.contains("og:title") && plain.contains("活动详情"));

    let res = app
        .client
        .get(app.url(&format!("/api/events/{event}/qr.svg")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    let svg = res.text().await.unwrap();
    assert!(svg.contains("<svg") && !svg.contains("<script"), "{svg}");
    app.stop().await;
}

/// The event page on a phone shows the share box: the link and its QR code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_page_shows_its_link_and_qr_code_on_a_phone() {
    if !crate::browser::browser_here() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let event = app.announced_event().await;
    let driver = crate::browser::webdriver::Driver::start().await;
    let phone = driver.browser(390, 844, true).await;
    phone.goto(&app.url(&format!("/event.html?id={event}"))).await;
    let shown = phone
        .wait(
            "the share box with a loaded QR code",
            "const img = document.getElementById('share-qr'); \
             return !document.getElementById('share-box').hidden && img.complete && img.naturalWidth > 0 \
               ? document.getElementById('share-url').value : null",
            json!([]),
        )
        .await;
    assert!(
        shown.as_str().unwrap().ends_with(&format!("/event.html?id={event}")),
        "{shown}"
    );
    assert!(
        crate::browser::fits(&phone, "#share-box").await,
        "no sideways scrolling"
    );
    phone
        .screenshot(&crate::browser::screenshots().join("event-share.png"))
        .await;
    phone.quit().await;
    app.stop().await;
}
