//! Bad input over the WebSocket, slow consumers and shutdown.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Backend, live_settings, next_json, send_json, spawn_app, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(
    bad_frames_get_error_frames,
    handshake_problems_close_with_a_reason,
    a_stalled_viewer_is_cut_off_and_the_room_carries_on
);

async fn bad_frames_get_error_frames(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let mut viewer = app.viewer_ws(event, "网友").await;
    let cases = [
        ("{not json", "malformed_json"),
        (r#"{"no":"type"}"#, "bad_message"),
        (r#"{"type":"launch_rocket"}"#, "unknown_type"),
        (r#"{"type":"upvote","question_id":"seven"}"#, "bad_message"),
        (r#"{"type":"ask","text":""}"#, "invalid"),
        (r#"{"type":"ask","text":"   \n  "}"#, "invalid"),
        (r#"{"type":"hello","protocol":1}"#, "already_greeted"),
        (r#"{"type":"upvote","question_id":999999}"#, "not_found"),
    ];
    for (frame, code) in cases {
        viewer.socket.send(Message::text(frame)).await.unwrap();
        let reply = viewer.next().await;
        assert_eq!(reply["type"], "error", "{frame}: {reply:?}");
        assert_eq!(reply["code"], code, "{frame}: {reply:?}");
        assert!(!reply["message"].as_str().unwrap().is_empty());
    }
    let long = "问".repeat(301);
    assert_eq!(
        viewer.request(json!({ "type": "ask", "text": long }), "long").await["code"],
        "invalid"
    );
    viewer.send(json!({ "type": "ping", "ref": "r".repeat(65) })).await;
    assert_eq!(viewer.expect("error").await["code"], "bad_ref");
    viewer.socket.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(viewer.next().await["code"], "binary_not_supported");
    // Still usable after all of that.
    assert_eq!(viewer.request(json!({ "type": "ping" }), "alive").await["type"], "pong");

    // An oversized frame closes the connection with 1009 (message too big).
    let huge = json!({ "type": "ask", "text": "x".repeat(64 * 1024) }).to_string();
    let _ = viewer.socket.send(Message::text(huge)).await;
    let (code, _) = viewer.closed().await;
    assert!(code == Some(1009) || code.is_none(), "{code:?}");
    app.stop().await;
}

async fn handshake_problems_close_with_a_reason(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let connect = |id: i64| tokio_tungstenite::connect_async(app.ws_url(id));

    // Something other than hello first.
    let (mut s, _) = connect(event).await.unwrap();
    send_json(&mut s, &json!({ "type": "ask", "text": "hi" })).await;
    assert_eq!(next_json(&mut s).await.unwrap()["code"], "hello_required");
    // A protocol from the future.
    let (mut s, _) = connect(event).await.unwrap();
    send_json(&mut s, &json!({ "type": "hello", "protocol": 99 })).await;
    assert_eq!(next_json(&mut s).await.unwrap()["code"], "unsupported_protocol");
    // An event that does not exist, and one still in draft.
    let (mut s, _) = connect(987654).await.unwrap();
    send_json(&mut s, &json!({ "type": "hello", "protocol": 1 })).await;
    assert_eq!(next_json(&mut s).await.unwrap()["code"], "unknown_event");
    let draft = app.event_id("open-day-15").await;
    let (mut s, _) = connect(draft).await.unwrap();
    send_json(&mut s, &json!({ "type": "hello", "protocol": 1 })).await;
    assert_eq!(next_json(&mut s).await.unwrap()["code"], "event_unavailable");
    // A bad nickname is said, and the viewer continues as 网友.
    let (mut s, _) = connect(event).await.unwrap();
    send_json(
        &mut s,
        &json!({ "type": "hello", "protocol": 1, "nickname": "名".repeat(40) }),
    )
    .await;
    assert_eq!(next_json(&mut s).await.unwrap()["code"], "invalid_nickname");
    let welcome = next_json(&mut s).await.unwrap();
    assert_eq!(welcome["viewer"]["nickname"], "网友");

    // After the event ends, the room is read-only.
    let mut viewer = app.viewer_ws(event, "网友").await;
    app.post(&format!("/api/events/{event}/end"), Some(&app.admin_token), json!({}))
        .await;
    let status = viewer.expect("event_status").await;
    assert_eq!(status["status"], "ended");
    let reply = viewer
        .request(json!({ "type": "ask", "text": "还能问吗" }), "late")
        .await;
    assert_eq!(reply["code"], "event_closed");

    // Shutdown closes live sockets with 1001.
    let stopping = tokio::spawn(async move {
        let (code, _) = viewer.closed().await;
        code
    });
    app.stop().await;
    assert_eq!(stopping.await.unwrap(), Some(1001));
}

async fn a_stalled_viewer_is_cut_off_and_the_room_carries_on(backend: Backend) {
    let live = minsheng::config::LiveSettings {
        outbound_queue: 64,
        send_timeout_ms: 2000,
        ..live_settings()
    };
    let Some(app) = spawn_app_with(backend, live).await else {
        return;
    };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    moderator
        .request(json!({ "type": "set_moderation", "mode": "post" }), "m")
        .await;

    // A viewer with a tiny receive window that never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(app.addr).await.unwrap();
    let (mut stalled, _) = tokio_tungstenite::client_async(app.ws_url(event), tcp).await.unwrap();
    stalled
        .send(Message::text(json!({ "type": "hello", "protocol": 1 }).to_string()))
        .await
        .unwrap();

    let mut reader = app.viewer_ws(event, "认真看").await;
    let mut poster = app.viewer_ws(event, "发帖").await;
    let text = "请问".repeat(140);
    const N: usize = 400;
    // The poster posts (and reads its acks) while the reader reads along.
    let posting = tokio::spawn(async move {
        for i in 0..N {
            let ack = poster
                .request(
                    json!({ "type": "ask", "text": format!("{i} {text}") }),
                    &format!("r{i}"),
                )
                .await;
            assert_eq!(ack["type"], "ack", "{ack:?}");
        }
    });
    // The reading viewer gets every question, in seq order.
    let mut last = 0;
    let mut got = 0;
    while got < N {
        let frame = reader.next().await;
        if frame["type"] == "question" {
            let seq = frame["seq"].as_i64().unwrap();
            assert!(seq > last, "in order");
            last = seq;
            got += 1;
        }
    }
    posting.await.unwrap();
    // The stalled one was cut off: it never gets all of them, and its socket ends.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut received = 0;
    let mut saw_lagged = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(15), futures_util::StreamExt::next(&mut stalled)).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "question" {
                    received += 1;
                }
                if v["code"] == "lagged" {
                    saw_lagged = true;
                }
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => break,
            Err(_) => panic!("the stalled viewer was never disconnected"),
        }
    }
    assert!(
        received < N,
        "the stalled viewer was cut off (got {received} of {N}, lagged notice: {saw_lagged})"
    );
    app.stop().await;
}

on_both_backends!(the_word_list_reloads_without_a_restart);

async fn the_word_list_reloads_without_a_restart(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("minsheng_words_{}_{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("words.toml");
    let list = |word: &str| {
        format!(
            "[[category]]\nname = \"local\"\naction = \"reject\"\nmessage = \"含有不当内容。\"\nwords = [\"{word}\"]\n"
        )
    };
    std::fs::write(&file, list("苹果")).unwrap();
    let live = minsheng::config::LiveSettings {
        words_file: Some(file.clone()),
        ..live_settings()
    };
    let Some(app) = spawn_app_with(backend, live).await else {
        return;
    };
    let event = app.live_event().await;
    let mut viewer = app.viewer_ws(event, "网友").await;
    let ack = viewer
        .request(json!({ "type": "ask", "text": "我爱吃苹果" }), "1")
        .await;
    assert_eq!(ack["question"]["status"], "rejected");
    assert_eq!(ack["question"]["reject_reason"], "含有不当内容。");

    std::fs::write(&file, list("香蕉")).unwrap();
    let r = app.post("/api/screen/reload", Some(&app.admin_token), json!({})).await;
    assert_eq!(r.body["words"], 1, "{:?}", r.body);
    let ack = viewer
        .request(json!({ "type": "ask", "text": "我爱吃苹果" }), "2")
        .await;
    assert_eq!(ack["question"]["status"], "pending");
    let ack = viewer
        .request(json!({ "type": "ask", "text": "我爱吃香 蕉" }), "3")
        .await;
    assert_eq!(ack["question"]["status"], "rejected");

    // A broken file is refused and the list in force stays.
    std::fs::write(&file, "[[category]]\nname = \"x\"\naction = \"explode\"\n").unwrap();
    let r = app.post("/api/screen/reload", Some(&app.admin_token), json!({})).await;
    assert_eq!(r.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "invalid_word_list");
    let ack = viewer.request(json!({ "type": "ask", "text": "香蕉" }), "4").await;
    assert_eq!(ack["question"]["status"], "rejected");
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    assert_eq!(
        app.post("/api/screen/reload", Some(&unit), json!({})).await.status,
        reqwest::StatusCode::FORBIDDEN
    );
    app.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}
