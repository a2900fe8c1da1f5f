//! Issue 15, point 4: the kill switch (即时阻断). A moderator pauses all
//! interaction of a room without ending the event and resumes it later; a
//! second command takes down everything published in the last N minutes.
//! Both are logged frames (a resuming client gets them), reach every viewer
//! on every node, and are audited.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::harness::Cluster;
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_paused_room_refuses_every_interaction_until_resumed,
    withdrawing_recent_posts_takes_down_only_the_last_minutes,
);

async fn ack(ws: &mut crate::helpers::Ws, v: Value, reference: &str) -> Value {
    let reply = ws.request(v.clone(), reference).await;
    assert_eq!(reply["type"], "ack", "{v}: {reply:?}");
    reply
}

async fn refused(ws: &mut crate::helpers::Ws, v: Value, reference: &str) -> String {
    let reply = ws.request(v.clone(), reference).await;
    assert_eq!(reply["type"], "error", "{v}: {reply:?}");
    reply["code"].as_str().unwrap_or_default().to_owned()
}

/// Ask as `author` and publish it; returns its id.
async fn published(author: &mut crate::helpers::Ws, moderator: &mut crate::helpers::Ws, kind: &str, text: &str) -> i64 {
    let posted = ack(author, json!({ "type": kind, "text": text }), &format!("post-{text}")).await;
    let id = posted["question"]["id"].as_i64().unwrap();
    ack(
        moderator,
        json!({ "type": "approve", "question_id": id }),
        &format!("approve-{id}"),
    )
    .await;
    id
}

async fn a_paused_room_refuses_every_interaction_until_resumed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let host_token = app.staff("host", "host", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut host = app.staff_ws(event, &host_token).await;
    let mut asker = app.viewer_ws(event, "张三").await;
    let mut watcher = app.viewer_ws(event, "李四").await;
    let question = published(&mut asker, &mut moderator, "ask", "公园几点开门？").await;
    let poll = ack(
        &mut moderator,
        json!({ "type": "create_poll", "kind": "single_choice", "title": "满意吗？", "options": ["满意", "不满意"] }),
        "p",
    )
    .await["poll"]["id"]
        .as_i64()
        .unwrap();
    ack(&mut moderator, json!({ "type": "open_poll", "poll_id": poll }), "po").await;

    // A host may not pull the switch; a moderator may.
    assert_eq!(
        refused(&mut host, json!({ "type": "set_interaction", "paused": true }), "h").await,
        "forbidden"
    );
    ack(
        &mut moderator,
        json!({ "type": "set_interaction", "paused": true }),
        "pause",
    )
    .await;
    let frame = watcher.expect("interaction").await;
    assert_eq!(frame["paused"], true, "{frame:?}");
    assert!(frame["seq"].as_i64().is_some(), "a logged frame: {frame:?}");

    for (v, what) in [
        (json!({ "type": "ask", "text": "还能问吗？" }), "ask"),
        (json!({ "type": "comment", "text": "还能评论吗？" }), "comment"),
        (json!({ "type": "upvote", "question_id": question }), "upvote"),
        (json!({ "type": "vote", "poll_id": poll, "choices": [0] }), "vote"),
    ] {
        assert_eq!(refused(&mut watcher, v, what).await, "interaction_paused", "{what}");
    }
    // The event goes on: staff still work, and a newcomer sees the pause.
    ack(
        &mut host,
        json!({ "type": "answer", "question_id": question, "text": "九点。" }),
        "an",
    )
    .await;
    let mut late = app.ws(event, json!({ "nickname": "王五" })).await;
    assert_eq!(late.expect("snapshot").await["paused"], true);
    let mut resumed = app.ws(event, json!({ "nickname": "赵六", "last_seq": 0 })).await;
    assert_eq!(resumed.welcome["start"], "replay");
    assert_eq!(resumed.expect("interaction").await["paused"], true);

    ack(
        &mut moderator,
        json!({ "type": "set_interaction", "paused": false }),
        "resume",
    )
    .await;
    assert_eq!(watcher.expect("interaction").await["paused"], false);
    ack(
        &mut watcher,
        json!({ "type": "ask", "text": "现在可以问了吗？" }),
        "again",
    )
    .await;
    ack(
        &mut watcher,
        json!({ "type": "vote", "poll_id": poll, "choices": [0] }),
        "vote-again",
    )
    .await;

    let actions = app.audit_actions(event).await;
    assert!(
        actions.iter().any(|a| a == "pause") && actions.iter().any(|a| a == "resume"),
        "{actions:?}"
    );
    app.stop().await;
}

async fn withdrawing_recent_posts_takes_down_only_the_last_minutes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut asker = app.viewer_ws(event, "张三").await;
    let mut watcher = app.viewer_ws(event, "李四").await;
    let old = published(&mut asker, &mut moderator, "ask", "早先的问题").await;
    // Published half an hour ago, as far as the store knows.
    backdate(&app, old, chrono::Utc::now() - chrono::Duration::minutes(30)).await;
    let recent = published(&mut asker, &mut moderator, "ask", "刚才刷屏的问题").await;
    let comment = published(&mut asker, &mut moderator, "comment", "刚才刷屏的评论").await;
    let pending = ack(&mut asker, json!({ "type": "ask", "text": "还在待审" }), "pending").await;

    assert_eq!(
        refused(&mut moderator, json!({ "type": "withdraw_recent", "minutes": 0 }), "w0").await,
        "invalid"
    );
    let done = ack(&mut moderator, json!({ "type": "withdraw_recent", "minutes": 10 }), "w").await;
    assert_eq!(done["withdrawn"], 2, "{done:?}");
    watcher
        .expect_where(|f| f["type"] == "question_removed" && f["question_id"] == recent)
        .await;
    watcher
        .expect_where(|f| f["type"] == "comment_removed" && f["comment_id"] == comment)
        .await;

    // A newcomer sees the older question only; the pending one is untouched.
    let mut late = app.ws(event, json!({ "nickname": "王五" })).await;
    let snapshot = late.expect("snapshot").await;
    let shown: Vec<i64> = snapshot["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_i64().unwrap())
        .collect();
    assert_eq!(shown, [old]);
    assert!(!snapshot.to_string().contains("刷屏"), "{snapshot}");
    let pending_id = pending["question"]["id"].as_i64().unwrap();
    ack(
        &mut moderator,
        json!({ "type": "approve", "question_id": pending_id }),
        "ok",
    )
    .await;

    let withdrawn = app
        .audit_actions(event)
        .await
        .into_iter()
        .filter(|a| a == "withdraw")
        .count();
    assert_eq!(withdrawn, 2);
    app.stop().await;
}

/// Set when post `id` was published (its `moderated_at`).
async fn backdate(app: &TestApp, id: i64, at: chrono::DateTime<chrono::Utc>) {
    use sqlx::Connection;
    const SQL: &str = "UPDATE questions SET moderated_at = $1 WHERE id = $2";
    let url = app.database_url.expose();
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(SQL).bind(at).bind(id).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query(SQL).bind(at).bind(id).execute(&mut conn).await.unwrap();
    }
}

/// The pause reaches a viewer on another node of a cluster within a second,
/// and that node refuses the viewer's question.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_on_one_node_holds_on_another() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut viewer_a = cluster.viewer(0, event, "甲").await;
    let mut mod_b = cluster.moderator(1, event).await;
    let ack = mod_b
        .request(json!({ "type": "set_interaction", "paused": true }), "pause")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    let frame = viewer_a
        .expect_within(Duration::from_secs(1), |f| f["type"] == "interaction")
        .await;
    assert_eq!(frame["paused"], true);
    let refused = viewer_a
        .request(json!({ "type": "ask", "text": "暂停了吗？" }), "q")
        .await;
    assert_eq!(refused["code"], "interaction_paused", "{refused:?}");
    let ack = mod_b
        .request(json!({ "type": "set_interaction", "paused": false }), "resume")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    viewer_a
        .expect_within(Duration::from_secs(1), |f| {
            f["type"] == "interaction" && f["paused"] == false
        })
        .await;
    viewer_a.ask("q2", "恢复了吗？").await;
}
