//! An open day in person, in the pages (issue 17): a person signs up on a
//! phone-sized screen at /signup.html (their number verified with the code
//! of the captured text message), reads the published result with their
//! own reference marked, opens the link of their notice message at
//! /notice.html (the check-in QR code, 未签到), is checked in at
//! /door.html by staff typing the reference into the scan box as a scanner
//! would, and sees 已签到 on their notice, where they then leave a written
//! suggestion. What is not under test (the announcement, two more
//! applicants, the draw, the notices) goes through the API. A second test
//! withdraws from the sign-up page; a third checks how the pages are served.
//!
//! Like the other browser tests, it says so loudly and passes without
//! Chromium, unless MINSHENG_REQUIRE_BROWSER=1.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::webdriver::{Browser, Driver};
use crate::browser::{browser_here, fits, screenshots, set_value, shows, sign_in};
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::verification::{code_in, verify};

const GROUPS: [&str; 2] = ["社区居民", "企业"];
const PHONE: &str = "13912345678";
const MASKED: &str = "139****5678";

/// The phone the tests emulate: 390 × 844 CSS pixels.
async fn phone(driver: &Driver) -> Browser {
    driver.browser(390, 844, true).await
}

/// The selection announcement of `event`, written and published by `staff`:
/// 2 places, half and half, sign-ups open now.
async fn publish_selection(app: &TestApp, staff: &str, event: i64) {
    let now = chrono::Utc::now();
    let path = format!("/api/events/{event}/selection");
    let body = json!({
        "text": "面向全区公开遴选 2 名群众代表现场参加。\n<b>报名即表示同意</b>公示打码后的姓名和手机号。",
        "places": 2,
        "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "closes_at": (now + chrono::Duration::days(2)).to_rfc3339(),
        "reply_by": (now + chrono::Duration::days(3)).date_naive(),
        "groups": [{ "name": GROUPS[0], "share": 50 }, { "name": GROUPS[1], "share": 50 }],
    });
    let saved = app.request(reqwest::Method::PUT, &path, Some(staff), Some(body)).await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    let published = app.post(&format!("{path}/publish"), Some(staff), json!({})).await;
    assert_eq!(published.status, StatusCode::OK, "{:?}", published.body);
}

/// A seed whose draw chooses `wanted` among the applicants and leaves one reserve.
fn seed_choosing(wanted: &str, applicants: &[(String, String)]) -> String {
    let groups: Vec<minsheng::domain::selection::GroupTarget> = GROUPS
        .iter()
        .map(|g| minsheng::domain::selection::GroupTarget {
            name: (*g).to_owned(),
            share: 50,
        })
        .collect();
    (0..1000)
        .map(|i| format!("大兴-开放日-{i}"))
        .find(|seed| {
            let drawn = minsheng::domain::selection::draw(seed, 2, &groups, applicants);
            drawn.chosen.iter().any(|r| r == wanted) && drawn.reserves.len() == 1
        })
        .expect("a seed that chooses the person")
}

/// The page's value of `localStorage[key]`.
async fn local(b: &Browser, key: &str) -> Value {
    b.js("return localStorage.getItem(arguments[0])", json!([key])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_up_gets_the_notice_and_is_checked_in_at_the_door() {
    if !browser_here() {
        return;
    }
    let started = std::time::Instant::now();
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let event = app.announced_event().await; // open-day-06: 人保局, online and in person
    let staff = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    publish_selection(&app, &staff, event).await;
    let driver = Driver::start().await;
    let shots = screenshots();

    // The public event page leads to the sign-up page.
    let person = phone(&driver).await;
    person.goto(&app.url(&format!("/event.html?id={event}"))).await;
    let href = person
        .wait(
            "the sign-up link on the event page",
            "return document.querySelector('#signup-link a')?.getAttribute('href')",
            json!([]),
        )
        .await;
    assert_eq!(href, json!(format!("/signup.html?event={event}")));
    shows(&person, "the link's words", "#signup-link", "报名参加").await;
    person.click("#signup-link a").await;

    // The announcement, as text; the form, phone first.
    shows(&person, "the groups and their shares", "#groups", "社区居民").await;
    let text = person.text("#selection-text").await;
    assert!(
        text.contains("<b>报名即表示同意</b>"),
        "the announcement is text: {text}"
    );
    assert!(
        fits(&person, "#verify-form:not([hidden]) #verify-phone").await,
        "the sign-up page scrolls sideways at 390 px"
    );
    let form_hidden = person
        .js("return document.getElementById('signup-form').hidden", json!([]))
        .await;
    assert_eq!(form_hidden, json!(true), "the details wait for a verified number");
    person.fill("#verify-phone", PHONE).await;
    person.click("#verify-send").await;
    shows(
        &person,
        "the code sent",
        "#verify-status",
        &format!("验证码已发送至 {MASKED}"),
    )
    .await;
    let line = app
        .sms
        .lines()
        .into_iter()
        .find(|l| l.contains(MASKED))
        .expect("the log sender printed the code");
    person.fill("#verify-code", &code_in(&line)).await;
    person.click("#verify-submit").await;
    person
        .wait(
            "the details form once verified",
            "return !document.getElementById('signup-form').hidden \
             && document.activeElement.id === 'su-name'",
            json!([]),
        )
        .await;
    assert!(
        local(&person, "minsheng.verification").await.is_string(),
        "kept where the live room keeps it"
    );

    // A missing name is said beside the form; then the sign-up goes in.
    person.click("#su-submit").await;
    shows(&person, "the name asked for", "#signup-msg", "请填写姓名").await;
    person.fill("#su-name", "王小明").await;
    person
        .click(&format!("#su-group option[value=\"{}\"]", GROUPS[0]))
        .await;
    person.fill("#su-street", "兴丰街道").await;
    person.fill("#su-reason", "想了解社银合作办理社保的流程").await;
    person.screenshot(&shots.join("signup-form.png")).await;
    person.click("#su-submit").await;
    let reference = person
        .wait(
            "the reference shown",
            "const r = document.getElementById('mine-reference'); \
             return !document.getElementById('mine').hidden && r.textContent",
            json!([]),
        )
        .await
        .as_str()
        .expect("a reference")
        .to_owned();
    assert_eq!(reference.len(), 8, "{reference}");
    shows(&person, "the reference to keep", "#mine", "请保存报名编号").await;
    assert_eq!(
        local(&person, &format!("minsheng.signup.{event}")).await,
        json!(reference)
    );
    shows(&person, "one applicant counted", "#selection-facts", "1 人").await;
    person.screenshot(&shots.join("signup-done.png")).await;

    // Two more applicants; the draw (its seed chosen so the person is in).
    let signups = format!("/api/events/{event}/signups");
    let mut applicants = vec![(reference.clone(), GROUPS[0].to_owned())];
    for (i, phone) in ["13500000001", "13500000002"].into_iter().enumerate() {
        let verification = verify(&app, phone).await;
        let r = app
            .post(
                &signups,
                None,
                json!({ "verification": verification, "name": format!("李{i}"), "group": GROUPS[i % 2] }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        applicants.push((
            r.body["reference"].as_str().expect("reference").to_owned(),
            GROUPS[i % 2].to_owned(),
        ));
    }
    let seed = seed_choosing(&reference, &applicants);
    let drawn = app
        .post(
            &format!("/api/events/{event}/selection/draw"),
            Some(&staff),
            json!({ "seed": seed }),
        )
        .await;
    assert_eq!(drawn.status, StatusCode::OK, "{:?}", drawn.body);

    // The published result: the seed, the lists masked, this browser's reference marked.
    person.js("location.reload()", json!([])).await;
    shows(&person, "the seed", "#seed", &seed).await;
    shows(&person, "how to re-run the draw", "#result-rerun", "SHA-256").await;
    shows(
        &person,
        "the person's row marked",
        &format!("#chosen tr.mine-row[data-reference=\"{reference}\"]"),
        "我的报名",
    )
    .await;
    shows(&person, "the person's row masked", "#chosen tr.mine-row", "王*").await;
    shows(&person, "the person's number masked", "#chosen tr.mine-row", MASKED).await;
    shows(&person, "chosen, in words", "#mine-status", "已入选").await;
    let listed = person
        .js(
            "return [document.querySelectorAll('#chosen tbody tr').length, \
             document.querySelectorAll('#reserves tbody tr').length, \
             document.getElementById('signup-box').hidden, document.body.textContent.includes('王小明')]",
            json!([]),
        )
        .await;
    assert_eq!(
        listed,
        json!([2, 1, true, false]),
        "2 chosen, 1 reserve, no form, no full name"
    );
    assert!(
        fits(&person, "#result:not([hidden]) #chosen").await,
        "the result scrolls sideways at 390 px"
    );
    person
        .js("document.getElementById('result').scrollIntoView()", json!([]))
        .await;
    person.screenshot(&shots.join("signup-result.png")).await;

    // The notices; the person's link from the captured text message.
    let before = app.sms.lines().len();
    let sent = app
        .post(&format!("/api/events/{event}/notices"), Some(&staff), json!({}))
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    assert_eq!(sent.body["sent"], 2, "{:?}", sent.body);
    let message = app.sms.lines()[before..]
        .iter()
        .find(|l| l.contains(MASKED))
        .cloned()
        .expect("the person's notice");
    let link = message
        .split("签到码入场：")
        .nth(1)
        .expect("a link in the notice")
        .trim()
        .to_owned();
    let (_, token) = link
        .split_once("/notice.html#")
        .unwrap_or_else(|| panic!("the notice page's link, token in the fragment: {link}"));
    assert_eq!(token.len(), 64, "{link}");
    let notice_url = app.url(&format!("/notice.html#{token}"));
    person.goto(&notice_url).await;
    let qr = person
        .wait(
            "the check-in QR code",
            "const img = document.getElementById('qr'); \
             return img && !img.hidden && img.complete && img.naturalWidth > 0 \
               && [img.getAttribute('alt'), img.getAttribute('src').startsWith('data:image/svg+xml;charset=utf-8,')]",
            json!([]),
        )
        .await;
    assert_eq!(qr, json!(["签到二维码", true]), "an image of our SVG, not markup");
    shows(&person, "not checked in yet", "#check-state", "未签到").await;
    shows(&person, "the reference in large", "#reference", &reference).await;
    shows(&person, "the place", "#facts", "社银合作银行网点").await;
    let suggest_hidden = person
        .js("return document.getElementById('suggest').hidden", json!([]))
        .await;
    assert_eq!(suggest_hidden, json!(true), "no suggestions before the start");
    assert!(
        fits(&person, "#pass:not([hidden]) #qr").await,
        "the notice page scrolls sideways at 390 px"
    );
    person.screenshot(&shots.join("notice.png")).await;

    // At the door, on a phone too: the counts, a search, the scanner's reference and Enter.
    let door = phone(&driver).await;
    sign_in(&door, &app, "/door.html", "rsj-staff").await;
    door.goto(&app.url(&format!("/door.html?event={event}"))).await;
    door.wait(
        "the door's counts",
        "return document.getElementById('count-due').textContent === '2' \
         && document.getElementById('count-arrived').textContent === '0' \
         && document.querySelectorAll('#people li').length === 2",
        json!([]),
    )
    .await;
    set_value(&door, "#search", "5678").await;
    let found = door
        .wait(
            "the search by the number's last digits",
            "const shown = [...document.querySelectorAll('#people li')].filter(li => !li.hidden); \
             return shown.length === 1 && shown[0].dataset.reference",
            json!([]),
        )
        .await;
    assert_eq!(found, json!(reference));
    set_value(&door, "#search", "").await;
    door.fill("#scan", &format!("{}\u{E007}", reference.to_lowercase()))
        .await;
    shows(&door, "checked in", "#scan-msg", "王小明").await;
    shows(&door, "checked in, in words", "#scan-msg", "签到成功").await;
    shows(&door, "the arrival counted", "#count-arrived", "1").await;
    shows(
        &door,
        "the row checked in",
        &format!("#people li[data-reference=\"{reference}\"]"),
        "已签到",
    )
    .await;
    let focus = door.js("return document.activeElement.id", json!([])).await;
    assert_eq!(focus, json!("scan"), "ready for the next scan");
    door.fill("#scan", &format!("{reference}\u{E007}")).await;
    shows(&door, "a second scan refused", "#scan-msg", "已经签到过了").await;

    // A walk-in; the other chosen person checked in at another door (the API) shows by itself.
    door.fill("#wi-name", "路过的居民").await;
    door.fill("#wi-group", GROUPS[0]).await;
    door.click("#wi-submit").await;
    shows(&door, "the walk-in checked in", "#wi-msg", "已签到").await;
    shows(&door, "the walk-in counted", "#count-walk-ins", "1").await;
    let other = drawn.body["result"]["chosen"]
        .as_array()
        .expect("chosen")
        .iter()
        .map(|p| p["reference"].as_str().expect("reference").to_owned())
        .find(|r| *r != reference)
        .expect("another chosen person");
    let r = app
        .post(
            &format!("/api/events/{event}/check-in"),
            Some(&staff),
            json!({ "reference": other }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    door.wait(
        "the other door's check-in, within a refresh",
        "return document.getElementById('count-arrived').textContent === '2' \
         && document.getElementById('count-missing').textContent === '0'",
        json!([]),
    )
    .await;
    assert!(
        fits(&door, "#people li").await,
        "the door page scrolls sideways at 390 px"
    );
    let reserves_shown = door
        .js("return document.querySelectorAll('#people li').length", json!([]))
        .await;
    assert_eq!(reserves_shown, json!(3), "2 chosen and the walk-in; no reserve");
    door.js("window.scrollTo(0, 0)", json!([])).await;
    door.screenshot(&shots.join("door.png")).await;

    // The notice page, reloaded: checked in. The event has begun: a written suggestion.
    app.sql(
        &format!("UPDATE events SET starts_at = $1 WHERE id = {event}"),
        Some(chrono::Utc::now() - chrono::Duration::minutes(30)),
    )
    .await;
    person.js("location.reload()", json!([])).await;
    shows(&person, "checked in on the notice", "#check-state", "已签到").await;
    person.screenshot(&shots.join("notice-checked-in.png")).await;
    person
        .wait(
            "the suggestion form",
            "return !document.getElementById('suggest').hidden",
            json!([]),
        )
        .await;
    shows(&person, "the suggestion deadline", "#suggest-until", "征集截止日期").await;
    person.fill("#suggest-text", "建议在银行网点增设社保自助终端。").await;
    person.click("#suggest-submit").await;
    shows(&person, "the suggestion taken", "#suggest-msg", "已收到您的意见建议").await;
    person.screenshot(&shots.join("notice-suggestion.png")).await;
    let opinions = app.get(&format!("/api/opinions?event={event}"), Some(&staff)).await;
    assert!(
        opinions.body.to_string().contains("社保自助终端"),
        "the unit has the suggestion: {:?}",
        opinions.body
    );

    person.quit().await;
    door.quit().await;
    drop(driver);
    app.stop().await;
    eprintln!("[open day pages] {} s in all", started.elapsed().as_secs());
}

/// Withdrawing from the sign-up page: the reference kept in the browser, the
/// verification kept under the live room's key. A verification the server
/// does not know asks for the number again; the wrong number is told so;
/// the number that signed up withdraws.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_withdraws_from_the_sign_up_page() {
    if !browser_here() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let event = app.announced_event().await;
    let staff = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    publish_selection(&app, &staff, event).await;
    let verification = verify(&app, PHONE).await;
    let r = app
        .post(
            &format!("/api/events/{event}/signups"),
            None,
            json!({ "verification": verification, "name": "赵六", "group": GROUPS[1] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let reference = r.body["reference"].as_str().expect("reference").to_owned();

    let driver = Driver::start().await;
    let person = phone(&driver).await;
    let page = app.url(&format!("/signup.html?event={event}"));
    person.goto(&page).await;
    person
        .js(
            "const [event, reference, token] = arguments; \
             localStorage.setItem(`minsheng.signup.${event}`, reference); \
             localStorage.setItem('minsheng.verification', token); location.reload();",
            json!([event, reference, "0".repeat(64)]),
        )
        .await;
    shows(&person, "the kept reference", "#mine-reference", &reference).await;
    let form_hidden = person
        .js("return document.getElementById('signup-box').hidden", json!([]))
        .await;
    assert_eq!(form_hidden, json!(true), "signed up already: no form");
    person.click("#withdraw").await;
    person
        .wait(
            "the confirmation, focused",
            "return !document.getElementById('withdraw-confirm').hidden \
             && document.activeElement.id === 'withdraw-ok'",
            json!([]),
        )
        .await;
    person.click("#withdraw-ok").await;
    shows(
        &person,
        "the number asked for",
        "#verify-status",
        "请验证报名时使用的手机号",
    )
    .await;
    shows(&person, "why", "#form-title", "撤回报名").await;

    // Another number: not the one that signed up.
    let other = "13700001111";
    person.fill("#verify-phone", other).await;
    person.click("#verify-send").await;
    shows(&person, "the code sent", "#verify-status", "137****1111").await;
    let line = app
        .sms
        .lines()
        .into_iter()
        .rfind(|l| l.contains("137****1111"))
        .expect("the code");
    person.fill("#verify-code", &code_in(&line)).await;
    person.click("#verify-submit").await;
    shows(&person, "asked to confirm", "#mine-msg", "手机号已验证").await;
    person.click("#withdraw-ok").await;
    shows(&person, "the wrong number", "#mine-msg", "不是用刚才验证的手机号").await;

    // The number that signed up, verified in the live room (the same key).
    person
        .js(
            "localStorage.setItem('minsheng.verification', arguments[0])",
            json!([verification]),
        )
        .await;
    person.click("#withdraw").await;
    person.click("#withdraw-ok").await;
    shows(&person, "withdrawn", "#mine-msg", "已撤回报名").await;
    shows(&person, "withdrawn, in words", "#mine-status", "已撤回").await;
    assert_eq!(
        local(&person, &format!("minsheng.signup.{event}")).await,
        Value::Null,
        "forgotten"
    );
    let list = app
        .get(&format!("/api/events/{event}/participants"), Some(&staff))
        .await;
    assert_eq!(list.body[0]["status"], "withdrawn", "{:?}", list.body);
    person.screenshot(&screenshots().join("signup-withdrawn.png")).await;
    person.quit().await;
    drop(driver);
    app.stop().await;
}

/// The pages are served with their types; a district may frame the sign-up
/// page in its portal, never a person's notice or the door's page.
#[tokio::test]
async fn the_pages_are_served_and_only_the_sign_up_page_may_be_framed() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    for (path, kind, framed) in [
        ("/signup.html", "text/html", "frame-ancestors 'self'"),
        ("/notice.html", "text/html", "frame-ancestors 'none'"),
        ("/door.html", "text/html", "frame-ancestors 'none'"),
        ("/signup.js", "text/javascript", "frame-ancestors 'none'"),
        ("/notice.js", "text/javascript", "frame-ancestors 'none'"),
        ("/door.js", "text/javascript", "frame-ancestors 'none'"),
        ("/verify.js", "text/javascript", "frame-ancestors 'none'"),
        ("/open-day.css", "text/css", "frame-ancestors 'none'"),
    ] {
        let res = app.client.get(app.url(path)).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        assert!(header("content-security-policy").contains(framed), "{path}");
    }
    app.stop().await;
}
