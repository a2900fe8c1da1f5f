//! Issue 15, point 5: reports and appeals (举报受理). Viewers report a
//! published post with a reason from a fixed list; enough distinct reporters
//! hide it at once pending review; a moderator keeps or hides it. The asker
//! of a rejected question appeals once; the appeal has a due date and its
//! outcome reaches the asker. The public record counts both.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, Ws, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_report_threshold_hides_a_post_until_a_moderator_decides,
    an_appeal_has_a_due_date_and_its_outcome_reaches_the_asker,
);

/// A published question by `author`; its id.
async fn published(author: &mut Ws, moderator: &mut Ws, text: &str) -> i64 {
    let ack = author.request(json!({ "type": "ask", "text": text }), "q").await;
    let id = ack["question"]["id"].as_i64().unwrap();
    let approved = moderator
        .request(json!({ "type": "approve", "question_id": id }), &format!("a{id}"))
        .await;
    assert_eq!(approved["type"], "ack", "{approved:?}");
    id
}

async fn report(app: &TestApp, event: i64, post: i64, reason: &str, nickname: &str) -> Value {
    let mut viewer = app.viewer_ws(event, nickname).await;
    viewer
        .request(json!({ "type": "report", "post_id": post, "reason": reason }), "r")
        .await
}

async fn a_report_threshold_hides_a_post_until_a_moderator_decides(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut author = app.viewer_ws(event, "作者").await;
    let post = published(&mut author, &mut moderator, "这个政策有问题吗？").await;
    let mut watcher = app.viewer_ws(event, "围观").await;

    // Two reports: still shown. The same viewer twice, a bad reason, a
    // post that is not published: refused.
    let mut first = app.viewer_ws(event, "甲").await;
    let ack = first
        .request(json!({ "type": "report", "post_id": post, "reason": "abuse" }), "r1")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    let again = first
        .request(
            json!({ "type": "report", "post_id": post, "reason": "advertising" }),
            "r2",
        )
        .await;
    assert_eq!(again["code"], "already_reported");
    let odd = first
        .request(json!({ "type": "report", "post_id": post, "reason": "boring" }), "r3")
        .await;
    assert_eq!(odd["code"], "bad_message", "{odd:?}");
    let pending = author.request(json!({ "type": "ask", "text": "还没审核" }), "p").await;
    let pending = pending["question"]["id"].as_i64().unwrap();
    assert_eq!(report(&app, event, pending, "other", "乙").await["code"], "not_visible");
    assert_eq!(report(&app, event, post, "privacy", "丙").await["type"], "ack");
    let summary = moderator
        .expect_where(|f| f["type"] == "report" && f["report"]["open"] == 2)
        .await;
    assert_eq!(summary["report"]["held"], false);
    assert!(summary["report"]["due_on"].is_string(), "{summary:?}");

    // The third distinct reporter hides it at once, on every screen.
    assert_eq!(report(&app, event, post, "abuse", "丁").await["type"], "ack");
    let removed = watcher.expect("question_removed").await;
    assert_eq!(removed["question_id"], post);
    let held = moderator
        .expect_where(|f| f["type"] == "report" && f["report"]["open"] == 3)
        .await;
    assert_eq!(held["report"]["held"], true);
    assert_eq!(held["report"]["status"], "hidden");
    let reasons = held["report"]["reasons"].as_array().unwrap();
    let abuse = reasons.iter().find(|r| r["reason"] == "abuse").unwrap();
    assert_eq!(
        (abuse["count"].as_i64(), abuse["label"].as_str()),
        (Some(2), Some("辱骂"))
    );

    // A moderator keeps it: it comes back.
    let kept = moderator
        .request(
            json!({ "type": "resolve_reports", "post_id": post, "outcome": "kept" }),
            "k",
        )
        .await;
    assert_eq!(kept["type"], "ack", "{kept:?}");
    let back = watcher.expect("question").await;
    assert_eq!(back["question"]["id"], post);
    let nothing = moderator
        .request(
            json!({ "type": "resolve_reports", "post_id": post, "outcome": "hidden" }),
            "k2",
        )
        .await;
    assert_eq!(nothing["code"], "not_found", "no open reports left: {nothing:?}");

    // Reported again, a moderator hides it for good.
    for (i, who) in ["戊", "己"].iter().enumerate() {
        let r = report(&app, event, post, if i == 0 { "illegal" } else { "other" }, who).await;
        assert_eq!(r["type"], "ack", "{r:?}");
    }
    let hidden = moderator
        .request(
            json!({ "type": "resolve_reports", "post_id": post, "outcome": "hidden" }),
            "h",
        )
        .await;
    assert_eq!(hidden["type"], "ack", "{hidden:?}");
    let removed = watcher.expect("question_removed").await;
    assert_eq!(removed["question_id"], post);
    let viewer_report = report(&app, event, post, "other", "庚").await;
    assert_eq!(viewer_report["code"], "not_visible");

    // The staff's list, the audit, and the public record's counts.
    let list = app
        .get(&format!("/api/events/{event}/reports"), Some(&moderator_token))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let listed = &list.body[0];
    assert_eq!((listed["open"].as_i64(), listed["total"].as_i64()), (Some(0), Some(5)));
    assert_eq!(listed["outcome"], "hidden");
    assert_eq!(
        app.get(&format!("/api/events/{event}/reports"), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let actions = app.audit_actions(event).await;
    for action in ["report", "report_hold", "resolve_reports"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
    let end = app
        .post(&format!("/api/events/{event}/end"), Some(&app.admin_token), json!({}))
        .await;
    assert_eq!(end.status, StatusCode::OK, "{:?}", end.body);
    let record = app
        .get(&format!("/api/events/{event}/record"), Some(&app.admin_token))
        .await;
    assert_eq!(
        record.body["moderation"]["reports_received"], 5,
        "{:?}",
        record.body["moderation"]
    );
    assert_eq!(record.body["moderation"]["hidden_after_reports"], 1);
    app.stop().await;
}

async fn an_appeal_has_a_due_date_and_its_outcome_reaches_the_asker(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut asker = app.viewer_ws(event, "申诉人").await;
    let token = asker.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for (i, text) in ["公交线路能否延长？", "学校周边能否加装护栏？"].iter().enumerate() {
        let ack = asker
            .request(json!({ "type": "ask", "text": text }), &format!("q{i}"))
            .await;
        let id = ack["question"]["id"].as_i64().unwrap();
        let rejected = moderator
            .request(
                json!({ "type": "reject", "question_id": id, "reason": "与本场主题无关" }),
                &format!("x{i}"),
            )
            .await;
        assert_eq!(rejected["type"], "ack", "{rejected:?}");
        asker
            .expect_where(|f| f["type"] == "mine" && f["question"]["id"] == id)
            .await;
        ids.push(id);
    }
    let (upheld, dismissed) = (ids[0], ids[1]);

    // Appealed once, by the asker only, and only a rejection.
    let ack = asker
        .request(
            json!({ "type": "appeal", "question_id": upheld, "text": "与交通主题相关，请复核" }),
            "ap",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(ack["question"]["appeal"]["status"], "open");
    assert!(ack["question"]["appeal"]["due_on"].is_string(), "{ack:?}");
    let again = asker
        .request(
            json!({ "type": "appeal", "question_id": upheld, "text": "再次申诉" }),
            "ap2",
        )
        .await;
    assert_eq!(again["code"], "already_appealed");
    let mut other = app.viewer_ws(event, "别人").await;
    let not_theirs = other
        .request(
            json!({ "type": "appeal", "question_id": dismissed, "text": "替人申诉" }),
            "ap3",
        )
        .await;
    assert_eq!(not_theirs["code"], "not_found");
    let blank = asker
        .request(
            json!({ "type": "appeal", "question_id": dismissed, "text": "  " }),
            "ap4",
        )
        .await;
    assert_eq!(blank["code"], "invalid");
    let ack = asker
        .request(
            json!({ "type": "appeal", "question_id": dismissed, "text": "请再看看" }),
            "ap5",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");

    // The moderators see it; a viewer may not decide.
    let seen = moderator
        .expect_where(|f| {
            f["type"] == "moderation" && f["question"]["id"] == upheld && f["question"]["appeal"].is_object()
        })
        .await;
    assert_eq!(seen["question"]["appeal"]["text"], "与交通主题相关，请复核");
    let refused = asker
        .request(
            json!({ "type": "decide_appeal", "question_id": upheld, "upheld": true, "reply": "x" }),
            "d0",
        )
        .await;
    assert_eq!(refused["code"], "forbidden");

    // Upheld: published, and the asker is told; dismissed: the asker is told why.
    let mut watcher = app.viewer_ws(event, "围观").await;
    let decided = moderator
        .request(
            json!({ "type": "decide_appeal", "question_id": upheld, "upheld": true, "reply": "经复核，问题与主题相关，已公开" }),
            "d1",
        )
        .await;
    assert_eq!(decided["type"], "ack", "{decided:?}");
    let told = asker
        .expect_where(|f| {
            f["type"] == "mine" && f["question"]["id"] == upheld && f["question"]["appeal"]["status"] != "open"
        })
        .await;
    assert_eq!(told["question"]["status"], "approved");
    assert_eq!(told["question"]["appeal"]["status"], "upheld");
    assert_eq!(told["question"]["appeal"]["reply"], "经复核，问题与主题相关，已公开");
    let shown = watcher.expect("question").await;
    assert_eq!(shown["question"]["id"], upheld);
    let decided = moderator
        .request(
            json!({ "type": "decide_appeal", "question_id": dismissed, "upheld": false, "reply": "维持原决定：与本场主题无关" }),
            "d2",
        )
        .await;
    assert_eq!(decided["type"], "ack", "{decided:?}");
    let twice = moderator
        .request(
            json!({ "type": "decide_appeal", "question_id": dismissed, "upheld": true, "reply": "改主意" }),
            "d3",
        )
        .await;
    assert_eq!(twice["code"], "wrong_status");

    // Coming back, the asker's snapshot carries both outcomes.
    let mut back = app.ws(event, json!({ "viewer_token": token })).await;
    let snapshot = back.expect("snapshot").await;
    let mine = snapshot["mine"].as_array().unwrap();
    let outcome = |id: i64| mine.iter().find(|q| q["id"] == id).unwrap()["appeal"]["status"].clone();
    assert_eq!(
        (outcome(upheld), outcome(dismissed)),
        (json!("upheld"), json!("dismissed"))
    );

    let list = app
        .get(&format!("/api/events/{event}/appeals"), Some(&moderator_token))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!(list.body.as_array().unwrap().len(), 2);
    let actions = app.audit_actions(event).await;
    for action in ["appeal", "appeal_upheld", "appeal_dismissed"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
    let end = app
        .post(&format!("/api/events/{event}/end"), Some(&app.admin_token), json!({}))
        .await;
    assert_eq!(end.status, StatusCode::OK, "{:?}", end.body);
    let record = app
        .get(&format!("/api/events/{event}/record"), Some(&app.admin_token))
        .await;
    assert_eq!(record.body["moderation"]["appeals_received"], 2);
    assert_eq!(record.body["moderation"]["appeals_upheld"], 1);
    app.stop().await;
}
