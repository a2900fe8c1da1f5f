use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    sign_in_sign_out_and_cookies,
    roles_are_enforced_on_every_route,
    accounts_are_validated
);

async fn sign_in_sign_out_and_cookies(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let wrong = app
        .post(
            "/api/auth/login",
            None,
            json!({ "username": "admin", "password": "nope" }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error_code(), "invalid_credentials");
    let unknown = app
        .post(
            "/api/auth/login",
            None,
            json!({ "username": "ghost", "password": "nope" }),
        )
        .await;
    assert_eq!(unknown.error_code(), "invalid_credentials");

    let ok = app
        .post(
            "/api/auth/login",
            None,
            json!({ "username": "ADMIN", "password": ADMIN_PASSWORD }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let cookie = ok.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let token = ok.body["token"].as_str().unwrap().to_owned();
    assert_eq!(ok.body["staff"]["role"], "admin");

    // The cookie alone signs the pages in.
    let pair = cookie.split(';').next().unwrap();
    let me = app
        .client
        .get(app.url("/api/auth/me"))
        .header("cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    let me = app.get("/api/auth/me", Some(&token)).await;
    assert_eq!(me.body["username"], "admin");
    let out = app
        .request(reqwest::Method::POST, "/api/auth/logout", Some(&token), None)
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let me = app.get("/api/auth/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.error_code(), "unauthorized");
    let garbage = app.get("/api/auth/me", Some("not-a-token")).await;
    assert_eq!(garbage.status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

async fn roles_are_enforced_on_every_route(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import_plan().await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let other = app.staff("jw-staff", "unit_staff", Some("jw")).await;
    let moderator = app.staff("mod", "moderator", None).await;
    let rsj_event = app.event_id("open-day-06").await;

    // Anonymous: reads only.
    assert_eq!(
        app.post("/api/events", None, json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/api/users", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/api/change-reports", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/api/deadlines", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.post(&format!("/api/events/{rsj_event}/announce"), None, json!({}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Administration is the data bureau's.
    for token in [&unit, &moderator] {
        assert_eq!(app.get("/api/users", Some(token)).await.status, StatusCode::FORBIDDEN);
        let r = app
            .client
            .post(app.url("/api/plans/import"))
            .bearer_auth(token)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(
        app.get("/api/change-reports", Some(&moderator)).await.status,
        StatusCode::FORBIDDEN
    );

    // Unit staff manage their own unit's events only.
    let patch = json!({ "venue": "区社保中心二楼" });
    let mine = app
        .patch(&format!("/api/events/{rsj_event}"), Some(&unit), patch.clone())
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{:?}", mine.body);
    let theirs = app
        .patch(&format!("/api/events/{rsj_event}"), Some(&other), patch.clone())
        .await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
    assert_eq!(theirs.error_code(), "forbidden");
    let by_moderator = app
        .patch(&format!("/api/events/{rsj_event}"), Some(&moderator), patch)
        .await;
    assert_eq!(by_moderator.status, StatusCode::FORBIDDEN);
    let cancel = app
        .post(
            &format!("/api/events/{rsj_event}/cancel"),
            Some(&other),
            json!({ "reason": "x" }),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::FORBIDDEN);

    // Creating an event for another unit is refused; for one's own it works.
    let new = |hosts: &[&str]| json!({ "code": "rsj-extra", "kind": "lecture", "title": "社保政策宣讲", "host_units": hosts, "form": "online" });
    assert_eq!(
        app.post("/api/events", Some(&unit), new(&["jw"])).await.status,
        StatusCode::FORBIDDEN
    );
    let created = app.post("/api/events", Some(&unit), new(&["rsj"])).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["status"], "draft");
    let dup = app.post("/api/events", Some(&unit), new(&["rsj"])).await;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    // Deadline lists are scoped to the caller's unit.
    let rows = app.get("/api/deadlines", Some(&other)).await.body;
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| { r["hosts"].as_array().unwrap().iter().any(|h| h["code"] == "jw") })
    );
    app.stop().await;
}

async fn accounts_are_validated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import_plan().await;
    let admin = Some(app.admin_token.as_str());
    let base = json!({ "username": "zhang.san", "display_name": "张三", "password": "long-enough-password", "role": "unit_staff", "unit": "rsj" });
    let mut no_unit = base.clone();
    no_unit["unit"] = serde_json::Value::Null;
    assert_eq!(app.post("/api/users", admin, no_unit).await.error_code(), "invalid");
    let mut short = base.clone();
    short["password"] = json!("short");
    assert_eq!(app.post("/api/users", admin, short).await.error_code(), "invalid");
    let mut bad_unit = base.clone();
    bad_unit["unit"] = json!("nowhere");
    assert_eq!(
        app.post("/api/users", admin, bad_unit).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let mut bad_role = base.clone();
    bad_role["role"] = json!("emperor");
    assert_eq!(
        app.post("/api/users", admin, bad_role).await.error_code(),
        "invalid_body"
    );
    let ok = app.post("/api/users", admin, base.clone()).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    assert!(ok.body.get("password_hash").is_none());
    let again = app.post("/api/users", admin, base).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let list = app.get("/api/users", admin).await.body;
    assert!(!list.to_string().contains("argon2"), "hashes never leave the server");
    app.stop().await;
}
