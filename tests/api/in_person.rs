//! Issue 17, the rest of the list's life: the place's capacity, choosing by
//! hand, taking someone off the list, and everyone on it told again when
//! the event is rescheduled or cancelled.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, live_settings, spawn_app_with};
use crate::on_both_backends;
use crate::verification::verify;

on_both_backends!(a_list_chosen_by_hand_is_told_of_a_reschedule_and_a_cancellation);

/// The messages to the event's list once `n` of them are recorded (they go
/// out in the background after the change is committed).
async fn messages(app: &TestApp, event: i64, n: usize) -> Vec<Value> {
    let path = format!("/api/events/{event}/participant-messages");
    for _ in 0..100 {
        let r = app.get(&path, Some(&app.admin_token)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let list = r.body.as_array().unwrap().clone();
        if list.len() >= n {
            return list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} messages to the list of event {event}");
}

async fn a_list_chosen_by_hand_is_told_of_a_reschedule_and_a_cancellation(backend: Backend) {
    let mut live = live_settings();
    live.identity.codes_per_ip_per_hour = 0;
    let Some(app) = spawn_app_with(backend, live).await else {
        return;
    };
    let event = app.announced_event().await;
    let admin = Some(app.admin_token.as_str());

    // The place holds four; the notice says what to bring.
    let settings = app
        .request(
            Method::PUT,
            &format!("/api/events/{event}/attendance"),
            admin,
            Some(json!({ "capacity": 4, "bring": "请携带身份证，提前15分钟到达一层大厅" })),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{:?}", settings.body);
    let public = app.get(&format!("/api/events/{event}/attendance"), None).await;
    assert_eq!(public.body["capacity"], 4);

    // Three applicants; the unit chooses two by hand and keeps one in reserve.
    let now = chrono::Utc::now();
    let selection = app
        .request(
            Method::PUT,
            &format!("/api/events/{event}/selection"),
            admin,
            Some(json!({
                "text": "遴选 2 名居民代表。", "places": 2,
                "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
                "closes_at": (now + chrono::Duration::days(1)).to_rfc3339(),
                "reply_by": (now + chrono::Duration::days(2)).date_naive(),
                "groups": [{ "name": "社区居民", "share": 100 }],
                "fields": { "street": "required", "reason": "hidden" },
            })),
        )
        .await;
    assert_eq!(selection.status, StatusCode::OK, "{:?}", selection.body);
    let path = format!("/api/events/{event}/selection");
    app.post(&format!("{path}/publish"), admin, json!({})).await;
    let mut refs = Vec::new();
    for i in 0..3 {
        let verification = verify(&app, &format!("1360000{i:04}")).await;
        let signup = |street: Option<&str>| {
            json!({ "verification": verification, "name": format!("居民{i}"), "group": "社区居民",
                    "street": street, "reason": "想来看看" })
        };
        if i == 0 {
            // This announcement asks for the 街道/镇.
            let r = app
                .post(&format!("/api/events/{event}/signups"), None, signup(None))
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        }
        let r = app
            .post(&format!("/api/events/{event}/signups"), None, signup(Some("清源街道")))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        refs.push(r.body["reference"].as_str().unwrap().to_owned());
    }
    let stranger = app
        .post(
            &format!("{path}/choose"),
            admin,
            json!({ "chosen": [refs[0], "MS-NOPE"], "reserves": [] }),
        )
        .await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", stranger.body);
    let too_many = app
        .post(&format!("{path}/choose"), admin, json!({ "chosen": refs }))
        .await;
    assert_eq!(too_many.status, StatusCode::UNPROCESSABLE_ENTITY, "two places");
    let chosen = app
        .post(
            &format!("{path}/choose"),
            admin,
            json!({ "chosen": [refs[0], refs[1]], "reserves": [refs[2]] }),
        )
        .await;
    assert_eq!(chosen.status, StatusCode::OK, "{:?}", chosen.body);
    let result = &chosen.body["result"];
    assert_eq!(
        (result["method"].as_str(), result["seed"].is_null()),
        (Some("manual"), true)
    );
    assert_eq!(result["chosen"].as_array().unwrap().len(), 2);
    let again = app.post(&format!("{path}/draw"), admin, json!({})).await;
    assert_eq!(
        (again.status, again.error_code()),
        (StatusCode::CONFLICT, "wrong_status")
    );

    // Two invitations fill the place; a walk-in is then refused.
    for (name, phone) in [("王代表", "13911120001"), ("李委员", "13911120002")] {
        let r = app
            .post(
                &format!("/api/events/{event}/invitations"),
                admin,
                json!({ "name": name, "group": "人大代表", "phone": phone }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let full = app
        .post(
            &format!("/api/events/{event}/walk-ins"),
            admin,
            json!({ "name": "路人", "group": "社区居民" }),
        )
        .await;
    assert_eq!(
        (full.status, full.error_code()),
        (StatusCode::CONFLICT, "capacity_reached")
    );

    // The reason is not asked by this announcement: not kept.
    let listed = app.get(&format!("/api/events/{event}/participants"), admin).await.body;
    assert!(
        listed.as_array().unwrap().iter().all(|p| p["reason"].is_null()),
        "{listed:?}"
    );

    // Everyone on the list is notified; the notice says what to bring.
    let sent = app
        .post(&format!("/api/events/{event}/notices"), admin, json!({}))
        .await;
    assert_eq!(sent.body["sent"], 4, "{:?}", sent.body);
    assert!(app.sms.lines().last().unwrap().contains("提前15分钟"));
    let first_link = app
        .sms
        .lines()
        .iter()
        .find(|l| l.contains("attendance_notice"))
        .unwrap()
        .rsplit_once('#')
        .unwrap()
        .1
        .trim()
        .to_owned();
    assert_eq!(messages(&app, event, 4).await.len(), 4);

    // A reference is checked in at its own event only.
    let other = app.announce("open-day-08").await;
    let elsewhere = app
        .post(
            &format!("/api/events/{other}/check-in"),
            admin,
            json!({ "reference": refs[0] }),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND, "{:?}", elsewhere.body);

    // The unit takes an invitation back; it is off the list, and no one moves up for it.
    let invited: Vec<Value> = app
        .get(&format!("/api/events/{event}/participants"), admin)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "invited")
        .cloned()
        .collect();
    let withdrawn = invited[1]["reference"].as_str().unwrap();
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/events/{event}/participants/{withdrawn}"),
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["moved_up"].is_null());

    // Rescheduled: the three still on the list get the new time and a new link.
    let before = app.sms.lines().len();
    let new_start = chrono::Utc::now() + chrono::Duration::days(12);
    let r = app
        .post(
            &format!("/api/events/{event}/reschedule"),
            admin,
            json!({ "starts_at": new_start.to_rfc3339(), "reason": "场馆检修" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let told = messages(&app, event, 7).await;
    let rescheduled: Vec<&Value> = told.iter().filter(|m| m["kind"] == "reschedule").collect();
    assert_eq!(rescheduled.len(), 3, "{told:?}");
    assert!(rescheduled.iter().all(|m| m["delivered"] == true));
    let lines = app.sms.lines()[before..].to_vec();
    assert!(
        lines
            .iter()
            .all(|l| l.contains("attendance_rescheduled") && l.contains("时间有变")),
        "{lines:?}"
    );
    assert_eq!(
        app.get(&format!("/api/notices/{first_link}"), None).await.status,
        StatusCode::NOT_FOUND,
        "the old link is replaced by the new one"
    );
    let new_link = lines[0].rsplit_once('#').unwrap().1.trim();
    let page = app.get(&format!("/api/notices/{new_link}"), None).await.body;
    let local = new_start.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    assert!(
        page["starts_at_local"]
            .as_str()
            .unwrap()
            .starts_with(&local.format("%Y-%m-%d").to_string()),
        "{page:?}"
    );
    assert_eq!(page["bring"], "请携带身份证，提前15分钟到达一层大厅");

    // A node that stopped between a reschedule's commit and its sending: the
    // debt stays in the store and the next notice round (or any node's
    // sweep) pays it; a person another sender has claimed is left to it
    // until the claim runs out.
    let owed = || app.sql_texts("SELECT reference FROM participants WHERE owed_message IS NOT NULL ORDER BY id");
    assert!(
        owed().await.is_empty(),
        "the reschedule's messages were sent and cleared"
    );
    let (lost, claimed) = (
        rescheduled[0]["reference"].as_str().unwrap(),
        rescheduled[1]["reference"].as_str().unwrap(),
    );
    let owe = |reference: &str| {
        format!(
            "UPDATE participants SET owed_message = 'reschedule', owed_link_base = 'https://gov.example', \
             owed_claimed_at = $1 WHERE reference = '{reference}'"
        )
    };
    app.sql(&owe(lost), Some(chrono::Utc::now() - chrono::Duration::minutes(10)))
        .await;
    app.sql(&owe(claimed), Some(chrono::Utc::now())).await;
    let r = app
        .post(&format!("/api/events/{event}/notices"), admin, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let told = messages(&app, event, 8).await;
    let again: Vec<&str> = told[7..].iter().map(|m| m["reference"].as_str().unwrap()).collect();
    assert_eq!(again, [lost], "{told:?}");
    assert!(
        app.sms
            .lines()
            .last()
            .unwrap()
            .contains("https://gov.example/notice.html#")
    );
    assert_eq!(owed().await, [claimed], "a live claim is left to its sender");
    app.sql(
        &format!("UPDATE participants SET owed_claimed_at = $1 WHERE reference = '{claimed}'"),
        Some(chrono::Utc::now() - chrono::Duration::minutes(6)),
    )
    .await;
    app.post(&format!("/api/events/{event}/notices"), admin, json!({}))
        .await;
    let told = messages(&app, event, 9).await;
    assert_eq!(told.len(), 9, "each debt paid once: {told:?}");
    assert_eq!(told[8]["reference"], claimed);
    assert!(owed().await.is_empty());
    // Each message came with a new page link: the latest is the one that works.
    let new_link = app
        .sms
        .lines()
        .last()
        .unwrap()
        .rsplit_once('#')
        .unwrap()
        .1
        .trim()
        .to_owned();

    // Cancelled: everyone who signed up, was chosen or invited and did not
    // leave is told — the reserve too, not the invitation taken back.
    let r = app
        .post(
            &format!("/api/events/{event}/cancel"),
            admin,
            json!({ "reason": "天气原因" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let told = messages(&app, event, 13).await;
    let cancelled: Vec<&str> = told
        .iter()
        .filter(|m| m["kind"] == "cancel")
        .map(|m| m["reference"].as_str().unwrap())
        .collect();
    assert_eq!(cancelled.len(), 4, "{told:?}");
    assert!(cancelled.contains(&refs[2].as_str()) && !cancelled.contains(&withdrawn));
    let page = app.get(&format!("/api/notices/{new_link}"), None).await.body;
    assert_eq!(
        (page["cancelled"].as_bool(), page["suggestions_open"].as_bool()),
        (Some(true), Some(false))
    );
    let r = app
        .post(
            &format!("/api/notices/{new_link}/suggestion"),
            None,
            json!({ "text": "可惜取消了" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    app.stop().await;
}
