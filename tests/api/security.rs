//! Issue 16: staff accounts a district can defend (等保 level 2): lockout,
//! idle expiry, password changes and resets, disabling accounts, the
//! security log, unmasked exports with a reason, announcements that keep
//! their required parts, and the pages a district may embed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, http_settings, live_settings, spawn_app, spawn_app_full};
use crate::on_both_backends;

on_both_backends!(
    five_wrong_passwords_lock_a_name_whether_or_not_it_exists,
    an_idle_session_expires,
    a_password_change_ends_the_other_sessions_and_a_reset_must_be_changed,
    a_disabled_account_is_shut_out_at_once,
    unmasked_exports_need_a_reason_and_announced_events_keep_their_parts,
);

const PASSWORD: &str = "staff-password-123";

async fn sign_in(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn run_sql(app: &TestApp, sql: &str) {
    use sqlx::Connection;
    let url = app.database_url.expose();
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
}

/// The kinds in the security log, newest first.
async fn security_kinds(app: &TestApp) -> Vec<String> {
    let log = app.get("/api/security-log", Some(&app.admin_token)).await;
    assert_eq!(log.status, StatusCode::OK, "{:?}", log.body);
    log.body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn five_wrong_passwords_lock_a_name_whether_or_not_it_exists(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    app.staff("mod", "moderator", None).await;
    for name in ["mod", "nobody-by-this-name"] {
        for _ in 0..5 {
            assert_eq!(
                sign_in(&app, name, "wrong-password-1").await.status(),
                StatusCode::UNAUTHORIZED
            );
        }
        // Locked: even the right password is refused, and the answer says when to come back.
        let locked = sign_in(&app, name, PASSWORD).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS, "{name}");
        let wait: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&wait), "{wait}");
        let body: Value = locked.json().await.unwrap();
        assert_eq!(body["error"]["code"], "account_locked");
    }
    let kinds = security_kinds(&app).await;
    assert_eq!(kinds.iter().filter(|k| *k == "account_locked").count(), 2, "{kinds:?}");
    assert!(kinds.iter().filter(|k| *k == "sign_in_failed").count() >= 10);
    let locks = app
        .get(
            "/api/security-log?kind=account_locked&format=csv",
            Some(&app.admin_token),
        )
        .await;
    assert_eq!(locks.status, StatusCode::OK);
    let refused = app
        .get(
            "/api/security-log",
            Some(&app.staff("viewer-mod", "moderator", None).await),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Once the lock lifts, the right password signs in (and clears the count).
    run_sql(
        &app,
        "UPDATE sign_in_failures SET locked_until = '2000-01-01T00:00:00Z'",
    )
    .await;
    assert_eq!(sign_in(&app, "mod", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(security_kinds(&app).await[0], "sign_in");
    app.stop().await;
}

async fn an_idle_session_expires(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    app.import_plan().await;
    let token = app.staff("unit1", "unit_staff", Some("rsj")).await;
    let me = app.get("/api/auth/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK);
    let login: Value = sign_in(&app, "unit1", PASSWORD).await.json().await.unwrap();
    assert_eq!(login["idle_minutes"], 30);
    run_sql(&app, "UPDATE sessions SET idle_until = '2000-01-01T00:00:00Z'").await;
    let expired = app.get("/api/auth/me", Some(&token)).await;
    assert_eq!(
        (expired.status, expired.error_code()),
        (StatusCode::UNAUTHORIZED, "session_expired")
    );
    app.stop().await;
}

async fn a_password_change_ends_the_other_sessions_and_a_reset_must_be_changed(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    app.import_plan().await;
    let first = app.staff("unit1", "unit_staff", Some("rsj")).await;
    let second = app.login("unit1", PASSWORD).await;
    let mine = app.get("/api/auth/sessions", Some(&first)).await;
    assert_eq!(mine.body.as_array().unwrap().len(), 2, "{:?}", mine.body);

    let change = |old: &str, new: &str| json!({ "old_password": old, "new_password": new });
    let wrong = app
        .post(
            "/api/auth/password",
            Some(&first),
            change("not-it-at-all", "a-new-long-password"),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.error_code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let common = app
        .post("/api/auth/password", Some(&first), change(PASSWORD, "password123"))
        .await;
    assert_eq!(common.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", common.body);
    let named = app
        .post("/api/auth/password", Some(&first), change(PASSWORD, "unit1unit1"))
        .await;
    assert_eq!(named.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", named.body);
    let done = app
        .post(
            "/api/auth/password",
            Some(&first),
            change(PASSWORD, "a-new-long-password"),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{:?}", done.body);
    assert_eq!(
        app.get("/api/auth/me", Some(&second)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/api/auth/me", Some(&first)).await.status, StatusCode::OK);

    // An administrator's reset: a one-time password, to be changed first.
    let users = app.get("/api/users", Some(&app.admin_token)).await.body;
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "unit1")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let reset = app
        .post(&format!("/api/users/{id}/password"), Some(&app.admin_token), json!({}))
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{:?}", reset.body);
    assert_eq!(
        app.get("/api/auth/me", Some(&first)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let once = reset.body["one_time_password"].as_str().unwrap().to_owned();
    let login: Value = sign_in(&app, "unit1", &once).await.json().await.unwrap();
    assert_eq!(login["must_change_password"], true);
    let token = login["token"].as_str().unwrap().to_owned();
    let blocked = app.get("/api/opinions", Some(&token)).await;
    assert_eq!(
        (blocked.status, blocked.error_code()),
        (StatusCode::FORBIDDEN, "password_change_required")
    );
    let done = app
        .post("/api/auth/password", Some(&token), change(&once, "my-own-password-77"))
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{:?}", done.body);
    assert_eq!(app.get("/api/opinions", Some(&token)).await.status, StatusCode::OK);

    // Ending one's own other session by its id.
    let other = app.login("unit1", "my-own-password-77").await;
    let sessions = app.get("/api/auth/sessions", Some(&token)).await.body;
    let ids: Vec<String> = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    for sid in &ids {
        let r = app
            .request(
                reqwest::Method::DELETE,
                &format!("/api/auth/sessions/{sid}"),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        if app.get("/api/auth/me", Some(other.as_str())).await.status == StatusCode::UNAUTHORIZED {
            break;
        }
    }
    let kinds = security_kinds(&app).await;
    for kind in ["password_changed", "password_reset", "session_ended"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    app.stop().await;
}

async fn a_disabled_account_is_shut_out_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let token = app.staff("mod", "moderator", None).await;
    let mut console = app.staff_ws(event, &token).await;
    let users = app.get("/api/users", Some(&app.admin_token)).await.body;
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "mod")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = app
        .patch(
            &format!("/api/users/{id}"),
            Some(&app.admin_token),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["active"].as_bool()),
        (StatusCode::OK, Some(false)),
        "{:?}",
        r.body
    );
    assert_eq!(
        app.get("/api/auth/me", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let (code, frames) = tokio::time::timeout(Duration::from_secs(20), console.closed())
        .await
        .expect("the console closes within seconds");
    assert_eq!(code, Some(4403));
    assert!(frames.iter().any(|f| f["code"] == "session_ended"), "{frames:?}");
    assert_eq!(sign_in(&app, "mod", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    // Administrators do not disable themselves; an account comes back when enabled.
    let me = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "admin")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let own = app
        .patch(
            &format!("/api/users/{me}"),
            Some(&app.admin_token),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN);
    let r = app
        .patch(
            &format!("/api/users/{id}"),
            Some(&app.admin_token),
            json!({ "active": true, "role": "host", "display_name": "主持人甲" }),
        )
        .await;
    assert_eq!(
        (r.body["role"].as_str(), r.body["display_name"].as_str()),
        (Some("host"), Some("主持人甲"))
    );
    assert_eq!(sign_in(&app, "mod", PASSWORD).await.status(), StatusCode::OK);
    let kinds = security_kinds(&app).await;
    for kind in ["account_created", "account_disabled", "account_enabled"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    app.stop().await;
}

async fn unmasked_exports_need_a_reason_and_announced_events_keep_their_parts(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.announced_event().await;
    let admin = Some(app.admin_token.as_str());
    let bare = app.get("/api/opinions/export?personal_data=shown", admin).await;
    assert_eq!(
        (bare.status, bare.error_code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    );
    let with_reason = app
        .client
        .get(app.url("/api/opinions/export?personal_data=shown&reason=%E5%9B%9E%E8%AE%BF%E6%A0%B8%E5%AE%9E"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_reason.status(), StatusCode::OK);
    let log = app.get("/api/security-log?kind=export_unmasked", admin).await.body;
    assert!(log[0]["detail"].as_str().unwrap().contains("回访核实"), "{log:?}");

    // An announced event keeps what its announcement must state.
    let dropped = app
        .patch(&format!("/api/events/{event}"), admin, json!({ "agenda": null }))
        .await;
    assert_eq!(
        (dropped.status, dropped.error_code()),
        (StatusCode::CONFLICT, "announcement_incomplete")
    );
    let kept = app
        .patch(
            &format!("/api/events/{event}"),
            admin,
            json!({ "venue": "区政务服务中心二层" }),
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{:?}", kept.body);
    assert!(security_kinds(&app).await.iter().any(|k| k == "event_changed"));
    app.stop().await;
}

/// The live and public pages may be framed by this site and the district's
/// configured origins; staff pages by nobody.
#[tokio::test]
async fn the_public_pages_may_be_embedded_by_the_configured_origins() {
    let mut http = http_settings();
    http.frame_ancestors = vec!["https://www.bjdx.gov.cn".to_owned()];
    let app = spawn_app_full(Backend::Sqlite, live_settings(), http)
        .await
        .expect("SQLite");
    let csp = |path: &'static str| {
        let app = &app;
        async move {
            let r = app.client.get(app.url(path)).send().await.unwrap();
            let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
            (csp, r.headers()["x-frame-options"].to_str().unwrap().to_owned())
        }
    };
    let (live, xfo) = csp("/live.html").await;
    assert!(
        live.contains("frame-ancestors 'self' https://www.bjdx.gov.cn"),
        "{live}"
    );
    assert_eq!(xfo, "SAMEORIGIN");
    let (event, _) = csp("/event.html").await;
    assert!(
        event.contains("frame-ancestors 'self' https://www.bjdx.gov.cn"),
        "{event}"
    );
    let (console, xfo) = csp("/moderate.html").await;
    assert!(console.contains("frame-ancestors 'none'"), "{console}");
    assert_eq!(xfo, "DENY");
    app.stop().await;
}

on_both_backends!(a_second_factor_is_enrolled_and_needed_to_sign_in);

/// The current code of an authenticator app holding `otpauth_url`, `ahead`
/// steps on (the next step is accepted too: a code just used is not again).
pub fn app_code(otpauth_url: &str, ahead: u64) -> String {
    let totp = totp_rs::TOTP::from_url(otpauth_url).expect("an otpauth URL");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now + 30 * ahead)
}

async fn a_second_factor_is_enrolled_and_needed_to_sign_in(backend: Backend) {
    let mut http = http_settings();
    http.second_factor_roles = vec![minsheng::domain::staff::Role::UnitStaff];
    let Some(app) = spawn_app_full(backend, live_settings(), http).await else {
        return;
    };
    app.import_plan().await;
    // Created by the administrator (who needs none here); the unit's role needs one.
    let token = app.staff("unit1", "unit_staff", Some("rsj")).await;
    let blocked = app.get("/api/opinions", Some(&token)).await;
    assert_eq!(
        (blocked.status, blocked.error_code()),
        (StatusCode::FORBIDDEN, "second_factor_required")
    );
    let login: Value = sign_in(&app, "unit1", PASSWORD).await.json().await.unwrap();
    assert_eq!(login["must_enrol_second_factor"], true);

    let shown = app.post("/api/auth/second-factor", Some(&token), json!({})).await;
    assert_eq!(shown.status, StatusCode::OK, "{:?}", shown.body);
    assert!(shown.body["qr_svg"].as_str().unwrap().contains("<svg"));
    let url = shown.body["otpauth_url"].as_str().unwrap().to_owned();
    let wrong = app
        .post(
            "/api/auth/second-factor/confirm",
            Some(&token),
            json!({ "code": "000000" }),
        )
        .await;
    assert_eq!(wrong.error_code(), "otp_wrong");
    let confirmed = app
        .post(
            "/api/auth/second-factor/confirm",
            Some(&token),
            json!({ "code": app_code(&url, 0) }),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
    let recovery: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(app.get("/api/opinions", Some(&token)).await.status, StatusCode::OK);

    // Sign-in now needs the code; a code counts once; a recovery code once.
    let needs = sign_in(&app, "unit1", PASSWORD).await;
    let body: Value = needs.json().await.unwrap();
    assert_eq!(body["error"]["code"], "otp_required");
    let with = |otp: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url("/api/auth/login"))
                .json(&json!({ "username": "unit1", "password": PASSWORD, "otp": otp }))
                .send()
                .await
                .unwrap()
        }
    };
    let next = app_code(&url, 1);
    assert_eq!(with(next.clone()).await.status(), StatusCode::OK);
    let replayed: Value = with(next).await.json().await.unwrap();
    assert_eq!(replayed["error"]["code"], "otp_wrong");
    assert_eq!(with(recovery[3].to_uppercase()).await.status(), StatusCode::OK);
    let again: Value = with(recovery[3].clone()).await.json().await.unwrap();
    assert_eq!(again["error"]["code"], "otp_wrong");

    // An administrator resets it (a lost phone): logged; enrolment is asked again.
    let users = app.get("/api/users", Some(&app.admin_token)).await.body;
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "unit1")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let reset = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/users/{id}/second-factor"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    let login: Value = sign_in(&app, "unit1", PASSWORD).await.json().await.unwrap();
    assert_eq!(login["must_enrol_second_factor"], true);
    let kinds = security_kinds(&app).await;
    for kind in ["second_factor_enrolled", "recovery_code_used", "second_factor_reset"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    app.stop().await;
}
