use reqwest::StatusCode;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(health_metrics_openapi_and_pages);

async fn health_metrics_openapi_and_pages(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    assert_eq!(app.get("/healthz", None).await.body["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready.body["database"], expected);

    app.get("/api/events", None).await;
    app.get("/api/events/1", None).await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("minsheng_http_requests_total{method=\"GET\",route=\"/api/events\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/api/events/{id}\",status=\"404\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("minsheng_http_request_duration_seconds_bucket"));

    // Every route of the router is in the OpenAPI document.
    let doc = app.get("/api/openapi.json", None).await.body;
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/users",
        "/api/units",
        "/api/units/{id}",
        "/api/themes",
        "/api/plans/import",
        "/api/calendar",
        "/api/calendar/days/{date}",
        "/api/events",
        "/api/events/{id}",
        "/api/events/{id}/deadlines",
        "/api/events/{id}/announce",
        "/api/events/{id}/selection-notice",
        "/api/events/{id}/start",
        "/api/events/{id}/end",
        "/api/events/{id}/materials",
        "/api/events/{id}/reschedule",
        "/api/events/{id}/cancel",
        "/api/deadlines",
        "/api/change-reports",
        "/api/events/{id}/live",
        "/api/events/{id}/audit",
        "/api/screen/reload",
        "/api/events/{id}/opinions",
        "/api/events/{id}/opinions/capture",
        "/api/events/{id}/feedback",
        "/api/opinions",
        "/api/opinions/bulk",
        "/api/opinions/export",
        "/api/opinions/{id}",
        "/api/opinions/{id}/publish",
        "/api/opinions/{id}/merge",
        "/api/opinions/{id}/transfer",
        "/api/opinions/{id}/extensions",
        "/api/opinions/{id}/reminders",
        "/api/opinions/{id}/rating",
        "/api/extensions",
        "/api/extensions/{id}/decision",
        "/api/reports/performance",
        "/api/events/{id}/record",
        "/api/events/{id}/record/publish",
        "/api/openapi.json",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} missing from the OpenAPI document");
    }
    assert!(paths["/api/events/{id}"].get("patch").is_some());
    let params = paths["/api/opinions"]["get"]["parameters"].as_array().unwrap();
    assert!(
        params.iter().all(|p| p["in"] == "query"),
        "query parameters are documented as such: {params:?}"
    );

    // The page is served from the binary with a strict CSP.
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let etag = page.headers()["etag"].to_str().unwrap().to_owned();
    let again = app
        .client
        .get(app.url("/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::NOT_MODIFIED,
        "an unchanged page is not sent again"
    );
    assert!(again.headers().contains_key("content-security-policy"));
    let html = page.text().await.unwrap();
    assert!(html.contains("政务开放日") && html.contains("/app.js") && !html.contains("<script>"));
    // The page's script and the helper kit and labels every page imports.
    for path in ["/app.js", "/dom.js", "/labels.js"] {
        let js = app.client.get(app.url(path)).send().await.unwrap();
        assert!(
            js.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/javascript"),
            "{path}"
        );
        assert!(
            !js.text().await.unwrap().contains("innerHTML"),
            "{path}: user text is set as text only"
        );
    }
    app.stop().await;
}
