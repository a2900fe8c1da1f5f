//! Issue 17, first part: an in-person open day's selection announcement
//! (遴选公告), sign-ups with verified numbers, a stratified draw anyone can
//! re-run from its published seed, and a withdrawal moving a reserve up.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, live_settings, spawn_app_with};
use crate::on_both_backends;
use crate::verification::verify;

on_both_backends!(thirty_sign_ups_a_reproducible_draw_and_a_reserve_moving_up);

const GROUPS: [&str; 3] = ["社区居民", "企业", "家长"];

async fn thirty_sign_ups_a_reproducible_draw_and_a_reserve_moving_up(backend: Backend) {
    let mut live = live_settings();
    live.identity.codes_per_ip_per_hour = 0;
    let Some(app) = spawn_app_with(backend, live).await else {
        return;
    };
    let event = app.announced_event().await;
    let admin = Some(app.admin_token.as_str());
    let path = format!("/api/events/{event}/selection");
    let now = chrono::Utc::now();
    let body = json!({
        "text": "面向全区公开遴选 9 名群众代表参加本次开放日。",
        "places": 9,
        "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "closes_at": (now + chrono::Duration::days(2)).to_rfc3339(),
        "reply_by": (now + chrono::Duration::days(3)).date_naive(),
        "groups": [{ "name": "社区居民", "share": 50 }, { "name": "企业", "share": 30 }, { "name": "家长", "share": 20 }],
    });
    let mut wrong = body.clone();
    wrong["groups"] = json!([{ "name": "社区居民", "share": 60 }]);
    let bad = app.request(reqwest::Method::PUT, &path, admin, Some(wrong)).await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "shares add up to 100: {:?}",
        bad.body
    );
    let saved = app.request(reqwest::Method::PUT, &path, admin, Some(body)).await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    assert_eq!(
        app.get(&path, None).await.status,
        StatusCode::NOT_FOUND,
        "not public before it is published"
    );
    let draft = app.get(&path, admin).await;
    assert_eq!(
        (draft.status, draft.body["published_at"].is_null()),
        (StatusCode::OK, true),
        "the unit reads its draft"
    );
    let published = app.post(&format!("{path}/publish"), admin, json!({})).await;
    assert_eq!(published.status, StatusCode::OK, "{:?}", published.body);
    assert_eq!(app.get(&path, None).await.body["open"], true);

    // Thirty people in three groups, each with a verified number.
    let signups = format!("/api/events/{event}/signups");
    let mut tokens: HashMap<String, String> = HashMap::new();
    let mut first_token = String::new();
    for i in 0..30 {
        let phone = format!("1350000{i:04}");
        let verification = verify(&app, &phone).await;
        let r = app
            .post(
                &signups,
                None,
                json!({ "verification": verification, "name": format!("居民{i}号"), "group": GROUPS[i % 3], "street": "兴丰街道" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let reference = r.body["reference"].as_str().unwrap().to_owned();
        if i == 0 {
            first_token = verification.clone();
        }
        tokens.insert(reference, verification);
    }
    let again = app
        .post(
            &signups,
            None,
            json!({ "verification": first_token, "name": "再来一次", "group": "企业" }),
        )
        .await;
    assert_eq!(
        (again.status, again.error_code()),
        (StatusCode::CONFLICT, "already_signed_up")
    );
    let odd = app
        .post(
            &signups,
            None,
            json!({ "verification": first_token, "name": "某人", "group": "外星人" }),
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unverified = app
        .post(
            &signups,
            None,
            json!({ "verification": "0".repeat(64), "name": "某人", "group": "企业" }),
        )
        .await;
    assert_eq!(unverified.error_code(), "verification_required");

    // The draw, with a seed the public sees, stratified 4 / 3 / 2.
    let drawn = app
        .post(&format!("{path}/draw"), admin, json!({ "seed": "大兴-开放日-2024" }))
        .await;
    assert_eq!(drawn.status, StatusCode::OK, "{:?}", drawn.body);
    let result = &drawn.body["result"];
    assert_eq!(result["seed"], "大兴-开放日-2024");
    let chosen = result["chosen"].as_array().unwrap();
    let reserves = result["reserves"].as_array().unwrap();
    assert_eq!((chosen.len(), reserves.len()), (9, 21));
    let per_group = |g: &str| chosen.iter().filter(|p| p["group"] == g).count();
    assert_eq!((per_group("社区居民"), per_group("企业"), per_group("家长")), (4, 3, 2));
    assert!(
        chosen.iter().all(|p| p["name"].as_str().unwrap().ends_with('*')),
        "{chosen:?}"
    );
    assert!(chosen.iter().all(|p| p["phone"].as_str().unwrap().contains("****")));

    // Anyone re-runs it from what was published and gets the same list.
    let groups: Vec<minsheng::domain::selection::GroupTarget> =
        serde_json::from_value(drawn.body["groups"].clone()).unwrap();
    let applicants: Vec<(String, String)> = chosen
        .iter()
        .chain(reserves)
        .map(|p| {
            (
                p["reference"].as_str().unwrap().to_owned(),
                p["group"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let rerun = minsheng::domain::selection::draw("大兴-开放日-2024", 9, &groups, &applicants);
    let published: Vec<String> = chosen
        .iter()
        .map(|p| p["reference"].as_str().unwrap().to_owned())
        .collect();
    let mut rerun_chosen = rerun.chosen.clone();
    let mut published_sorted = published.clone();
    rerun_chosen.sort();
    published_sorted.sort();
    assert_eq!(rerun_chosen, published_sorted);
    let published_reserves: Vec<String> = reserves
        .iter()
        .map(|p| p["reference"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rerun.reserves, published_reserves, "the reserves in the same order");

    // Closed now; a chosen person withdraws and the first reserve moves up.
    let late = app
        .post(
            &signups,
            None,
            json!({ "verification": first_token, "name": "迟到", "group": "企业" }),
        )
        .await;
    assert_eq!(late.error_code(), "signup_closed");
    let leaving = &published[0];
    let not_theirs = app
        .post(
            &format!("/api/signups/{leaving}/withdraw"),
            None,
            json!({ "verification": "1".repeat(64) }),
        )
        .await;
    assert_eq!(not_theirs.status, StatusCode::NOT_FOUND);
    let gone = app
        .post(
            &format!("/api/signups/{leaving}/withdraw"),
            None,
            json!({ "verification": tokens[leaving] }),
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{:?}", gone.body);
    assert_eq!(gone.body["moved_up"], published_reserves[0].as_str());
    let now_public = app.get(&path, None).await.body;
    let chosen_now: Vec<&str> = now_public["result"]["chosen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reference"].as_str().unwrap())
        .collect();
    assert_eq!(chosen_now.len(), 9);
    assert!(chosen_now.contains(&published_reserves[0].as_str()) && !chosen_now.contains(&leaving.as_str()));

    // Two representatives invited by name, then everyone chosen or invited is notified.
    for (name, group, phone) in [
        ("王代表", "人大代表", "13911110001"),
        ("李委员", "政协委员", "13911110002"),
    ] {
        let r = app
            .post(
                &format!("/api/events/{event}/invitations"),
                admin,
                json!({ "name": name, "group": group, "organisation": "区人大", "phone": phone }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert_eq!(
            (r.body["kind"].as_str(), r.body["status"].as_str()),
            (Some("invited"), Some("chosen"))
        );
    }
    let before = app.sms.lines().len();
    let sent = app
        .post(&format!("/api/events/{event}/notices"), admin, json!({}))
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    assert_eq!(
        (sent.body["sent"].as_u64(), sent.body["late"].as_bool()),
        (Some(11), Some(false))
    );
    let notices: Vec<String> = app.sms.lines()[before..].to_vec();
    assert_eq!(notices.len(), 11, "{notices:?}");
    assert!(notices.iter().all(|l| l.contains("attendance_notice")));
    let link = notices[0]
        .split("签到码入场：")
        .nth(1)
        .expect("a link")
        .trim()
        .to_owned();
    let (_, token) = link.split_once("/notice.html#").expect("a link to the notice page");
    let notice_path = format!("/api/notices/{token}");
    let page = app.get(&notice_path, None).await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    assert!(page.body["check_in_qr_svg"].as_str().unwrap().contains("<svg"));
    assert!(page.body["name"].as_str().unwrap().ends_with('*'));
    let arriving = page.body["reference"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/notices/nope", None).await.status, StatusCode::NOT_FOUND);

    // Those notices went out days ago (backdated: a test cannot wait); the
    // start is now minutes away and a third invitation is notified late.
    let owed = 11;
    app.sql(
        &format!(
            "UPDATE participants SET notified_at = '{}' WHERE event_id = {event} AND notified_at IS NOT NULL",
            (chrono::Utc::now() - chrono::Duration::days(20)).to_rfc3339()
        ),
        None,
    )
    .await;
    let r = app
        .post(
            &format!("/api/events/{event}/invitations"),
            admin,
            json!({ "name": "赵家长", "group": "家长", "phone": "13911110003" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    app.sql(
        &format!(
            "UPDATE events SET starts_at = '{}' WHERE id = {event}",
            (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339()
        ),
        None,
    )
    .await;
    let late = app
        .post(&format!("/api/events/{event}/notices"), admin, json!({}))
        .await;
    assert_eq!(
        (late.body["sent"].as_u64(), late.body["late"].as_bool()),
        (Some(1), Some(true)),
        "{:?}",
        late.body
    );
    // The deadlines view judges the notice per person: one late.
    let deadlines = app.get("/api/deadlines", admin).await;
    let notice = deadlines
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["event_id"] == event && r["kind"] == "selection_notice")
        .expect("the event's notice deadline")
        .clone();
    assert_eq!(notice["state"], "late", "{notice:?}");
    assert_eq!(
        notice["people"],
        json!({ "people": owed + 1, "on_time": owed, "late": 1, "not_notified": 0 })
    );

    // At the door: the code checks in once; a walk-in is added checked in.
    let checked = app
        .post(
            &format!("/api/events/{event}/check-in"),
            admin,
            json!({ "reference": arriving }),
        )
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{:?}", checked.body);
    assert!(checked.body["checked_in_at"].is_string());
    let twice = app
        .post(
            &format!("/api/events/{event}/check-in"),
            admin,
            json!({ "reference": arriving }),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let walk_in = app
        .post(
            &format!("/api/events/{event}/walk-ins"),
            admin,
            json!({ "name": "路过的居民", "group": "社区居民" }),
        )
        .await;
    assert_eq!(walk_in.status, StatusCode::CREATED, "{:?}", walk_in.body);
    assert!(walk_in.body["checked_in_at"].is_string());
    // An invitation taken back counts nowhere: not in the record, not in the report.
    let extra = app
        .post(
            &format!("/api/events/{event}/invitations"),
            admin,
            json!({ "name": "赵代表", "group": "人大代表", "phone": "13911110009" }),
        )
        .await;
    assert_eq!(extra.status, StatusCode::CREATED, "{:?}", extra.body);
    let taken_back = extra.body["reference"].as_str().unwrap();
    let r = app
        .request(
            Method::DELETE,
            &format!("/api/events/{event}/participants/{taken_back}"),
            admin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // The unit sees everyone as written.
    let list = app.get(&format!("/api/events/{event}/participants"), admin).await;
    assert_eq!(
        list.body.as_array().unwrap().len(),
        35,
        "30 applicants, 3 invited, 1 walk-in, 1 invitation taken back"
    );
    let arrived = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["checked_in_at"].is_string())
        .count();
    assert_eq!(arrived, 2);

    // The record counts who took part, in person and online.
    for step in ["start", "end"] {
        let r = app.post(&format!("/api/events/{event}/{step}"), admin, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{step}: {:?}", r.body);
    }
    let record = app.get(&format!("/api/events/{event}/record"), admin).await;
    assert_eq!(record.status, StatusCode::OK, "{:?}", record.body);
    let t = &record.body["participation"];
    assert_eq!(
        (
            t["applicants"].as_i64(),
            t["chosen"].as_i64(),
            t["invited"].as_i64(),
            t["walk_ins"].as_i64()
        ),
        (Some(30), Some(9), Some(3), Some(1)),
        "{t:?}"
    );
    assert_eq!((t["notified"].as_i64(), t["attended"].as_i64()), (Some(12), Some(2)));
    assert_eq!(t["notified_on_time"], owed, "all but the late one");
    let on_list: i64 = t["by_group"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["on_list"].as_i64().unwrap())
        .sum();
    assert_eq!(on_list, 13, "9 chosen, 3 invited, 1 walk-in");
    assert!(list.body.to_string().contains("居民0号"));

    // What a representative said in person becomes an opinion of the event;
    // named only with consent.
    let opinions = format!("/api/events/{event}/opinions");
    let said = "建议开放日增加周末场次，方便上班族参加。";
    let unnamed = app
        .post(
            &opinions,
            admin,
            json!({ "text": said, "nickname": "王代表", "in_person": { "group": "人大代表" } }),
        )
        .await;
    assert_eq!(unnamed.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", unnamed.body);
    let r = app
        .post(
            &opinions,
            admin,
            json!({ "text": said, "in_person": { "group": "人大代表" } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(
        (
            r.body["via"].as_str(),
            r.body["speaker_group"].as_str(),
            r.body["nickname"].as_str()
        ),
        (Some("in_person"), Some("人大代表"), Some("现场代表"))
    );
    // And a representative writes one from their notice page.
    let page = app.get(&notice_path, None).await.body;
    assert_eq!(page["suggestions_open"], true, "{page:?}");
    let written = "希望后续能公布意见采纳的具体进展。";
    let r = app
        .post(&format!("{notice_path}/suggestion"), None, json!({ "text": written }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let workspace = app.get(&format!("/api/opinions?event={event}"), admin).await.body;
    let of = |text: &str| {
        workspace
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["text"] == text)
            .unwrap_or_else(|| panic!("{text} in {workspace:?}"))
            .clone()
    };
    assert_eq!(
        (of(said)["source"].as_str(), of(said)["state"].as_str()),
        (Some("offline"), Some("pending"))
    );
    assert_eq!(of(written)["via"], "written");
    assert!(of(written)["speaker_group"].is_string(), "the writer's group");
    assert!(of(written)["nickname"].as_str().unwrap().ends_with('*'));

    // The unit records that its principal leader took part; the report shows
    // the participation and the late notice.
    let host = app.get(&format!("/api/events/{event}"), admin).await.body["hosts"][0]["id"].clone();
    let r = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/events/{event}/leader"),
            admin,
            Some(json!({ "unit_id": host, "attended": true, "leader": "局长" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let leaders = app.get(&format!("/api/events/{event}/leader"), admin).await.body;
    assert_eq!(
        (leaders[0]["attended"].as_bool(), leaders[0]["leader"].as_str()),
        (Some(true), Some("局长"))
    );
    let record = app.get(&format!("/api/events/{event}/record"), admin).await.body;
    assert_eq!(record["participation"]["notified_on_time"], owed);
    assert_eq!(record["participation"]["principal_leaders"][0]["attended"], true);
    let html = app
        .get(&format!("/api/events/{event}/record?format=html"), admin)
        .await
        .body;
    let html = html.as_str().unwrap_or_default();
    assert!(
        html.contains("主要负责同志（局长）") && html.contains("现场加入"),
        "{html}"
    );
    let year = record["announcement"]["starts_at_local"].as_str().unwrap()[..4].to_owned();
    let report = app
        .get(&format!("/api/reports/performance?year={year}"), admin)
        .await
        .body;
    let unit = report["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["in_person"]["events"] == 1)
        .expect("the host unit's figures")
        .clone();
    assert_eq!(
        unit["people_notices"],
        json!({ "people": owed + 1, "on_time": owed, "late": 1, "not_notified": 0 })
    );
    let p = &unit["in_person"];
    assert_eq!(
        [
            &p["applicants"],
            &p["chosen"],
            &p["invited"],
            &p["walk_ins"],
            &p["attended"],
            &p["leader_recorded"],
            &p["leader_attended"]
        ],
        [
            &json!(30),
            &json!(9),
            &json!(3),
            &json!(1),
            &json!(2),
            &json!(1),
            &json!(1)
        ],
        "{p:?}"
    );
    assert_eq!(
        app.get(&format!("/api/events/{event}/participants"), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}
