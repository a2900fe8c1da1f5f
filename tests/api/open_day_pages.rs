//! An open day in person, in the pages (issue 17): a person signs up on a
//! phone-sized screen at /signup.html (their number verified with the code
//! of the captured text message), reads the published result with their
//! own reference marked, opens the link of their notice message at
//! /notice.html (the check-in QR code, 未签到), is checked in at
//! /door.html by staff typing the reference into the scan box as a scanner
//! would, and sees 已签到 on their notice, where they then leave a written
//! suggestion. What is not under test (the announcement, two more
//! applicants, the draw, the notices) goes through the API. A second test
//! withdraws from the sign-up page; a third runs the unit's own page
//! (/open-day.html: the announcement, choosing by hand, an invitation, the
//! notices, what was said in person, the leader, the figures); a fourth
//! checks how the pages are served.
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

/// The unit's page of an open day in person (/open-day.html), at a desk,
/// reached from the event's detail in the unit workspace: the place's capacity and what to bring, the announcement with three
/// groups (a share sum other than 100 refused in the page), published; three
/// sign-ups (the API); one chosen and one reserve by hand; an invitation;
/// the notices with their log; what a representative said, unnamed; the
/// principal leader; the participation figures, from the list and then from
/// the record once the event has ended. The page also fits a 390 px phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unit_runs_an_open_day_in_person_from_its_page() {
    if !browser_here() {
        return;
    }
    let started = std::time::Instant::now();
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let event = app.announced_event().await; // open-day-06: 人保局, online and in person
    let staff = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let driver = Driver::start().await;
    let shots = screenshots();
    let desk = driver.browser(1280, 900, false).await;
    sign_in(&desk, &app, "/open-day.html", "rsj-staff").await;
    shows(&desk, "the event asked for", "#page-status", "没有指明是哪场活动").await;

    // The unit workspace's event detail leads to the page (and to the door's).
    desk.goto(&app.url("/unit.html")).await;
    desk.click(&format!("#events tr[data-id=\"{event}\"] button")).await;
    let page = format!("/open-day.html?event={event}");
    desk.wait(
        "the in-person links in the event's detail",
        "const [page, door] = arguments; \
         return !!document.querySelector(`#ev-status a[href=\"${page}\"]`) \
           && !!document.querySelector(`#ev-status a[href=\"${door}\"]`)",
        json!([page, format!("/door.html?event={event}")]),
    )
    .await;
    desk.click(&format!("#ev-status a[href=\"{page}\"]")).await;
    let page = app.url(&page);
    shows(&desk, "the event's title", "#event-title", "社银合作").await;
    shows(&desk, "the place", "#info-facts", "社银合作银行网点").await;
    let links = desk
        .wait(
            "the links to the sign-up and door pages",
            "return !document.getElementById('sections').hidden \
             && [...document.querySelectorAll('#info-links a')].map(a => a.getAttribute('href'))",
            json!([]),
        )
        .await;
    assert!(
        links.to_string().contains(&format!("/signup.html?event={event}"))
            && links.to_string().contains(&format!("/door.html?event={event}")),
        "{links}"
    );
    shows(&desk, "not published yet", "#sel-state", "未发布").await;

    // The place: capacity and what to bring.
    desk.fill("#pl-capacity", "5").await;
    desk.fill("#pl-bring", "请携带本人身份证").await;
    desk.click("#pl-save").await;
    shows(&desk, "the place saved", "#place-msg", "已保存：容纳 5 人").await;
    let settings = app.get(&format!("/api/events/{event}/attendance"), None).await;
    assert_eq!(
        (&settings.body["capacity"], &settings.body["bring"]),
        (&json!(5), &json!("请携带本人身份证"))
    );

    // The announcement: three groups from the suggestions; 90 % is refused in the page.
    let beijing =
        |t: chrono::DateTime<chrono::Utc>| (t + chrono::Duration::hours(8)).format("%Y-%m-%dT%H:%M").to_string();
    let now = chrono::Utc::now();
    desk.fill("#sel-text", "面向全区公开遴选 2 名群众代表现场参加。").await;
    desk.fill("#sel-places", "2").await;
    set_value(&desk, "#sel-opens", &beijing(now - chrono::Duration::hours(1))).await;
    set_value(&desk, "#sel-closes", &beijing(now + chrono::Duration::days(2))).await;
    set_value(
        &desk,
        "#sel-reply",
        &(now + chrono::Duration::days(3))
            .date_naive()
            .format("%Y-%m-%d")
            .to_string(),
    )
    .await;
    for (i, (group, share)) in [("社区居民", "50"), ("企业", "30"), ("家长", "10")]
        .into_iter()
        .enumerate()
    {
        desk.click(&format!("#sel-presets button[data-preset=\"{group}\"]"))
            .await;
        let row = format!("#sel-groups li:nth-child({}) ", i + 1);
        desk.wait(
            "the suggested group in its row",
            "return document.querySelector(arguments[0] + '.group-name')?.value === arguments[1]",
            json!([row, group]),
        )
        .await;
        desk.fill(&format!("{row}.group-share"), share).await;
    }
    desk.click("#sel-reason option[value=\"required\"]").await;
    shows(&desk, "the sum said", "#sel-sum", "合计 90%，须为 100%").await;
    desk.click("#sel-publish").await;
    shows(&desk, "an unbalanced sum refused", "#sel-msg", "须为 100%，未保存").await;
    let none = app.get(&format!("/api/events/{event}/selection"), None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "nothing saved: {:?}", none.body);
    desk.fill("#sel-groups li:nth-child(3) .group-share", "20").await;
    shows(&desk, "the sum right", "#sel-sum", "合计 100%").await;
    desk.screenshot(&shots.join("open-day-announcement.png")).await;
    desk.click("#sel-publish").await;
    shows(&desk, "published", "#sel-msg", "公告已发布").await;
    shows(&desk, "sign-ups open", "#sel-state", "报名中").await;
    let published = app.get(&format!("/api/events/{event}/selection"), None).await;
    assert_eq!(published.status, StatusCode::OK, "{:?}", published.body);
    assert_eq!(
        published.body["groups"],
        json!([
            { "name": "社区居民", "share": 50 },
            { "name": "企业", "share": 30 },
            { "name": "家长", "share": 20 }
        ])
    );
    assert_eq!(published.body["places"], 2);
    assert_eq!(
        published.body["fields"],
        json!({ "street": "optional", "reason": "required" })
    );

    // Three sign-ups (the API); the page reads them on 刷新名单.
    let mut references = Vec::new();
    for (phone, name, group) in [
        ("13500000001", "王一", "社区居民"),
        ("13500000002", "李二", "企业"),
        ("13500000003", "张三", "家长"),
    ] {
        let verification = verify(&app, phone).await;
        let r = app
            .post(
                &format!("/api/events/{event}/signups"),
                None,
                json!({ "verification": verification, "name": name, "group": group, "street": "兴丰街道", "reason": "想了解社银合作" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        references.push(r.body["reference"].as_str().expect("reference").to_owned());
    }
    desk.click("#list-refresh").await;
    desk.wait(
        "the three applicants, names as written",
        "return document.querySelectorAll('#people tbody tr[data-reference]').length === 3 \
         && document.getElementById('people').textContent.includes('王一')",
        json!([]),
    )
    .await;
    shows(&desk, "the counts per group", "#group-counts", "社区居民").await;

    // By hand: three chosen for two places is refused; then one chosen, one reserve.
    let pick = |reference: &str, value: &str| {
        format!("#people select[data-reference=\"{reference}\"] option[value=\"{value}\"]")
    };
    for reference in &references {
        desk.click(&pick(reference, "chosen")).await;
    }
    desk.click("#manual-go").await;
    shows(&desk, "too many chosen", "#choose-msg", "超过了现场名额").await;
    desk.click(&pick(&references[1], "reserve")).await;
    desk.click(&pick(&references[2], "")).await;
    shows(&desk, "the marks summed up", "#manual-summary", "递补顺序：李二").await;
    desk.click("#manual-go").await;
    shows(
        &desk,
        "asked to confirm",
        "#manual-confirm-text",
        "入选 1 人、候补 1 人",
    )
    .await;
    desk.click("#manual-ok").await;
    shows(&desk, "chosen", "#choose-msg", "已选定：入选 1 人，候补 1 人").await;
    shows(&desk, "the method", "#result-method", "按公告条件遴选").await;
    shows(&desk, "the chosen by name", "#chosen", "王一").await;
    shows(&desk, "the reserve by name", "#reserves", "李二").await;
    shows(&desk, "the announcement fixed", "#sel-state", "已选定").await;
    let result = app.get(&format!("/api/events/{event}/selection"), None).await;
    assert_eq!(result.body["result"]["method"], "manual", "{:?}", result.body);
    assert_eq!(result.body["result"]["chosen"][0]["reference"], json!(references[0]));
    assert_eq!(result.body["result"]["reserves"][0]["reference"], json!(references[1]));
    let fixed = desk
        .js("return document.getElementById('sel-fields').disabled", json!([]))
        .await;
    assert_eq!(fixed, json!(true), "the editor is read-only after the choice");

    // An invitation by name.
    desk.fill("#inv-name", "赵代表").await;
    desk.fill("#inv-group", "人大代表").await;
    desk.fill("#inv-org", "区人大常委会").await;
    desk.fill("#inv-phone", "13600000009").await;
    desk.click("#inv-submit").await;
    shows(&desk, "invited", "#invite-msg", "已邀请 赵代表（人大代表）").await;
    desk.wait(
        "two on the list of those who come",
        "return document.querySelectorAll('#attending tbody tr[data-reference]').length === 2",
        json!([]),
    )
    .await;
    shows(&desk, "two owed a notice", "#notice-owed", "待通知 2 人").await;

    // The notices: the count, the due date, the log.
    desk.click("#notice-send").await;
    shows(&desk, "the notices sent", "#notice-msg", "已发送 2 条通知").await;
    shows(&desk, "the due date", "#notice-msg", "截止 ").await;
    desk.wait(
        "the message log",
        "return document.querySelectorAll('#messages tbody tr').length === 2 \
         && document.getElementById('messages').textContent.includes('参加通知')",
        json!([]),
    )
    .await;
    shows(&desk, "each notice sent", "#attending", "已发送").await;
    shows(&desk, "nobody owed", "#notice-owed", "都已通知").await;
    desk.js("document.getElementById('notice-title').scrollIntoView()", json!([]))
        .await;
    desk.screenshot(&shots.join("open-day-notices.png")).await;

    // What a representative said, with their group and no name.
    desk.fill("#op-group", "社区居民").await;
    desk.fill("#op-text", "建议在银行网点增设社保自助终端。").await;
    desk.click("#op-submit").await;
    shows(&desk, "the opinion taken", "#opinion-msg", "已记录意见，编号").await;
    shows(&desk, "signed 现场代表", "#opinion-msg", "现场代表").await;
    let opinions = app.get(&format!("/api/opinions?event={event}"), Some(&staff)).await;
    let taken = opinions
        .body
        .as_array()
        .expect("opinions")
        .iter()
        .find(|o| o["text"] == "建议在银行网点增设社保自助终端。")
        .unwrap_or_else(|| panic!("the opinion: {:?}", opinions.body))
        .clone();
    assert_eq!(
        (&taken["via"], &taken["speaker_group"], &taken["nickname"]),
        (&json!("in_person"), &json!("社区居民"), &json!("现场代表"))
    );

    // The principal leader: in the figures at once.
    shows(&desk, "the figures from the list", "#figures-source", "实时统计").await;
    desk.click("#ld-attended").await;
    desk.fill("#ld-title", "局长").await;
    desk.click("#ld-save").await;
    shows(
        &desk,
        "the leader recorded",
        "#leader-msg",
        "已记录：人保局主要负责同志（局长）出席",
    )
    .await;
    shows(&desk, "the leader in the figures", "#leaders", "局长").await;
    shows(&desk, "attended, in words", "#leaders", "出席").await;
    let figures = desk
        .js(
            "return [...document.querySelectorAll('#figures-counts li')].map(li => li.innerText.replace(/\\s+/g, ''))",
            json!([]),
        )
        .await;
    for expected in ["报名3", "入选1", "定向邀请1", "已通知2"] {
        assert!(figures.to_string().contains(expected), "{expected}: {figures}");
    }

    // Once the event has ended, the figures come from the record.
    let admin = Some(app.admin_token.as_str());
    for step in ["start", "end"] {
        let r = app.post(&format!("/api/events/{event}/{step}"), admin, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{step}: {:?}", r.body);
    }
    desk.js("location.reload()", json!([])).await;
    shows(&desk, "the figures from the record", "#figures-source", "活动实录").await;
    shows(&desk, "the leader in the record", "#leaders", "局长").await;
    shows(&desk, "online figures too", "#figures-counts", "线上提问").await;
    shows(&desk, "the record's preview linked", "#info-links", "活动实录预览").await;
    desk.js("document.getElementById('figures-title').scrollIntoView()", json!([]))
        .await;
    desk.screenshot(&shots.join("open-day-figures.png")).await;

    // On a phone: no sideways scrolling.
    let phone_page = phone(&driver).await;
    sign_in(&phone_page, &app, "/unit.html", "rsj-staff").await;
    phone_page.goto(&page).await;
    assert!(
        fits(&phone_page, "#sections:not([hidden]) #attending tbody tr").await,
        "the open-day page scrolls sideways at 390 px"
    );
    phone_page.screenshot(&shots.join("open-day-phone.png")).await;

    desk.quit().await;
    phone_page.quit().await;
    drop(driver);
    app.stop().await;
    eprintln!("[open day unit page] {} s in all", started.elapsed().as_secs());
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
        ("/open-day.html", "text/html", "frame-ancestors 'none'"),
        ("/open-day.js", "text/javascript", "frame-ancestors 'none'"),
        ("/open-day-announcement.js", "text/javascript", "frame-ancestors 'none'"),
        ("/open-day-list.js", "text/javascript", "frame-ancestors 'none'"),
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
