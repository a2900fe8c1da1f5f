//! The live room with real WebSocket clients: ask → screen → approve →
//! broadcast → answer, resume, moderation, limits, bans.

use serde_json::{Value, json};

use crate::helpers::{Backend, live_settings, spawn_app, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(
    the_whole_question_path,
    resume_gets_exactly_what_was_missed,
    resume_from_the_store_beyond_the_ring,
    roles_are_checked_for_every_action,
    post_moderation_publishes_at_once_and_hides,
    the_screen_holds_or_rejects_and_never_drops,
    slow_mode_and_rate_limits_say_when_to_retry,
    a_ban_cuts_the_viewer_off,
    behind_a_trusted_proxy_an_address_ban_hits_the_client_not_the_proxy,
    retries_with_the_same_ref_make_one_question,
);

async fn the_whole_question_path(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let host_token = app.staff("host", "host", None).await;

    let mut asker = app.ws(event, json!({ "nickname": "张三" })).await;
    assert_eq!(asker.welcome["capability"], "viewer");
    assert_eq!(asker.welcome["start"], "snapshot");
    let token = asker.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    let key = asker.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let snapshot = asker.expect("snapshot").await;
    assert_eq!(snapshot["status"], "live");
    assert_eq!(snapshot["moderation"], "pre");
    let mut watcher = app.viewer_ws(event, "李四").await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    assert_eq!(moderator.welcome["capability"], "moderator");
    let mut host = app.staff_ws(event, &host_token).await;
    assert_eq!(host.welcome["capability"], "host");

    // Ask: acknowledged after commit, visible only to the author and staff.
    let ack = asker
        .request(json!({ "type": "ask", "text": "  社保卡丢了怎么补办？ " }), "q1")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(ack["action"], "ask");
    assert_eq!(ack["question"]["status"], "pending");
    assert_eq!(ack["question"]["text"], "社保卡丢了怎么补办？");
    let id = ack["question"]["id"].as_i64().unwrap();
    let seen = moderator.expect("moderation").await;
    assert_eq!(seen["question"]["id"], id);
    assert_eq!(seen["question"]["viewer_key"], key.as_str());
    assert_eq!(seen["question"]["status"], "pending");
    host.expect("moderation").await;

    // Approve: the room sees it with a seq; the author is told.
    let ack = moderator
        .request(json!({ "type": "approve", "question_id": id }), "a1")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    let public = watcher.expect("question").await;
    assert_eq!(public["question"]["id"], id);
    assert_eq!(public["question"]["nickname"], "张三");
    let seq = public["seq"].as_i64().unwrap();
    assert!(seq >= 1);
    assert!(public["question"].get("viewer_key").is_none(), "viewers never see keys");
    let mine = asker.expect("mine").await;
    assert_eq!(mine["question"]["status"], "approved");
    assert_eq!(asker.expect("question").await["seq"], seq);

    // Upvote once each.
    let up = watcher
        .request(json!({ "type": "upvote", "question_id": id }), "u1")
        .await;
    assert_eq!(up["upvotes"], 1, "{up:?}");
    let again = watcher
        .request(json!({ "type": "upvote", "question_id": id }), "u2")
        .await;
    assert_eq!(again["code"], "already_upvoted");
    let votes = asker.expect("upvotes").await;
    assert_eq!(
        (votes["question_id"].as_i64(), votes["upvotes"].as_i64()),
        (Some(id), Some(1))
    );
    assert_eq!(votes["seq"], seq + 1);

    // The host pins it and answers live.
    let pin = host.request(json!({ "type": "pin", "question_id": id }), "p1").await;
    assert_eq!(pin["type"], "ack", "{pin:?}");
    let pinned = watcher.expect("pinned").await;
    assert_eq!(pinned["question_id"], id);
    let answer = host
        .request(
            json!({ "type": "answer", "question_id": id, "text": "可在社保中心窗口或“北京人社”App补办。" }),
            "an1",
        )
        .await;
    assert_eq!(answer["question"]["answered"], true, "{answer:?}");
    let answered = watcher.expect("question").await;
    assert_eq!(answered["question"]["answer"], "可在社保中心窗口或“北京人社”App补办。");
    assert_eq!(answered["question"]["answered"], true);
    assert_eq!(asker.expect("mine").await["question"]["answered"], true);

    // A fix of a typo keeps the original for the record.
    let edit = moderator
        .request(
            json!({ "type": "edit", "question_id": id, "text": "社保卡丢失后怎么补办？" }),
            "e1",
        )
        .await;
    assert_eq!(edit["type"], "ack", "{edit:?}");
    let edited = watcher.expect("question").await;
    assert_eq!(edited["question"]["edited"], true);

    // The same viewer token is the same viewer on a new connection.
    let mut again = app.ws(event, json!({ "viewer_token": token })).await;
    assert_eq!(again.welcome["viewer"]["key"], key.as_str());
    let snap = again.expect("snapshot").await;
    assert_eq!(snap["mine"][0]["id"], id);
    assert_eq!(snap["questions"][0]["text"], "社保卡丢失后怎么补办？");
    assert_eq!(snap["pinned"], id);

    // Every moderation step is in the audit log with who, before and after.
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
    assert_eq!(actions, ["approve", "pin", "answer", "edit"]);
    let edit_entry = &audit[3];
    assert_eq!(edit_entry["actor_kind"], "staff");
    assert_eq!(edit_entry["before"]["text"], "社保卡丢了怎么补办？");
    assert_eq!(edit_entry["after"]["text"], "社保卡丢失后怎么补办？");
    app.stop().await;
}

async fn resume_gets_exactly_what_was_missed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut asker = app.viewer_ws(event, "提问人").await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let ack = asker
            .request(json!({ "type": "ask", "text": format!("问题 {i}") }), &format!("q{i}"))
            .await;
        ids.push(ack["question"]["id"].as_i64().unwrap());
    }

    let mut viewer = app.ws(event, json!({})).await;
    let token = viewer.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    viewer.expect("snapshot").await;
    moderator
        .request(json!({ "type": "approve", "question_id": ids[0] }), "a0")
        .await;
    let first = viewer.expect("question").await;
    let last_seq = first["seq"].as_i64().unwrap();
    drop(viewer); // The connection drops.

    for (i, id) in ids[1..].iter().enumerate() {
        moderator
            .request(json!({ "type": "approve", "question_id": id }), &format!("a{}", i + 1))
            .await;
    }
    moderator
        .request(json!({ "type": "pin", "question_id": ids[2] }), "pin")
        .await;

    let mut back = app
        .ws(event, json!({ "viewer_token": token, "last_seq": last_seq }))
        .await;
    assert_eq!(back.welcome["start"], "replay");
    let upto = back.welcome["seq"].as_i64().unwrap();
    assert_eq!(upto, last_seq + 6, "five approvals and a pin");
    let mut seqs = Vec::new();
    let mut questions = Vec::new();
    while seqs.len() < 6 {
        let frame = back.next().await;
        assert_ne!(frame["type"], "snapshot");
        seqs.push(frame["seq"].as_i64().unwrap());
        if frame["type"] == "question" {
            questions.push(frame["question"]["id"].as_i64().unwrap());
        }
    }
    assert_eq!(
        seqs,
        ((last_seq + 1)..=upto).collect::<Vec<_>>(),
        "no gap, no duplicate, in order"
    );
    assert_eq!(questions, ids[1..].to_vec());

    // And it carries on live without repeating anything.
    moderator
        .request(json!({ "type": "unpin", "question_id": ids[2] }), "unpin")
        .await;
    let live = back.next().await;
    assert_eq!(live["type"], "pinned");
    assert_eq!(live["seq"], upto + 1);

    // The author, away meanwhile, hears after the replay what became of
    // their posts (private frames are not in the room log).
    let asker_token = asker.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    let ack = asker
        .request(json!({ "type": "ask", "text": "离开时被拒的问题" }), "q-away")
        .await;
    let away = ack["question"]["id"].as_i64().unwrap();
    let asker_seq = live["seq"].as_i64().unwrap();
    drop(asker);
    let reject = moderator
        .request(
            json!({ "type": "reject", "question_id": away, "reason": "重复提问" }),
            "rej",
        )
        .await;
    assert_eq!(reject["type"], "ack", "{reject:?}");
    let mut back_asker = app
        .ws(event, json!({ "viewer_token": asker_token, "last_seq": asker_seq }))
        .await;
    assert_eq!(back_asker.welcome["start"], "replay");
    let mut statuses = std::collections::BTreeMap::new();
    while statuses.len() < ids.len() + 1 {
        let mine = back_asker.expect("mine").await;
        statuses.insert(mine["question"]["id"].as_i64().unwrap(), mine["question"].clone());
    }
    assert_eq!(statuses[&away]["status"], "rejected", "{statuses:?}");
    assert_eq!(statuses[&away]["reject_reason"], "重复提问");
    assert!(
        ids.iter().all(|id| statuses[id]["status"] == "approved"),
        "{statuses:?}"
    );
    drop(back_asker);

    // Nothing missed: a resume at the head replays nothing and stays live.
    let mut head = app
        .ws(event, json!({ "viewer_token": token, "last_seq": upto + 1 }))
        .await;
    assert_eq!(head.welcome["start"], "replay");
    head.send(json!({ "type": "ping", "ref": "p" })).await;
    assert_eq!(head.next().await["type"], "pong");
    app.stop().await;
}

async fn resume_from_the_store_beyond_the_ring(backend: Backend) {
    let live = minsheng::config::LiveSettings {
        ring_capacity: 3,
        ..live_settings()
    };
    let Some(app) = spawn_app_with(backend, live).await else {
        return;
    };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut asker = app.viewer_ws(event, "提问人").await;
    let before = asker.welcome["seq"].as_i64().unwrap();
    for i in 0..8 {
        let ack = asker
            .request(json!({ "type": "ask", "text": format!("问题 {i}") }), &format!("q{i}"))
            .await;
        let id = ack["question"]["id"].as_i64().unwrap();
        moderator
            .request(json!({ "type": "approve", "question_id": id }), &format!("a{i}"))
            .await;
    }
    let mut back = app.ws(event, json!({ "last_seq": before })).await;
    assert_eq!(back.welcome["start"], "replay");
    let mut seqs = Vec::new();
    for _ in 0..8 {
        seqs.push(back.next().await["seq"].as_i64().unwrap());
    }
    assert_eq!(seqs, ((before + 1)..=(before + 8)).collect::<Vec<_>>());

    // A new client gets a snapshot of all eight.
    let mut fresh = app.ws(event, json!({})).await;
    let snap = fresh.expect("snapshot").await;
    assert_eq!(snap["questions"].as_array().unwrap().len(), 8);
    assert_eq!(snap["seq"], before + 8);
    app.stop().await;
}

async fn roles_are_checked_for_every_action(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let host_token = app.staff("host", "host", None).await;
    let other_unit = app.staff("jw-staff", "unit_staff", Some("jw")).await;
    let own_unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let mut viewer = app.viewer_ws(event, "网友").await;
    let ack = viewer.request(json!({ "type": "ask", "text": "问题" }), "q").await;
    let id = ack["question"]["id"].as_i64().unwrap();

    for action in [
        json!({ "type": "approve", "question_id": id }),
        json!({ "type": "reject", "question_id": id, "reason": "x" }),
        json!({ "type": "pin", "question_id": id }),
        json!({ "type": "answer", "question_id": id }),
        json!({ "type": "hide", "question_id": id }),
        json!({ "type": "edit", "question_id": id, "text": "x" }),
        json!({ "type": "ban", "viewer": "0123456789abcdef", "reason": "x" }),
        json!({ "type": "set_slow_mode", "seconds": 5 }),
        json!({ "type": "set_moderation", "mode": "post" }),
    ] {
        let reply = viewer.request(action.clone(), "r").await;
        assert_eq!(reply["code"], "forbidden", "viewer {action}: {reply:?}");
    }

    let mut host = app.staff_ws(event, &host_token).await;
    let reply = host
        .request(json!({ "type": "approve", "question_id": id }), "h1")
        .await;
    assert_eq!(reply["code"], "forbidden");
    let reply = host.request(json!({ "type": "ask", "text": "主持人提问" }), "h2").await;
    assert_eq!(reply["code"], "forbidden");
    let reply = host.request(json!({ "type": "pin", "question_id": id }), "h3").await;
    assert_eq!(
        reply["code"], "wrong_status",
        "pending questions cannot be pinned: {reply:?}"
    );

    // Staff of a unit that does not host the event are turned away; the host unit's staff moderate.
    assert_eq!(
        app.refused(event, json!({ "session": other_unit })).await,
        ("forbidden".into(), Some(4403))
    );
    let mut unit = app.staff_ws(event, &own_unit).await;
    let reply = unit
        .request(json!({ "type": "approve", "question_id": id }), "u1")
        .await;
    assert_eq!(reply["type"], "ack", "{reply:?}");

    // A bad session token is refused, not downgraded silently.
    assert_eq!(
        app.refused(event, json!({ "session": "nope" })).await,
        ("unauthorized".into(), Some(4403))
    );
    app.stop().await;
}

async fn post_moderation_publishes_at_once_and_hides(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut viewer = app.viewer_ws(event, "网友").await;
    let ack = moderator
        .request(json!({ "type": "set_moderation", "mode": "post" }), "m")
        .await;
    assert_eq!(ack["type"], "ack");
    let settings = viewer.expect("settings").await;
    assert_eq!(settings["moderation"], "post");

    let ack = viewer
        .request(json!({ "type": "ask", "text": "公园几点开门？" }), "q")
        .await;
    assert_eq!(ack["question"]["status"], "approved");
    let id = ack["question"]["id"].as_i64().unwrap();
    assert_eq!(viewer.expect("question").await["question"]["id"], id);

    let hide = moderator
        .request(json!({ "type": "hide", "question_id": id }), "h")
        .await;
    assert_eq!(hide["question"]["status"], "hidden");
    assert_eq!(viewer.expect("question_removed").await["question_id"], id);
    assert_eq!(viewer.expect("mine").await["question"]["status"], "hidden");
    let mut fresh = app.ws(event, json!({})).await;
    assert_eq!(fresh.expect("snapshot").await["questions"], json!([]));
    app.stop().await;
}

async fn the_screen_holds_or_rejects_and_never_drops(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    moderator
        .request(json!({ "type": "set_moderation", "mode": "post" }), "m")
        .await;
    let mut viewer = app.viewer_ws(event, "网友").await;

    // An advert, disguised with spaces and punctuation: refused with the reason.
    let ack = viewer
        .request(json!({ "type": "ask", "text": "想要补贴的请加 微-信 领取" }), "ad")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(ack["question"]["status"], "rejected");
    assert!(!ack["question"]["reject_reason"].as_str().unwrap().is_empty());
    let seen = moderator.expect("moderation").await;
    assert_eq!(seen["question"]["status"], "rejected");
    let hit = &seen["question"]["screen_hits"][0];
    assert_eq!(hit["category"], "ads");

    // Abuse in traditional characters, full-width letters and spaces: held even in post-moderation.
    let ack = viewer
        .request(json!({ "type": "ask", "text": "你們這些 廢 物" }), "abuse")
        .await;
    assert_eq!(ack["question"]["status"], "pending", "{ack:?}");
    let seen = moderator.expect("moderation").await;
    let hits = seen["question"]["screen_hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    let text: Vec<char> = "你們這些 廢 物".chars().collect();
    let (start, end) = (
        hits[0]["start"].as_u64().unwrap() as usize,
        hits[0]["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(
        text[start..end].iter().collect::<String>(),
        "廢 物",
        "the hit marks the written form"
    );

    // Nothing was published.
    let mut fresh = app.ws(event, json!({})).await;
    assert_eq!(fresh.expect("snapshot").await["questions"], json!([]));
    // Both are in the audit log as the screen's doing.
    let audit = app
        .get(&format!("/api/events/{event}/audit"), Some(&app.admin_token))
        .await
        .body;
    let screen: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["actor"] == "screen")
        .collect();
    assert_eq!(screen.len(), 2);
    app.stop().await;
}

async fn slow_mode_and_rate_limits_say_when_to_retry(backend: Backend) {
    let live = minsheng::config::LiveSettings {
        asks_per_viewer_per_min: 3,
        ..live_settings()
    };
    let Some(app) = spawn_app_with(backend, live).await else {
        return;
    };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut viewer = app.viewer_ws(event, "网友").await;
    for i in 0..3 {
        let ack = viewer
            .request(json!({ "type": "ask", "text": format!("问题{i}") }), &format!("q{i}"))
            .await;
        assert_eq!(ack["type"], "ack");
    }
    let limited = viewer.request(json!({ "type": "ask", "text": "再问一个" }), "q3").await;
    assert_eq!(limited["code"], "rate_limited", "{limited:?}");
    assert!(limited["retry_after_ms"].as_u64().unwrap() > 0);

    let ack = moderator
        .request(json!({ "type": "set_slow_mode", "seconds": 30 }), "s")
        .await;
    assert_eq!(ack["type"], "ack");
    let mut other = app.viewer_ws(event, "另一位").await;
    assert_eq!(
        other.request(json!({ "type": "ask", "text": "第一个" }), "a").await["type"],
        "ack"
    );
    let slow = other.request(json!({ "type": "ask", "text": "第二个" }), "b").await;
    assert_eq!(slow["code"], "slow_mode");
    let wait = slow["retry_after_ms"].as_u64().unwrap();
    assert!(wait > 20_000 && wait <= 30_000, "{wait}");
    // Still usable afterwards.
    assert_eq!(other.request(json!({ "type": "ping" }), "p").await["type"], "pong");
    app.stop().await;
}

async fn a_ban_cuts_the_viewer_off(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut troll = app.ws(event, json!({ "nickname": "捣乱" })).await;
    let key = troll.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let token = troll.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    troll.expect("snapshot").await;
    troll.request(json!({ "type": "ask", "text": "刷屏" }), "q").await;
    let mut bystander = app.viewer_ws(event, "路人").await;

    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "反复刷屏", "include_address": false }),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    let (code, frames) = troll.closed().await;
    assert_eq!(code, Some(4403));
    assert_eq!(frames.last().unwrap()["code"], "banned");
    assert_eq!(
        app.refused(event, json!({ "viewer_token": token })).await,
        ("banned".into(), Some(4403))
    );
    // The bystander (same address, address not banned) stays.
    assert_eq!(bystander.request(json!({ "type": "ping" }), "p").await["type"], "pong");
    let audit = app
        .get(&format!("/api/events/{event}/audit"), Some(&app.admin_token))
        .await
        .body;
    assert!(audit.as_array().unwrap().iter().any(|a| a["action"] == "ban"));
    app.stop().await;
}

async fn behind_a_trusted_proxy_an_address_ban_hits_the_client_not_the_proxy(backend: Backend) {
    let http = minsheng::config::HttpSettings {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..crate::helpers::http_settings()
    };
    let Some(app) = crate::helpers::spawn_app_full(backend, crate::helpers::live_settings(), http).await else {
        return;
    };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut troll = app
        .ws_via(event, json!({ "nickname": "捣乱" }), Some("203.0.113.9"))
        .await;
    let key = troll.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    troll.expect("snapshot").await;
    troll.request(json!({ "type": "ask", "text": "刷屏" }), "q").await;
    // Another client behind the same balancer.
    let mut neighbour = app
        .ws_via(event, json!({ "nickname": "邻居" }), Some("203.0.113.10"))
        .await;
    neighbour.expect("snapshot").await;

    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "反复刷屏", "include_address": true }),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(troll.closed().await.0, Some(4403));
    // A new token from the banned client's address is turned away ...
    assert_eq!(
        app.refused_via(event, json!({}), Some("203.0.113.9")).await,
        ("banned".into(), Some(4403))
    );
    // ... while the balancer's other clients stay, and a forged first hop does not help.
    assert_eq!(neighbour.request(json!({ "type": "ping" }), "p").await["type"], "pong");
    assert_eq!(
        app.refused_via(event, json!({}), Some("198.51.100.1, 203.0.113.9"))
            .await
            .0,
        "banned"
    );
    let mut other = app.ws_via(event, json!({}), Some("203.0.113.11")).await;
    other.expect("snapshot").await;
    app.stop().await;
}

async fn retries_with_the_same_ref_make_one_question(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let mut viewer = app.ws(event, json!({})).await;
    let token = viewer.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    viewer.expect("snapshot").await;
    let first = viewer
        .request(json!({ "type": "ask", "text": "同一个问题" }), "same")
        .await;
    drop(viewer);
    let mut retry = app.ws(event, json!({ "viewer_token": token })).await;
    retry.expect("snapshot").await;
    let second = retry
        .request(json!({ "type": "ask", "text": "同一个问题" }), "same")
        .await;
    assert_eq!(first["question"]["id"], second["question"]["id"]);
    let mut check = app.ws(event, json!({ "viewer_token": token })).await;
    assert_eq!(check.expect("snapshot").await["mine"].as_array().unwrap().len(), 1);
    app.stop().await;
}
