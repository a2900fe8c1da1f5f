//! Issue 15, point 6: personal data is masked before it is broadcast. A
//! question, a nickname and a staff member's live answer that hold a mobile
//! number, an ID number, a bank card or an e-mail address reach every viewer
//! (live, in a snapshot, in a replay from the room log, on the record page)
//! masked, while the moderators see what was written, with the personal data
//! marked.

use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    personal_data_reaches_viewers_masked_and_moderators_as_written,
    a_frame_logged_before_masking_is_replayed_masked,
);

const PHONE: &str = "13812345678";
const PHONE_MASKED: &str = "138****5678";
const ID_NUMBER: &str = "110105199003071234";
const ID_MASKED: &str = "110105********1234";
const CARD: &str = "6222021234567890";
const CARD_MASKED: &str = "622202******7890";

fn assert_masked(what: &str, v: &Value) {
    let text = v.to_string();
    for secret in [PHONE, ID_NUMBER, CARD, "zhangsan@example.com"] {
        assert!(!text.contains(secret), "{what} shows {secret}: {text}");
    }
}

async fn personal_data_reaches_viewers_masked_and_moderators_as_written(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let host_token = app.staff("host", "host", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut host = app.staff_ws(event, &host_token).await;
    let mut asker = app.viewer_ws(event, &format!("张三{PHONE}")).await;
    let mut watcher = app.viewer_ws(event, "李四").await;

    let text = format!("我的手机{PHONE}，身份证{ID_NUMBER}，卡号{CARD}，邮箱zhangsan@example.com，社保卡怎么补？");
    let ack = asker.request(json!({ "type": "ask", "text": text }), "q1").await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(
        ack["question"]["text"],
        text.as_str(),
        "the author sees what they wrote"
    );
    let id = ack["question"]["id"].as_i64().unwrap();

    // The moderators see it as written, with the personal data marked (code point offsets).
    let seen = moderator.expect("moderation").await;
    assert_eq!(seen["question"]["text"], text.as_str());
    let chars: Vec<char> = text.chars().collect();
    let marked: Vec<String> = seen["question"]["personal_data"]
        .as_array()
        .expect("personal_data")
        .iter()
        .map(|s| {
            let (start, end) = (
                s["start"].as_u64().unwrap() as usize,
                s["end"].as_u64().unwrap() as usize,
            );
            chars[start..end].iter().collect()
        })
        .collect();
    assert_eq!(marked, [PHONE, ID_NUMBER, CARD, "zhangsan@example.com"]);

    let ok = moderator
        .request(json!({ "type": "approve", "question_id": id }), "a1")
        .await;
    assert_eq!(ok["type"], "ack", "{ok:?}");
    let shown = watcher.expect("question").await;
    assert_masked("the live frame", &shown);
    let public = shown["question"]["text"].as_str().unwrap();
    for masked in [PHONE_MASKED, ID_MASKED, CARD_MASKED, "z***@example.com"] {
        assert!(public.contains(masked), "{masked} in {public}");
    }
    assert_eq!(shown["question"]["nickname"], format!("张三{PHONE_MASKED}"));

    // A staff member's live answer is masked for the public too.
    let answer = format!("请拨打{PHONE}联系社保中心");
    let ok = host
        .request(json!({ "type": "answer", "question_id": id, "text": answer }), "an1")
        .await;
    assert_eq!(ok["type"], "ack", "{ok:?}");
    let answered = watcher.expect("question").await;
    assert_eq!(
        answered["question"]["answer"],
        format!("请拨打{PHONE_MASKED}联系社保中心")
    );

    // A newcomer's snapshot, and a replay of the room log from the start.
    let mut late = app.ws(event, json!({ "nickname": "王五" })).await;
    let snapshot = late.expect("snapshot").await;
    assert_masked("the snapshot", &snapshot);
    assert!(snapshot.to_string().contains(PHONE_MASKED));
    let mut replayed = app.ws(event, json!({ "nickname": "赵六", "last_seq": 0 })).await;
    assert_eq!(replayed.welcome["start"], "replay");
    for _ in 0..2 {
        let frame = replayed.expect("question").await;
        assert_masked("a replayed frame", &frame);
    }

    // The record (materials package, previewed by the event's managers once
    // it ended) shows the question and its answer masked as well.
    let end = app
        .post(&format!("/api/events/{event}/end"), Some(&moderator_token), json!({}))
        .await;
    assert!(end.status.is_success(), "{:?}", end.body);
    let record = app
        .get(&format!("/api/events/{event}/record"), Some(&app.admin_token))
        .await;
    assert!(record.status.is_success(), "{:?}", record.body);
    assert_masked("the record", &record.body);
    assert!(record.body.to_string().contains(PHONE_MASKED), "{:?}", record.body);
    app.stop().await;
}

/// A room log written before masking existed holds the number as typed: a
/// replay from the store masks it as it reads.
async fn a_frame_logged_before_masking_is_replayed_masked(backend: Backend) {
    use sqlx::Connection;
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let moderator_token = app.staff("mod", "moderator", None).await;
    let mut moderator = app.staff_ws(event, &moderator_token).await;
    let mut asker = app.viewer_ws(event, "张三").await;
    let ack = asker
        .request(json!({ "type": "ask", "text": format!("电话{PHONE}") }), "q")
        .await;
    let id = ack["question"]["id"].as_i64().unwrap();
    let ok = moderator
        .request(json!({ "type": "approve", "question_id": id }), "a")
        .await;
    assert_eq!(ok["type"], "ack", "{ok:?}");
    // As an older server would have logged it.
    const OLD: &str = "UPDATE room_log SET change = REPLACE(change, $1, $2) WHERE event_id = $3";
    let url = app.database_url.expose();
    let changed = if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(OLD)
            .bind(PHONE_MASKED)
            .bind(PHONE)
            .bind(event)
            .execute(&mut conn)
            .await
            .map(|_| ())
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query(OLD)
            .bind(PHONE_MASKED)
            .bind(PHONE)
            .bind(event)
            .execute(&mut conn)
            .await
            .map(|_| ())
    };
    changed.expect("the old frame written");
    let replayed = app
        .store
        .room_log(minsheng::domain::ids::EventId(event), 0, i64::MAX)
        .await
        .expect("the room log");
    let text = serde_json::to_string(&replayed).unwrap();
    assert!(text.contains(PHONE_MASKED) && !text.contains(PHONE), "{text}");
    app.stop().await;
}
