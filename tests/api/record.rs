//! The materials package (活动实录): preview by the host unit, publication,
//! the public page, escaping and masking, downloads, the lecture video rule
//! and roles.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, Ws, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_live_event_becomes_a_published_record,
    a_lecture_record_needs_its_video,
);

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

async fn ack(ws: &mut Ws, msg: Value, reference: &str) -> Value {
    let r = ws.request(msg, reference).await;
    assert_eq!(r["type"], "ack", "{r:?}");
    r
}

/// A download: status, headers and the raw bytes.
async fn fetch(app: &TestApp, path: &str, token: Option<&str>) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.client.get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.expect("body").to_vec())
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The page's text is escaped and the phone number masked.
fn assert_safe_page(html: &str) {
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("<meta charset=\"utf-8\">") && html.contains("href=\"/style.css\""));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"), "{html}");
    // No script but the public page's 大字版 switch (none in the download).
    let scripts = html.matches("<script").count();
    assert_eq!(
        scripts,
        html.matches("<script src=\"/large.js\"></script>").count(),
        "{html}"
    );
    assert!(html.contains("138****5678") && !html.contains("13812345678"), "{html}");
    assert!(html.contains("可在社保中心窗口补办。") && html.contains("社银合作"));
}

async fn a_live_event_becomes_a_published_record(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let mod_token = app.staff("mod", "moderator", None).await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let other_unit = app.staff("gzw-staff", "unit_staff", Some("gzw")).await;
    let mut moderator = app.staff_ws(event, &mod_token).await;
    let mut a = app.viewer_ws(event, "张先生").await;
    let mut b = app.viewer_ws(event, "李女士").await;

    // Two questions, the first answered on air; a poll voted and closed.
    let first_text = format!("社保卡丢了怎么补办？{HOSTILE}联系电话13812345678");
    let first = ack(&mut a, json!({ "type": "ask", "text": first_text }), "q1").await["question"]["id"]
        .as_i64()
        .unwrap();
    let second = ack(
        &mut b,
        json!({ "type": "ask", "text": "能否在银行网点办理退休认证？" }),
        "q2",
    )
    .await["question"]["id"]
        .as_i64()
        .unwrap();
    for (i, id) in [first, second].into_iter().enumerate() {
        ack(
            &mut moderator,
            json!({ "type": "approve", "question_id": id }),
            &format!("a{i}"),
        )
        .await;
    }
    ack(
        &mut moderator,
        json!({ "type": "answer", "question_id": first, "text": "可在社保中心窗口补办。" }),
        "ans",
    )
    .await;
    ack(&mut b, json!({ "type": "upvote", "question_id": first }), "up").await;
    let poll = ack(
        &mut moderator,
        json!({ "type": "create_poll", "kind": "single_choice", "title": "您最关心哪项？", "options": ["社保", "医保", "就业"] }),
        "p",
    )
    .await["poll"]["id"]
        .as_i64()
        .unwrap();
    ack(&mut moderator, json!({ "type": "open_poll", "poll_id": poll }), "po").await;
    ack(&mut a, json!({ "type": "vote", "poll_id": poll, "choices": [0] }), "v1").await;
    ack(&mut b, json!({ "type": "vote", "poll_id": poll, "choices": [2] }), "v2").await;
    ack(&mut moderator, json!({ "type": "close_poll", "poll_id": poll }), "pc").await;

    // Presence (every 2 s) keeps the room's highest viewer count.
    let mut peak = Vec::new();
    for _ in 0..60 {
        peak = app
            .sql_texts(&format!(
                "SELECT CAST(peak_viewers AS TEXT) FROM events WHERE id = {event} AND peak_viewers IS NOT NULL"
            ))
            .await;
        if !peak.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(peak, ["2"], "two viewers at once");

    let record = format!("/api/events/{event}/record");
    // While the event runs: no preview, and nothing for the public.
    let r = app.get(&record, Some(&unit)).await;
    assert_eq!((r.status, r.error_code()), (StatusCode::CONFLICT, "not_ended"));
    assert_eq!(app.get(&record, None).await.status, StatusCode::NOT_FOUND);

    let r = app
        .post(&format!("/api/events/{event}/end"), Some(&mod_token), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The unit replies to the unanswered question and publishes the reply.
    let list = app.get(&format!("/api/opinions?event={event}"), Some(&unit)).await;
    let handoff = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["text"] == "能否在银行网点办理退休认证？")
        .unwrap_or_else(|| panic!("{:?}", list.body));
    let opinion = handoff["id"].as_i64().unwrap();
    let reply = "<script>alert(2)</script>自2025年起，合作银行网点可办理退休人员资格认证。";
    let r = app
        .patch(
            &format!("/api/opinions/{opinion}"),
            Some(&unit),
            json!({ "state": "adopted", "reply": reply }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .post(&format!("/api/opinions/{opinion}/publish"), Some(&unit), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The unit previews the package; no one else sees it yet.
    let r = app.get(&record, Some(&unit)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let p = &r.body;
    assert_eq!(p["published"], false);
    assert_eq!(p["announcement"]["kind_label"], "政务开放日");
    assert_eq!(p["announcement"]["host_units"], json!(["人保局"]));
    assert!(p["announcement"]["participation"].as_str().unwrap().contains("直播"));
    assert_eq!(p["participation"]["peak_viewers"], 2);
    assert_eq!(p["participation"]["online_participants"], 2, "asked or voted");
    assert!(
        p["announcement"]["starts_at_local"]
            .as_str()
            .unwrap()
            .ends_with("+08:00")
    );
    let questions = p["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 2, "{p:?}");
    assert_eq!(
        (questions[0]["id"].as_i64(), questions[1]["id"].as_i64()),
        (Some(first), Some(second)),
        "in the order asked"
    );
    assert_eq!(
        questions[0]["text"],
        format!("社保卡丢了怎么补办？{HOSTILE}联系电话138****5678")
    );
    assert_eq!(questions[0]["answer"], "可在社保中心窗口补办。");
    assert_eq!(questions[0]["upvotes"], 1);
    assert_eq!(questions[1]["answer"], Value::Null);
    let polls = p["polls"].as_array().unwrap();
    assert_eq!(polls.len(), 1);
    assert_eq!(polls[0]["status"], "closed");
    assert_eq!(polls[0]["voters"], 2);
    assert_eq!(
        polls[0]["counts"],
        json!([{ "label": "社保", "count": 1 }, { "label": "医保", "count": 0 }, { "label": "就业", "count": 1 }])
    );
    assert_eq!(p["adoption"]["collected"], 2);
    assert_eq!(p["adoption"]["published"], 1);
    assert_eq!(p["adoption"]["awaiting_reply"], 1);
    let adopted = p["adoption"]["by_state"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "adopted")
        .unwrap();
    assert_eq!(adopted["count"], 1);
    assert_eq!(p["replies"][0]["reply"], reply);
    assert_eq!(p["video_url"], Value::Null);

    for token in [None, Some(other_unit.as_str()), Some(mod_token.as_str())] {
        assert_eq!(app.get(&record, token).await.status, StatusCode::NOT_FOUND);
    }
    let (status, _, _) = fetch(&app, &format!("/events/{event}/record"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The HTML download.
    let (status, headers, body) = fetch(&app, &format!("{record}?format=html"), Some(&unit)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(
        header(&headers, "content-disposition"),
        format!("attachment; filename=\"record-{event}.html\"")
    );
    let html = String::from_utf8(body).unwrap();
    assert_safe_page(&html);
    assert!(html.contains("预览"));

    // The workbook download, read back.
    let (status, headers, body) = fetch(&app, &format!("{record}?format=xlsx"), Some(&unit)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, "content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        header(&headers, "content-disposition"),
        format!("attachment; filename=\"record-{event}.xlsx\"")
    );
    let mut book = Xlsx::new(Cursor::new(body)).expect("a workbook");
    assert_eq!(book.sheet_names(), ["公告", "问答", "投票结果", "采纳情况", "答复"]);
    let notice = sheet(&mut book, "公告");
    assert_eq!(notice.get_value((1, 0)), Some(&Data::String("活动名称".into())));
    assert_eq!(
        notice.get_value((1, 1)),
        Some(&Data::String("政务开放日·开放点6：社银合作（人保局）".into()))
    );
    let qa = sheet(&mut book, "问答");
    assert_eq!(qa.get_value((0, 2)), Some(&Data::String("问题".into())));
    assert_eq!(
        qa.get_value((1, 2)),
        Some(&Data::String(format!(
            "社保卡丢了怎么补办？{HOSTILE}联系电话138****5678"
        )))
    );
    assert_eq!(
        qa.get_value((1, 4)),
        Some(&Data::String("可在社保中心窗口补办。".into()))
    );
    let votes = sheet(&mut book, "投票结果");
    assert_eq!(votes.get_value((3, 4)), Some(&Data::String("就业".into())));
    assert_eq!(votes.get_value((3, 5)), Some(&Data::Float(1.0)));
    let adoption = sheet(&mut book, "采纳情况");
    assert_eq!(adoption.get_value((1, 0)), Some(&Data::String("收集意见建议".into())));
    assert_eq!(adoption.get_value((1, 1)), Some(&Data::Float(2.0)));
    assert_eq!(
        app.get(&format!("{record}?format=pdf"), Some(&unit)).await.status,
        StatusCode::BAD_REQUEST
    );

    // Publishing: only the event's managers.
    let publish = format!("{record}/publish");
    let r = app.post(&publish, Some(&other_unit), json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = app.post(&publish, Some(&mod_token), json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(
        app.post(&publish, None, json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.post(&publish, Some(&unit), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "materials_published");
    assert_eq!(r.body["materials_url"], format!("/events/{event}/record"));
    let materials = r.body["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "materials")
        .unwrap();
    // Met, unless the calendar files do not reach the year the due date falls in.
    if materials["due_date"].is_string() {
        assert_eq!(materials["state"], "met", "{materials:?}");
    } else {
        assert_eq!(materials["state"], "calendar_missing", "{materials:?}");
    }
    assert!(materials["done_at"].is_string(), "{materials:?}");
    let r = app.post(&publish, Some(&unit), json!({})).await;
    assert_eq!((r.status, r.error_code()), (StatusCode::CONFLICT, "wrong_status"));

    // Now public: the page and the JSON.
    let (status, headers, body) = fetch(&app, &format!("/events/{event}/record"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert!(header(&headers, "content-disposition").is_empty());
    assert!(header(&headers, "content-security-policy").contains("script-src 'self'"));
    let html = String::from_utf8(body).unwrap();
    assert_safe_page(&html);
    assert!(!html.contains("预览"));
    let r = app.get(&record, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["published"], true);
    assert!(!r.body.to_string().contains("13812345678"));
    let (status, _, _) = fetch(&app, "/events/nonsense/record", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

fn sheet(book: &mut Xlsx<Cursor<Vec<u8>>>, name: &str) -> calamine::Range<Data> {
    book.worksheet_range(name)
        .unwrap_or_else(|e| panic!("sheet {name}: {e}"))
}

async fn a_lecture_record_needs_its_video(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    app.import_plan().await;
    let admin = Some(app.admin_token.as_str());
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let starts = (Utc::now() + Duration::days(20)).to_rfc3339();
    let r = app
        .post(
            "/api/events",
            admin,
            json!({ "code": "lecture-record", "kind": "lecture", "title": "政策公开讲：社保新政解读",
                "host_units": ["rsj"], "form": "online", "starts_at": starts, "duration_minutes": 60,
                "agenda": "政策解读；互动问答", "participation": "直播间提问" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_i64().unwrap();
    let publish = format!("/api/events/{id}/record/publish");
    // Not before the event has ended.
    let r = app.post(&publish, Some(&unit), json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    for step in ["announce", "start", "end"] {
        let r = app.post(&format!("/api/events/{id}/{step}"), admin, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{step}: {:?}", r.body);
    }

    let r = app.post(&publish, Some(&unit), json!({})).await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "video_required")
    );
    let r = app
        .post(&publish, Some(&unit), json!({ "video_url": "javascript:alert(1)" }))
        .await;
    assert_eq!(r.error_code(), "invalid");
    let video = "https://www.example.gov.cn/v/lecture.mp4";
    let r = app.post(&publish, Some(&unit), json!({ "video_url": video })).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["video_url"], video);

    let r = app.get(&format!("/api/events/{id}/record"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["video_url"], video);
    assert_eq!(r.body["announcement"]["kind_label"], "政策公开讲");
    assert_eq!(r.body["questions"], json!([]));
    let (status, _, body) = fetch(&app, &format!("/events/{id}/record"), None).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains(&format!("<a href=\"{video}\"")), "{html}");
    app.stop().await;
}
