//! Issue 15, point 3: bans that hold for a term (10 minutes, an hour, a day)
//! or the rest of the event, that the banned viewer is told the reason and
//! end of, that moderators list and lift, on every node.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::cluster::harness::{Cluster, eventually};
use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_ban_has_a_term_a_reason_and_can_be_lifted,
    a_permanent_ban_holds_in_every_event_and_is_the_administrators,
);

async fn a_ban_has_a_term_a_reason_and_can_be_lifted(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let host_token = app.staff("host", "host", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut troll = app.ws(event, json!({ "nickname": "捣乱" })).await;
    let key = troll.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let token = troll.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    troll.expect("snapshot").await;

    let odd = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "刷屏", "include_address": false, "minutes": 5 }),
            "odd",
        )
        .await;
    assert_eq!(odd["code"], "invalid", "{odd:?}");
    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "反复刷屏", "include_address": false, "minutes": 60 }),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");

    // Told why and until when, live and when coming back.
    let (code, frames) = troll.closed().await;
    assert_eq!(code, Some(4403));
    let told = frames.last().unwrap();
    assert_eq!(told["code"], "banned");
    assert_eq!(told["ban"]["reason"], "反复刷屏", "{told:?}");
    assert!(told["ban"]["until"].is_string(), "{told:?}");
    let message = told["message"].as_str().unwrap();
    assert!(
        message.contains("反复刷屏") && message.contains("until 20"),
        "{message}"
    );
    let (code, close) = app.refused(event, json!({ "viewer_token": token })).await;
    assert_eq!((code.as_str(), close), ("banned", Some(4403)));

    // Listed for the staff who serve the event (addresses masked but for admins).
    let list = app
        .get(&format!("/api/events/{event}/bans"), Some(&moderator_token))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let bans = list.body.as_array().unwrap();
    assert_eq!(bans.len(), 1, "{bans:?}");
    assert_eq!(bans[0]["viewer_key"], key.as_str());
    assert_eq!(bans[0]["reason"], "反复刷屏");
    let until = chrono::DateTime::parse_from_rfc3339(bans[0]["expires_at"].as_str().unwrap()).unwrap();
    let left = until.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(58) && left <= chrono::Duration::minutes(60),
        "{left}"
    );
    let ban_id = bans[0]["id"].as_i64().unwrap();
    assert_eq!(
        app.get(&format!("/api/events/{event}/bans"), None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A host may not lift it; a moderator may, once.
    let mut host = app.staff_ws(event, &host_token).await;
    let no = host.request(json!({ "type": "unban", "ban_id": ban_id }), "h").await;
    assert_eq!(no["code"], "forbidden", "{no:?}");
    let lifted = moderator
        .request(json!({ "type": "unban", "ban_id": ban_id }), "u")
        .await;
    assert_eq!(lifted["type"], "ack", "{lifted:?}");
    let again = moderator
        .request(json!({ "type": "unban", "ban_id": ban_id }), "u2")
        .await;
    assert_eq!(again["code"], "not_found", "{again:?}");
    let mut back = app.ws(event, json!({ "viewer_token": token })).await;
    back.expect("snapshot").await;
    let ask = back.request(json!({ "type": "ask", "text": "我改正了" }), "q").await;
    assert_eq!(ask["type"], "ack", "{ask:?}");
    let list = app
        .get(&format!("/api/events/{event}/bans"), Some(&moderator_token))
        .await;
    assert_eq!(list.body.as_array().unwrap().len(), 0);

    let actions = app.audit_actions(event).await;
    assert!(
        actions.iter().any(|a| a == "ban") && actions.iter().any(|a| a == "unban"),
        "{actions:?}"
    );
    app.stop().await;
}

async fn a_permanent_ban_holds_in_every_event_and_is_the_administrators(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let other = app.announce("open-day-01").await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut admin = app.staff_ws(event, &app.admin_token).await;
    let mut troll = app.ws(event, json!({ "nickname": "捣乱" })).await;
    let key = troll.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let token = troll.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    troll.expect("snapshot").await;
    // In the other event's room too, already open on this node.
    let mut elsewhere = app.ws(other, json!({ "viewer_token": token })).await;
    elsewhere.expect("snapshot").await;

    let ban = json!({ "type": "ban", "viewer": key, "reason": "多场活动恶意刷屏", "include_address": false, "permanent": true });
    let no = moderator.request(ban.clone(), "m").await;
    assert_eq!(no["code"], "forbidden", "a moderator may not: {no:?}");
    let ack = admin.request(ban, "a").await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(troll.closed().await.0, Some(4403));
    assert_eq!(
        elsewhere.closed().await.0,
        Some(4403),
        "cut off in the other event as well"
    );
    for room in [event, other] {
        let (code, close) = app.refused(room, json!({ "viewer_token": token })).await;
        assert_eq!((code.as_str(), close), ("banned", Some(4403)), "event {room}");
    }
    let listed = app
        .get(&format!("/api/events/{other}/bans"), Some(&app.admin_token))
        .await;
    let bans = listed.body.as_array().unwrap();
    assert_eq!(bans.len(), 1, "listed in every event: {bans:?}");
    assert_eq!(bans[0]["permanent"], true);
    assert_eq!(bans[0]["expires_at"], serde_json::Value::Null);
    let ban_id = bans[0]["id"].as_i64().unwrap();

    let no = moderator
        .request(json!({ "type": "unban", "ban_id": ban_id }), "mu")
        .await;
    assert_eq!(no["code"], "not_found", "a moderator may not lift it: {no:?}");
    let lifted = admin.request(json!({ "type": "unban", "ban_id": ban_id }), "au").await;
    assert_eq!(lifted["type"], "ack", "{lifted:?}");
    for room in [event, other] {
        let mut back = app.ws(room, json!({ "viewer_token": token })).await;
        back.expect("snapshot").await;
    }
    app.stop().await;
}

/// A ban lifted on one node lets the viewer back in on another within its
/// next ban check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_lifted_on_one_node_is_lifted_on_another() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let event = cluster.live_event().await;
    let troll = cluster.connect(0, event, json!({ "nickname": "捣乱" })).await;
    let key = troll.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let token = troll.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    let mut mod_b = cluster.moderator(1, event).await;
    let ack = mod_b
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "刷屏", "include_address": false, "minutes": 10 }),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    let bans = cluster
        .http(1, reqwest::Method::GET, &format!("/api/events/{event}/bans"), None)
        .await;
    let ban_id = bans[0]["id"].as_i64().expect("the ban is listed");
    drop(troll);
    let url = format!("ws://{}/api/events/{event}/live", cluster.nodes[0].addr);
    eventually(Duration::from_secs(10), "node 0 turns the viewer away", || {
        let (url, token) = (url.clone(), token.clone());
        async move { first_frame(&url, &token).await == "error" }
    })
    .await;
    let lifted = mod_b.request(json!({ "type": "unban", "ban_id": ban_id }), "u").await;
    assert_eq!(lifted["type"], "ack", "{lifted:?}");
    eventually(Duration::from_secs(10), "node 0 lets the viewer back", || {
        let (url, token) = (url.clone(), token.clone());
        async move { first_frame(&url, &token).await == "welcome" }
    })
    .await;
}

/// The type of the first frame node `url` answers a viewer's `hello` with.
async fn first_frame(url: &str, token: &str) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("ws connect");
    let hello = json!({ "type": "hello", "protocol": 1, "viewer_token": token });
    socket.send(Message::text(hello.to_string())).await.expect("hello");
    while let Some(Ok(frame)) = socket.next().await {
        if let Message::Text(text) = frame {
            let v: serde_json::Value = serde_json::from_str(text.as_str()).expect("JSON");
            return v["type"].as_str().unwrap_or_default().to_owned();
        }
    }
    String::new()
}
