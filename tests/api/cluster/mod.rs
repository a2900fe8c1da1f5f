//! Three real `minsheng serve` processes on one PostgreSQL schema and one
//! Redis: one room across them. Skipped loudly when Redis or PostgreSQL is
//! not there, unless MINSHENG_REQUIRE_REDIS=1. The failure tests (a node
//! killed, Redis restarted, PostgreSQL cut off) are in `cluster_failures`.

pub mod harness;
pub mod proxy;
pub mod redis_server;

use serde_json::json;

use harness::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_room_across_three_nodes() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let event = cluster.live_event().await;
    let token = "0123456789abcdef0123456789abcdef";
    let mut viewer_a = cluster
        .connect(0, event, json!({ "nickname": "甲", "viewer_token": token }))
        .await;
    viewer_a.expect(|f| f["type"] == "snapshot").await;
    let mut mod_b = cluster.moderator(1, event).await;
    let mut mod_c = cluster.moderator(2, event).await;
    let mut viewer_c = cluster.connect(2, event, json!({ "nickname": "丙" })).await;
    viewer_c.expect(|f| f["type"] == "snapshot").await;
    let start_seq = viewer_a.welcome["seq"].as_i64().unwrap();

    // Asked on A: the moderators on B and C see it pending.
    viewer_a
        .send(json!({ "type": "ask", "ref": "q1", "text": "社保卡丢了怎么补办？" }))
        .await;
    let ack = viewer_a.expect(|f| f["type"] == "ack").await;
    let id = ack["question"]["id"].as_i64().expect("question id");
    for moderator in [&mut mod_b, &mut mod_c] {
        let pending = moderator
            .expect(|f| f["type"] == "moderation" && f["question"]["id"] == id)
            .await;
        assert_eq!(pending["question"]["status"], "pending", "{pending:?}");
    }

    // Approved on B: the viewer on A sees it live, with the next seq, and
    // hears of it privately; the viewer on C sees the same frame.
    mod_b
        .send(json!({ "type": "approve", "ref": "m1", "question_id": id }))
        .await;
    mod_b.expect(|f| f["type"] == "ack").await;
    let frames = viewer_a.public_up_to(start_seq + 1).await;
    let seqs: Vec<i64> = frames.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![start_seq + 1], "{frames:?}");
    assert_eq!(frames[0]["type"], "question");
    assert_eq!(frames[0]["question"]["id"], id);
    // The private frame may have overtaken the public one (it needs no fill).
    let mine = match viewer_a.skipped.iter().find(|f| f["type"] == "mine") {
        Some(f) => f.clone(),
        None => viewer_a.expect(|f| f["type"] == "mine").await,
    };
    assert_eq!(mine["question"]["status"], "approved", "{mine:?}");
    let on_c = viewer_c.public_up_to(start_seq + 1).await;
    assert_eq!(on_c, frames, "the same frames on every node");

    // Changes committed on different nodes interleave in one gap-free order.
    let mut ids = Vec::new();
    for (i, node) in [0usize, 2, 1, 0].into_iter().enumerate() {
        let mut v = cluster
            .connect(node, event, json!({ "nickname": format!("问{i}") }))
            .await;
        v.send(json!({ "type": "ask", "ref": "q", "text": format!("第{i}个问题？") }))
            .await;
        ids.push(
            v.expect(|f| f["type"] == "ack").await["question"]["id"]
                .as_i64()
                .unwrap(),
        );
    }
    for (i, id) in ids.iter().enumerate() {
        let moderator = if i % 2 == 0 { &mut mod_b } else { &mut mod_c };
        moderator
            .send(json!({ "type": "approve", "ref": format!("a{i}"), "question_id": id }))
            .await;
    }
    let last = start_seq + 1 + ids.len() as i64;
    let on_a = viewer_a.public_up_to(last).await;
    let on_c = viewer_c.public_up_to(last).await;
    let seqs: Vec<i64> = on_a.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        ((start_seq + 2)..=last).collect::<Vec<_>>(),
        "consecutive, once each"
    );
    assert_eq!(on_a, on_c, "every node delivers the same frames in the same order");

    // A viewer resuming on another node with its last seq gets exactly what it missed.
    let mut resumed = cluster
        .connect(
            1,
            event,
            json!({ "nickname": "甲", "viewer_token": token, "last_seq": start_seq + 1 }),
        )
        .await;
    // B may not have applied the newest approvals (made on the other nodes)
    // yet: its welcome says what it has, at least what the client saw, and
    // the rest arrives live, without a gap or a duplicate.
    let welcome_seq = resumed.welcome["seq"].as_i64().expect("seq");
    assert!((start_seq + 1..=last).contains(&welcome_seq), "{:?}", resumed.welcome);
    let replay = resumed.public_up_to(last).await;
    assert_eq!(replay, on_a, "the resume on B replays what A delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_the_cluster_total_on_every_node() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut viewers = Vec::new();
    for (node, n) in [(0usize, 2), (1, 1), (2, 3)] {
        for i in 0..n {
            let mut v = cluster
                .connect(node, event, json!({ "nickname": format!("观众{node}{i}") }))
                .await;
            v.expect(|f| f["type"] == "snapshot").await;
            viewers.push((node, v));
        }
    }
    // One viewer per node watches the count converge to 6.
    for node in 0..3 {
        let (_, v) = viewers.iter_mut().find(|(n, _)| *n == node).unwrap();
        let p = v.expect(|f| f["type"] == "presence" && f["viewers"] == 6).await;
        assert_eq!(p["viewers"], 6);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_tallies_are_cluster_wide_and_the_final_tally_is_the_stored_votes() {
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut mod_a = cluster.moderator(0, event).await;
    let mut mod_b = cluster.moderator(1, event).await;
    let created = mod_a
        .request(
            json!({ "type": "create_poll", "kind": "single_choice", "title": "选一个", "options": ["一", "二"], "results": "live" }),
            "create",
        )
        .await;
    assert_eq!(created["type"], "ack", "{created:?}");
    let poll = created["poll"]["id"].as_i64().unwrap();
    let mut viewers = Vec::new();
    for i in 0..30 {
        viewers.push(cluster.viewer(i % 3, event, &format!("投票{i}")).await);
    }
    let opened = mod_a
        .request(json!({ "type": "open_poll", "poll_id": poll }), "open")
        .await;
    assert_eq!(opened["type"], "ack", "{opened:?}");
    for v in &mut viewers {
        v.find(|f| f["type"] == "poll" && f["poll"]["status"] == "open").await;
    }

    // Fifteen votes on three nodes: every node shows the cluster's count.
    let late = viewers.split_off(15);
    for (i, v) in viewers.iter_mut().enumerate() {
        let ack = v
            .request(json!({ "type": "vote", "poll_id": poll, "choices": [i % 2] }), "v")
            .await;
        assert_eq!(ack["type"], "ack", "{ack:?}");
    }
    for (node, v) in viewers.iter_mut().enumerate().take(3) {
        let tally = v
            .expect(|f| f["type"] == "poll_results" && f["tally"]["voters"] == 15)
            .await;
        assert_eq!(tally["tally"]["counts"], json!([8, 7]), "node {node}: {tally:?}");
    }

    // Fifteen more on three nodes while a moderator on B closes the poll.
    let voting: Vec<_> = late
        .into_iter()
        .enumerate()
        .map(|(i, mut v)| {
            tokio::spawn(async move {
                let r = v
                    .request(json!({ "type": "vote", "poll_id": poll, "choices": [i % 2] }), "late")
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
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    let closed = mod_b
        .request(json!({ "type": "close_poll", "poll_id": poll }), "close")
        .await;
    assert_eq!(closed["type"], "ack", "{closed:?}");
    let mut acked = 15;
    for v in voting {
        acked += v.await.unwrap();
    }
    // The closing tally is the same on every node and counts exactly the acknowledged votes.
    let mut finals = Vec::new();
    for v in viewers.iter_mut().take(3) {
        let f = v.find(|f| f["type"] == "poll" && f["poll"]["status"] == "closed").await;
        finals.push(f);
    }
    assert_eq!(finals[0], finals[1]);
    assert_eq!(finals[1], finals[2]);
    let tally = &finals[0]["poll"]["tally"];
    assert_eq!(
        tally["voters"], acked,
        "every acknowledged vote, and only those: {tally:?}"
    );
    let counted: i64 = tally["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_i64().unwrap())
        .sum();
    assert_eq!(counted, acked);
    // And it is what the store holds: a fresh viewer on C sees the same.
    let mut fresh = cluster.connect(2, event, json!({})).await;
    let snapshot = fresh.expect(|f| f["type"] == "snapshot").await;
    assert_eq!(&snapshot["polls"][0]["tally"], tally);

    // Each node counts its bus traffic for /metrics.
    for node in 0..3 {
        let url = format!("http://{}/metrics", cluster.nodes[node].addr);
        let text = cluster.client.get(url).send().await.unwrap().text().await.unwrap();
        let counter = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("node {node}: no {name} in /metrics"))
        };
        // The moderators' nodes (A opened, B closed) published; C may have had nothing to say.
        if node < 2 {
            assert!(counter("minsheng_bus_published_total ") > 0.0, "node {node}");
        }
        assert!(counter("minsheng_bus_received_total ") > 0.0, "node {node}");
        assert_eq!(counter("minsheng_bus_dropped_total "), 0.0, "node {node}");
    }
}

/// A vote committing on one node while another node closes the poll: the
/// test holds the vote back inside its transaction (a table lock on the
/// votes, taken from its own connection) while the close is sent. The close
/// must wait for the vote and count it; it must never be acknowledged
/// without a vote that is then acknowledged too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_on_one_node_counts_a_vote_still_committing_on_another() {
    use sqlx::{Connection, Executor};
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut mod_b = cluster.moderator(1, event).await;
    let created = mod_b
        .request(
            json!({ "type": "create_poll", "kind": "single_choice", "title": "选一个", "options": ["一", "二"] }),
            "create",
        )
        .await;
    let poll = created["poll"]["id"].as_i64().unwrap();
    let mut voter = cluster.viewer(0, event, "投票").await;
    mod_b
        .request(json!({ "type": "open_poll", "poll_id": poll }), "open")
        .await;
    voter
        .find(|f| f["type"] == "poll" && f["poll"]["status"] == "open")
        .await;

    let mut blocker = sqlx::PgConnection::connect(&cluster.db_url).await.expect("connect");
    blocker.execute("BEGIN").await.unwrap();
    blocker
        .execute("LOCK TABLE poll_votes IN SHARE ROW EXCLUSIVE MODE")
        .await
        .unwrap();
    voter
        .send(json!({ "type": "vote", "poll_id": poll, "choices": [1], "ref": "held" }))
        .await;
    // Let the vote reach its INSERT (where the lock holds it), then close on B.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    mod_b
        .send(json!({ "type": "close_poll", "poll_id": poll, "ref": "close" }))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    blocker.execute("COMMIT").await.unwrap();

    let vote = voter
        .expect(|f| f["ref"] == "held" && matches!(f["type"].as_str(), Some("ack" | "error")))
        .await;
    let closed = mod_b
        .expect(|f| f["ref"] == "close" && matches!(f["type"].as_str(), Some("ack" | "error")))
        .await;
    assert_eq!(closed["type"], "ack", "{closed:?}");
    let voters = if vote["type"] == "ack" { 1 } else { 0 };
    if voters == 0 {
        assert_eq!(vote["code"], "poll_closed", "{vote:?}");
    }
    let final_frame = voter
        .find(|f| f["type"] == "poll" && f["poll"]["status"] == "closed")
        .await;
    assert_eq!(
        final_frame["poll"]["tally"]["voters"], voters,
        "the closing tally counts exactly the acknowledged vote: {vote:?} {final_frame:?}"
    );
}
