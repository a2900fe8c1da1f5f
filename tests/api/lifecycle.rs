use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    an_announcement_must_state_every_required_part,
    reschedules_and_cancellations_are_reported,
    live_then_materials_with_the_lecture_video,
    deadlines_follow_the_2024_holidays,
    selection_notices_are_recorded,
);

fn deadline<'a>(event: &'a Value, kind: &str) -> &'a Value {
    event["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind)
        .unwrap()
}

/// A local Beijing time `days` from now, at 09:30.
fn days_ahead(days: i64) -> String {
    let date = (Utc::now() + Duration::hours(8) + Duration::days(days)).date_naive();
    format!("{date}T09:30:00")
}

/// An event's deadlines, by kind.
async fn deadlines_by_kind(app: &TestApp, id: i64) -> std::collections::HashMap<String, Value> {
    let d = app
        .get(&format!("/api/events/{id}/deadlines"), Some(&app.admin_token))
        .await
        .body;
    d.as_array()
        .unwrap()
        .iter()
        .map(|x| (x["kind"].as_str().unwrap().to_owned(), x.clone()))
        .collect()
}

async fn new_event(app: &TestApp, code: &str, kind: &str, form: &str, extra: Value) -> i64 {
    let mut body =
        json!({ "code": code, "kind": kind, "title": format!("测试活动 {code}"), "host_units": ["rsj"], "form": form });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app.post("/api/events", Some(&app.admin_token), body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_i64().unwrap()
}

async fn announced_event(app: &TestApp, code: &str, kind: &str) -> i64 {
    let id = new_event(
        app,
        code,
        kind,
        "online",
        json!({ "starts_at": days_ahead(20), "duration_minutes": 90, "agenda": "政策解读；互动问答", "participation": "直播间提问" }),
    )
    .await;
    let r = app
        .post(&format!("/api/events/{id}/announce"), Some(&app.admin_token), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    id
}

async fn an_announcement_must_state_every_required_part(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import_plan().await;
    let admin = Some(app.admin_token.as_str());
    let id = new_event(&app, "incomplete", "lecture", "online", json!({})).await;
    let announce = format!("/api/events/{id}/announce");

    let r = app.post(&announce, admin, json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "announcement_incomplete");
    assert_eq!(
        r.body["error"]["details"]["missing"],
        json!(["starts_at", "duration_minutes", "agenda", "participation"])
    );
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("活动时间") && message.contains("网民参与方式"),
        "{message}"
    );

    let patch = json!({ "starts_at": days_ahead(20), "duration_minutes": 60, "agenda": "  " });
    assert_eq!(
        app.patch(&format!("/api/events/{id}"), admin, patch).await.status,
        StatusCode::OK
    );
    let r = app.post(&announce, admin, json!({})).await;
    assert_eq!(
        r.body["error"]["details"]["missing"],
        json!(["agenda", "participation"])
    );

    let patch = json!({ "agenda": "开场；政策解读；互动问答", "participation": "在直播页面提问、投票、评论" });
    assert_eq!(
        app.patch(&format!("/api/events/{id}"), admin, patch).await.status,
        StatusCode::OK
    );
    let r = app.post(&announce, admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "announced");
    assert!(r.body["announced_at"].is_string());
    let ann = deadline(&r.body, "announcement");
    let covered = ann["state"] != "calendar_missing";
    if covered {
        assert_eq!(ann["state"], "met", "{ann:?}");
    } else {
        assert!(ann["note"].as_str().unwrap().contains("calendar"), "{ann:?}");
    }

    let again = app.post(&announce, admin, json!({})).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "wrong_status");

    // A past start cannot be announced.
    let past = new_event(
        &app,
        "past",
        "lecture",
        "online",
        json!({ "starts_at": "2024-10-14T09:30:00", "duration_minutes": 60, "agenda": "a", "participation": "b" }),
    )
    .await;
    let r = app
        .post(&format!("/api/events/{past}/announce"), admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

async fn reschedules_and_cancellations_are_reported(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import_plan().await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let id = announced_event(&app, "moving", "lecture").await;

    let moved = app
        .patch(
            &format!("/api/events/{id}"),
            Some(&unit),
            json!({ "starts_at": days_ahead(25) }),
        )
        .await;
    assert_eq!(moved.status, StatusCode::CONFLICT);
    assert_eq!(moved.error_code(), "use_reschedule");

    let reschedule = format!("/api/events/{id}/reschedule");
    let no_reason = app
        .post(
            &reschedule,
            Some(&unit),
            json!({ "starts_at": days_ahead(25), "reason": "   " }),
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = app
        .post(&reschedule, Some(&unit), json!({ "starts_at": days_ahead(25) }))
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    let past = app
        .post(
            &reschedule,
            Some(&unit),
            json!({ "starts_at": "2024-01-02T09:00:00", "reason": "x" }),
        )
        .await;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);

    let r = app
        .post(
            &reschedule,
            Some(&unit),
            json!({ "starts_at": days_ahead(25), "duration_minutes": 120, "reason": "主讲人临时出差" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "rescheduled");
    assert_eq!(r.body["duration_minutes"], 120);

    let reports = app.get("/api/change-reports", Some(&app.admin_token)).await.body;
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["kind"], "reschedule");
    assert_eq!(reports[0]["reason"], "主讲人临时出差");
    assert_eq!(reports[0]["reporter"], "rsj-staff");
    assert_eq!(reports[0]["before"]["duration_minutes"], 90);
    assert_eq!(reports[0]["after"]["duration_minutes"], 120);
    assert_eq!(reports[0]["after"]["status"], "rescheduled");

    let cancel = format!("/api/events/{id}/cancel");
    assert_eq!(
        app.post(&cancel, Some(&unit), json!({})).await.error_code(),
        "invalid_body"
    );
    let r = app.post(&cancel, Some(&unit), json!({ "reason": "场地不可用" })).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(r.body["cancel_reason"], "场地不可用");
    assert_eq!(
        app.post(&cancel, Some(&unit), json!({ "reason": "again" }))
            .await
            .status,
        StatusCode::CONFLICT
    );

    let mine = app
        .get(&format!("/api/change-reports?event={id}"), Some(&unit))
        .await
        .body;
    let kinds: Vec<_> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["cancel", "reschedule"], "newest first");
    let other = app.staff("jw-staff", "unit_staff", Some("jw")).await;
    assert_eq!(app.get("/api/change-reports", Some(&other)).await.body, json!([]));

    // Cancelling a draft needs a reason but is no change to an announcement.
    let draft = new_event(&app, "draft-cancel", "open_day", "offline", json!({})).await;
    let r = app
        .post(
            &format!("/api/events/{draft}/cancel"),
            Some(&unit),
            json!({ "reason": "计划调整" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/change-reports", Some(&app.admin_token))
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.stop().await;
}

async fn live_then_materials_with_the_lecture_video(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import_plan().await;
    let moderator = app.staff("mod", "moderator", None).await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let id = announced_event(&app, "lecture-live", "lecture").await;

    assert_eq!(
        app.post(&format!("/api/events/{id}/end"), Some(&moderator), json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let r = app
        .post(&format!("/api/events/{id}/start"), Some(&moderator), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "live");
    assert_eq!(
        app.post(&format!("/api/events/{id}/start"), Some(&moderator), json!({}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    let materials = format!("/api/events/{id}/materials");
    let early = app
        .post(
            &materials,
            Some(&unit),
            json!({ "materials_url": "https://www.example.gov.cn/m/1" }),
        )
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    let r = app
        .post(&format!("/api/events/{id}/end"), Some(&moderator), json!({}))
        .await;
    assert_eq!(r.body["status"], "ended");
    assert!(r.body["ended_at"].is_string());

    // Moderators run the room but do not publish.
    let by_mod = app
        .post(
            &materials,
            Some(&moderator),
            json!({ "materials_url": "https://www.example.gov.cn/m/1" }),
        )
        .await;
    assert_eq!(by_mod.status, StatusCode::FORBIDDEN);
    let no_video = app
        .post(
            &materials,
            Some(&unit),
            json!({ "materials_url": "https://www.example.gov.cn/m/1" }),
        )
        .await;
    assert_eq!(no_video.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_video.error_code(), "video_required");
    let bad_url = app
        .post(
            &materials,
            Some(&unit),
            json!({ "materials_url": "javascript:alert(1)", "video_url": "https://v/1" }),
        )
        .await;
    assert_eq!(bad_url.error_code(), "invalid");
    let r = app
        .post(&materials, Some(&unit), json!({ "materials_url": "https://www.example.gov.cn/m/1", "video_url": "https://www.example.gov.cn/v/1.mp4" }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "materials_published");
    let m = deadline(&r.body, "materials");
    assert!(m["state"] == "met" || m["state"] == "calendar_missing", "{m:?}");

    let edit = app
        .patch(&format!("/api/events/{id}"), Some(&unit), json!({ "title": "改名" }))
        .await;
    assert_eq!(edit.status, StatusCode::CONFLICT);
    assert_eq!(edit.error_code(), "event_closed");
    app.stop().await;
}

async fn deadlines_follow_the_2024_holidays(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import_plan().await;
    let event = |start: &str| json!({ "starts_at": start, "duration_minutes": 120, "public_selection": true, "agenda": "a", "participation": "b" });
    // Monday after National Day 2024; Saturday 10-12 is a working day.
    let id = new_event(
        &app,
        "after-national-day",
        "lecture",
        "online_offline",
        event("2024-10-14T09:30:00"),
    )
    .await;
    let by = deadlines_by_kind(&app, id).await;
    assert_eq!(by["announcement"]["due_date"], "2024-10-10");
    assert_eq!(by["announcement"]["due_at"], "2024-10-10T16:00:00Z");
    assert_eq!(by["announcement"]["state"], "overdue");
    assert_eq!(by["selection_notice"]["due_date"], "2024-10-12");
    assert_eq!(by["materials"]["due_date"], "2024-10-21");

    // Monday after Spring Festival 2024: Sunday 02-18 works; 02-10..17 are off.
    let id = new_event(
        &app,
        "after-spring-festival",
        "open_day",
        "online",
        event("2024-02-19T09:30:00"),
    )
    .await;
    let by = deadlines_by_kind(&app, id).await;
    assert_eq!(by["announcement"]["due_date"], "2024-02-08");
    assert_eq!(by["selection_notice"]["due_date"], "2024-02-18");

    // The last day of 2024: materials counted into 2025's calendar (01-01 off).
    let id = new_event(&app, "year-end", "open_day", "offline", event("2024-12-31T09:30:00")).await;
    let by = deadlines_by_kind(&app, id).await;
    assert_eq!(by["announcement"]["state"], "not_applicable");
    assert_eq!(by["materials"]["due_date"], "2025-01-08");

    // A due date in a year without a notice is said so, not guessed.
    let id = new_event(&app, "far-future", "open_day", "offline", event("2031-06-02T09:30:00")).await;
    let by = deadlines_by_kind(&app, id).await;
    assert_eq!(by["materials"]["state"], "calendar_missing");
    assert!(by["materials"]["note"].as_str().unwrap().contains("2031"));
    assert!(by["materials"]["due_date"].is_null());

    let overdue = app
        .get("/api/deadlines?state=overdue", Some(&app.admin_token))
        .await
        .body;
    let rows = overdue.as_array().unwrap();
    assert!(rows.iter().all(|r| r["state"] == "overdue"));
    assert!(
        rows.iter()
            .any(|r| r["event_code"] == "after-national-day" && r["kind"] == "announcement")
    );
    app.stop().await;
}

async fn selection_notices_are_recorded(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import_plan().await;
    let admin = Some(app.admin_token.as_str());
    let none = new_event(&app, "no-selection", "lecture", "online", json!({})).await;
    let r = app
        .post(&format!("/api/events/{none}/selection-notice"), admin, json!({}))
        .await;
    assert_eq!(r.error_code(), "no_public_selection");

    let id = new_event(
        &app,
        "selected",
        "open_day",
        "offline",
        json!({ "public_selection": true, "starts_at": days_ahead(10), "duration_minutes": 60 }),
    )
    .await;
    let future = app
        .post(
            &format!("/api/events/{id}/selection-notice"),
            admin,
            json!({ "notified_at": days_ahead(3) }),
        )
        .await;
    assert_eq!(future.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(&format!("/api/events/{id}/selection-notice"), admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["selection_notified_at"].is_string());
    let s = deadline(&r.body, "selection_notice");
    assert!(s["state"] == "met" || s["state"] == "calendar_missing", "{s:?}");
    app.stop().await;
}
