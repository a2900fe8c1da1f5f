//! Issue 13, point 2: once a moderator hides or edits a published question or
//! comment, its earlier text is gone from every path a viewer can reach —
//! a replay from `last_seq: 0` (served from the room's memory or from the
//! room log in the database), a snapshot, the record page — on live and ended
//! events, and on every node of a cluster.

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::cluster::harness::Cluster;
use crate::helpers::{Backend, TestApp, TestDb, WS_WAIT, live_settings, spawn_app_with};
use crate::on_both_backends;
use minsheng::domain::ids::PostId;

on_both_backends!(
    a_hidden_question_is_gone_from_replay_and_snapshot,
    replay_shows_only_the_edited_text_of_a_question,
    hidden_edited_and_promoted_comments_are_redacted_in_replay,
    a_post_hidden_after_the_event_ended_is_gone_from_its_replay_and_record,
    migration_0006_redacts_the_logs_written_before_it,
    a_question_answered_again_replays_its_latest_answer_and_an_edit_leaves_no_old_text,
);

// What a hide or an edit must take back. Not personal data of the kinds the
// public text masks anyway (a mobile or ID number would never reach a viewer
// unmasked, so its absence would prove nothing about redaction): a home
// address and a private remark, which only a moderator can judge.
const PHONE: &str = "幸福路88号3单元";
const ID_NUMBER: &str = "我儿子在三小读书";

/// Where a replay from `last_seq: 0` is served from.
#[derive(Debug, Clone, Copy)]
enum Path {
    /// The room's ring of recent frames, in memory.
    Memory,
    /// The room log in the database (the ring holds one frame).
    Store,
}

async fn spawn(backend: Backend, path: Path) -> Option<TestApp> {
    let ring_capacity = match path {
        Path::Memory => live_settings().ring_capacity,
        Path::Store => 1,
    };
    let live = minsheng::config::LiveSettings {
        ring_capacity,
        ..live_settings()
    };
    spawn_app_with(backend, live).await
}

/// A fresh client's first frames as sent (raw text): `hello` with `last_seq`
/// gets every logged frame up to the welcome's seq; without, the snapshot.
async fn first_frames(app: &TestApp, event: i64, hello: Value) -> (Value, Vec<String>) {
    let mut ws = app.ws(event, hello).await;
    let welcome = ws.welcome.clone();
    let upto = welcome["seq"].as_i64().unwrap();
    let snapshot = welcome["start"] == "snapshot";
    let mut frames = Vec::new();
    if !snapshot && upto == 0 {
        return (welcome, frames);
    }
    loop {
        let next = tokio::time::timeout(WS_WAIT, ws.socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("a frame");
        let Message::Text(text) = next else { continue };
        let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
        if v["type"] == "presence" {
            continue;
        }
        frames.push(text.as_str().to_owned());
        if (snapshot && v["type"] == "snapshot") || (!snapshot && v["seq"].as_i64() == Some(upto)) {
            return (welcome, frames);
        }
    }
}

/// A replay from `last_seq: 0`: every logged frame, in order, with no gap.
async fn replay(app: &TestApp, event: i64, path: Path) -> Vec<String> {
    let (welcome, frames) = first_frames(app, event, json!({ "last_seq": 0 })).await;
    assert_eq!(welcome["start"], "replay", "{path:?}: {welcome:?}");
    let seqs: Vec<i64> = frames
        .iter()
        .map(|f| serde_json::from_str::<Value>(f).unwrap()["seq"].as_i64().unwrap())
        .collect();
    let upto = welcome["seq"].as_i64().unwrap();
    assert_eq!(seqs, (1..=upto).collect::<Vec<_>>(), "{path:?}: gap-free");
    frames
}

async fn snapshot(app: &TestApp, event: i64) -> String {
    let (welcome, frames) = first_frames(app, event, json!({})).await;
    assert_eq!(welcome["start"], "snapshot");
    frames.last().expect("a snapshot").clone()
}

fn assert_absent(path: Path, what: &str, frames: &[String], secret: &str) {
    let leaks: Vec<&String> = frames.iter().filter(|f| f.contains(secret)).collect();
    assert!(leaks.is_empty(), "{path:?}: {what} still shows {secret:?}: {leaks:#?}");
}

fn frames_of(frames: &[String], ty: &str, id: i64) -> Vec<Value> {
    frames
        .iter()
        .map(|f| serde_json::from_str::<Value>(f).unwrap())
        .filter(|v| {
            v["type"] == ty
                && [
                    &v["question"]["id"],
                    &v["comment"]["id"],
                    &v["question_id"],
                    &v["comment_id"],
                ]
                .iter()
                .any(|i| i.as_i64() == Some(id))
        })
        .collect()
}

/// Ask (or comment) as `author` and publish it; returns its id.
async fn published(author: &mut crate::helpers::Ws, moderator: &mut crate::helpers::Ws, kind: &str, text: &str) -> i64 {
    // A ref is the post's retry key: each post has its own.
    static POSTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = POSTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ack = author
        .request(json!({ "type": kind, "text": text }), &format!("post-{n}"))
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    assert_eq!(ack["question"]["text"], text, "{ack:?}");
    let id = ack["question"]["id"].as_i64().unwrap();
    let ok = moderator
        .request(json!({ "type": "approve", "question_id": id }), &format!("approve-{n}"))
        .await;
    assert_eq!(ok["type"], "ack", "{ok:?}");
    id
}

async fn moderate(moderator: &mut crate::helpers::Ws, action: Value) {
    let ack = moderator.request(action.clone(), "moderate").await;
    assert_eq!(ack["type"], "ack", "{action}: {ack:?}");
}

async fn a_hidden_question_is_gone_from_replay_and_snapshot(backend: Backend) {
    for path in [Path::Memory, Path::Store] {
        let Some(app) = spawn(backend, path).await else { return };
        let event = app.live_event().await;
        let moderator_token = app.staff("mod", "moderator", None).await;
        let host_token = app.staff("host", "host", None).await;
        let mut moderator = app.staff_ws(event, &moderator_token).await;
        let mut host = app.staff_ws(event, &host_token).await;
        let mut asker = app.viewer_ws(event, "张三").await;
        let mut fan = app.viewer_ws(event, "李四").await;

        let secret = published(
            &mut asker,
            &mut moderator,
            "ask",
            &format!("我的手机{PHONE}，社保卡丢了怎么补办？"),
        )
        .await;
        let public = published(&mut asker, &mut moderator, "ask", "医保报销比例是多少？").await;
        let up = fan
            .request(json!({ "type": "upvote", "question_id": secret }), "up")
            .await;
        assert_eq!(up["type"], "ack", "{up:?}");
        moderate(
            &mut host,
            json!({ "type": "answer", "question_id": secret, "text": format!("请拨打{ID_NUMBER}咨询") }),
        )
        .await;
        moderate(&mut host, json!({ "type": "pin", "question_id": secret })).await;
        let before_hide = replay(&app, event, path).await;
        assert!(
            before_hide.iter().any(|f| f.contains(PHONE)),
            "{path:?}: published first"
        );

        moderate(&mut moderator, json!({ "type": "hide", "question_id": secret })).await;

        // A fresh viewer right after (the ring in memory, or the log).
        let frames = replay(&app, event, path).await;
        assert_absent(path, "replay", &frames, PHONE);
        assert_absent(path, "replay", &frames, ID_NUMBER);
        assert!(frames.iter().any(|f| f.contains("医保报销比例是多少？")), "{frames:#?}");
        assert_eq!(frames_of(&frames, "question", public).len(), 1);
        // Its frames became removals in place (seqs kept); upvotes and pins carry no text.
        assert!(frames_of(&frames, "question", secret).is_empty(), "{frames:#?}");
        assert!(frames_of(&frames, "question_removed", secret).len() >= 3, "{frames:#?}");
        assert_eq!(frames_of(&frames, "upvotes", secret).len(), 1, "{frames:#?}");

        let snap = snapshot(&app, event).await;
        assert_absent(path, "snapshot", std::slice::from_ref(&snap), PHONE);
        assert!(snap.contains("医保报销比例是多少？"));

        // Approved again: public again, with its current text.
        moderate(&mut moderator, json!({ "type": "approve", "question_id": secret })).await;
        let frames = replay(&app, event, path).await;
        let shown = frames_of(&frames, "question", secret);
        assert_eq!(shown.len(), 1, "{frames:#?}");
        assert!(shown[0]["question"]["text"].as_str().unwrap().contains(PHONE));
        app.stop().await;
    }
}

/// The room log's stored rows, as text.
async fn stored_log(app: &TestApp, event: i64) -> Vec<String> {
    use sqlx::Connection;
    const SQL: &str = "SELECT change FROM room_log WHERE event_id = $1 ORDER BY seq";
    let url = app.database_url.expose();
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(SQL).bind(event).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(SQL).bind(event).fetch_all(&mut conn).await.unwrap()
    }
}

/// An answer given again does not rewrite the question's earlier frames in
/// the store (that would cost more with every answer); they show the latest
/// answer when replayed, from memory and from the store alike. An edit still
/// takes the old text out of the stored log at once.
async fn a_question_answered_again_replays_its_latest_answer_and_an_edit_leaves_no_old_text(backend: Backend) {
    for path in [Path::Memory, Path::Store] {
        let Some(app) = spawn(backend, path).await else { return };
        let event = app.live_event().await;
        let moderator_token = app.staff("mod", "moderator", None).await;
        let mut moderator = app.staff_ws(event, &moderator_token).await;
        let mut asker = app.viewer_ws(event, "赵六").await;
        let original = format!("我的身份证{ID_NUMBER}，原来的问题");
        let id = published(&mut asker, &mut moderator, "ask", &original).await;
        for n in 1..=3 {
            moderate(
                &mut moderator,
                json!({ "type": "answer", "question_id": id, "text": format!("第{n}次答复") }),
            )
            .await;
        }
        let edited = "改过的提问";
        moderate(
            &mut moderator,
            json!({ "type": "edit", "question_id": id, "text": edited }),
        )
        .await;
        moderate(
            &mut moderator,
            json!({ "type": "answer", "question_id": id, "text": "最后的答复" }),
        )
        .await;

        let frames = replay(&app, event, path).await;
        let shown = frames_of(&frames, "question", id);
        assert_eq!(
            shown.len(),
            6,
            "approved, answered 3 times, edited, answered: {frames:#?}"
        );
        assert_eq!(
            shown[0]["question"]["answer"],
            Value::Null,
            "{path:?}: not answered then"
        );
        for f in &shown {
            assert_eq!(f["question"]["text"], edited, "{path:?}: {f}");
        }
        for f in &shown[1..] {
            assert_eq!(f["question"]["answer"], "最后的答复", "{path:?}: {f}");
        }
        assert_absent(path, "replay", &frames, ID_NUMBER);
        assert_absent(path, "replay", &frames, "第1次答复");
        let stored = stored_log(&app, event).await;
        assert_eq!(stored.len(), frames.len());
        assert_absent(path, "the stored log", &stored, ID_NUMBER);
        assert_absent(path, "the stored log", &stored, "原来的问题");
        app.stop().await;
    }
}

async fn replay_shows_only_the_edited_text_of_a_question(backend: Backend) {
    for path in [Path::Memory, Path::Store] {
        let Some(app) = spawn(backend, path).await else { return };
        let event = app.live_event().await;
        let moderator_token = app.staff("mod", "moderator", None).await;
        let mut moderator = app.staff_ws(event, &moderator_token).await;
        let mut asker = app.viewer_ws(event, "王五").await;
        let id = published(
            &mut asker,
            &mut moderator,
            "ask",
            &format!("身份证{ID_NUMBER}丢了怎么补？"),
        )
        .await;
        let edited = "身份证丢了怎么补？";
        moderate(
            &mut moderator,
            json!({ "type": "edit", "question_id": id, "text": edited }),
        )
        .await;

        let frames = replay(&app, event, path).await;
        assert_absent(path, "replay", &frames, ID_NUMBER);
        let shown = frames_of(&frames, "question", id);
        assert_eq!(shown.len(), 2, "approved, then edited: {frames:#?}");
        for f in &shown {
            assert_eq!(f["question"]["text"], edited, "{path:?}: {f}");
            assert_eq!(f["question"]["edited"], true);
            assert_eq!(f["question"]["nickname"], "王五");
        }
        let snap = snapshot(&app, event).await;
        assert_absent(path, "snapshot", std::slice::from_ref(&snap), ID_NUMBER);
        assert!(snap.contains(edited));
        app.stop().await;
    }
}

async fn hidden_edited_and_promoted_comments_are_redacted_in_replay(backend: Backend) {
    for path in [Path::Memory, Path::Store] {
        let Some(app) = spawn(backend, path).await else { return };
        let event = app.live_event().await;
        let moderator_token = app.staff("mod", "moderator", None).await;
        let mut moderator = app.staff_ws(event, &moderator_token).await;
        let mut author = app.viewer_ws(event, "评论人").await;

        let hidden = published(&mut author, &mut moderator, "comment", &format!("有事打我{PHONE}")).await;
        let edited = published(
            &mut author,
            &mut moderator,
            "comment",
            &format!("我身份证{ID_NUMBER}办不了"),
        )
        .await;
        let promoted = published(&mut author, &mut moderator, "comment", "灵活就业怎么交社保？").await;
        moderate(&mut moderator, json!({ "type": "hide", "question_id": hidden })).await;
        moderate(
            &mut moderator,
            json!({ "type": "edit", "question_id": edited, "text": "我的身份证办不了" }),
        )
        .await;
        moderate(&mut moderator, json!({ "type": "promote", "question_id": promoted })).await;

        let frames = replay(&app, event, path).await;
        assert_absent(path, "replay", &frames, PHONE);
        assert_absent(path, "replay", &frames, ID_NUMBER);
        assert!(frames_of(&frames, "comment", hidden).is_empty(), "{frames:#?}");
        assert_eq!(frames_of(&frames, "comment_removed", hidden).len(), 2, "{frames:#?}");
        let shown = frames_of(&frames, "comment", edited);
        assert_eq!(shown.len(), 2, "{frames:#?}");
        assert!(
            shown
                .iter()
                .all(|f| f["comment"]["text"] == "我的身份证办不了" && f["comment"]["edited"] == true)
        );
        // A promoted comment lives on as a question only.
        assert!(frames_of(&frames, "comment", promoted).is_empty(), "{frames:#?}");
        assert_eq!(frames_of(&frames, "question", promoted).len(), 1, "{frames:#?}");

        let snap = snapshot(&app, event).await;
        assert_absent(path, "snapshot", std::slice::from_ref(&snap), PHONE);
        assert_absent(path, "snapshot", std::slice::from_ref(&snap), ID_NUMBER);
        app.stop().await;
    }
}

async fn a_post_hidden_after_the_event_ended_is_gone_from_its_replay_and_record(backend: Backend) {
    for path in [Path::Memory, Path::Store] {
        let Some(app) = spawn(backend, path).await else { return };
        let event = app.live_event().await;
        let moderator_token = app.staff("mod", "moderator", None).await;
        let mut moderator = app.staff_ws(event, &moderator_token).await;
        let mut asker = app.viewer_ws(event, "赵六").await;
        let secret = published(
            &mut asker,
            &mut moderator,
            "ask",
            &format!("我电话{PHONE}，退休金怎么算？"),
        )
        .await;
        let comment = published(&mut asker, &mut moderator, "comment", &format!("联系{ID_NUMBER}")).await;
        let r = app
            .post(&format!("/api/events/{event}/end"), Some(&app.admin_token), json!({}))
            .await;
        assert!(r.status.is_success(), "{:?}", r.body);
        moderator.expect("event_status").await;

        moderate(&mut moderator, json!({ "type": "hide", "question_id": secret })).await;
        moderate(&mut moderator, json!({ "type": "hide", "question_id": comment })).await;

        let frames = replay(&app, event, path).await;
        assert!(frames.last().unwrap().contains("comment_removed"), "{frames:#?}");
        assert!(frames.iter().any(|f| f.contains(r#""status":"ended""#)), "{frames:#?}");
        assert_absent(path, "replay of the ended event", &frames, PHONE);
        assert_absent(path, "replay of the ended event", &frames, ID_NUMBER);
        let snap = snapshot(&app, event).await;
        assert_absent(path, "snapshot of the ended event", std::slice::from_ref(&snap), PHONE);

        // The record (活动实录) as JSON and as its page.
        let record = app
            .get(&format!("/api/events/{event}/record"), Some(&app.admin_token))
            .await;
        assert!(record.status.is_success(), "{:?}", record.body);
        // (The record masks personal data anyway: look for the question itself.)
        let listed = record.body["questions"].as_array().expect("questions");
        assert!(listed.iter().all(|q| q["id"] != secret), "{listed:?}");
        assert_absent(path, "record", &[record.body.to_string()], PHONE);
        let page = app
            .client
            .get(app.url(&format!("/events/{event}/record")))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .expect("record page")
            .text()
            .await
            .expect("page text");
        assert_absent(path, "record page", &[page], PHONE);
        app.stop().await;
    }
}

/// Another node's ring: a question published and hidden on node B is gone
/// from a replay on node A, whose ring held it before the hide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hide_on_one_node_redacts_the_ring_of_another() {
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut watcher_a = cluster.viewer(0, event, "甲").await;
    let mut asker_a = cluster.viewer(0, event, "乙").await;
    let mut mod_b = cluster.moderator(1, event).await;
    let id = asker_a.ask("q", &format!("我的手机{PHONE}怎么办社保卡？")).await;
    let ack = mod_b
        .request(json!({ "type": "approve", "question_id": id }), "a")
        .await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    // Node A has it (in its ring): a fresh replay there shows it.
    watcher_a
        .expect(|f| f["type"] == "question" && f["question"]["id"] == id)
        .await;
    let mut before = cluster.connect(0, event, json!({ "last_seq": 0 })).await;
    let shown = before.expect(|f| f["type"] == "question").await;
    assert!(shown.to_string().contains(PHONE));

    let ack = mod_b.request(json!({ "type": "hide", "question_id": id }), "h").await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    let removed = watcher_a
        .expect(|f| f["type"] == "question_removed" && f["question_id"] == id)
        .await;
    let upto = removed["seq"].as_i64().unwrap();

    // Node A applied the hide: its replay (from memory) no longer has the text.
    let mut fresh = cluster.connect(0, event, json!({ "last_seq": 0 })).await;
    assert_eq!(fresh.welcome["start"], "replay");
    assert!(fresh.welcome["seq"].as_i64().unwrap() >= upto);
    let frames = fresh.public_up_to(upto).await;
    let leaks: Vec<&Value> = frames.iter().filter(|f| f.to_string().contains(PHONE)).collect();
    assert!(leaks.is_empty(), "node A replays the hidden text: {leaks:#?}");
    assert!(
        frames
            .iter()
            .all(|f| !(f["type"] == "question" && f["question"]["id"] == id)),
        "{frames:#?}"
    );
}

/// The logs written before the fix: migration 0006 gives the frames of hidden
/// posts the same treatment once (removals), and edited ones their current
/// text, on both backends; the frames stay readable as room changes.
async fn migration_0006_redacts_the_logs_written_before_it(backend: Backend) {
    use chrono::{DateTime, Utc};
    use minsheng::domain::question::{PublicComment, PublicQuestion, RoomChange};
    use sqlx::{ConnectOptions, Connection};

    let Some((_db, url)) = TestDb::create(backend).await else {
        return;
    };
    let url = url.expose().to_owned();
    let at = DateTime::<Utc>::from_timestamp(1_728_870_000, 0).unwrap();
    let question = |id: i64, text: &str| PublicQuestion {
        id: PostId(id),
        nickname: "张三".into(),
        text: text.into(),
        upvotes: 0,
        answered: false,
        answer: None,
        edited: false,
        created_at: at,
    };
    let comment = |id: i64, text: &str| PublicComment {
        id: PostId(id),
        nickname: "张三".into(),
        text: text.into(),
        edited: false,
        created_at: at,
    };
    let answered = PublicQuestion {
        upvotes: 3,
        answered: true,
        answer: Some("旧的答复".into()),
        ..question(1, "A原文")
    };
    let log = vec![
        RoomChange::Question {
            question: question(1, "A原文"),
        },
        RoomChange::Question {
            question: answered.clone(),
        },
        RoomChange::Question {
            question: question(2, &format!("电话{PHONE}")),
        },
        RoomChange::Upvotes {
            question_id: PostId(2),
            upvotes: 1,
        },
        RoomChange::Comment {
            comment: comment(3, &format!("电话{PHONE}")),
        },
        RoomChange::Comment {
            comment: comment(4, "灵活就业"),
        },
        RoomChange::CommentRemoved { comment_id: PostId(4) },
        RoomChange::Question {
            question: question(4, "灵活就业"),
        },
        RoomChange::Comment {
            comment: comment(5, &format!("身份证{ID_NUMBER}")),
        },
    ];
    // (id, kind, status, text, original_text, answer) as the posts are now.
    type Post<'a> = (i64, &'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
    let posts: [Post; 5] = [
        (1, "question", "approved", "A改后", Some("A原文"), Some("新的答复")),
        (2, "question", "hidden", "电话", None, None),
        (3, "comment", "hidden", "电话", None, None),
        (4, "question", "approved", "灵活就业", None, None),
        (5, "comment", "approved", "改过的评论", Some("身份证"), None),
    ];

    // Migrations 0001–0005 (as a deployment before the fix has them), its
    // data, then the real folder: 0006 runs on that data.
    let folder = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let before = std::env::temp_dir().join(format!("minsheng_0006_{}_{folder}", std::process::id()).replace('/', "_"));
    std::fs::create_dir_all(&before).unwrap();
    for entry in std::fs::read_dir(folder).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().as_ref() < "0006" {
            std::fs::copy(entry.path(), before.join(entry.file_name())).unwrap();
        }
    }
    macro_rules! scenario {
        ($conn:expr) => {{
            let conn = &mut $conn;
            sqlx::migrate::Migrator::new(before.as_path())
                .await
                .unwrap()
                .run(&mut *conn)
                .await
                .expect("migrations 0001-0005");
            sqlx::query(
                "INSERT INTO events (id, code, kind, title, form, status, created_at, updated_at)
                 VALUES (1, 'e1', 'open_day', '开放日', 'online', 'ended', $1, $1)",
            )
            .bind(at)
            .execute(&mut *conn)
            .await
            .unwrap();
            for (id, kind, status, text, original, answer) in posts {
                sqlx::query(
                    "INSERT INTO questions (id, event_id, viewer_key, nickname, text, original_text, status,
                       answered, answer, created_at, kind)
                     VALUES ($1, 1, '0123456789abcdef', '张三', $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(text)
                .bind(original)
                .bind(status)
                .bind(answer.is_some())
                .bind(answer)
                .bind(at)
                .bind(kind)
                .execute(&mut *conn)
                .await
                .unwrap();
            }
            for (i, change) in log.iter().enumerate() {
                sqlx::query("INSERT INTO room_log (event_id, seq, change, created_at) VALUES (1, $1, $2, $3)")
                    .bind(i as i64 + 1)
                    .bind(serde_json::to_string(change).unwrap())
                    .bind(at)
                    .execute(&mut *conn)
                    .await
                    .unwrap();
            }
            sqlx::migrate::Migrator::new(std::path::Path::new(folder))
                .await
                .unwrap()
                .run(&mut *conn)
                .await
                .expect("migration 0006 on existing data");
            let rows: Vec<(i64, String, Option<i64>)> =
                sqlx::query_as("SELECT seq, change, item_id FROM room_log WHERE event_id = 1 ORDER BY seq")
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap();
            rows
        }};
    }
    let rows = match backend {
        Backend::Sqlite => {
            let mut conn = url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .create_if_missing(true)
                .connect()
                .await
                .unwrap();
            scenario!(conn)
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            scenario!(conn)
        }
    };
    let _ = std::fs::remove_dir_all(&before);

    let edited = |q: PublicQuestion| RoomChange::Question {
        question: PublicQuestion {
            text: "A改后".into(),
            edited: true,
            ..q
        },
    };
    let expected: Vec<(RoomChange, Option<i64>)> = vec![
        (edited(question(1, "A原文")), Some(1)),
        (
            edited(PublicQuestion {
                answer: Some("新的答复".into()),
                ..answered
            }),
            Some(1),
        ),
        (RoomChange::QuestionRemoved { question_id: PostId(2) }, None),
        (
            RoomChange::Upvotes {
                question_id: PostId(2),
                upvotes: 1,
            },
            None,
        ),
        (RoomChange::CommentRemoved { comment_id: PostId(3) }, None),
        (RoomChange::CommentRemoved { comment_id: PostId(4) }, None),
        (RoomChange::CommentRemoved { comment_id: PostId(4) }, None),
        (
            RoomChange::Question {
                question: question(4, "灵活就业"),
            },
            Some(4),
        ),
        (
            RoomChange::Comment {
                comment: PublicComment {
                    text: "改过的评论".into(),
                    edited: true,
                    ..comment(5, "")
                },
            },
            Some(5),
        ),
    ];
    assert_eq!(rows.len(), expected.len());
    for ((seq, json, item), (change, expected_item)) in rows.iter().zip(expected) {
        let read: RoomChange = serde_json::from_str(json).unwrap_or_else(|e| panic!("seq {seq}: {e}: {json}"));
        assert_eq!(read, change, "seq {seq}: {json}");
        assert_eq!(*item, expected_item, "seq {seq}");
        assert!(!json.contains(PHONE) && !json.contains(ID_NUMBER), "seq {seq}: {json}");
    }
}
