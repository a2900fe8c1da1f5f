//! Comments (评论): the same screen, moderation, limits and log as questions.

use serde_json::json;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    comments_are_pre_moderated_and_resumable,
    comments_in_post_moderation_and_promotion
);

async fn comments_are_pre_moderated_and_resumable(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut author = app.viewer_ws(event, "评论人").await;
    let mut watcher = app.ws(event, json!({})).await;
    let token = watcher.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    let last_seq = watcher.expect("snapshot").await["seq"].as_i64().unwrap();
    drop(watcher);

    let ack = author
        .request(json!({ "type": "comment", "text": "讲得很清楚，点赞！" }), "c1")
        .await;
    assert_eq!(ack["action"], "comment", "{ack:?}");
    assert_eq!(ack["question"]["kind"], "comment");
    assert_eq!(ack["question"]["status"], "pending");
    let id = ack["question"]["id"].as_i64().unwrap();
    let seen = moderator.expect("moderation").await;
    assert_eq!(seen["question"]["kind"], "comment");

    // Comments are not questions: no upvotes, pins or answers.
    let approve = moderator
        .request(json!({ "type": "approve", "question_id": id }), "a")
        .await;
    assert_eq!(approve["type"], "ack", "{approve:?}");
    let frame = author.expect("comment").await;
    assert_eq!(frame["comment"]["text"], "讲得很清楚，点赞！");
    assert_eq!(author.expect("mine").await["question"]["status"], "approved");
    assert_eq!(
        author
            .request(json!({ "type": "upvote", "question_id": id }), "u")
            .await["code"],
        "not_a_question"
    );
    assert_eq!(
        moderator
            .request(json!({ "type": "pin", "question_id": id }), "p")
            .await["code"],
        "not_a_question"
    );
    assert_eq!(
        moderator
            .request(json!({ "type": "answer", "question_id": id, "text": "谢谢" }), "an")
            .await["code"],
        "not_a_question"
    );

    // Resume replays the comment; a new client sees it in the snapshot.
    let mut back = app
        .ws(event, json!({ "viewer_token": token, "last_seq": last_seq }))
        .await;
    assert_eq!(back.welcome["start"], "replay");
    let replayed = back.next().await;
    assert_eq!(replayed["type"], "comment");
    assert_eq!(replayed["seq"], last_seq + 1);
    let mut fresh = app.ws(event, json!({})).await;
    let snap = fresh.expect("snapshot").await;
    assert_eq!(snap["comments"][0]["id"], id);
    assert_eq!(snap["questions"], json!([]));
    app.stop().await;
}

async fn comments_in_post_moderation_and_promotion(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    moderator
        .request(json!({ "type": "set_moderation", "mode": "post" }), "m")
        .await;
    let mut author = app.viewer_ws(event, "网友").await;

    let ack = author
        .request(json!({ "type": "comment", "text": "希望多讲讲灵活就业社保" }), "c1")
        .await;
    assert_eq!(ack["question"]["status"], "approved");
    let id = ack["question"]["id"].as_i64().unwrap();
    author.expect("comment").await;

    // A moderator turns the comment into a question for the host.
    let promote = moderator
        .request(json!({ "type": "promote", "question_id": id }), "pr")
        .await;
    assert_eq!(promote["question"]["kind"], "question", "{promote:?}");
    assert_eq!(author.expect("comment_removed").await["comment_id"], id);
    let question = author.expect("question").await;
    assert_eq!(question["question"]["id"], id);
    assert_eq!(author.expect("mine").await["question"]["kind"], "question");
    let again = moderator
        .request(json!({ "type": "promote", "question_id": id }), "pr2")
        .await;
    assert_eq!(again["code"], "not_a_comment");

    // Hiding a comment removes it; the screen works for comments too.
    let ack = author
        .request(json!({ "type": "comment", "text": "无关内容" }), "c2")
        .await;
    let other = ack["question"]["id"].as_i64().unwrap();
    moderator
        .request(json!({ "type": "hide", "question_id": other }), "h")
        .await;
    assert_eq!(author.expect("comment_removed").await["comment_id"], other);
    let ad = author
        .request(json!({ "type": "comment", "text": "兼职日结，私信我" }), "c3")
        .await;
    assert_eq!(ad["question"]["status"], "rejected", "{ad:?}");

    let audit = app
        .get(&format!("/api/events/{event}/audit"), Some(&app.admin_token))
        .await
        .body;
    assert!(audit.as_array().unwrap().iter().any(|a| a["action"] == "promote"));
    app.stop().await;
}
