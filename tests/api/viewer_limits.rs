//! Viewers are counted and limited per viewer token and per client address
//! (issue 13, points 12, 13 and 15): one machine's many sockets count as one
//! viewer and are capped; upvotes and votes from one address are capped
//! across reconnects; a ban by address reaches a viewer who never posted;
//! a reloaded moderator console can still ban the authors of published posts.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::harness::{Cluster, Options, eventually};
use crate::helpers::{Backend, TestApp, Ws, live_settings, next_json, send_json, spawn_app, spawn_app_full};
use crate::on_both_backends;

on_both_backends!(
    upvotes_from_one_address_are_capped_across_reconnects,
    poll_votes_from_one_address_are_capped_across_reconnects,
    an_address_ban_reaches_a_viewer_who_never_posted,
    an_address_ban_reaches_a_viewer_who_only_upvoted_after_the_room_reloaded,
    a_reloaded_console_can_ban_the_author_of_a_published_question,
);

/// A server behind a "balancer" on loopback: `X-Forwarded-For` names the client.
async fn behind_proxy(backend: Backend, live: minsheng::config::LiveSettings) -> Option<TestApp> {
    let http = minsheng::config::HttpSettings {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..crate::helpers::http_settings()
    };
    spawn_app_full(backend, live, http).await
}

/// A viewer from `address` (with `token` to come back as the same viewer); consumes the snapshot.
async fn viewer_from(app: &TestApp, event: i64, address: &str, token: Option<&str>) -> Ws {
    let hello = match token {
        Some(t) => json!({ "viewer_token": t }),
        None => json!({}),
    };
    let mut ws = app.ws_via(event, hello, Some(address)).await;
    ws.expect("snapshot").await;
    ws
}

fn token_of(ws: &Ws) -> String {
    ws.welcome["viewer"]["token"].as_str().unwrap().to_owned()
}

/// Open a live socket from `address` and expect the upgrade refused: the HTTP status and error body.
async fn upgrade_refused(app: &TestApp, event: i64, address: &str) -> (u16, Value) {
    use tokio_tungstenite::tungstenite::Error;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = app.ws_url(event).into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-forwarded-for", address.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            (
                response.status().as_u16(),
                serde_json::from_slice(body).unwrap_or(Value::Null),
            )
        }
        Err(e) => panic!("expected an HTTP refusal, got {e}"),
        Ok(_) => panic!("the upgrade from {address} was accepted"),
    }
}

/// Wait (bounded) until the node has no live room open, as `/metrics` says.
async fn room_dropped(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = app.client.get(app.url("/metrics")).send().await.expect("metrics");
        let text = r.text().await.unwrap_or_default();
        if text.lines().any(|l| l == "minsheng_live_rooms 0") {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the room stayed open: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A question asked by a fresh viewer and approved; its id.
async fn published_question(app: &TestApp, event: i64, moderator: &mut Ws) -> (i64, Ws) {
    let mut author = app.viewer_ws(event, "提问人").await;
    let ack = author
        .request(json!({ "type": "ask", "text": "请问社保卡怎么补办？" }), "q")
        .await;
    let id = ack["question"]["id"].as_i64().expect("question id");
    let ack = moderator
        .request(json!({ "type": "approve", "question_id": id }), &format!("a{id}"))
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    (id, author)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sockets_of_one_viewer_token_count_as_one_viewer() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let event = app.live_event().await;
    let first = app.viewer_ws(event, "甲").await;
    let token = token_of(&first);
    let mut same = vec![first];
    for _ in 0..5 {
        let mut ws = app.ws(event, json!({ "viewer_token": token })).await;
        ws.expect("snapshot").await;
        same.push(ws);
    }
    // Six sockets of one token and one other viewer: two viewers.
    let mut other = app.ws(event, json!({})).await;
    let snapshot = other.expect("snapshot").await;
    assert_eq!(snapshot["viewers"], 2, "viewers are tokens, not sockets");
    // The broadcast count says the same once it goes out.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let frame = crate::helpers::next_json(&mut other.socket).await.expect("open");
        if frame["type"] == "presence" {
            assert_eq!(frame["viewers"], 2, "{frame:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no presence frame");
    }
    drop(same);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_sockets_per_address_are_capped_before_the_upgrade() {
    let live = minsheng::config::LiveSettings {
        viewer_sockets_per_address: 3,
        ..live_settings()
    };
    let app = behind_proxy(Backend::Sqlite, live).await.expect("SQLite");
    let event = app.live_event().await;
    let office = "203.0.113.9";
    let mut open = vec![
        viewer_from(&app, event, office, None).await,
        viewer_from(&app, event, office, None).await,
    ];
    // Staff signed in by `hello` take no viewer slot once recognised.
    let token = app.staff("mod", "moderator", None).await;
    let staff = app.ws_via(event, json!({ "session": token }), Some(office)).await;
    assert_eq!(staff.welcome["capability"], "moderator");
    open.push(viewer_from(&app, event, office, None).await);
    let (status, body) = upgrade_refused(&app, event, office).await;
    assert_eq!(status, 429, "{body:?}");
    assert_eq!(body["error"]["code"], "too_many_connections", "{body:?}");
    // Other addresses are not affected.
    let _neighbour = viewer_from(&app, event, "203.0.113.10", None).await;
    // A socket that closes gives its slot back.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = app.ws_url(event).into_client_request().unwrap();
        request.headers_mut().insert("x-forwarded-for", office.parse().unwrap());
        if tokio_tungstenite::connect_async(request).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(staff);
    app.stop().await;
}

async fn upvotes_from_one_address_are_capped_across_reconnects(backend: Backend) {
    let live = minsheng::config::LiveSettings {
        votes_per_address: 2,
        ..live_settings()
    };
    let Some(app) = behind_proxy(backend, live).await else {
        return;
    };
    let event = app.live_event().await;
    let token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &token).await;
    let (id, _author) = published_question(&app, event, &mut moderator).await;
    let upvote = json!({ "type": "upvote", "question_id": id });
    let school = "198.51.100.20";

    let mut a = viewer_from(&app, event, school, None).await;
    let mut b = viewer_from(&app, event, school, None).await;
    let mut c = viewer_from(&app, event, school, None).await;
    assert_eq!(a.request(upvote.clone(), "u").await["upvotes"], 1);
    assert_eq!(b.request(upvote.clone(), "u").await["upvotes"], 2);
    let r = c.request(upvote.clone(), "u").await;
    assert_eq!(r["type"], "error", "{r:?}");
    assert_eq!(r["code"], "too_many_from_address", "{r:?}");
    // Their own second upvote is still the usual refusal.
    assert_eq!(a.request(upvote.clone(), "again").await["code"], "already_upvoted");

    // Every socket closes; new tokens from the same address come back later.
    drop((a, b, c));
    let mut d = viewer_from(&app, event, school, None).await;
    let r = d.request(upvote.clone(), "u").await;
    assert_eq!(
        r["code"], "too_many_from_address",
        "the cap holds across reconnects: {r:?}"
    );
    // Another address is counted on its own.
    let mut home = viewer_from(&app, event, "198.51.100.21", None).await;
    assert_eq!(home.request(upvote, "u").await["upvotes"], 3);
    app.stop().await;
}

async fn poll_votes_from_one_address_are_capped_across_reconnects(backend: Backend) {
    let live = minsheng::config::LiveSettings {
        votes_per_address: 2,
        ..live_settings()
    };
    let Some(app) = behind_proxy(backend, live).await else {
        return;
    };
    let event = app.live_event().await;
    let token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &token).await;
    let ack = moderator
        .request(
            json!({ "type": "create_poll", "kind": "single_choice", "title": "您最关心哪项？", "options": ["社保", "医保"] }),
            "c",
        )
        .await;
    let poll = ack["poll"]["id"].as_i64().expect("poll id");
    let ack = moderator
        .request(json!({ "type": "open_poll", "poll_id": poll }), "o")
        .await;
    assert_eq!(ack["poll"]["status"], "open", "{ack:?}");
    let vote = |choice: u32| json!({ "type": "vote", "poll_id": poll, "choices": [choice] });
    let office = "198.51.100.30";

    let mut a = viewer_from(&app, event, office, None).await;
    let mut b = viewer_from(&app, event, office, None).await;
    let mut c = viewer_from(&app, event, office, None).await;
    assert_eq!(a.request(vote(0), "v").await["type"], "ack");
    assert_eq!(b.request(vote(1), "v").await["type"], "ack");
    let r = c.request(vote(0), "v").await;
    assert_eq!(r["code"], "too_many_from_address", "{r:?}");
    // A voter of the address may still change their vote.
    let r = a.request(vote(1), "change").await;
    assert_eq!(r["changed"], true, "{r:?}");

    let a_token = token_of(&a);
    drop((a, b, c));
    let mut d = viewer_from(&app, event, office, None).await;
    assert_eq!(d.request(vote(0), "v").await["code"], "too_many_from_address");
    // The same voter coming back is still one of the two.
    let mut a = viewer_from(&app, event, office, Some(&a_token)).await;
    assert_eq!(a.request(vote(0), "back").await["changed"], true);
    let mut home = viewer_from(&app, event, "198.51.100.31", None).await;
    assert_eq!(home.request(vote(0), "v").await["type"], "ack");
    app.stop().await;
}

async fn an_address_ban_reaches_a_viewer_who_never_posted(backend: Backend) {
    let Some(app) = behind_proxy(backend, live_settings()).await else {
        return;
    };
    let event = app.live_event().await;
    let token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &token).await;
    let lurker_address = "203.0.113.44";
    let mut lurker = viewer_from(&app, event, lurker_address, None).await;
    let key = lurker.welcome["viewer"]["key"].as_str().unwrap().to_owned();

    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "恶意刷屏", "include_address": true }),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(ack["banned"], json!({ "viewer": key, "address": true }), "{ack:?}");
    assert!(
        !ack.to_string().contains(lurker_address),
        "the ack reveals the address: {ack}"
    );
    assert_eq!(lurker.closed().await.0, Some(4403));
    // A new token from that address is turned away: the address was banned.
    assert_eq!(
        app.refused_via(event, json!({}), Some(lurker_address)).await,
        ("banned".into(), Some(4403))
    );
    // Without the address, the ack says so.
    let mut other = viewer_from(&app, event, "203.0.113.45", None).await;
    let other_key = other.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": other_key, "reason": "x", "include_address": false }),
            "b2",
        )
        .await;
    assert_eq!(
        ack["banned"],
        json!({ "viewer": other_key, "address": false }),
        "{ack:?}"
    );
    assert_eq!(other.closed().await.0, Some(4403));
    let _fine = viewer_from(&app, event, "203.0.113.45", None).await;
    app.stop().await;
}

async fn an_address_ban_reaches_a_viewer_who_only_upvoted_after_the_room_reloaded(backend: Backend) {
    let Some(app) = behind_proxy(backend, live_settings()).await else {
        return;
    };
    let event = app.live_event().await;
    let token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &token).await;
    let (id, author) = published_question(&app, event, &mut moderator).await;
    let address = "203.0.113.77";
    let mut voter = viewer_from(&app, event, address, None).await;
    let key = voter.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let ack = voter.request(json!({ "type": "upvote", "question_id": id }), "u").await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    // Everybody leaves: the room is dropped, and what it knew of addresses
    // with it; the ban must find the address in the store.
    drop((voter, author, moderator));
    room_dropped(&app).await;
    let mut moderator = app.staff_ws(event, &token).await;
    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "刷票", "include_address": true }),
            "b",
        )
        .await;
    assert_eq!(ack["banned"], json!({ "viewer": key, "address": true }), "{ack:?}");
    assert_eq!(
        app.refused_via(event, json!({}), Some(address)).await,
        ("banned".into(), Some(4403))
    );
    app.stop().await;
}

async fn a_reloaded_console_can_ban_the_author_of_a_published_question(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let token = app.staff("mod", "moderator", None).await;
    let mut first = app.staff_ws(event, &token).await;
    let (id, mut author) = published_question(&app, event, &mut first).await;
    let key = author.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    drop(first);

    // The console reloads: a fresh staff connection, after the question left the queue.
    let mut console = app.staff_ws(event, &token).await;
    let authors = console.expect("authors").await;
    let found = authors["authors"]
        .as_array()
        .expect("authors list")
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("no author for question {id} in {authors:?}"));
    assert_eq!(found["viewer_key"], key.as_str());
    let ack = console
        .request(
            json!({ "type": "ban", "viewer": found["viewer_key"], "reason": "不当言论", "include_address": false }),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(author.closed().await.0, Some(4403));
    app.stop().await;
}

/// The first frame a fresh viewer on `node` gets after `hello` (a refusal is an `error`).
async fn first_frame_on(cluster: &Cluster, node: usize, event: i64) -> Value {
    let url = format!("ws://{}/api/events/{event}/live", cluster.nodes[node].addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("ws connect");
    send_json(&mut socket, &json!({ "type": "hello", "protocol": 1 })).await;
    next_json(&mut socket).await.expect("a frame")
}

/// A vote on `poll` through `client`, once its node's room knows the poll is open.
async fn vote_when_open(client: &mut crate::cluster::harness::Client, poll: i64, reference: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = client
            .request(json!({ "type": "vote", "poll_id": poll, "choices": [0] }), reference)
            .await;
        if !matches!(r["code"].as_str(), Some("not_found" | "poll_closed")) {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the poll never opened here: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Point 12 in a cluster: the tokens of one address that upvoted or voted
/// are counted in the shared store, so two nodes together admit no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upvotes_and_votes_from_one_address_are_capped_across_nodes() {
    let options = Options {
        votes_per_address: 2,
        ..Options::nodes(2)
    };
    let Some(cluster) = Cluster::start_with(options).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut moderator = cluster.moderator(0, event).await;
    let mut author = cluster.viewer(0, event, "提问人").await;
    let id = author.ask("q", "请问社保卡怎么补办？").await;
    let ack = moderator
        .request(json!({ "type": "approve", "question_id": id }), "a")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    let ack = moderator
        .request(
            json!({ "type": "create_poll", "kind": "single_choice", "title": "满意吗？", "options": ["满意", "不满意"] }),
            "c",
        )
        .await;
    let poll = ack["poll"]["id"].as_i64().expect("poll id");
    let ack = moderator
        .request(json!({ "type": "open_poll", "poll_id": poll }), "o")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");

    // Every client of the test is 127.0.0.1: one address, two nodes.
    let mut a = cluster.viewer(0, event, "甲").await;
    let mut b = cluster.viewer(1, event, "乙").await;
    let mut c = cluster.viewer(1, event, "丙").await;
    let upvote = json!({ "type": "upvote", "question_id": id });
    assert_eq!(a.request(upvote.clone(), "u").await["type"], "ack");
    assert_eq!(b.request(upvote.clone(), "u").await["type"], "ack");
    let r = c.request(upvote, "u").await;
    assert_eq!(r["code"], "too_many_from_address", "{r:?}");
    assert_eq!(vote_when_open(&mut a, poll, "v").await["type"], "ack");
    assert_eq!(vote_when_open(&mut b, poll, "v").await["type"], "ack");
    let r = vote_when_open(&mut c, poll, "v").await;
    assert_eq!(r["code"], "too_many_from_address", "{r:?}");
}

/// Point 13 in a cluster: the moderator's node never saw the viewer, who
/// never posted; the node the viewer joined bans the address it saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_ban_reaches_a_viewer_who_never_posted_on_another_node() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut moderator = cluster.moderator(0, event).await;
    let mut lurker = cluster.viewer(1, event, "潜水").await;
    let key = lurker.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "恶意刷屏", "include_address": true }),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(ack["banned"]["viewer"], key.as_str());
    let frames = lurker.until_closed().await;
    assert!(frames.iter().any(|f| f["code"] == "banned"), "{frames:?}");
    // A new token from the lurker's address (127.0.0.1) is turned away, on both nodes.
    for node in [1, 0] {
        eventually(
            Duration::from_secs(15),
            "a new viewer from the banned address is refused",
            || async { first_frame_on(&cluster, node, event).await["code"] == "banned" },
        )
        .await;
    }
}
