//! Polls in the live room with real WebSocket clients.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, Ws, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    every_poll_kind_votes_and_tallies,
    votes_that_cannot_change_and_results_after_close,
    closing_under_concurrent_voting_counts_exactly_the_acknowledged_votes,
);

async fn create(moderator: &mut Ws, spec: Value) -> i64 {
    let mut msg = spec;
    msg["type"] = json!("create_poll");
    let ack = moderator.request(msg, "create").await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(ack["poll"]["status"], "draft");
    ack["poll"]["id"].as_i64().unwrap()
}

async fn setup(app: &TestApp) -> (i64, Ws) {
    let event = app.live_event().await;
    let token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &token).await;
    moderator.expect("polls").await;
    (event, moderator)
}

async fn every_poll_kind_votes_and_tallies(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (event, mut moderator) = setup(&app).await;
    let single = create(
        &mut moderator,
        json!({ "kind": "single_choice", "title": "您最关心哪项？", "options": ["社保", "医保", "就业"] }),
    )
    .await;
    let multi = create(
        &mut moderator,
        json!({ "kind": "multiple_choice", "title": "可多选", "options": ["甲", "乙", "丙"], "max_choices": 2 }),
    )
    .await;
    let rating = create(&mut moderator, json!({ "kind": "rating", "title": "本次讲解评分" })).await;
    let text = create(
        &mut moderator,
        json!({ "kind": "open_text", "title": "一个词形容本次活动" }),
    )
    .await;
    let bad = moderator
        .request(
            json!({ "type": "create_poll", "kind": "rating", "title": "x", "options": ["a"] }),
            "bad",
        )
        .await;
    assert_eq!(bad["code"], "invalid");

    let mut a = app.viewer_ws(event, "甲").await;
    let mut b = app.viewer_ws(event, "乙").await;
    // A draft cannot be voted on.
    let r = a
        .request(json!({ "type": "vote", "poll_id": single, "choices": [0] }), "d")
        .await;
    assert_eq!(r["code"], "not_found");

    for id in [single, multi, rating, text] {
        let ack = moderator
            .request(json!({ "type": "open_poll", "poll_id": id }), &format!("o{id}"))
            .await;
        assert_eq!(ack["poll"]["status"], "open", "{ack:?}");
        let frame = a.expect("poll").await;
        assert_eq!(frame["poll"]["id"], id);
        assert!(frame["seq"].as_i64().is_some());
    }

    // Single choice, then a change of mind.
    let r = a
        .request(json!({ "type": "vote", "poll_id": single, "choices": [0] }), "v1")
        .await;
    assert_eq!(
        (r["type"].as_str(), r["changed"].as_bool()),
        (Some("ack"), Some(false)),
        "{r:?}"
    );
    b.request(json!({ "type": "vote", "poll_id": single, "choices": [2] }), "v2")
        .await;
    let r = a
        .request(json!({ "type": "vote", "poll_id": single, "choices": [1] }), "v3")
        .await;
    assert_eq!(r["changed"], true);
    assert_eq!(
        a.request(json!({ "type": "vote", "poll_id": single, "choices": [0, 1] }), "x")
            .await["code"],
        "too_many_choices"
    );
    assert_eq!(
        a.request(json!({ "type": "vote", "poll_id": single, "choices": [7] }), "x")
            .await["code"],
        "invalid_option"
    );
    assert_eq!(
        a.request(json!({ "type": "vote", "poll_id": single, "rating": 3 }), "x")
            .await["code"],
        "invalid_vote"
    );

    // Multiple choice with a maximum.
    assert_eq!(
        a.request(json!({ "type": "vote", "poll_id": multi, "choices": [0, 1, 2] }), "m")
            .await["code"],
        "too_many_choices"
    );
    assert_eq!(
        a.request(json!({ "type": "vote", "poll_id": multi, "choices": [0, 2] }), "m2")
            .await["type"],
        "ack"
    );
    // Rating 1–5.
    assert_eq!(
        a.request(json!({ "type": "vote", "poll_id": rating, "rating": 6 }), "r")
            .await["code"],
        "invalid_option"
    );
    a.request(json!({ "type": "vote", "poll_id": rating, "rating": 5 }), "r1")
        .await;
    b.request(json!({ "type": "vote", "poll_id": rating, "rating": 4 }), "r2")
        .await;
    // Open text, screened.
    let long = "长".repeat(31);
    assert_eq!(
        a.request(json!({ "type": "vote", "poll_id": text, "text": long }), "t")
            .await["code"],
        "invalid_vote"
    );
    let ok = a
        .request(json!({ "type": "vote", "poll_id": text, "text": "便民" }), "t1")
        .await;
    assert_eq!(ok["text_status"], "approved");
    let ad = b
        .request(json!({ "type": "vote", "poll_id": text, "text": "加微信领红包" }), "t2")
        .await;
    assert_eq!(ad["text_status"], "rejected");

    // Live tallies arrive, coalesced; the last one for each poll is right.
    let mut latest = std::collections::HashMap::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while latest.len() < 4 && std::time::Instant::now() < deadline {
        let frame = b.expect("poll_results").await;
        latest.insert(frame["poll_id"].as_i64().unwrap(), frame["tally"].clone());
        if latest.get(&single).is_some_and(|t| t["counts"] != json!([0, 1, 1])) {
            latest.remove(&single);
        }
    }
    assert_eq!(latest[&single]["counts"], json!([0, 1, 1]));
    assert_eq!(latest[&multi]["counts"], json!([1, 0, 1]));
    assert_eq!(latest[&rating]["counts"], json!([0, 0, 0, 1, 1]));
    assert_eq!(latest[&rating]["average"], 4.5);
    assert_eq!(latest[&text]["words"], json!([{ "text": "便民", "count": 1 }]));
    assert_eq!(latest[&text]["voters"], 2);

    // Close: the final tally equals the stored votes; no vote after it.
    let closed = moderator
        .request(json!({ "type": "close_poll", "poll_id": single }), "c")
        .await;
    assert_eq!(closed["poll"]["status"], "closed");
    let frame = a.expect("poll").await;
    assert_eq!(frame["poll"]["status"], "closed");
    assert_eq!(frame["poll"]["tally"]["counts"], json!([0, 1, 1]));
    assert_eq!(
        a.request(json!({ "type": "vote", "poll_id": single, "choices": [0] }), "late")
            .await["code"],
        "poll_closed"
    );
    // Reopen.
    let reopened = moderator
        .request(json!({ "type": "open_poll", "poll_id": single }), "re")
        .await;
    assert_eq!(reopened["poll"]["status"], "open");
    assert_eq!(
        a.request(json!({ "type": "vote", "poll_id": single, "choices": [0] }), "again")
            .await["changed"],
        true
    );

    // A newcomer's snapshot has the polls and their tallies; a voter's has their votes.
    let mut fresh = app.ws(event, json!({})).await;
    let snap = fresh.expect("snapshot").await;
    assert_eq!(snap["polls"].as_array().unwrap().len(), 4);
    let token = a.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    let mut again = app.ws(event, json!({ "viewer_token": token })).await;
    let snap = again.expect("snapshot").await;
    let votes = snap["my_votes"].as_array().unwrap();
    assert_eq!(votes.len(), 4);
    let audit = app
        .get(&format!("/api/events/{event}/audit"), Some(&app.admin_token))
        .await
        .body;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"create_poll") && actions.contains(&"close_poll") && actions.contains(&"open_poll"));
    app.stop().await;
}

async fn votes_that_cannot_change_and_results_after_close(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (event, mut moderator) = setup(&app).await;
    let id = create(
        &mut moderator,
        json!({ "kind": "single_choice", "title": "是否满意？", "options": ["满意", "不满意"], "allow_change": false, "results": "after_close" }),
    )
    .await;
    let mut viewer = app.viewer_ws(event, "网友").await;
    moderator
        .request(json!({ "type": "open_poll", "poll_id": id }), "o")
        .await;
    let opened = viewer.expect("poll").await;
    assert!(
        opened["poll"]["tally"].is_null(),
        "results hidden until closing: {opened:?}"
    );
    assert_eq!(
        viewer
            .request(json!({ "type": "vote", "poll_id": id, "choices": [0] }), "v")
            .await["type"],
        "ack"
    );
    assert_eq!(
        viewer
            .request(json!({ "type": "vote", "poll_id": id, "choices": [1] }), "v2")
            .await["code"],
        "already_voted"
    );
    // Staff see the tally live; the public does not.
    loop {
        let admin = moderator.expect("poll_admin").await;
        if admin["tally"]["voters"] == 1 {
            assert_eq!(admin["tally"]["counts"], json!([1, 0]));
            break;
        }
    }
    // A console that joins now gets the current tally at once, not at the next vote.
    let token = app.staff("mod2", "moderator", None).await;
    let mut late = app.staff_ws(event, &token).await;
    let tally = late.expect("poll_admin").await;
    assert_eq!(
        (tally["poll_id"].as_i64(), tally["tally"]["voters"].as_i64()),
        (Some(id), Some(1)),
        "{tally:?}"
    );
    moderator
        .request(json!({ "type": "close_poll", "poll_id": id }), "c")
        .await;
    let closed = viewer.expect("poll").await;
    assert_eq!(closed["poll"]["tally"]["counts"], json!([1, 0]));
    // No public tally frame was ever sent for it.
    viewer.send(json!({ "type": "ping", "ref": "end" })).await;
    loop {
        let f = viewer.next().await;
        assert_ne!(f["type"], "poll_results", "{f:?}");
        if f["type"] == "pong" {
            break;
        }
    }
    app.stop().await;
}

async fn closing_under_concurrent_voting_counts_exactly_the_acknowledged_votes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let (event, mut moderator) = setup(&app).await;
    let id = create(
        &mut moderator,
        json!({ "kind": "single_choice", "title": "选一个", "options": ["一", "二"] }),
    )
    .await;
    let mut viewers = Vec::new();
    for i in 0..30 {
        viewers.push(app.viewer_ws(event, &format!("v{i}")).await);
    }
    moderator
        .request(json!({ "type": "open_poll", "poll_id": id }), "o")
        .await;
    let voting: Vec<_> = viewers
        .into_iter()
        .enumerate()
        .map(|(i, mut v)| {
            tokio::spawn(async move {
                let r = v
                    .request(json!({ "type": "vote", "poll_id": id, "choices": [i % 2] }), "v")
                    .await;
                match r["type"].as_str() {
                    Some("ack") => 1,
                    _ => {
                        assert_eq!(r["code"], "poll_closed", "{r:?}");
                        0
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let closed = moderator
        .request(json!({ "type": "close_poll", "poll_id": id }), "c")
        .await;
    let mut acked = 0;
    for v in voting {
        acked += v.await.unwrap();
    }
    assert_eq!(closed["poll"]["status"], "closed");
    let mut check = app.ws(event, json!({})).await;
    let snap = check.expect("snapshot").await;
    let tally = &snap["polls"][0]["tally"];
    assert_eq!(
        tally["voters"], acked,
        "every acknowledged vote, and only those, is counted: {tally:?}"
    );
    let counted: i64 = tally["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_i64().unwrap())
        .sum();
    assert_eq!(counted, acked);
    app.stop().await;
}
