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
    app.sql(
        "UPDATE sign_in_failures SET locked_until = '2000-01-01T00:00:00Z'",
        None,
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
    app.sql("UPDATE sessions SET idle_until = '2000-01-01T00:00:00Z'", None)
        .await;
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
    // A change of what was announced needs a reason, is reported with the
    // values before and after, and shows on the public page.
    let moved = app
        .patch(
            &format!("/api/events/{event}"),
            admin,
            json!({ "venue": "区政务服务中心二层" }),
        )
        .await;
    assert_eq!(moved.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", moved.body);
    assert_eq!(moved.body["error"]["details"]["field"], "change_reason");
    let kept = app
        .patch(
            &format!("/api/events/{event}"),
            admin,
            json!({ "venue": "区政务服务中心二层", "form": "online", "change_reason": "一层大厅装修" }),
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{:?}", kept.body);
    let reports = app.get(&format!("/api/change-reports?event={event}"), admin).await.body;
    let change = &reports[0];
    assert_eq!(
        (change["kind"].as_str(), change["reason"].as_str()),
        (Some("change"), Some("一层大厅装修"))
    );
    assert_eq!(change["after"]["venue"], "区政务服务中心二层");
    assert!(
        change["before"].get("venue").is_some() && change["after"]["form"] == "online",
        "{change:?}"
    );
    let public = app.get(&format!("/api/events/{event}/changes"), None).await.body;
    assert_eq!(public[0]["reason"], "一层大厅装修", "{public:?}");
    assert!(
        public[0].get("reported_by").is_none(),
        "no staff names in public: {public:?}"
    );
    // An edit that changes nothing of the announcement needs no reason.
    let summary = app
        .patch(&format!("/api/events/{event}"), admin, json!({ "summary": "新的简介" }))
        .await;
    assert_eq!(summary.status, StatusCode::OK, "{:?}", summary.body);
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

on_both_backends!(
    the_retention_job_removes_addresses_and_identities_but_keeps_opinions,
    a_viewer_deletes_their_own_data,
);

/// A verified viewer's approved question in a live verified room, the event ended (its opinion captured).
async fn asked_and_ended(app: &mut TestApp, phone: &str) -> (i64, String, String) {
    app.identity_mode = "verified";
    let event = app.live_event().await;
    let moderator = app.staff("mod", "moderator", None).await;
    let mut console = app.staff_ws(event, &moderator).await;
    let verification = crate::verification::verify(app, phone).await;
    let mut viewer = app
        .ws(event, json!({ "nickname": "居民", "verification": verification }))
        .await;
    let token = viewer.welcome["viewer"]["token"].as_str().unwrap().to_owned();
    viewer.expect("snapshot").await;
    let asked = viewer
        .request(json!({ "type": "ask", "text": "小区加装电梯怎么申请？" }), "q")
        .await;
    let id = asked["question"]["id"].as_i64().unwrap();
    console
        .request(json!({ "type": "approve", "question_id": id }), "a")
        .await;
    let end = app
        .post(&format!("/api/events/{event}/end"), Some(&moderator), json!({}))
        .await;
    assert_eq!(end.status, StatusCode::OK, "{:?}", end.body);
    (event, token, verification)
}

async fn the_retention_job_removes_addresses_and_identities_but_keeps_opinions(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let (event, _, _) = asked_and_ended(&mut app, "13612340000").await;
    let count = |sql: &'static str| {
        let app = &app;
        async move { app.sql_texts(sql).await.into_iter().next() }
    };
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS TEXT) FROM questions WHERE ip IS NOT NULL")
            .await
            .as_deref(),
        Some("1")
    );
    // Not yet due: nothing is removed.
    minsheng::app::retention(&app.store, 180).await.unwrap();
    assert_eq!(
        count("SELECT CAST(COUNT(*) AS TEXT) FROM identities").await.as_deref(),
        Some("1")
    );

    // Long ago: the event ended, the number was verified, its verification ran out.
    app.sql("UPDATE events SET ended_at = '2020-01-01T00:00:00Z'", None)
        .await;
    app.sql("UPDATE identities SET verified_at = '2020-01-01T00:00:00Z'", None)
        .await;
    app.sql("UPDATE verifications SET expires_at = '2020-02-01T00:00:00Z'", None)
        .await;
    minsheng::app::retention(&app.store, 180).await.unwrap();
    for sql in [
        "SELECT CAST(COUNT(*) AS TEXT) FROM questions WHERE ip IS NOT NULL OR identity_id IS NOT NULL",
        "SELECT CAST(COUNT(*) AS TEXT) FROM identities",
        "SELECT CAST(COUNT(*) AS TEXT) FROM opinions WHERE viewer_key IS NOT NULL OR identity_id IS NOT NULL",
    ] {
        assert_eq!(count(sql).await.as_deref(), Some("0"), "{sql}");
    }
    // The question and the opinion stay, anonymous.
    assert_eq!(
        count("SELECT text FROM opinions").await.as_deref(),
        Some("小区加装电梯怎么申请？")
    );
    assert!(
        app.get(&format!("/api/events/{event}/record"), Some(&app.admin_token))
            .await
            .body["questions"]
            .to_string()
            .contains("加装电梯")
    );
    let log = app
        .get("/api/security-log?kind=retention", Some(&app.admin_token))
        .await
        .body;
    assert!(
        log[0]["detail"].as_str().unwrap().contains("\"identities\":1"),
        "{log:?}"
    );
    app.stop().await;
}

async fn a_viewer_deletes_their_own_data(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let (event, token, verification) = asked_and_ended(&mut app, "13612341111").await;
    let r = app
        .post(
            "/api/viewer/forget",
            None,
            json!({ "viewer_token": token, "verification": verification }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["identity_removed"], true);
    assert_eq!(
        app.sql_texts("SELECT CAST(COUNT(*) AS TEXT) FROM identities")
            .await
            .first()
            .map(String::as_str),
        Some("0")
    );
    assert_eq!(
        app.sql_texts("SELECT CAST(COUNT(*) AS TEXT) FROM questions WHERE ip IS NOT NULL OR identity_id IS NOT NULL")
            .await
            .first()
            .map(String::as_str),
        Some("0")
    );
    let back = app.ws(event, json!({ "verification": verification })).await;
    assert_eq!(back.welcome["viewer"]["verified"], false);
    let bad = app.post("/api/viewer/forget", None, json!({})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    app.stop().await;
}

/// Disabling an account on one node closes its console on another within
/// the sessions' re-check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_account_loses_its_console_on_every_node() {
    use crate::cluster::harness::{Cluster, SLOW_WAIT};
    let Some(cluster) = Cluster::start(2).await else {
        return;
    };
    let event = cluster.live_event().await;
    let body = json!({ "username": "mod2", "display_name": "审核员二", "password": PASSWORD, "role": "moderator" });
    let account = cluster.http(0, reqwest::Method::POST, "/api/users", Some(body)).await;
    let id = account["id"].as_i64().unwrap();
    let login: Value = reqwest::Client::new()
        .post(format!("http://{}/api/auth/login", cluster.nodes[1].addr))
        .json(&json!({ "username": "mod2", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_owned();
    let mut console = cluster.connect(1, event, json!({ "session": token })).await;
    console.expect(|f| f["type"] == "queue").await;
    cluster
        .http(
            0,
            reqwest::Method::PATCH,
            &format!("/api/users/{id}"),
            Some(json!({ "active": false })),
        )
        .await;
    let ended = console
        .expect_within(SLOW_WAIT, |f| f["type"] == "error" && f["code"] == "session_ended")
        .await;
    assert_eq!(ended["code"], "session_ended");
}
