//! Issue 15, point 8: the asker hears back (回访). When a unit publishes its
//! answer to an opinion from a verified asker, the asker gets one short text
//! message through the same sender (the event and a link, no personal
//! data), unless they opted out when asking; each attempt is recorded and
//! the unit's workspace shows who was told.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;
use crate::verification::verify;

on_both_backends!(a_verified_asker_is_told_when_the_reply_is_published_unless_they_opted_out);

async fn opinion_of<'a>(list: &'a Value, start: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|o| o["text"].as_str().is_some_and(|t| t.starts_with(start)))
        .unwrap_or_else(|| panic!("no opinion `{start}…` in {list:?}"))
}

async fn publish(app: &TestApp, unit: &str, id: i64, reply: &str) {
    let path = format!("/api/opinions/{id}");
    let r = app
        .patch(&path, Some(unit), json!({ "state": "adopted", "reply": reply }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.post(&format!("{path}/publish"), Some(unit), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn a_verified_asker_is_told_when_the_reply_is_published_unless_they_opted_out(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    app.identity_mode = "verified";
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let told = verify(&app, "13812345678").await;
    let quiet = verify(&app, "13912345678").await;
    let mut asker = app
        .ws(event, json!({ "nickname": "王先生", "verification": told }))
        .await;
    asker.expect("snapshot").await;
    let mut other = app
        .ws(event, json!({ "nickname": "赵女士", "verification": quiet }))
        .await;
    other.expect("snapshot").await;
    let a = asker
        .request(json!({ "type": "ask", "text": "办事大厅能否延长服务时间？" }), "a")
        .await;
    let b = other
        .request(
            json!({ "type": "ask", "text": "停车位能否增加？", "notify": false }),
            "b",
        )
        .await;
    for (i, ack) in [a, b].iter().enumerate() {
        let id = ack["question"]["id"].as_i64().expect("asked");
        moderator
            .request(json!({ "type": "approve", "question_id": id }), &format!("ok{i}"))
            .await;
    }
    let r = app
        .post(&format!("/api/events/{event}/end"), Some(&moderator_token), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let list = app.get(&format!("/api/opinions?event={event}"), Some(&unit)).await.body;
    let (a, b) = (opinion_of(&list, "办事大厅").await, opinion_of(&list, "停车位").await);
    assert_eq!(
        (a["notify"].as_bool(), b["notify"].as_bool()),
        (Some(true), Some(false))
    );
    let (a, b) = (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap());
    let before = app.sms.lines().len();
    publish(&app, &unit, a, "自下月起工作日延长至晚七点。").await;
    publish(&app, &unit, b, "将在东侧新增车位。").await;

    // Told in the background; the workspace shows the attempt.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let detail = loop {
        let d = app.get(&format!("/api/opinions/{a}"), Some(&unit)).await.body;
        // The detail reads the opinion, then its notices: wait until both show the notice.
        if d["notices"].as_array().is_some_and(|n| !n.is_empty()) && !d["told"].is_null() {
            break d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the asker was never told: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let notice = &detail["notices"][0];
    assert_eq!(notice["delivered"], true, "{notice:?}");
    assert_eq!(notice["phone_masked"], "138****5678");
    assert_eq!(notice["sender"], "log");
    assert_eq!(detail["told"], true);
    let sent: Vec<String> = app.sms.lines()[before..].to_vec();
    assert_eq!(sent.len(), 1, "only the asker who wanted it: {sent:?}");
    assert!(
        sent[0].contains("reply_published") && sent[0].contains("138****5678"),
        "{sent:?}"
    );
    let text = sent[0].split(": ").nth(1).unwrap();
    assert!(text.contains(&format!("/event.html?id={event}")), "{text}");
    assert!(
        !text.contains("1381234") && !text.contains("王先生"),
        "no personal data: {text}"
    );
    let quiet_detail = app.get(&format!("/api/opinions/{b}"), Some(&unit)).await.body;
    assert_eq!(quiet_detail["notices"], json!([]));
    assert_eq!(quiet_detail["told"], Value::Null);
    app.stop().await;
}
