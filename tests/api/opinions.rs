//! Opinions and adoption feedback: capture from a live room, hand-off tasks,
//! decisions, replies, publication, ratings, merges, transfers, extensions,
//! reminders, search and roles.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, Ws, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_live_event_becomes_replies_the_public_can_rate,
    units_merge_transfer_extend_and_search,
    exports_mask_personal_data_and_the_report_counts,
    every_opinion_route_answers_bad_input_with_a_4xx,
);

async fn ask(viewer: &mut Ws, text: &str, reference: &str) -> i64 {
    let ack = viewer.request(json!({ "type": "ask", "text": text }), reference).await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
    ack["question"]["id"].as_i64().unwrap()
}

async fn moderate(moderator: &mut Ws, msg: Value, reference: &str) {
    let ack = moderator.request(msg, reference).await;
    assert_eq!(ack["type"], "ack", "{ack:?}");
}

fn ids_of(r: &Value) -> Vec<i64> {
    r.as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

fn find<'a>(list: &'a Value, text: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|o| o["text"] == text)
        .unwrap_or_else(|| panic!("no opinion `{text}` in {list:?}"))
}

async fn a_live_event_becomes_replies_the_public_can_rate(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let mod_token = app.staff("mod", "moderator", None).await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let other_unit = app.staff("gzw-staff", "unit_staff", Some("gzw")).await;
    let mut moderator = app.staff_ws(event, &mod_token).await;
    let mut a = app.viewer_ws(event, "张先生").await;
    let mut b = app.viewer_ws(event, "李女士").await;
    let b_token = b.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    let a_token = a.welcome["viewer"]["token"].as_str().unwrap().to_owned();

    let answered = ask(&mut a, "社保卡丢了怎么补办？", "q1").await;
    let open = ask(&mut b, "能否在银行网点办理退休认证？联系电话13812345678", "q2").await;
    let rejected = ask(&mut a, "与活动无关的内容", "q3").await;
    let comment = b
        .request(json!({ "type": "comment", "text": "希望多开几个网点" }), "c1")
        .await;
    let comment = comment["question"]["id"].as_i64().unwrap();
    for (i, id) in [answered, open, comment].into_iter().enumerate() {
        moderate(
            &mut moderator,
            json!({ "type": "approve", "question_id": id }),
            &format!("a{i}"),
        )
        .await;
    }
    moderate(
        &mut moderator,
        json!({ "type": "reject", "question_id": rejected, "reason": "与本次活动无关" }),
        "r",
    )
    .await;
    moderate(
        &mut moderator,
        json!({ "type": "answer", "question_id": answered, "text": "可在社保中心窗口补办。" }),
        "ans",
    )
    .await;
    let up = a.request(json!({ "type": "upvote", "question_id": open }), "up").await;
    assert_eq!(up["type"], "ack", "{up:?}");
    // An open-text poll answer, and one the screen refuses.
    let poll = moderator
        .request(
            json!({ "type": "create_poll", "kind": "open_text", "title": "一个词形容本次活动" }),
            "p",
        )
        .await["poll"]["id"]
        .as_i64()
        .unwrap();
    moderate(&mut moderator, json!({ "type": "open_poll", "poll_id": poll }), "po").await;
    let v = a
        .request(json!({ "type": "vote", "poll_id": poll, "text": "便民" }), "v1")
        .await;
    assert_eq!(v["text_status"], "approved", "{v:?}");
    let v = b
        .request(json!({ "type": "vote", "poll_id": poll, "text": "加微信领红包" }), "v2")
        .await;
    assert_eq!(v["text_status"], "rejected", "{v:?}");

    // Nothing is captured while the event runs; ending it captures.
    let r = app
        .post(&format!("/api/events/{event}/opinions/capture"), Some(&unit), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    let r = app
        .post(&format!("/api/events/{event}/end"), Some(&mod_token), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let list = app.get(&format!("/api/opinions?event={event}"), Some(&unit)).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!(list.body.as_array().unwrap().len(), 4, "{:?}", list.body);
    let q1 = find(&list.body, "社保卡丢了怎么补办？");
    assert_eq!(q1["state"], "answered");
    assert_eq!(q1["reply"], "可在社保中心窗口补办。");
    assert_eq!(q1["handoff"], false);
    // The workspace shows what citizens wrote with personal data masked.
    let q2 = find(&list.body, "能否在银行网点办理退休认证？联系电话138****5678");
    assert_eq!(q2["personal_data_masked"], true);
    assert!(!list.body.to_string().contains("13812345678"), "{:?}", list.body);
    assert_eq!(
        (q2["state"].as_str(), q2["handoff"].as_bool()),
        (Some("pending"), Some(true))
    );
    assert_eq!(q2["support"], 2, "the asker and one upvote");
    assert_eq!(q2["deadline"], "open");
    assert_eq!(q2["unit_code"], "rsj");
    assert!(q2["due_date"].as_str().is_some(), "{q2:?}");
    assert_eq!(find(&list.body, "希望多开几个网点")["source"], "comment");
    assert_eq!(find(&list.body, "便民")["source"], "poll_answer");
    let q2_id = q2["id"].as_i64().unwrap();
    let q2_updated = q2["updated_at"].clone();
    // As written, on purpose, by the unit that answers it: audited.
    let written = app
        .get(&format!("/api/opinions/{q2_id}?personal_data=shown"), Some(&unit))
        .await;
    assert_eq!(
        written.body["text"], "能否在银行网点办理退休认证？联系电话13812345678",
        "{:?}",
        written.body
    );
    assert_eq!(written.body["personal_data_masked"], false);
    assert!(
        app.audit_actions(event)
            .await
            .iter()
            .any(|a| a == "opinion.view_unmasked")
    );
    let masked = app.get(&format!("/api/opinions/{q2_id}"), Some(&unit)).await;
    assert_eq!(masked.body["text"], "能否在银行网点办理退休认证？联系电话138****5678");

    // Hand-off tasks are the unanswered questions.
    let tasks = app
        .get(&format!("/api/opinions?event={event}&handoff=true"), Some(&unit))
        .await;
    assert_eq!(ids_of(&tasks.body), [q2_id]);
    // Capturing again adds nothing.
    let again = app
        .post(&format!("/api/events/{event}/opinions/capture"), Some(&unit), json!({}))
        .await;
    assert_eq!(again.body["added"], 0, "{:?}", again.body);

    // Roles: another unit sees nothing, moderators none, the public none.
    let r = app
        .get(&format!("/api/opinions?event={event}"), Some(&other_unit))
        .await;
    assert_eq!(r.body, json!([]));
    assert_eq!(
        app.get("/api/opinions?unit=rsj", Some(&other_unit)).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.get(&format!("/api/opinions/{q2_id}"), Some(&other_unit)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .patch(
            &format!("/api/opinions/{q2_id}"),
            Some(&other_unit),
            json!({ "state": "adopted" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/opinions", Some(&mod_token)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.get("/api/opinions", None).await.status, StatusCode::UNAUTHORIZED);

    // Deciding: 暂不采纳 needs a reason; publishing needs a decided state and a reply.
    let path = format!("/api/opinions/{q2_id}");
    let r = app.post(&format!("{path}/publish"), Some(&unit), json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    let r = app
        .patch(&path, Some(&unit), json!({ "state": "not_adopted", "reply": "答复" }))
        .await;
    assert_eq!(
        (r.status, r.body["error"]["details"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let r = app.patch(&path, Some(&unit), json!({ "state": "bogus" })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reply = "自2025年起，合作银行网点可办理退休人员资格认证。<b>欢迎</b>";
    let r = app
        .patch(
            &path,
            Some(&unit),
            json!({ "state": "adopted", "reply": reply, "topic": "社保服务", "updated_at": q2_updated }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // A stale write is refused.
    let r = app
        .patch(&path, Some(&unit), json!({ "topic": "别的", "updated_at": q2_updated }))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    // Not public before it is published.
    let fb = app.get(&format!("/api/events/{event}/feedback"), None).await;
    assert_eq!(fb.body["published"], 0, "{:?}", fb.body);
    let r = app.post(&format!("{path}/publish"), Some(&unit), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["deadline"], "met");
    assert_eq!(r.body["replied_by_name"], "rsj-staff");
    let r = app.post(&format!("{path}/publish"), Some(&unit), json!({})).await;
    assert_eq!(r.error_code(), "already_published");

    // The public page: the reply, its state, counts, masked personal data,
    // and how many submissions were withheld (without their text).
    let fb = app.get(&format!("/api/events/{event}/feedback"), None).await;
    assert_eq!(fb.status, StatusCode::OK, "{:?}", fb.body);
    assert_eq!(fb.body["collected"], 4);
    assert_eq!(fb.body["published"], 1);
    let shown = &fb.body["replies"][0];
    assert_eq!(shown["text"], "能否在银行网点办理退休认证？联系电话138****5678");
    assert_eq!(shown["reply"], reply);
    assert_eq!(shown["state_label"], "已采纳");
    assert_eq!(shown["unit_name"], "人保局");
    assert!(shown["received_date"].as_str().is_some() && shown["reply_date"].as_str().is_some());
    let adopted = fb.body["by_state"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == "adopted")
        .unwrap();
    assert_eq!(adopted["count"], 1);
    let withheld: Vec<(String, i64)> = fb.body["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["category"].as_str().unwrap().to_owned(), w["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        withheld,
        [
            ("screen".to_owned(), 1),
            ("moderator".to_owned(), 1),
            ("hidden".to_owned(), 0)
        ]
    );
    assert!(!fb.body.to_string().contains("与活动无关的内容"));
    assert!(!fb.body.to_string().contains("加微信"));

    // 我的提问: the asker's browser sends its token and finds its reply marked,
    // counted among its own; another's finds nothing of its own answered; a
    // malformed token is refused, and without one nothing is marked.
    let feedback = format!("/api/events/{event}/feedback");
    let as_b = app.get_with_header(&feedback, "x-viewer-token", &b_token).await;
    assert_eq!(as_b.status, StatusCode::OK, "{:?}", as_b.body);
    assert_eq!(as_b.body["replies"][0]["mine"], true);
    assert_eq!(
        as_b.body["mine"],
        json!({ "asked": 2, "answered": 1 }),
        "the question and the comment"
    );
    let as_a = app.get_with_header(&feedback, "x-viewer-token", &a_token).await;
    assert_eq!(as_a.body["replies"][0]["mine"], false);
    assert_eq!(
        as_a.body["mine"],
        json!({ "asked": 2, "answered": 0 }),
        "the question and the poll answer"
    );
    let r = app.get_with_header(&feedback, "x-viewer-token", "not-a-token").await;
    assert_eq!(r.error_code(), "invalid");
    let anyone = app.get(&feedback, None).await;
    assert_eq!(anyone.body["replies"][0]["mine"], false);
    assert!(anyone.body.get("mine").is_none(), "{:?}", anyone.body);
    let searched = app
        .get_with_header(&format!("{feedback}?q=%E9%93%B6%E8%A1%8C"), "x-viewer-token", &b_token)
        .await;
    assert_eq!(searched.body["replies"][0]["mine"], true, "{:?}", searched.body);

    // Only the asker rates, once.
    let rate = |token: String, rating: &str| json!({ "viewer_token": token, "rating": rating });
    let r = app
        .post(&format!("{path}/rating"), None, rate(a_token.clone(), "satisfied"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = app
        .post(&format!("{path}/rating"), None, rate("nonsense".into(), "satisfied"))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            &format!("{path}/rating"),
            None,
            rate(b_token.clone(), "basically_satisfied"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["rated"], true);
    let r = app
        .post(&format!("{path}/rating"), None, rate(b_token, "unsatisfied"))
        .await;
    assert_eq!(r.error_code(), "already_rated");
    let fb = app.get(&format!("/api/events/{event}/feedback"), None).await;
    let basic = fb.body["ratings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["rating"] == "basically_satisfied")
        .unwrap();
    assert_eq!(basic["count"], 1);

    // Every step is in the audit log.
    let audit = app
        .get(&format!("/api/events/{event}/audit"), Some(&app.admin_token))
        .await;
    let actions: Vec<&str> = audit
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in ["opinion.capture", "opinion.decide", "opinion.publish", "opinion.rate"] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    app.stop().await;
}

async fn offline(app: &TestApp, token: &str, event: i64, text: &str, received_at: Option<&str>) -> i64 {
    let r = app
        .post(
            &format!("/api/events/{event}/opinions"),
            Some(token),
            json!({ "text": text, "nickname": "王大爷", "received_at": received_at }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["source"], "offline");
    r.body["id"].as_i64().unwrap()
}

async fn units_merge_transfer_extend_and_search(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let gzw = app.staff("gzw-staff", "unit_staff", Some("gzw")).await;
    let admin = app.admin_token.clone();

    // Offline entries; one received long ago is overdue and listed first.
    let parking = offline(&app, &unit, event, "社保中心门口停车难，希望增设车位", None).await;
    let parking2 = offline(&app, &unit, event, "停车位太少", None).await;
    let old = offline(
        &app,
        &unit,
        event,
        "去年提的建议还没有答复",
        Some("2024-10-08T10:00:00"),
    )
    .await;
    let road = offline(&app, &unit, event, "门前道路坑洼需要修缮", None).await;
    let r = app
        .post(
            &format!("/api/events/{event}/opinions"),
            Some(&gzw),
            json!({ "text": "x" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("/api/events/{event}/opinions"),
            Some(&unit),
            json!({ "text": "   " }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let list = app.get(&format!("/api/opinions?event={event}"), Some(&unit)).await;
    assert_eq!(list.body[0]["id"], old, "overdue first: {:?}", list.body);
    assert_eq!(list.body[0]["deadline"], "overdue");
    let overdue = app.get("/api/opinions?overdue=true", Some(&unit)).await;
    assert_eq!(ids_of(&overdue.body), [old]);
    // 10 working days after Tuesday 2024-10-08, counting Saturday 2024-10-12 (调休, a working day).
    assert_eq!(list.body[0]["due_date"], "2024-10-21");

    // Search finds Chinese substrings; filters combine.
    let found = app.get("/api/opinions?q=%E5%81%9C%E8%BD%A6", Some(&unit)).await; // 停车
    let mut ids = ids_of(&found.body);
    ids.sort_unstable();
    assert_eq!(ids, [parking, parking2]);
    let r = app.get("/api/opinions?q=%25", Some(&unit)).await; // a literal %
    assert_eq!(r.body, json!([]));
    let r = app
        .get("/api/opinions?from=2024-10-01&to=2024-10-31", Some(&unit))
        .await;
    assert_eq!(ids_of(&r.body), [old]);
    let r = app
        .get("/api/opinions?from=2024-10-31&to=2024-10-01", Some(&unit))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get("/api/opinions?state=nope", Some(&unit)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Bulk: classify both parking opinions at once.
    let r = app
        .post(
            "/api/opinions/bulk",
            Some(&unit),
            json!({ "ids": [parking, parking2], "topic": "停车", "state": "under_study" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .get("/api/opinions?topic=%E5%81%9C%E8%BD%A6&state=under_study", Some(&unit))
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 2);
    let r = app
        .post(
            "/api/opinions/bulk",
            Some(&gzw),
            json!({ "ids": [parking], "topic": "x" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Merge the duplicate: one record, both sources, combined support.
    let r = app
        .post(
            &format!("/api/opinions/{parking}/merge"),
            Some(&unit),
            json!({ "ids": [parking2] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["support"], 2);
    assert_eq!(ids_of(&r.body["merged"]), [parking2]);
    let r = app.get("/api/opinions?topic=%E5%81%9C%E8%BD%A6", Some(&unit)).await;
    assert_eq!(ids_of(&r.body), [parking]);
    let r = app
        .patch(
            &format!("/api/opinions/{parking2}"),
            Some(&unit),
            json!({ "state": "adopted" }),
        )
        .await;
    assert_eq!(r.error_code(), "merged");
    let r = app
        .post(
            &format!("/api/opinions/{parking}/merge"),
            Some(&unit),
            json!({ "ids": [parking] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Transfer the road opinion to another unit: it moves, with a record.
    let r = app
        .post(
            &format!("/api/opinions/{road}/transfer"),
            Some(&unit),
            json!({ "unit": "gzw", "reason": "" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            &format!("/api/opinions/{road}/transfer"),
            Some(&unit),
            json!({ "unit": "gzw", "reason": "道路养护属公路分局职责" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        app.get(&format!("/api/opinions/{road}"), Some(&unit)).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app.get(&format!("/api/opinions/{road}"), Some(&gzw)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["transfers"][0]["reason"], "道路养护属公路分局职责");
    assert_eq!(ids_of(&app.get("/api/opinions", Some(&gzw)).await.body), [road]);

    // Extensions: the unit asks, only the bureau decides; a grant moves the due date.
    let path = format!("/api/opinions/{old}");
    let r = app
        .post(
            &format!("{path}/extensions"),
            Some(&unit),
            json!({ "due_date": "2024-10-20", "reason": "需协调" }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "before the current due date: {:?}",
        r.body
    );
    let r = app
        .post(
            &format!("{path}/extensions"),
            Some(&unit),
            json!({ "due_date": "2024-11-02", "reason": "需协调" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a Saturday: {:?}", r.body);
    let r = app
        .post(
            &format!("{path}/extensions"),
            Some(&unit),
            json!({ "due_date": "2024-11-05", "reason": "需协调多个部门" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let ext = r.body["id"].as_i64().unwrap();
    let r = app
        .post(
            &format!("{path}/extensions"),
            Some(&unit),
            json!({ "due_date": "2024-11-06", "reason": "再延" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "one pending request at a time");
    assert_eq!(
        app.get(&path, Some(&unit)).await.body["due_date"],
        "2024-10-21",
        "not moved until granted"
    );
    let r = app
        .post(
            &format!("/api/extensions/{ext}/decision"),
            Some(&unit),
            json!({ "grant": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let pending = app.get("/api/extensions", Some(&admin)).await;
    assert_eq!(ids_of(&pending.body), [ext]);
    assert_eq!(pending.body[0]["opinion_text"], "去年提的建议还没有答复");
    assert_eq!(
        (
            pending.body[0]["unit_code"].as_str(),
            pending.body[0]["current_due"].as_str()
        ),
        (Some("rsj"), Some("2024-10-21"))
    );
    let r = app
        .post(
            &format!("/api/extensions/{ext}/decision"),
            Some(&admin),
            json!({ "grant": true, "note": "同意" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["due_date"], "2024-11-05");
    assert_eq!(r.body["extensions"][0]["decision"], "granted");
    let r = app
        .post(
            &format!("/api/extensions/{ext}/decision"),
            Some(&admin),
            json!({ "grant": false }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Reminders (催办) come from the bureau only.
    let r = app.post(&format!("{path}/reminders"), Some(&unit), json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post(
            &format!("{path}/reminders"),
            Some(&admin),
            json!({ "note": "请尽快答复" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app.get(&path, Some(&unit)).await;
    assert_eq!(r.body["reminder_log"][0]["note"], "请尽快答复");
    assert_eq!(r.body["reminders"], 1, "the count, as in the list");
    // Each key once: a flattened view once carried `reminders` twice.
    let raw = app
        .client
        .get(app.url(&path))
        .bearer_auth(&unit)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw.matches("\"reminders\"").count(), 1, "{raw}");

    // Publishing after the (extended) due date is late.
    let r = app
        .patch(
            &path,
            Some(&unit),
            json!({ "state": "not_adopted", "reason": "已纳入明年计划统筹考虑", "reply": "感谢您的建议。" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.post(&format!("{path}/publish"), Some(&unit), json!({})).await;
    assert_eq!(r.body["deadline"], "late", "{:?}", r.body);
    let fb = app.get(&format!("/api/events/{event}/feedback"), None).await;
    assert_eq!(fb.body["replies"][0]["reason"], "已纳入明年计划统筹考虑");
    assert_eq!(fb.body["replies"][0]["rateable"], false);
    app.stop().await;
}

async fn download(app: &TestApp, path: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
    let res = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, kind, res.bytes().await.expect("body").to_vec())
}

async fn exports_mask_personal_data_and_the_report_counts(backend: Backend) {
    use calamine::{Data, Reader, Xlsx};

    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let gzw = app.staff("gzw-staff", "unit_staff", Some("gzw")).await;
    let moderator = app.staff("mod", "moderator", None).await;
    let admin = app.admin_token.clone();
    let private = "请回电13912345678，身份证110105199001011234，邮箱zhang@example.com";
    let first = offline(&app, &unit, event, private, None).await;
    offline(&app, &unit, event, "=HYPERLINK(\"http://x\")", None).await;
    let r = app
        .patch(
            &format!("/api/opinions/{first}"),
            Some(&unit),
            json!({ "state": "adopted", "reply": "已安排专人回电。" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app
        .post(&format!("/api/opinions/{first}/publish"), Some(&unit), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // CSV: BOM, Chinese headers, masked text, formulas defused.
    let (status, kind, bytes) = download(&app, &format!("/api/opinions/export?event={event}"), &unit).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let csv = String::from_utf8(bytes).unwrap();
    assert!(csv.starts_with('\u{feff}'));
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[0].starts_with("\u{feff}编号,活动,来源,提问人,内容"),
        "{}",
        lines[0]
    );
    assert!(
        csv.contains("139****5678") && csv.contains("110105********1234") && csv.contains("z***@example.com"),
        "{csv}"
    );
    assert!(!csv.contains("13912345678") && !csv.contains("zhang@"));
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(csv.contains("已采纳") && csv.contains("按时答复"), "{csv}");

    // The list's filters apply to exports too.
    let (_, _, bytes) = download(&app, "/api/opinions/export?q=HYPERLINK", &unit).await;
    assert_eq!(String::from_utf8(bytes).unwrap().trim_end().split("\r\n").count(), 2);

    // Unmasked only for the bureau.
    let (status, _, _) = download(&app, "/api/opinions/export?personal_data=shown", &unit).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // …and with a reason, which the security log keeps.
    let (status, _, _) = download(&app, "/api/opinions/export?personal_data=shown", &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let shown = "/api/opinions/export?personal_data=shown&reason=%E5%9B%9E%E8%AE%BF";
    let (status, _, bytes) = download(&app, shown, &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(bytes).unwrap().contains("13912345678"));
    // Another unit exports nothing of this unit's.
    let (_, _, bytes) = download(&app, "/api/opinions/export", &gzw).await;
    assert_eq!(String::from_utf8(bytes).unwrap().trim_end().split("\r\n").count(), 1);
    assert_eq!(
        download(&app, "/api/opinions/export", &moderator).await.0,
        StatusCode::FORBIDDEN
    );

    // XLSX, opened back with a reader: one sheet per event, the same rows.
    let (status, kind, bytes) = download(&app, "/api/opinions/export?format=xlsx", &unit).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.contains("spreadsheetml"), "{kind}");
    let mut book = Xlsx::new(std::io::Cursor::new(bytes)).expect("an xlsx calamine opens");
    let names = book.sheet_names();
    assert_eq!(names.len(), 1, "{names:?}");
    let sheet = book.worksheet_range(&names[0]).unwrap();
    assert_eq!(sheet.height(), 3);
    assert_eq!(sheet.get_value((0, 4)), Some(&Data::String("内容".into())));
    let texts: Vec<String> = (1..3).map(|r| sheet.get_value((r, 4)).unwrap().to_string()).collect();
    assert!(texts.iter().any(|t| t.starts_with("请回电139****5678")), "{texts:?}");

    // The performance report: this unit's year, figure by figure.
    let year = chrono::Utc::now().format("%Y").to_string();
    let r = app
        .get(&format!("/api/reports/performance?year={year}&unit=rsj"), Some(&unit))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let f = &r.body["units"][0];
    assert_eq!(f["unit_code"], "rsj");
    assert_eq!(
        (f["events_planned"].as_i64(), f["events_held"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(f["announcements"]["met"], 1, "{f:?}");
    assert_eq!(
        (f["opinions_collected"].as_i64(), f["replies_published"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(f["reply_rate"], 0.5);
    assert_eq!(f["adoption_rate"], 1.0);
    assert_eq!(f["median_reply_working_days"], 0.0);
    assert_eq!(f["replies_on_time"], 1);
    let r = app
        .get(&format!("/api/reports/performance?year={year}&unit=rsj"), Some(&gzw))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&format!("/api/reports/performance?year={year}"), Some(&moderator))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = app
        .get(&format!("/api/reports/performance?year={year}"), Some(&admin))
        .await;
    // Every host unit; the supervising bureau only in a year it hosted events.
    let codes: Vec<&str> = r.body["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u["unit_code"].as_str())
        .collect();
    assert_eq!(codes.len(), 15, "{codes:?}");
    assert!(codes.contains(&"rsj") && !codes.contains(&"zwsj"), "{codes:?}");
    assert_eq!(
        app.get("/api/reports/performance?year=1999", Some(&admin)).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, _, bytes) = download(
        &app,
        &format!("/api/reports/performance?year={year}&format=xlsx"),
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut book = Xlsx::new(std::io::Cursor::new(bytes)).expect("an xlsx calamine opens");
    let names = book.sheet_names();
    let sheet = book.worksheet_range(&names[0]).unwrap();
    assert_eq!(sheet.get_value((0, 0)), Some(&Data::String("单位".into())));
    app.stop().await;
}

async fn every_opinion_route_answers_bad_input_with_a_4xx(backend: Backend) {
    use reqwest::Method;

    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let admin = app.admin_token.clone();
    let id = offline(&app, &admin, event, "一条意见", None).await;
    let post_routes = [
        format!("/api/events/{event}/opinions"),
        format!("/api/events/{event}/opinions/capture"),
        "/api/opinions/bulk".to_owned(),
        format!("/api/opinions/{id}/publish"),
        format!("/api/opinions/{id}/merge"),
        format!("/api/opinions/{id}/transfer"),
        format!("/api/opinions/{id}/extensions"),
        format!("/api/opinions/{id}/reminders"),
        format!("/api/opinions/{id}/rating"),
        "/api/extensions/1/decision".to_owned(),
    ];
    for path in &post_routes {
        // Malformed JSON, a wrong shape, unknown ids: a clear 4xx each (the
        // helper fails on any 500).
        let res = app
            .client
            .post(app.url(path))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body("{oops")
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{path}: {}", res.status());
        let r = app.post(path, Some(&admin), json!({ "unexpected": [1, 2] })).await;
        assert!(r.status.is_client_error(), "{path}: {:?}", r.body);
        r.error_code();
    }
    for (method, path) in [
        (Method::GET, "/api/opinions/999999"),
        (Method::PATCH, "/api/opinions/999999"),
        (Method::POST, "/api/opinions/999999/publish"),
        (Method::POST, "/api/extensions/999999/decision"),
        (Method::POST, "/api/events/999999/opinions"),
        (Method::GET, "/api/events/999999/feedback"),
    ] {
        let body = match method {
            Method::GET => None,
            Method::PATCH => Some(json!({ "state": "adopted" })),
            _ if path.contains("decision") => Some(json!({ "grant": true })),
            _ => Some(json!({ "text": "x" })),
        };
        let r = app.request(method, path, Some(&admin), body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {:?}", r.body);
    }
    assert_eq!(
        app.get("/api/opinions/abc", Some(&admin)).await.error_code(),
        "bad_path"
    );
    assert_eq!(
        app.get("/api/opinions?limit=0", Some(&admin)).await.error_code(),
        "invalid"
    );
    assert_eq!(
        app.get("/api/opinions?from=2024-13-01", Some(&admin))
            .await
            .error_code(),
        "bad_query"
    );
    let long = "长".repeat(2001);
    let r = app
        .post(
            &format!("/api/events/{event}/opinions"),
            Some(&admin),
            json!({ "text": long }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .patch(&format!("/api/opinions/{id}"), Some(&admin), json!({ "topic": "a\nb" }))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            "/api/opinions/bulk",
            Some(&admin),
            json!({ "ids": [] , "state": "adopted" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}
