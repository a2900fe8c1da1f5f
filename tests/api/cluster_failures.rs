//! A cluster under failure, with real processes: a node SIGKILLed
//! mid-stream, Redis (a private `redis-server` per test, never the machine's
//! shared one) killed and restarted mid-stream, PostgreSQL cut off from one
//! node by a proxy. Skipped loudly without PostgreSQL or Redis unless
//! MINSHENG_REQUIRE_REDIS=1.
//!
//! Waits are generous (the machine is shared and slow); nothing here asserts
//! how fast something happened, only that it happens, in order, once.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cluster::harness::{Client, Cluster, Options, SLOW_WAIT, eventually, seqs};
use crate::cluster::redis_server::{PrivateRedis, subscribers};

/// Ids of the `question` frames among `frames`.
fn question_ids(frames: &[Value]) -> BTreeSet<i64> {
    frames
        .iter()
        .filter(|f| f["type"] == "question")
        .map(|f| f["question"]["id"].as_i64().unwrap())
        .collect()
}

fn consecutive(from: i64, to: i64) -> Vec<i64> {
    ((from + 1)..=to).collect()
}

fn token(c: &Client) -> String {
    c.welcome["viewer"]["token"].as_str().expect("viewer token").to_owned()
}

fn base(c: &Client) -> i64 {
    c.welcome["seq"].as_i64().expect("welcome seq")
}

/// Wait until the staff connection `c` knows question `id` with `status`,
/// from a live `moderation` frame or a `queue` (the queue a staff connection
/// is sent again after the bus was away).
async fn staff_sees(c: &mut Client, id: i64, status: &str) -> Value {
    let knows = |f: &Value| match f["type"].as_str() {
        Some("moderation") => f["question"]["id"] == id && f["question"]["status"] == status,
        Some("queue") => f["questions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["id"] == id && q["status"] == status),
        _ => false,
    };
    if let Some(i) = c.skipped.iter().position(knows) {
        return c.skipped.remove(i);
    }
    c.expect_within(SLOW_WAIT, knows).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_loses_nothing_and_its_viewers_resume_elsewhere() {
    let Some(mut cluster) = Cluster::start(3).await else {
        return;
    };
    let event = cluster.live_event().await;
    // Two viewers on A lose their node; one on B and one on C must not notice.
    let mut on_a = vec![
        cluster.viewer(0, event, "甲一").await,
        cluster.viewer(0, event, "甲二").await,
    ];
    let mut vb = cluster.viewer(1, event, "乙").await;
    let mut vc = cluster.viewer(2, event, "丙").await;
    let mut last_words = cluster.viewer(0, event, "临终").await;
    let mut moderator = cluster.moderator(1, event).await;
    let start = base(&vb);
    for c in on_a.iter().chain([&vb, &vc]) {
        assert_eq!(base(c), start, "nothing happened between the joins");
    }

    // Questions asked on all three nodes, each acknowledged.
    let mut ids = Vec::new();
    for round in 0..12 {
        for (name, c) in [("a", &mut on_a[0]), ("b", &mut vb), ("c", &mut vc)] {
            ids.push(
                c.ask(&format!("{name}{round}"), &format!("第{round}轮，来自{name}的问题？"))
                    .await,
            );
        }
    }

    // The moderator on B approves them as a stream; half-way, A is killed.
    let (half_tx, half_rx) = tokio::sync::oneshot::channel();
    let stream = {
        let ids = ids.clone();
        tokio::spawn(async move {
            let mut half = Some(half_tx);
            for (i, id) in ids.iter().enumerate() {
                if i == ids.len() / 2 {
                    let _ = half.take().unwrap().send(());
                }
                let ack = moderator
                    .request(json!({ "type": "approve", "question_id": id }), &format!("ok{i}"))
                    .await;
                assert_eq!(ack["type"], "ack", "approving {id}: {ack:?}");
            }
            moderator
        })
    };
    half_rx.await.expect("half the stream approved");
    // A question asked on A and acknowledged just before the kill.
    let last_id = last_words.ask("last", "节点宕机前提的问题还在吗？").await;
    cluster.kill(0);

    // The viewers of A read what reached them before the socket died ...
    let mut before = Vec::new();
    for c in &mut on_a {
        let frames = c.until_closed().await;
        let got = seqs(&frames);
        assert_eq!(
            got,
            consecutive(start, start + got.len() as i64),
            "before the kill: {frames:?}"
        );
        before.push(got);
    }
    // ... and resume on B and C from their last seq.
    let mut resumed = Vec::new();
    for (i, c) in on_a.iter().enumerate() {
        let last = before[i].last().copied().unwrap_or(start);
        let r = cluster
            .connect(
                1 + i,
                event,
                json!({ "viewer_token": token(c), "nickname": "甲", "last_seq": last }),
            )
            .await;
        assert_eq!(r.welcome["start"], "replay", "{:?}", r.welcome);
        resumed.push((last, r));
    }

    // The stream goes on; the question asked on A reaches the moderator on B
    // (live, or when B finds A gone) and is approved last.
    let mut moderator = stream.await.expect("the approval stream");
    staff_sees(&mut moderator, last_id, "pending").await;
    let ack = moderator
        .request(json!({ "type": "approve", "question_id": last_id }), "last")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    let end = start + ids.len() as i64 + 1;
    let mut all: BTreeSet<i64> = ids.iter().copied().collect();
    all.insert(last_id);

    // Every seq exactly once, in order: before the kill on A, after it on B or C.
    for (i, (last, r)) in resumed.iter_mut().enumerate() {
        let after = r.public_up_to_within(end, SLOW_WAIT).await;
        assert_eq!(seqs(&after), consecutive(*last, end), "viewer {i} after resuming");
        let mut whole = before[i].clone();
        whole.extend(seqs(&after));
        assert_eq!(whole, consecutive(start, end), "viewer {i}: no gap, no duplicate");
    }
    // The viewers of B and C never noticed.
    for c in [&mut vb, &mut vc] {
        let frames = c.public_up_to_within(end, SLOW_WAIT).await;
        assert_eq!(seqs(&frames), consecutive(start, end));
        assert_eq!(question_ids(&frames), all, "every acknowledged question is published");
    }
    // The author of the last question, back on C, finds it approved.
    let mut author = cluster
        .connect(2, event, json!({ "viewer_token": token(&last_words), "last_seq": end }))
        .await;
    let mine = author
        .find(|f| f["type"] == "mine" && f["question"]["id"] == last_id)
        .await;
    assert_eq!(mine["question"]["status"], "approved", "{mine:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_stream_nodes_reconnect_and_fill_every_gap() {
    if !Cluster::can_run_private().await {
        return;
    }
    let mut redis = PrivateRedis::start().await;
    let options = Options {
        redis: Some(redis.url()),
        ..Options::nodes(3)
    };
    let Some(cluster) = Cluster::start_with(options).await else {
        return;
    };
    let channel = format!("{}:rooms", cluster.prefix);
    let url = redis.url();
    let subscribed = |n: usize| {
        let (url, channel) = (url.clone(), channel.clone());
        move || {
            let (url, channel) = (url.clone(), channel.clone());
            async move { subscribers(&url, &channel).await == n }
        }
    };
    eventually(SLOW_WAIT, "three nodes subscribe", subscribed(3)).await;

    let event = cluster.live_event().await;
    let mut viewers = vec![
        cluster.viewer(0, event, "甲").await,
        cluster.viewer(1, event, "乙").await,
        cluster.viewer(2, event, "丙").await,
    ];
    let start = base(&viewers[0]);
    let mut mover = cluster.viewer(1, event, "转场").await;
    let mut author = cluster.viewer(0, event, "作者").await;
    let mut mod_a = cluster.moderator(0, event).await;
    let mut mod_b = cluster.moderator(1, event).await;
    let mut mod_c = cluster.moderator(2, event).await;

    // Before: questions from A and B, two approved on B.
    let mut approved = Vec::new();
    for i in 0..2 {
        let id = viewers[1].ask(&format!("pre{i}"), &format!("重启前的问题{i}？")).await;
        staff_sees(&mut mod_a, id, "pending").await;
        let ack = mod_b
            .request(json!({ "type": "approve", "question_id": id }), &format!("pre{i}"))
            .await;
        assert_eq!(ack["type"], "ack", "{ack:?}");
        approved.push(id);
    }
    let to_reject = author.ask("mine", "这个问题会在 Redis 停机时被驳回？").await;
    staff_sees(&mut mod_b, to_reject, "pending").await;

    // Redis dies. Questions keep coming (acknowledged: PostgreSQL is fine),
    // B approves some and rejects the question of the author on A.
    redis.kill();
    let mut pending = Vec::new();
    for i in 0..4 {
        let node = [1, 2][i % 2];
        let id = viewers[node]
            .ask(&format!("down{i}"), &format!("停机期间的问题{i}？"))
            .await;
        pending.push(id);
    }
    for (i, id) in pending.drain(..2).enumerate() {
        let ack = mod_b
            .request(json!({ "type": "approve", "question_id": id }), &format!("down{i}"))
            .await;
        assert_eq!(ack["type"], "ack", "{ack:?}");
        approved.push(id);
    }
    let ack = mod_b
        .request(
            json!({ "type": "reject", "question_id": to_reject, "reason": "与本次活动主题无关" }),
            "reject",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    // Without the bus the rooms still catch up from the log.
    let mid = start + approved.len() as i64;
    // A viewer of B moves to C at once, from the seq B showed it: C, up to
    // one check behind without the bus, reads the log first and replays
    // (an older snapshot would make the client see those frames twice).
    assert_eq!(seqs(&mover.public_up_to(mid).await), consecutive(start, mid));
    let mut moved = cluster
        .connect(2, event, json!({ "viewer_token": token(&mover), "last_seq": mid }))
        .await;
    assert_eq!(moved.welcome["start"], "replay", "{:?}", moved.welcome);
    assert_eq!(moved.welcome["seq"], mid, "{:?}", moved.welcome);
    for v in &mut viewers {
        let frames = v.public_up_to_within(mid, SLOW_WAIT).await;
        assert_eq!(seqs(&frames), consecutive(start, mid));
    }

    // Redis is back (empty): every node reconnects by itself.
    redis.restart().await;
    eventually(SLOW_WAIT, "the three nodes subscribe again", subscribed(3)).await;

    // The moderators on A and C did not get the staff frames of B and C while
    // Redis was away: they are sent the queue as it is now.
    for moderator in [&mut mod_a, &mut mod_c] {
        let queue = moderator
            .expect_within(SLOW_WAIT, |f| {
                f["type"] == "queue"
                    && pending.iter().all(|id| {
                        f["questions"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|q| q["id"] == *id && q["status"] == "pending")
                    })
            })
            .await;
        let listed: HashSet<i64> = queue["questions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|q| q["status"] == "pending")
            .map(|q| q["id"].as_i64().unwrap())
            .collect();
        for id in &approved {
            assert!(!listed.contains(id), "{id} was approved meanwhile: {queue:?}");
        }
        assert!(
            queue["questions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q["id"] == to_reject && q["status"] == "rejected"),
            "{queue:?}"
        );
    }
    // The author on A hears of the rejection decided on B while Redis was away.
    let mine = author
        .find(|f| f["type"] == "mine" && f["question"]["id"] == to_reject && f["question"]["status"] == "rejected")
        .await;
    assert_eq!(mine["question"]["reject_reason"], "与本次活动主题无关", "{mine:?}");

    // Live across nodes again: a question asked on B reaches the moderator on
    // A as a live staff frame (only the bus carries those), and an approval
    // on B reaches every viewer.
    let fresh = viewers[1].ask("after", "Redis 恢复后的问题？").await;
    let seen = mod_a
        .expect_within(SLOW_WAIT, |f| f["type"] == "moderation" && f["question"]["id"] == fresh)
        .await;
    assert_eq!(seen["question"]["status"], "pending");
    let mut on_a = Vec::new();
    for (i, id) in pending.iter().chain([&fresh]).enumerate() {
        let approved_at = Instant::now();
        let ack = mod_b
            .request(json!({ "type": "approve", "question_id": id }), &format!("after{i}"))
            .await;
        assert_eq!(ack["type"], "ack", "{ack:?}");
        approved.push(*id);
        let seq = start + approved.len() as i64;
        let frames = viewers[0].public_up_to_within(seq, SLOW_WAIT).await;
        assert_eq!(frames.last().unwrap()["question"]["id"], *id);
        on_a.extend(frames);
        eprintln!("approval on B reached A after {:?}", approved_at.elapsed());
    }
    let end = start + approved.len() as i64;
    let ids: BTreeSet<i64> = approved.iter().copied().collect();
    let moved_frames = moved.public_up_to_within(end, SLOW_WAIT).await;
    assert_eq!(seqs(&moved_frames), consecutive(mid, end), "the viewer moved to C");
    for (node, v) in viewers.iter_mut().enumerate() {
        let frames = if node == 0 {
            std::mem::take(&mut on_a)
        } else {
            v.public_up_to_within(end, SLOW_WAIT).await
        };
        let got: Vec<i64> = seqs(&frames);
        assert!(got.first().is_none_or(|s| *s > mid), "node {node}: {got:?}");
        assert_eq!(got, consecutive(mid, end), "node {node}: once each, in order");
        assert!(question_ids(&frames).is_subset(&ids));
    }
    // And a newcomer's snapshot holds every approved question.
    let mut late = cluster.connect(0, event, json!({ "nickname": "迟到" })).await;
    let snapshot = late.expect(|f| f["type"] == "snapshot").await;
    let shown: BTreeSet<i64> = snapshot["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_i64().unwrap())
        .collect();
    assert_eq!(shown, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_off_from_a_node_refuses_writes_and_recovers() {
    let options = Options {
        proxied: vec![0],
        ..Options::nodes(3)
    };
    let Some(cluster) = Cluster::start_with(options).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut va = cluster.viewer(0, event, "甲").await;
    let mut va2 = cluster.viewer(0, event, "甲二").await;
    let mut va3 = cluster.viewer(0, event, "甲三").await;
    let mut va4 = cluster.viewer(0, event, "甲四").await;
    let mut vb = cluster.viewer(1, event, "乙").await;
    let mut vc = cluster.viewer(2, event, "丙").await;
    let mut mod_b = cluster.moderator(1, event).await;
    let start = base(&vb);

    // Acknowledged before the cut: one approved, one left pending.
    let published = va.ask("before", "断库之前的问题？").await;
    let kept = va2.ask("kept", "断库之前待审的问题？").await;
    staff_sees(&mut mod_b, published, "pending").await;
    let ack = mod_b
        .request(json!({ "type": "approve", "question_id": published }), "a0")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    for v in [&mut va, &mut vb, &mut vc] {
        assert_eq!(seqs(&v.public_up_to(start + 1).await), vec![start + 1]);
    }

    // Cut: asks on A are refused, clearly, in bounded time, never acknowledged.
    cluster.proxy(0).cut();
    let cut_at = Instant::now();
    // Four at once: they queue up behind each other in the writer.
    let refused = ["断库期间另一个问题？", "断库期间第三个问题？", "断库期间第四个问题？"];
    va.send(json!({ "type": "ask", "ref": "cut-1", "text": "断库期间的问题？" }))
        .await;
    for (v, (r, text)) in [&mut va2, &mut va3, &mut va4].into_iter().zip([
        ("cut-2", refused[0]),
        ("cut-3", refused[1]),
        ("cut-4", refused[2]),
    ]) {
        v.send(json!({ "type": "ask", "ref": r, "text": text })).await;
    }
    for (v, r) in [
        (&mut va, "cut-1"),
        (&mut va2, "cut-2"),
        (&mut va3, "cut-3"),
        (&mut va4, "cut-4"),
    ] {
        let answer = v
            .expect_within(SLOW_WAIT, |f| {
                f["ref"] == r && matches!(f["type"].as_str(), Some("ack" | "error"))
            })
            .await;
        assert_eq!(answer["type"], "error", "a write without the database: {answer:?}");
        assert_eq!(answer["code"], "unavailable", "{answer:?}");
        assert!(!answer["message"].as_str().unwrap().is_empty());
    }
    eprintln!("asks refused {:?} after the cut", cut_at.elapsed());
    assert!(
        cluster.proxy(0).black_holed.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "node A tried new connections, which went unanswered"
    );
    // The node stays up and its viewers stay connected.
    for v in [&mut va, &mut va2] {
        v.send(json!({ "type": "ping", "ref": "still" })).await;
        v.expect(|f| f["type"] == "pong" && f["ref"] == "still").await;
    }
    let health = cluster
        .client
        .get(format!("http://{}/healthz", cluster.nodes[0].addr))
        .send()
        .await
        .expect("node A answers");
    assert!(health.status().is_success());
    // The other nodes carry on.
    let during = vb.ask("during", "断库期间在乙节点提的问题？").await;
    let ack = mod_b
        .request(json!({ "type": "approve", "question_id": during }), "a1")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(seqs(&vc.public_up_to(start + 2).await), vec![start + 2]);

    // Restored: the same request (same ref) goes through, once.
    cluster.proxy(0).restore();
    let deadline = Instant::now() + SLOW_WAIT;
    let retried = loop {
        let answer = va
            .request(json!({ "type": "ask", "text": "断库期间的问题？" }), "cut-1")
            .await;
        if answer["type"] == "ack" {
            break answer["question"]["id"].as_i64().unwrap();
        }
        assert_eq!(answer["code"], "unavailable", "{answer:?}");
        assert!(Instant::now() < deadline, "writes on A do not recover");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    staff_sees(&mut mod_b, retried, "pending").await;
    // Nothing refused was saved behind the refusal; what was acknowledged is there.
    let mut fresh = cluster.connect(2, event, json!({ "session": cluster.token })).await;
    let queue = fresh.find(|f| f["type"] == "queue").await;
    let texts: Vec<&str> = queue["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts.iter().filter(|t| **t == "断库期间的问题？").count(),
        1,
        "{texts:?}"
    );
    for text in refused {
        assert!(!texts.contains(&text), "refused, yet saved: {text} in {texts:?}");
    }
    assert!(
        queue["questions"].as_array().unwrap().iter().any(|q| q["id"] == kept),
        "acknowledged before the cut: {queue:?}"
    );
    let ack = mod_b
        .request(json!({ "type": "approve", "question_id": retried }), "a2")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    // Every node shows it, after everything else, once (each viewer from
    // where it had read up to).
    let read = [start + 1, start, start + 1, start + 2];
    for (i, v) in [&mut va, &mut va2, &mut vb, &mut vc].into_iter().enumerate() {
        let frames = v.public_up_to_within(start + 3, SLOW_WAIT).await;
        assert_eq!(seqs(&frames), consecutive(read[i], start + 3), "viewer {i}");
        assert_eq!(frames.last().unwrap()["question"]["id"], retried);
    }
}

/// Node A loses Redis (its bus messages cannot go out), takes a question, and
/// is killed before it could pass the moderation frame on: the moderator on
/// B must still get it, once B sees A's stamp go stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_from_redis_and_killed_leaves_no_pending_question_behind() {
    let options = Options {
        redis_proxied: vec![0],
        ..Options::nodes(2)
    };
    let Some(mut cluster) = Cluster::start_with(options).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut author = cluster.viewer(0, event, "断线节点上的观众").await;
    let mut watcher = cluster.viewer(1, event, "另一节点").await;
    let mut moderator = cluster.moderator(1, event).await;
    // B counts A's viewer: B has seen A alive.
    watcher
        .expect_within(SLOW_WAIT, |f| f["type"] == "presence" && f["viewers"] == 2)
        .await;

    cluster.redis_proxy(0).cut();
    let id = author.ask("cut", "总线断了，这个问题还能送到审核员吗？").await;
    cluster.kill(0);

    let seen = staff_sees(&mut moderator, id, "pending").await;
    assert_eq!(seen["type"], "queue", "made good by a resync, not live: {seen:?}");
}
