//! Issue 15, points 1 and 2: verified posting (后台实名、前台自愿) and one
//! voice per person. In a `verified` room an unverified viewer is asked to
//! verify; a code sent by the `log` sender verifies; the number is stored
//! only hashed and sealed; one person is one voice however many
//! connections, tabs and viewer tokens they use; a ban holds for the person.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cluster::harness::{Cluster, eventually};
use crate::helpers::{Backend, TestApp, Ws, live_settings, spawn_app, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(
    an_unverified_viewer_is_asked_to_verify_and_a_code_verifies,
    codes_expire_allow_five_tries_and_are_limited,
    one_person_is_one_voice_across_connections,
    a_banned_person_stays_banned_with_a_new_viewer_token,
    the_identity_mode_is_fixed_at_the_announcement,
);

/// The code the `log` sender last printed for the number ending `tail`.
fn last_code(app: &TestApp, tail: &str) -> String {
    let lines = app.sms.lines();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.contains(&format!("****{tail}")))
        .unwrap_or_else(|| panic!("no code for …{tail} in {lines:?}"));
    code_in(line)
}

/// The 6 digits after `验证码是` in a printed message.
pub fn code_in(line: &str) -> String {
    let after = line
        .split("验证码是")
        .nth(1)
        .unwrap_or_else(|| panic!("no code in {line}"));
    let code: String = after.chars().filter(char::is_ascii_digit).take(6).collect();
    assert_eq!(code.len(), 6, "{line}");
    code
}

/// Verify `phone` (a code, then the code back); the browser's token.
pub async fn verify(app: &TestApp, phone: &str) -> String {
    let r = app
        .post("/api/verification/code", None, json!({ "phone": phone }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let tail = &phone[phone.len() - 4..];
    let code = last_code(app, tail);
    let r = app
        .post("/api/verification", None, json!({ "phone": phone, "code": code }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["verification"].as_str().unwrap().to_owned()
}

/// A verified room: `open-day-06`, live.
async fn verified_room(app: &mut TestApp) -> i64 {
    app.identity_mode = "verified";
    app.live_event().await
}

async fn verified_viewer(app: &TestApp, event: i64, verification: &str, nickname: &str) -> Ws {
    let mut ws = app
        .ws(event, json!({ "nickname": nickname, "verification": verification }))
        .await;
    assert_eq!(ws.welcome["viewer"]["verified"], true, "{:?}", ws.welcome);
    ws.expect("snapshot").await;
    ws
}

async fn an_unverified_viewer_is_asked_to_verify_and_a_code_verifies(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let event = verified_room(&mut app).await;
    let mut anonymous = app.ws(event, json!({ "nickname": "路人" })).await;
    assert_eq!(anonymous.welcome["identity"], "verified");
    assert_eq!(anonymous.welcome["viewer"]["verified"], false);
    anonymous.expect("snapshot").await;
    for (i, message) in [
        json!({ "type": "ask", "text": "请问社保卡怎么补办？" }),
        json!({ "type": "comment", "text": "支持" }),
        json!({ "type": "upvote", "question_id": 1 }),
    ]
    .into_iter()
    .enumerate()
    {
        let refused = anonymous.request(message, &format!("r{i}")).await;
        assert_eq!(refused["code"], "verification_required", "{refused:?}");
    }

    // A number as people type it; the code goes out through the `log` sender.
    let r = app
        .post("/api/verification/code", None, json!({ "phone": "+86 138-1234-5678" }))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(r.body["phone"], "138****5678");
    assert_eq!(r.body["expires_in_secs"], 300);
    let printed = app.sms.lines();
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert!(!printed[0].contains("13812345678"), "{printed:?}");
    let code = code_in(&printed[0]);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let r = app
        .post(
            "/api/verification",
            None,
            json!({ "phone": "13812345678", "code": wrong }),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "code_wrong")
    );
    assert_eq!(r.body["error"]["details"]["tries_left"], 4);
    let r = app
        .post(
            "/api/verification",
            None,
            json!({ "phone": "13812345678", "code": code }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["phone"], "138****5678");
    let verification = r.body["verification"].as_str().unwrap().to_owned();
    // A code is spent once it verified.
    let r = app
        .post(
            "/api/verification",
            None,
            json!({ "phone": "13812345678", "code": code }),
        )
        .await;
    assert_eq!(r.error_code(), "code_expired");

    // The same browser comes back verified, and takes part.
    let mut viewer = app
        .ws(event, json!({ "nickname": "张先生", "verification": verification }))
        .await;
    assert_eq!(viewer.welcome["viewer"]["verified"], true);
    assert_eq!(viewer.welcome["viewer"]["phone"], "138****5678");
    viewer.expect("snapshot").await;
    let ack = viewer
        .request(json!({ "type": "ask", "text": "请问社保卡怎么补办？" }), "q")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(ack["question"]["text"], "请问社保卡怎么补办？");

    // What is stored: no number in the clear anywhere.
    let stored = app
        .sql_texts("SELECT phone_hash || ' ' || phone_masked || ' ' || phone_sealed FROM identities")
        .await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains("13812345678"), "{stored:?}");
    assert!(stored[0].contains("138****5678"));
    let questions = app.sql_texts("SELECT CAST(identity_id AS TEXT) FROM questions").await;
    assert_eq!(questions.len(), 1);

    // An unknown or ended verification is no verification.
    let r = app
        .post("/api/verification/end", None, json!({ "verification": verification }))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mut ended = app
        .ws(event, json!({ "nickname": "张先生", "verification": verification }))
        .await;
    assert_eq!(ended.welcome["viewer"]["verified"], false);
    ended.expect("snapshot").await;
    let refused = ended
        .request(json!({ "type": "ask", "text": "再问一个" }), "again")
        .await;
    assert_eq!(refused["code"], "verification_required");
    for bad in [
        json!({ "phone": "12345" }),
        json!({ "phone": "13812345678", "extra": 1 }),
    ] {
        let r = app.post("/api/verification/code", None, bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    }
    app.stop().await;
}

async fn codes_expire_allow_five_tries_and_are_limited(backend: Backend) {
    let mut live = live_settings();
    live.identity.codes_per_ip_per_hour = 7;
    let Some(app) = spawn_app_with(backend, live).await else {
        return;
    };
    let send = |phone: &'static str| {
        let app = &app;
        async move {
            app.post("/api/verification/code", None, json!({ "phone": phone }))
                .await
        }
    };

    // Five tries, right or wrong; the code is then spent.
    assert_eq!(send("13900000001").await.status, StatusCode::ACCEPTED);
    let code = last_code(&app, "0001");
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for left in [4, 3, 2, 1] {
        let r = app
            .post(
                "/api/verification",
                None,
                json!({ "phone": "13900000001", "code": wrong }),
            )
            .await;
        assert_eq!(r.body["error"]["details"]["tries_left"], left, "{:?}", r.body);
    }
    let r = app
        .post(
            "/api/verification",
            None,
            json!({ "phone": "13900000001", "code": wrong }),
        )
        .await;
    assert_eq!(r.error_code(), "code_expired");
    let r = app
        .post(
            "/api/verification",
            None,
            json!({ "phone": "13900000001", "code": code }),
        )
        .await;
    assert_eq!(r.error_code(), "code_expired", "the right code after five tries");

    // One code a minute per number.
    let r = send("13900000001").await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_codes")
    );
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");

    // A code lives five minutes.
    assert_eq!(send("13900000002").await.status, StatusCode::ACCEPTED);
    let code = last_code(&app, "0002");
    app.sql(
        "UPDATE verification_codes SET expires_at = $1",
        Some(chrono::Utc::now() - chrono::Duration::seconds(1)),
    )
    .await;
    let r = app
        .post(
            "/api/verification",
            None,
            json!({ "phone": "13900000002", "code": code }),
        )
        .await;
    assert_eq!(r.error_code(), "code_expired");

    // Five an hour per number: the minute passes, the hour does not.
    for _ in 0..5 {
        app.sql(
            "UPDATE verification_codes SET sent_at = $1",
            Some(chrono::Utc::now() - chrono::Duration::minutes(2)),
        )
        .await;
        assert_eq!(send("13900000003").await.status, StatusCode::ACCEPTED);
    }
    app.sql(
        "UPDATE verification_codes SET sent_at = $1",
        Some(chrono::Utc::now() - chrono::Duration::minutes(2)),
    )
    .await;
    let r = send("13900000003").await;
    assert_eq!(r.error_code(), "too_many_codes");
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains("5 codes"),
        "{:?}",
        r.body
    );
    // The address has now been sent 7 codes within the hour, its cap.
    let r = send("13900000004").await;
    assert_eq!(r.error_code(), "too_many_codes");
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains("network"),
        "{:?}",
        r.body
    );
    app.stop().await;
}

async fn one_person_is_one_voice_across_connections(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let event = verified_room(&mut app).await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let asker_verification = verify(&app, "13700000000").await;
    let mut asker = verified_viewer(&app, event, &asker_verification, "提问人").await;
    let asked = asker
        .request(json!({ "type": "ask", "text": "公园何时开放？" }), "q")
        .await;
    let question = asked["question"]["id"].as_i64().unwrap();
    let approved = moderator
        .request(json!({ "type": "approve", "question_id": question }), "a")
        .await;
    assert_eq!(approved["type"], "ack", "{approved:?}");
    let created = moderator
        .request(
            json!({ "type": "create_poll", "kind": "single_choice", "title": "满意吗", "options": ["满意", "不满意"] }),
            "p",
        )
        .await;
    let poll = created["poll"]["id"].as_i64().unwrap();
    let opened = moderator
        .request(json!({ "type": "open_poll", "poll_id": poll }), "o")
        .await;
    assert_eq!(opened["type"], "ack", "{opened:?}");

    // One person, 40 connections, each with a viewer token of its own (tabs,
    // browsers, a cleared localStorage), all from one address.
    let verification = verify(&app, "13612345678").await;
    let mut upvoted = 0;
    let mut voted = 0;
    let mut keys = std::collections::HashSet::new();
    for i in 0..40 {
        let mut tab = verified_viewer(&app, event, &verification, "同一个人").await;
        keys.insert(tab.welcome["viewer"]["key"].as_str().unwrap().to_owned());
        let up = tab
            .request(json!({ "type": "upvote", "question_id": question }), &format!("u{i}"))
            .await;
        match up["type"].as_str() {
            Some("ack") => upvoted += 1,
            _ => assert_eq!(up["code"], "already_upvoted", "{up:?}"),
        }
        let vote = tab
            .request(
                json!({ "type": "vote", "poll_id": poll, "choices": [0] }),
                &format!("v{i}"),
            )
            .await;
        // The poll lets a vote be changed: the same person's later votes change their one vote.
        match (vote["type"].as_str(), vote["changed"].as_bool()) {
            (Some("ack"), Some(true)) => {}
            (Some("ack"), _) => voted += 1,
            _ => assert_eq!(vote["code"], "already_voted", "{vote:?}"),
        }
    }
    assert_eq!((upvoted, voted), (1, 1));
    assert_eq!(keys.len(), 1, "one person, one public handle: {keys:?}");
    let upvotes = app.sql_texts("SELECT CAST(upvotes AS TEXT) FROM questions").await;
    assert_eq!(upvotes, vec!["1".to_owned()]);
    let votes = app.sql_texts("SELECT viewer_key FROM poll_votes").await;
    assert_eq!(votes.len(), 1, "{votes:?}");
    app.stop().await;
}

async fn a_banned_person_stays_banned_with_a_new_viewer_token(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let event = verified_room(&mut app).await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let verification = verify(&app, "13512345678").await;
    let troll = verified_viewer(&app, event, &verification, "捣乱").await;
    let key = troll.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let ack = moderator
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "辱骂", "include_address": false }),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    // A new viewer token (a new browser) with the same verification…
    let (code, close) = app
        .refused(event, json!({ "nickname": "换个名字", "verification": verification }))
        .await;
    assert_eq!((code.as_str(), close), ("banned", Some(4403)));
    // …or the same number verified again: the same person.
    app.sql(
        "UPDATE verification_codes SET sent_at = $1",
        Some(chrono::Utc::now() - chrono::Duration::minutes(2)),
    )
    .await;
    let again = verify(&app, "13512345678").await;
    let (code, _) = app.refused(event, json!({ "verification": again })).await;
    assert_eq!(code, "banned");
    app.stop().await;
}

async fn the_identity_mode_is_fixed_at_the_announcement(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    app.import_plan().await;
    let id = app.event_id("open-day-07").await;
    let admin = Some(app.admin_token.as_str());
    let event = app.get(&format!("/api/events/{id}"), admin).await;
    assert_eq!(event.body["identity_mode"], "verified", "new events are verified");
    let r = app
        .patch(&format!("/api/events/{id}"), admin, json!({ "identity_mode": "open" }))
        .await;
    assert_eq!(r.body["identity_mode"], "open", "{:?}", r.body);
    let r = app
        .patch(
            &format!("/api/events/{id}"),
            admin,
            json!({ "identity_mode": "nobody" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let announced = app.announce("open-day-06").await;
    let r = app
        .patch(
            &format!("/api/events/{announced}"),
            admin,
            json!({ "identity_mode": "verified" }),
        )
        .await;
    assert_eq!((r.status, r.error_code()), (StatusCode::CONFLICT, "wrong_status"));
    app.stop().await;
}

/// A node that did not send the code verifies it, and a person banned on
/// one node is turned away by another, whatever their viewer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_and_bans_hold_on_every_node() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let event = cluster.live_event_as("verified").await;
    let http = |node: usize| format!("http://{}", cluster.nodes[node].addr);
    let client = reqwest::Client::new();
    let sent = client
        .post(format!("{}/api/verification/code", http(0)))
        .json(&json!({ "phone": "13412345678" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let code = {
        let mut code = None;
        eventually(Duration::from_secs(5), "node 0 prints the code", || {
            let lines = cluster.nodes[0].console.lock().unwrap().clone();
            code = lines.iter().rev().find(|l| l.contains("验证码是")).map(|l| code_in(l));
            let found = code.is_some();
            async move { found }
        })
        .await;
        code.unwrap()
    };
    let confirmed: Value = client
        .post(format!("{}/api/verification", http(1)))
        .json(&json!({ "phone": "13412345678", "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verification = confirmed["verification"]
        .as_str()
        .expect("verified on node 1")
        .to_owned();
    let mut on_0 = cluster
        .connect(0, event, json!({ "nickname": "甲", "verification": verification }))
        .await;
    assert_eq!(on_0.welcome["viewer"]["verified"], true);
    let key = on_0.welcome["viewer"]["key"].as_str().unwrap().to_owned();
    let asked = on_0
        .request(json!({ "type": "ask", "text": "请问几点开始？" }), "q")
        .await;
    assert_eq!(asked["type"], "ack", "{asked:?}");
    let mut mod_1 = cluster.moderator(1, event).await;
    let ack = mod_1
        .request(
            json!({ "type": "ban", "viewer": key, "reason": "刷屏", "include_address": false }),
            "b",
        )
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    drop(on_0);
    // A fresh viewer token on node 0, the same person: turned away.
    eventually(Duration::from_secs(10), "node 0 turns the person away", || {
        let cluster = &cluster;
        let verification = verification.clone();
        async move {
            let c = cluster
                .try_connect(0, event, json!({ "nickname": "乙", "verification": verification }))
                .await;
            c.is_err()
        }
    })
    .await;
}

/// The `webhook` sender: the exact body signed with HMAC-SHA256, a 5xx
/// retried, a 4xx not, a gateway that does not answer cut off by the timeout.
#[tokio::test]
async fn the_webhook_sender_signs_retries_and_times_out() {
    use std::sync::{Arc, Mutex};

    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use hmac::Mac;
    use minsheng::config::Secret;
    use minsheng::domain::identity::PhoneNumber;
    use minsheng::identity::sms::{Sms, SmsSender, Webhook};

    type Seen = Arc<Mutex<Vec<(String, Bytes)>>>;
    let seen: Seen = Arc::default();
    async fn flaky(
        axum::extract::State(seen): axum::extract::State<Seen>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let signature = headers["x-minsheng-signature"].to_str().unwrap().to_owned();
        let mut seen = seen.lock().unwrap();
        seen.push((signature, body));
        if seen.len() == 1 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        }
    }
    async fn refusing() -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    async fn silent() -> StatusCode {
        tokio::time::sleep(Duration::from_secs(30)).await;
        StatusCode::OK
    }
    let gateway = axum::Router::new()
        .route("/sms", axum::routing::post(flaky))
        .route("/refuse", axum::routing::post(refusing))
        .route("/silent", axum::routing::post(silent))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, gateway).await });

    let hook = |path: &str| {
        let url = format!("http://{addr}{path}");
        SmsSender::Webhook(
            Webhook::new(url, Secret::parse("gateway-secret").unwrap(), Duration::from_secs(1), 2).unwrap(),
        )
    };
    let phone = PhoneNumber::parse("13812345678").unwrap();
    hook("/sms")
        .send(&Sms::code(&phone, "123456", 5))
        .await
        .expect("sent on the second attempt");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one retry after the 503");
    for (signature, body) in &seen {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"gateway-secret").unwrap();
        mac.update(body);
        let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(signature, &format!("sha256={expected}"));
        let sms: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(sms["to"], "13812345678");
        assert_eq!(sms["code"], "123456");
        assert_eq!(sms["kind"], "verification_code");
        assert!(sms["text"].as_str().unwrap().contains("123456"));
    }
    let refused = hook("/refuse").send(&Sms::code(&phone, "123456", 5)).await.unwrap_err();
    assert!(refused.contains("400"), "{refused}");
    let started = std::time::Instant::now();
    let silent = hook("/silent").send(&Sms::code(&phone, "123456", 5)).await.unwrap_err();
    assert!(silent.contains("no answer"), "{silent}");
    assert!(started.elapsed() < Duration::from_secs(20), "cut off by the timeout");
    assert!(
        Webhook::new(
            "https://sms.example".into(),
            Secret::parse("s").unwrap(),
            Duration::from_secs(1),
            1
        )
        .is_err()
    );
}
