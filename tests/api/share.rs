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
