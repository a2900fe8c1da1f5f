use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(bad_input_gets_a_clear_4xx);

async fn bad_input_gets_a_clear_4xx(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.import_plan().await;
    let admin = app.admin_token.clone();
    let id = app.event_id("open-day-01").await;

    // Bodies: malformed, wrong type, unknown fields, wrong shapes.
    let raw = |method: Method, path: &str, content_type: &str, body: &'static str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases = [
        (
            raw(Method::POST, "/api/events", "application/json", "{not json")
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            raw(Method::POST, "/api/events", "text/plain", "{}").await.unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            raw(Method::POST, "/api/events", "application/json", "[]")
                .await
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            raw(Method::POST, "/api/auth/login", "application/json", "")
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
    ];
    for (res, status, code) in cases {
        assert_eq!(res.status(), status);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body:?}");
    }

    let admin = Some(admin.as_str());
    let expect = |r: crate::helpers::Reply, status: StatusCode, code: &str| {
        assert_eq!(r.status, status, "{:?}", r.body);
        assert_eq!(r.error_code(), code);
    };
    expect(
        app.patch(&format!("/api/events/{id}"), admin, json!({ "colour": "red" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    expect(
        app.patch(&format!("/api/events/{id}"), admin, json!({ "title": "   " }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(
            &format!("/api/events/{id}"),
            admin,
            json!({ "title": "长".repeat(201) }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(
            &format!("/api/events/{id}"),
            admin,
            json!({ "starts_at": "next tuesday" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(&format!("/api/events/{id}"), admin, json!({ "duration_minutes": 0 }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(
            &format!("/api/events/{id}"),
            admin,
            json!({ "duration_minutes": 99999999999i64 }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(&format!("/api/events/{id}"), admin, json!({ "audience_limit": -5 }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(&format!("/api/events/{id}"), admin, json!({ "stream_url": "ftp://x" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(&format!("/api/events/{id}"), admin, json!({ "host_units": [] }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(
            &format!("/api/events/{id}"),
            admin,
            json!({ "host_units": ["rsj", "rsj"] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(
            &format!("/api/events/{id}"),
            admin,
            json!({ "host_units": ["nowhere"] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(&format!("/api/events/{id}"), admin, json!({ "theme": "nothing" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.patch(&format!("/api/events/{id}"), admin, json!({ "form": "hologram" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    expect(
        app.patch(
            &format!("/api/events/{id}"),
            admin,
            json!({ "title": "含\u{0007}控制符" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    let bad_code =
        json!({ "code": "Bad Code!", "kind": "lecture", "title": "t", "host_units": ["rsj"], "form": "online" });
    expect(
        app.post("/api/events", admin, bad_code).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );

    // Paths and queries.
    expect(
        app.get("/api/events/abc", None).await,
        StatusCode::BAD_REQUEST,
        "bad_path",
    );
    expect(
        app.get("/api/events/99999999", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect(
        app.get("/api/events/99999999999999999999999", None).await,
        StatusCode::BAD_REQUEST,
        "bad_path",
    );
    expect(
        app.post("/api/events/424242/announce", admin, json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect(
        app.get("/api/units/77777", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect(
        app.get("/api/events?kind=party", None).await,
        StatusCode::BAD_REQUEST,
        "bad_query",
    );
    expect(
        app.get("/api/events?status=", None).await,
        StatusCode::BAD_REQUEST,
        "bad_query",
    );
    expect(
        app.get("/api/events?unit=nowhere", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    expect(
        app.get("/api/events?surprise=1", None).await,
        StatusCode::BAD_REQUEST,
        "bad_query",
    );
    expect(
        app.get("/api/deadlines?state=late-ish", admin).await,
        StatusCode::BAD_REQUEST,
        "bad_query",
    );
    expect(
        app.get("/api/calendar/days/2024-13-01", None).await,
        StatusCode::BAD_REQUEST,
        "bad_path",
    );
    expect(
        app.get("/api/calendar/days/2040-01-02", None).await,
        StatusCode::NOT_FOUND,
        "calendar_missing",
    );
    expect(
        app.get("/api/no/such/route", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    expect(
        app.request(Method::DELETE, "/api/events", admin, None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );

    // NUL bytes (PostgreSQL refuses them in text) never reach the database:
    // refused at the door, whatever the parameter.
    expect(
        app.get("/api/events?theme=a%00b", None).await,
        StatusCode::BAD_REQUEST,
        "nul_in_input",
    );
    expect(
        app.get("/api/events?unit=a%00b", None).await,
        StatusCode::BAD_REQUEST,
        "nul_in_input",
    );
    expect(
        app.post(
            "/api/auth/login",
            None,
            json!({ "username": "ad\u{0}min", "password": "x" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "nul_in_input",
    );
    expect(
        app.patch(&format!("/api/events/{id}"), admin, json!({ "venue": "a\u{0}b" }))
            .await,
        StatusCode::BAD_REQUEST,
        "nul_in_input",
    );
    expect(
        app.patch(&format!("/api/events/{id}"), admin, json!({ "host_units": ["a\u{0}"] }))
            .await,
        StatusCode::BAD_REQUEST,
        "nul_in_input",
    );

    // Plans.
    for plan in [
        "",
        "this is not toml [",
        "[plan]\ncode = \"x\"\ntitle = \"t\"\nyear = 1900\n",
    ] {
        let r = app
            .client
            .post(app.url("/api/plans/import"))
            .bearer_auth(&app.admin_token)
            .body(plan)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{plan:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_plan");
    }

    // The working-day calendar answers for covered years.
    let day = app.get("/api/calendar/days/2024-02-04", None).await;
    assert_eq!(day.status, StatusCode::OK);
    assert_eq!(day.body["working_day"], true);
    assert_eq!(day.body["kind"], "make_up_workday");
    assert_eq!(day.body["note"], "春节");
    let years = app.get("/api/calendar", None).await.body;
    assert_eq!(
        years
            .as_array()
            .unwrap()
            .iter()
            .map(|y| y["year"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [2024, 2025, 2026]
    );
    app.stop().await;
}
