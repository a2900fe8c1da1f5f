//! Issue 18, point 2: the studio's text feed (图文直播). Hosts and the unit's
//! editors post short updates with an optional image over HTTP; viewers get
//! them as logged frames, resume without gap, and never see in a replay what
//! was edited away or withdrawn. Images are checked by their bytes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    the_text_feed_reaches_viewers_and_replays_as_it_is_now,
    the_transcript_is_assembled_edited_and_published_with_the_materials,
);

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D,
    0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

async fn upload(app: &TestApp, event: i64, token: &str, content_type: &str, body: &[u8]) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(&format!("/api/events/{event}/images")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_vec())
        .send()
        .await
        .expect("upload");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn image(app: &TestApp, id: i64, token: Option<&str>) -> (StatusCode, String, Vec<u8>) {
    let mut req = app.client.get(app.url(&format!("/api/images/{id}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("image");
    let status = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, content_type, res.bytes().await.unwrap().to_vec())
}

async fn the_text_feed_reaches_viewers_and_replays_as_it_is_now(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let host = app.staff("host", "host", None).await;
    let stranger = app.staff("other-unit", "unit_staff", Some("jw")).await;
    let mut viewer = app.ws(event, json!({ "nickname": "观众" })).await;
    let snapshot = viewer.expect("snapshot").await;
    assert_eq!(snapshot["updates"], json!([]), "{snapshot:?}");
    let start_seq = snapshot["seq"].as_i64().unwrap_or(0);
    let feed = format!("/api/events/{event}/updates");

    // Only staff serving the event write the feed.
    let text = "嘉宾已到场，咨询电话13812345678";
    assert_eq!(
        app.post(&feed, None, json!({ "text": text })).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post(&feed, Some(&stranger), json!({ "text": text })).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&feed, Some(&host), json!({ "text": "  " })).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Posted: committed, masked, and a logged frame for every viewer.
    let first = app.post(&feed, Some(&host), json!({ "text": text })).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body["text"], "嘉宾已到场，咨询电话138****5678");
    let first_id = first.body["id"].as_i64().unwrap();
    let frame = viewer.expect("update").await;
    assert_eq!(frame["update"]["id"], first_id);
    assert_eq!(frame["update"]["text"], "嘉宾已到场，咨询电话138****5678");
    assert!(frame["seq"].as_i64().unwrap() > start_seq);

    // Images: checked by their bytes; shown to the public once an update shows them.
    let (status, _) = upload(&app, event, &host, "image/png", b"<svg onload=alert(1)></svg>").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = upload(&app, event, &host, "image/jpeg", PNG).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "a PNG declared as JPEG");
    let (status, _) = upload(&app, event, &stranger, "image/png", PNG).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, uploaded) = upload(&app, event, &host, "image/png", PNG).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded:?}");
    assert_eq!(
        (uploaded["width"].as_u64(), uploaded["height"].as_u64()),
        (Some(1), Some(1))
    );
    let image_id = uploaded["id"].as_i64().unwrap();
    assert_eq!(
        image(&app, image_id, None).await.0,
        StatusCode::NOT_FOUND,
        "not shown yet"
    );
    assert_eq!(
        image(&app, image_id, Some(&host)).await.0,
        StatusCode::OK,
        "the preview"
    );
    let second = app
        .post(&feed, Some(&host), json!({ "text": "现场图片", "image_id": image_id }))
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    let second_id = second.body["id"].as_i64().unwrap();
    let frame = viewer.expect("update").await;
    assert_eq!(frame["update"]["image_id"], image_id);
    assert_eq!(
        (
            frame["update"]["image_width"].as_u64(),
            frame["update"]["image_height"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let (status, content_type, bytes) = image(&app, image_id, None).await;
    assert_eq!(
        (status, content_type.as_str(), bytes.as_slice()),
        (StatusCode::OK, "image/png", PNG)
    );
    let missing = app
        .post(
            &feed,
            Some(&host),
            json!({ "text": "别的图", "image_id": image_id + 1000 }),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Edited, then the second withdrawn: frames for everyone, audited.
    let edited = "嘉宾已到场，请留意直播间提问";
    let r = app
        .patch(&format!("{feed}/{first_id}"), Some(&host), json!({ "text": edited }))
        .await;
    assert_eq!(
        (r.status, r.body["edited"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{:?}",
        r.body
    );
    let frame = viewer.expect("update").await;
    assert_eq!(
        (frame["update"]["text"].as_str(), frame["update"]["edited"].as_bool()),
        (Some(edited), Some(true))
    );
    let r = app
        .request(
            reqwest::Method::DELETE,
            &format!("{feed}/{second_id}"),
            Some(&host),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(viewer.expect("update_removed").await["update_id"], second_id);
    let again = app
        .request(
            reqwest::Method::DELETE,
            &format!("{feed}/{second_id}"),
            Some(&host),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "withdrawn once");
    assert_eq!(
        image(&app, image_id, None).await.0,
        StatusCode::NOT_FOUND,
        "its update withdrawn"
    );
    let actions = app.audit_actions(event).await;
    for action in ["update.post", "update.edit", "update.withdraw"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }

    // The feed as it is now, over HTTP and in a snapshot.
    let list = app.get(&feed, None).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1), "{:?}", list.body);
    assert_eq!(list.body[0]["text"], edited);
    let mut late = app.ws(event, json!({ "nickname": "后来的" })).await;
    let snapshot = late.expect("snapshot").await;
    assert_eq!(snapshot["updates"][0]["text"], edited, "{snapshot:?}");

    // A viewer resuming from before the feed began gets every frame, each as
    // it reads now: the edited text, the withdrawn update as its removal.
    let mut resumed = app
        .ws(event, json!({ "nickname": "断线重连", "last_seq": start_seq }))
        .await;
    assert_eq!(resumed.welcome["start"], "replay", "{:?}", resumed.welcome);
    let mut frames = Vec::new();
    // Posted, posted with the image, edited, withdrawn.
    for _ in 0..4 {
        frames.push(resumed.next().await);
    }
    let all = serde_json::to_string(&frames).unwrap();
    assert!(!all.contains("13812345678") && !all.contains("138****5678"), "{all}");
    assert!(
        !all.contains("现场图片"),
        "the withdrawn update is gone from the replay: {all}"
    );
    assert_eq!(
        frames.iter().filter(|f| f["type"] == "update_removed").count(),
        2,
        "{all}"
    );
    assert!(
        frames
            .iter()
            .filter(|f| f["type"] == "update")
            .all(|f| f["update"]["text"] == edited),
        "{all}"
    );
    app.stop().await;
}

/// Issue 18, point 3: the 访谈实录 from the feed and the answered questions,
/// edited by the unit, published, and counted in the materials deadline.
async fn the_transcript_is_assembled_edited_and_published_with_the_materials(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let admin = Some(app.admin_token.as_str());
    let moderator = app.staff("mod", "moderator", None).await;
    let feed = format!("/api/events/{event}/updates");
    let transcript = format!("/api/events/{event}/transcript");
    let r = app
        .post(&feed, admin, json!({ "text": "访谈开始，嘉宾介绍灵活就业参保政策" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let mut console = app.staff_ws(event, &moderator).await;
    let mut asker = app.viewer_ws(event, "张三").await;
    let asked = asker
        .request(json!({ "type": "ask", "text": "灵活就业人员怎么参保？" }), "q")
        .await;
    let question = asked["question"]["id"].as_i64().unwrap();
    for (msg, reference) in [
        (json!({ "type": "approve", "question_id": question }), "a"),
        (
            json!({ "type": "answer", "question_id": question, "text": "可在线上办理参保登记。" }),
            "b",
        ),
    ] {
        let r = console.request(msg, reference).await;
        assert_eq!(r["type"], "ack", "{r:?}");
    }
    let r = app.post(&feed, admin, json!({ "text": "访谈结束，感谢收看" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        app.get(&transcript, admin).await.error_code(),
        "not_ended",
        "assembled once the event has ended"
    );
    let r = app.post(&format!("/api/events/{event}/end"), admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Before it is saved: the managers see a fresh assembly, the public nothing.
    assert_eq!(app.get(&transcript, None).await.status, StatusCode::NOT_FOUND);
    let fresh = app.get(&transcript, admin).await.body;
    assert_eq!(fresh["saved"], false);
    let kinds: Vec<&str> = fresh["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["update", "question", "answer", "update"], "{fresh:?}");
    let assembled = app.post(&format!("{transcript}/assemble"), admin, json!({})).await;
    assert_eq!(
        (assembled.status, assembled.body["saved"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let again = app.post(&format!("{transcript}/assemble"), admin, json!({})).await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "a saved transcript is not replaced unasked"
    );

    // The unit edits: a note at the top (with a number the public must not see).
    let mut entries = assembled.body["entries"].as_array().unwrap().clone();
    entries.insert(
        0,
        json!({ "at": entries[0]["at"], "kind": "note", "speaker": "主持人",
                "text": "欢迎收看，咨询电话13812345678" }),
    );
    let saved = app
        .request(
            reqwest::Method::PUT,
            &transcript,
            admin,
            Some(json!({ "entries": entries })),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let empty = app
        .request(reqwest::Method::PUT, &transcript, admin, Some(json!({ "entries": [] })))
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The materials published first: with a text feed, not complete without the transcript.
    let r = app
        .post(&format!("/api/events/{event}/record/publish"), admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let materials = |body: &Value| {
        body.as_array()
            .unwrap()
            .iter()
            .find(|d| d["kind"] == "materials")
            .cloned()
            .unwrap()
    };
    let d = materials(&app.get(&format!("/api/events/{event}/deadlines"), admin).await.body);
    assert_eq!(d["state"], "open", "{d:?}");
    assert!(d["note"].as_str().unwrap().contains("访谈实录"));
    let published = app.post(&format!("{transcript}/publish"), admin, json!({})).await;
    assert_eq!(published.status, StatusCode::OK, "{:?}", published.body);
    assert_eq!(
        app.post(&format!("{transcript}/publish"), admin, json!({}))
            .await
            .error_code(),
        "already_published"
    );
    let d = materials(&app.get(&format!("/api/events/{event}/deadlines"), admin).await.body);
    assert_eq!(d["state"], "met", "{d:?}");

    // The public reads it masked, as JSON, a printable page and a Word document.
    let public = app.get(&transcript, None).await.body;
    assert_eq!(public["entries"][0]["text"], "欢迎收看，咨询电话138****5678");
    let html = app.get(&format!("{transcript}?format=html"), None).await.body;
    let html = html.as_str().unwrap();
    assert!(html.contains("访谈实录") && html.contains("138****5678") && !html.contains("13812345678"));
    let res = app
        .client
        .get(app.url(&format!("{transcript}?format=docx")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    let bytes = res.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK", "a zip package");
    let record = app.get(&format!("/api/events/{event}/record"), None).await.body;
    assert_eq!(
        record["transcript_url"],
        format!("/api/events/{event}/transcript?format=html")
    );
    let actions = app.audit_actions(event).await;
    for action in ["transcript.assemble", "transcript.save", "transcript.publish"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
    app.stop().await;
}

/// The text feed across nodes: posted through one node, a viewer on
/// another gets it live; withdrawn through a third, it leaves everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_text_feed_crosses_the_cluster() {
    use crate::cluster::harness::Cluster;
    let Some(cluster) = Cluster::start(3).await else {
        return;
    };
    let event = cluster.live_event().await;
    let mut viewer = cluster.connect(1, event, json!({ "nickname": "乙" })).await;
    viewer.expect(|f| f["type"] == "snapshot").await;
    let posted = cluster
        .http(
            0,
            reqwest::Method::POST,
            &format!("/api/events/{event}/updates"),
            Some(json!({ "text": "嘉宾已到场" })),
        )
        .await;
    let id = posted["id"].as_i64().unwrap();
    let frame = viewer.expect(|f| f["type"] == "update").await;
    assert_eq!(
        (frame["update"]["id"].as_i64(), frame["update"]["text"].as_str()),
        (Some(id), Some("嘉宾已到场"))
    );
    cluster
        .http(
            2,
            reqwest::Method::DELETE,
            &format!("/api/events/{event}/updates/{id}"),
            None,
        )
        .await;
    assert_eq!(viewer.expect(|f| f["type"] == "update_removed").await["update_id"], id);
    let mut late = cluster.connect(2, event, json!({ "nickname": "丙" })).await;
    let snapshot = late.expect(|f| f["type"] == "snapshot").await;
    assert_eq!(snapshot["updates"], json!([]), "{snapshot:?}");
}
