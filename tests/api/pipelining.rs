//! A client's requests are read while earlier ones wait for their commit:
//! they are still queued, committed and answered in the order the client
//! sent them, and those read before the client leaves are still done.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_moderators_commands_sent_back_to_back_commit_and_are_answered_in_order,
    requests_read_before_the_client_leaves_are_still_done,
    a_question_answered_many_times_logs_only_its_last_answer,
);

async fn a_moderators_commands_sent_back_to_back_commit_and_are_answered_in_order(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut asker = app.viewer_ws(event, "张三").await;
    let ack = asker
        .request(json!({ "type": "ask", "text": "公交线路会调整吗？" }), "q1")
        .await;
    let id = ack["question"]["id"].as_i64().expect("question id");
    let mut watcher = app.viewer_ws(event, "李四").await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;

    // Approve, pin (only an approved question can be pinned) and 30 answers,
    // each sent without waiting for the last one's answer.
    let answers = 30;
    moderator
        .send(json!({ "type": "approve", "ref": "a", "question_id": id }))
        .await;
    moderator
        .send(json!({ "type": "pin", "ref": "p", "question_id": id }))
        .await;
    for k in 1..=answers {
        let text = format!("答复第{k}版");
        moderator
            .send(json!({ "type": "answer", "ref": format!("an{k}"), "question_id": id, "text": text }))
            .await;
    }
    let mut refs = Vec::new();
    while refs.len() < answers + 2 {
        let v = moderator.next().await;
        if v["type"] == "ack" || v["type"] == "error" {
            assert_eq!(v["type"], "ack", "every command is done: {v}");
            refs.push(v["ref"].as_str().expect("ref").to_owned());
        }
    }
    let mut expected = vec!["a".to_owned(), "p".to_owned()];
    expected.extend((1..=answers).map(|k| format!("an{k}")));
    assert_eq!(refs, expected, "answers come back in the order of the requests");

    // The room sees the approval, the pin and every answer in the order sent.
    let approved = watcher.expect("question").await;
    assert_eq!(approved["question"]["answered"], false);
    let mut seq = approved["seq"].as_i64().expect("seq");
    let pinned = watcher.expect("pinned").await;
    assert_eq!(pinned["seq"], seq + 1);
    seq += 1;
    for k in 1..=answers {
        let v = watcher.expect("question").await;
        assert_eq!(v["question"]["answer"], format!("答复第{k}版"));
        assert_eq!(v["seq"], seq + 1, "no gap, no reordering");
        seq += 1;
    }
    let mut late = app.ws(event, json!({ "nickname": "王五" })).await;
    let snapshot = late.expect("snapshot").await;
    assert_eq!(snapshot["questions"][0]["answer"], format!("答复第{answers}版"));
    assert_eq!(snapshot["pinned"], id);
    app.stop().await;
}

async fn requests_read_before_the_client_leaves_are_still_done(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut asker = app.viewer_ws(event, "赵六").await;
    let texts: Vec<String> = (1..=8).map(|k| format!("第{k}个问题：停车场开放吗？")).collect();
    for (k, text) in texts.iter().enumerate() {
        asker
            .send(json!({ "type": "ask", "ref": format!("q{k}"), "text": text }))
            .await;
    }
    // Gone without waiting for a single answer (a close frame, then the socket
    // stays open until the end: a reset would discard what the server has not read).
    asker.socket.close(None).await.expect("close frame sent");

    let mut seen = HashSet::new();
    while seen.len() < texts.len() {
        let v = moderator.expect("moderation").await;
        seen.insert(v["question"]["text"].as_str().expect("text").to_owned());
    }
    assert_eq!(seen, texts.into_iter().collect::<HashSet<_>>());
    drop(asker);
    app.stop().await;
}

/// A question answered hundreds of times (more than one redaction statement
/// names) reads its last answer in every earlier frame of the room log.
async fn a_question_answered_many_times_logs_only_its_last_answer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut asker = app.viewer_ws(event, "周七").await;
    let ack = asker
        .request(json!({ "type": "ask", "text": "图书馆周末开放吗？" }), "q1")
        .await;
    let id = ack["question"]["id"].as_i64().expect("question id");
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let approved = moderator
        .request(json!({ "type": "approve", "question_id": id }), "a")
        .await;
    assert_eq!(approved["type"], "ack", "{approved}");
    let answers = 520;
    for k in 1..=answers {
        moderator
            .send(json!({ "type": "answer", "ref": format!("an{k}"), "question_id": id, "text": format!("答复{k}") }))
            .await;
    }
    let mut acked = 0;
    while acked < answers {
        let v = moderator.next().await;
        if v["type"] == "ack" || v["type"] == "error" {
            assert_eq!(v["type"], "ack", "{v}");
            acked += 1;
        }
    }
    let log = app
        .store
        .room_log(minsheng::domain::ids::EventId(event), 0, i64::MAX)
        .await
        .expect("room log");
    let answers_logged: Vec<String> = log
        .iter()
        .filter_map(|(_, change)| match change {
            minsheng::domain::question::RoomChange::Question { question } => question.answer.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(answers_logged.len(), answers, "one answered frame per answer");
    assert!(
        answers_logged.iter().all(|a| a == &format!("答复{answers}")),
        "every earlier frame reads the last answer"
    );
    app.stop().await;
}
