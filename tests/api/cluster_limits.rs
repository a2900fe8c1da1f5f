//! Rate limits, slow mode and bans hold across the nodes of a cluster: a
//! viewer connected to several nodes does not get a quota per node, and a
//! ban on one node holds on the others, even when the bus lost its message.

use serde_json::{Value, json};

use crate::cluster::harness::{Client, Cluster, Options};
use crate::cluster::redis_server::PrivateRedis;

const TOKEN: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

async fn same_viewer_on_every_node(cluster: &Cluster, event: i64, token: &str) -> Vec<Client> {
    let mut clients = Vec::new();
    for node in 0..cluster.nodes.len() {
        let mut c = cluster
            .connect(node, event, json!({ "nickname": "多端", "viewer_token": token }))
            .await;
        c.expect(|f| f["type"] == "snapshot").await;
        clients.push(c);
    }
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_on_three_nodes_has_one_quota_one_slow_mode_and_one_ban() {
    let options = Options {
        asks_per_viewer_per_min: 6,
        ..Options::nodes(3)
    };
    let Some(cluster) = Cluster::start_with(options).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut viewer = same_viewer_on_every_node(&cluster, event, TOKEN).await;

    // 6 questions per viewer per minute (the default; one more every 10 s):
    // on three nodes that is still 6, not 18. Twelve attempts, four on each
    // node, so no node's own limit would refuse any of them.
    let started = std::time::Instant::now();
    let mut acked = 0;
    let mut limited: Vec<Value> = Vec::new();
    for i in 0..12 {
        let reply = viewer[i % 3]
            .request(
                json!({ "type": "ask", "text": format!("第{i}个问题") }),
                &format!("q{i}"),
            )
            .await;
        match reply["type"].as_str() {
            Some("ack") => acked += 1,
            _ => limited.push(reply),
        }
    }
    let replenished = started.elapsed().as_secs() / 10;
    assert!(
        acked >= 6 && acked <= 6 + replenished,
        "{acked} acked; refusals: {limited:?}"
    );
    for refusal in &limited {
        assert_eq!(refusal["code"], "rate_limited", "{refusal:?}");
        assert!(refusal["message"].as_str().unwrap().contains("viewer"), "{refusal:?}");
        let wait = refusal["retry_after_ms"].as_u64().unwrap();
        assert!(wait > 0 && wait <= 60_000, "{wait}");
    }

    // Slow mode, set on node 1, holds for a viewer posting on node 0 then node 2.
    let mut other = Vec::new();
    for node in [0, 2] {
        let mut c = cluster
            .connect(
                node,
                event,
                json!({ "nickname": "慢速", "viewer_token": "00112233445566778899aabbccddeeff" }),
            )
            .await;
        c.expect(|f| f["type"] == "snapshot").await;
        other.push(c);
    }
    let mut moderator = cluster.moderator(1, event).await;
    let ack = moderator
        .request(json!({ "type": "set_slow_mode", "seconds": 60 }), "slow")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    // Both nodes apply the setting (it is in the room log) before the test posts.
    for c in &mut other {
        c.find(|f| f["type"] == "settings" && f["slow_mode_secs"] == 60).await;
    }
    let first = other[0].request(json!({ "type": "ask", "text": "慢一点" }), "s1").await;
    assert_eq!(first["type"], "ack", "{first:?}");
    let second = other[1]
        .request(json!({ "type": "ask", "text": "换个节点再问" }), "s2")
        .await;
    assert_eq!(second["code"], "slow_mode", "{second:?}");
    let wait = second["retry_after_ms"].as_u64().unwrap();
    assert!(wait > 30_000 && wait <= 60_000, "{wait}");

    // A ban issued on node 1 cuts the viewer off on all three nodes.
    let key = viewer[0].welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "多端刷屏", "include_address": false }),
            "ban",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    for (node, c) in viewer.iter_mut().enumerate() {
        let frames = c.until_closed().await;
        assert_eq!(
            frames.last().map(|f| &f["code"]),
            Some(&json!("banned")),
            "node {node}: {frames:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_holds_on_a_node_that_missed_its_bus_message() {
    if !Cluster::can_run_private().await {
        return;
    }
    let mut redis = PrivateRedis::start().await;
    let options = Options {
        redis: Some(redis.url()),
        ..Options::nodes(2)
    };
    let Some(cluster) = Cluster::start_with(options).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut moderator = cluster.moderator(0, event).await;
    let mut troll = cluster.viewer(1, event, "捣乱").await;
    let key = troll.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let token = troll.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    let mut bystander = cluster.viewer(1, event, "路人").await;

    // The bus is down: the ban's message to node 1 is lost.
    redis.kill();
    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "反复刷屏", "include_address": false }),
            "ban",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    // Node 1 reads the ban from the store and cuts the viewer off.
    let frames = troll.until_closed().await;
    let last = frames.last().expect("a frame before the close");
    assert_eq!(last["code"], "banned", "{frames:?}");
    // Coming back to either node is refused.
    for node in 0..2 {
        let url = format!("ws://{}/api/events/{event}/live", cluster.nodes[node].addr);
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("ws connect");
        crate::helpers::send_json(
            &mut socket,
            &json!({ "type": "hello", "protocol": 1, "viewer_token": token }),
        )
        .await;
        let refusal = crate::helpers::next_json(&mut socket).await.expect("a refusal");
        assert_eq!(refusal["code"], "banned", "node {node}: {refusal:?}");
    }
    // Others stay.
    bystander.send(json!({ "type": "ping", "ref": "p" })).await;
    bystander.expect(|f| f["type"] == "pong" && f["ref"] == "p").await;
}
