use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    importing_the_2024_plan_lists_its_19_events,
    importing_twice_changes_nothing,
    drafts_hide_their_arrangements_from_the_public
);

async fn importing_the_2024_plan_lists_its_19_events(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let r = app.import_plan().await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["units"]["created"], 16);
    assert_eq!(r.body["themes"]["created"], 5);
    assert_eq!(r.body["events"]["created"], 19);

    let events = app.get("/api/events", None).await.body;
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 19);
    let open_days: Vec<&Value> = events.iter().filter(|e| e["kind"] == "open_day").collect();
    assert_eq!(open_days.len(), 15);
    assert_eq!(events.iter().filter(|e| e["kind"] == "lecture").count(), 4);

    // Open points per theme, as in the plan: 5, 2, 2, 3, 3.
    let per_theme = |name: &str| open_days.iter().filter(|e| e["theme"]["name"] == name).count();
    assert_eq!(
        [
            per_theme("优化营商环境"),
            per_theme("便民惠民服务"),
            per_theme("保障改善民生"),
            per_theme("创建文明城区"),
            per_theme("政策专属礼包")
        ],
        [5, 2, 2, 3, 3]
    );

    let hosts = |code: &str| -> Vec<String> {
        let e = events.iter().find(|e| e["code"] == code).unwrap();
        e["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["short_name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(hosts("lecture-01"), ["政务和数据局", "天宫院街道", "高米店街道"]);
    assert_eq!(hosts("open-day-01"), ["观音寺街道"]);
    assert_eq!(hosts("open-day-02"), ["林校路街道"]);
    assert_eq!(hosts("open-day-09"), ["采育镇"]);
    assert_eq!(hosts("open-day-14"), ["教委"]);
    assert_eq!(hosts("lecture-04"), ["人保局"]);
    let lecture4 = events.iter().find(|e| e["code"] == "lecture-04").unwrap();
    assert_eq!(lecture4["form"], "online_offline");
    assert!(lecture4["theme"].is_null());

    let units = app.get("/api/units", None).await.body;
    let units = units.as_array().unwrap();
    assert_eq!(units.len(), 16);
    let supervisors: Vec<_> = units.iter().filter(|u| u["supervisor"] == true).collect();
    assert_eq!(supervisors.len(), 1);
    assert_eq!(supervisors[0]["name"], "北京市大兴区政务服务和数据管理局");

    let theirs = app.get("/api/events?unit=rsj", None).await.body;
    let mut codes: Vec<_> = theirs
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_owned())
        .collect();
    codes.sort();
    assert_eq!(codes, ["lecture-04", "open-day-06"]);
    let lectures = app.get("/api/events?kind=lecture", None).await.body;
    assert_eq!(lectures.as_array().unwrap().len(), 4);
    let themed = app.get("/api/events?theme=civilized-city", None).await.body;
    assert_eq!(themed.as_array().unwrap().len(), 3);
    app.stop().await;
}

async fn importing_twice_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import_plan().await;
    let before = app.get("/api/events", Some(&app.admin_token)).await.body;
    let r = app.import_plan().await;
    assert_eq!(r.status, StatusCode::OK);
    for part in ["units", "themes", "events"] {
        assert_eq!(r.body[part]["created"], 0, "{part}");
        assert_eq!(r.body[part]["updated"], 0, "{part}");
    }
    assert_eq!(r.body["events"]["unchanged"], 19);
    let after = app.get("/api/events", Some(&app.admin_token)).await.body;
    assert_eq!(before, after, "a second import must not touch any event");
    app.stop().await;
}

async fn drafts_hide_their_arrangements_from_the_public(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import_plan().await;
    let id = app.event_id("open-day-01").await;
    let r = app
        .patch(
            &format!("/api/events/{id}"),
            Some(&app.admin_token),
            serde_json::json!({ "starts_at": "2030-05-20T09:30:00", "duration_minutes": 90 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let public = app.get(&format!("/api/events/{id}"), None).await.body;
    assert!(public["starts_at"].is_null());
    assert!(public["agenda"].is_null());
    assert_eq!(public["deadlines"].as_array().unwrap().len(), 0);
    assert_eq!(public["title"], "政务开放日·开放点1：政务服务体验（观音寺街道）");
    let staff = app.get(&format!("/api/events/{id}"), Some(&app.admin_token)).await.body;
    assert_eq!(staff["starts_at_local"], "2030-05-20T09:30:00+08:00");
    assert!(staff["agenda"].is_string());
    app.stop().await;
}
