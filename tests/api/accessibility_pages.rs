//! Pages for everyone (issue 18, point 4), in Chromium.
//!
//! Every page of the service, each showing its real content (a live open day
//! with published questions, a comment, a poll and the text feed, its
//! sign-up, notice and door; an ended event with its answers, published
//! replies, transcript and materials; the staff workspaces signed in), and
//! the states a click opens (the viewer's tabs, the console's dialog, the
//! unit's editors), is checked by axe-core (vendored in
//! `tests/fixtures/axe/`, injected through WebDriver) at 1280 px and on a
//! 390-px phone: any critical or serious violation fails the test, named by
//! rule, impact and element. Nothing may scroll sideways on the phone, nor
//! at 200 % text size.
//!
//! A second test works the pages by keyboard alone: every element Tab
//! reaches shows a focus ring and Tab gets through each page (no trap); a
//! viewer asks, upvotes, switches tabs and votes, and the console approves,
//! with Tab, Enter, Space and the arrow keys. A third switches to 大字版 on
//! the phone, reloads, finds it kept on every public page, larger (20 px and
//! up), still passing axe and still fitting the screen, and switches back.
//!
//! Like the other browser tests, they say so loudly and pass without
//! Chromium, unless MINSHENG_REQUIRE_BROWSER=1.

use serde_json::{Value, json};

use crate::browser::webdriver::{Browser, Driver};
use crate::browser::{browser_here, screenshots, shows};
use crate::helpers::{Backend, TestApp, Ws, spawn_app};
use crate::verification::verify;

/// The vendored axe-core (tests/fixtures/axe/README.md says how to update it).
const AXE: &str = include_str!("../fixtures/axe/axe.min.js");
const AXE_VERSION: &str = "4.14.1";
/// The password `TestApp::staff` gives the accounts it creates.
const STAFF_PASSWORD: &str = "staff-password-123";
/// The administrator every staff page is opened as (it sees every unit).
const ADMIN: &str = "a11y-admin";
/// WebDriver's codes for the keys the tests press.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const RIGHT: &str = "\u{E014}";
/// The groups of the open day's selection.
const GROUPS: [&str; 2] = ["社区居民", "企业"];
/// The question left waiting in the console's queue.
const QUEUED: &str = "社区养老驿站什么时候开？";

/// One page to check: where it is, what shows once its real content is
/// there, and the states a click opens (each checked too).
struct Page {
    path: String,
    /// A script returning something truthy once the page shows its content.
    ready: &'static str,
    states: Vec<State>,
}

/// A state of a page: `act` opens it; `ready` says it shows.
struct State {
    name: &'static str,
    act: &'static str,
    ready: &'static str,
}

fn page(path: impl Into<String>, ready: &'static str) -> Page {
    Page {
        path: path.into(),
        ready,
        states: Vec::new(),
    }
}

impl Page {
    fn state(mut self, name: &'static str, act: &'static str, ready: &'static str) -> Page {
        self.states.push(State { name, act, ready });
        self
    }
}

/// What the pages show: the events and links the setup made, and the
/// connections that keep the live room busy while the pages look.
struct Fixture {
    live: i64,
    ended: i64,
    notice: String,
    _room: (Ws, [Ws; 2]),
}

async fn ack(ws: &mut Ws, msg: Value, reference: &str) -> Value {
    let r = ws.request(msg, reference).await;
    assert_eq!(r["type"], "ack", "{r:?}");
    r
}

fn id(v: &Value, key: &str) -> i64 {
    v[key]["id"].as_i64().unwrap_or_else(|| panic!("no {key} id in {v:?}"))
}

fn ok(r: &crate::helpers::Reply, what: &str) {
    assert!(r.status.is_success(), "{what}: {} {:?}", r.status, r.body);
}

/// The data every page shows; the administrator account for the staff pages.
async fn fixture(app: &TestApp) -> Fixture {
    app.staff(ADMIN, "admin", None).await;
    let live = app.announced_event().await; // the plan imported; open-day-06 announced
    let ended = ended_event(app).await;
    let (notice, room) = live_open_day(app, live).await;
    Fixture {
        live,
        ended,
        notice,
        _room: room,
    }
}

/// The live open day (open-day-06, 人保局, online and in person, announced):
/// a published selection, three applicants, the draw and the notices; then
/// live, discussed, with one question left in the queue. Returns the first
/// notice's link and the room's desk and viewers.
async fn live_open_day(app: &TestApp, event: i64) -> (String, (Ws, [Ws; 2])) {
    let admin = Some(app.admin_token.as_str());
    let now = chrono::Utc::now();
    let selection = format!("/api/events/{event}/selection");
    let body = json!({
        "text": "面向全区公开遴选 2 名群众代表现场参加。",
        "places": 2,
        "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(),
        "closes_at": (now + chrono::Duration::days(2)).to_rfc3339(),
        "reply_by": (now + chrono::Duration::days(3)).date_naive(),
        "groups": [{ "name": GROUPS[0], "share": 50 }, { "name": GROUPS[1], "share": 50 }],
    });
    ok(
        &app.request(reqwest::Method::PUT, &selection, admin, Some(body)).await,
        "the selection",
    );
    ok(
        &app.post(&format!("{selection}/publish"), admin, json!({})).await,
        "published",
    );
    for (i, phone) in ["13500000001", "13500000002", "13500000003"].into_iter().enumerate() {
        let verification = verify(app, phone).await;
        let body = json!({ "verification": verification, "name": format!("王{i}"), "group": GROUPS[i % 2] });
        ok(
            &app.post(&format!("/api/events/{event}/signups"), None, body).await,
            "a sign-up",
        );
    }
    ok(
        &app.post(&format!("{selection}/draw"), admin, json!({ "seed": "大兴-开放日" }))
            .await,
        "the draw",
    );
    let before = app.sms.lines().len();
    ok(
        &app.post(&format!("/api/events/{event}/notices"), admin, json!({}))
            .await,
        "the notices",
    );
    let notice = app.sms.lines()[before..]
        .iter()
        .find_map(|l| l.split_once("/notice.html#").map(|(_, t)| t.trim().to_owned()))
        .expect("a notice link");
    ok(
        &app.post(&format!("/api/events/{event}/start"), admin, json!({})).await,
        "started",
    );
    let mut desk = app.staff_ws(event, &app.admin_token).await;
    let mut viewers = [
        app.viewer_ws(event, "张先生").await,
        app.viewer_ws(event, "李女士").await,
    ];
    discuss(app, event, &mut desk, &mut viewers).await;
    ack(&mut viewers[1], json!({ "type": "ask", "text": QUEUED }), "q3").await;
    (format!("/notice.html#{notice}"), (desk, viewers))
}

/// In `event`'s room: two questions published (the first answered and
/// upvoted), a comment, a poll voted in, a text update. Returns the poll.
async fn discuss(app: &TestApp, event: i64, desk: &mut Ws, [a, b]: &mut [Ws; 2]) -> i64 {
    let first = id(
        &ack(a, json!({ "type": "ask", "text": "灵活就业人员怎么参加社保？" }), "q1").await,
        "question",
    );
    let second = id(
        &ack(
            b,
            json!({ "type": "ask", "text": "能否在银行网点办理退休认证？" }),
            "q2",
        )
        .await,
        "question",
    );
    for (i, q) in [first, second].into_iter().enumerate() {
        ack(desk, json!({ "type": "approve", "question_id": q }), &format!("a{i}")).await;
    }
    let answer = json!({ "type": "answer", "question_id": first, "text": "可在线上办理，也可到社保中心窗口办理。" });
    ack(desk, answer, "ans").await;
    ack(b, json!({ "type": "upvote", "question_id": first }), "up").await;
    let comment = ack(a, json!({ "type": "comment", "text": "讲得很清楚！" }), "c").await;
    ack(
        desk,
        json!({ "type": "approve", "question_id": id(&comment, "question") }),
        "ac",
    )
    .await;
    let poll = json!({ "type": "create_poll", "kind": "single_choice", "title": "您最关心哪项？", "options": ["社保", "医保", "就业"] });
    let poll = id(&ack(desk, poll, "p").await, "poll");
    ack(desk, json!({ "type": "open_poll", "poll_id": poll }), "po").await;
    ack(a, json!({ "type": "vote", "poll_id": poll, "choices": [0] }), "v").await;
    let update = json!({ "text": "嘉宾已到场，访谈开始。" });
    let admin = Some(app.admin_token.as_str());
    ok(
        &app.post(&format!("/api/events/{event}/updates"), admin, update).await,
        "a text update",
    );
    poll
}

/// An ended event (open-day-05, 政数局): discussed live and ended; both
/// questions replied to and published; the transcript and the materials published.
pub(crate) async fn ended_event(app: &TestApp) -> i64 {
    let event = app.announce("open-day-05").await;
    let admin = Some(app.admin_token.as_str());
    ok(
        &app.post(&format!("/api/events/{event}/start"), admin, json!({})).await,
        "started",
    );
    let mut desk = app.staff_ws(event, &app.admin_token).await;
    let mut viewers = [
        app.viewer_ws(event, "张先生").await,
        app.viewer_ws(event, "李女士").await,
    ];
    let poll = discuss(app, event, &mut desk, &mut viewers).await;
    ack(&mut desk, json!({ "type": "close_poll", "poll_id": poll }), "pc").await;
    ok(
        &app.post(&format!("/api/events/{event}/end"), admin, json!({})).await,
        "ended",
    );
    let list = app.get(&format!("/api/opinions?event={event}"), admin).await;
    let opinions: Vec<i64> = list
        .body
        .as_array()
        .unwrap_or_else(|| panic!("{:?}", list.body))
        .iter()
        .filter_map(|o| o["id"].as_i64())
        .collect();
    for (opinion, state) in opinions.into_iter().zip(["adopted", "under_study"]) {
        let reply = json!({ "state": state, "reply": "自2025年起，合作银行网点可办理退休人员资格认证。" });
        ok(
            &app.patch(&format!("/api/opinions/{opinion}"), admin, reply).await,
            "a reply",
        );
        ok(
            &app.post(&format!("/api/opinions/{opinion}/publish"), admin, json!({}))
                .await,
            "the reply published",
        );
    }
    let transcript = format!("/api/events/{event}/transcript");
    ok(
        &app.post(&format!("{transcript}/assemble"), admin, json!({})).await,
        "the transcript",
    );
    ok(
        &app.post(&format!("{transcript}/publish"), admin, json!({})).await,
        "the transcript published",
    );
    ok(
        &app.post(&format!("/api/events/{event}/record/publish"), admin, json!({}))
            .await,
        "the materials published",
    );
    event
}

/// The public and viewer pages: the ones with the 大字版 switch first.
fn public_pages(f: &Fixture) -> Vec<Page> {
    let (live, ended) = (f.live, f.ended);
    vec![
        page("/", "return document.getElementById('status').textContent.startsWith('共')"),
        page(
            format!("/event.html?id={live}"),
            "return !document.getElementById('announce').hidden && !!document.querySelector('#signup-link a')"),
        page(
            format!("/event.html?id={ended}"),
            "return document.querySelectorAll('#replies .reply').length > 1")
        .state(
            "a search of the replies",
            "const q = document.getElementById('reply-q'); q.value = '银行网点'; \
             document.getElementById('reply-search').requestSubmit();",
            "return document.querySelectorAll('#replies mark').length > 0",
        ),
        page(
            format!("/events/{ended}/record"),
            "return document.readyState === 'complete'"),
        page(
            format!("/signup.html?event={live}"),
            "return document.getElementById('groups')?.textContent.includes('社区居民')"),
        page(
            f.notice.clone(),
            "const img = document.getElementById('qr'); return img && !img.hidden && img.complete"),
        page(
            format!("/live.html?event={live}"),
            "return window.minshengLive?.state === 'open' && document.querySelectorAll('#questions li').length >= 2")
        .state(
            "the 图文直播 tab",
            "document.getElementById('tab-feed').click()",
            "return document.querySelectorAll('#feed li').length > 0",
        )
        .state(
            "the 投票 tab",
            "document.getElementById('tab-poll').click()",
            "return !document.getElementById('panel-poll').hidden && document.querySelectorAll('#polls input').length > 0",
        )
        .state(
            "the 评论 tab",
            "document.getElementById('tab-comment').click()",
            "return document.querySelectorAll('#comments li').length > 0",
        )
        .state(
            "the report dialog",
            "document.querySelector('#questions button.report').click()",
            "return document.getElementById('report-dialog').open",
        ),
        page(
            format!("/live.html?event={ended}"),
            "return window.minshengLive?.welcome && document.querySelectorAll('#questions li').length >= 2"),
        page("/privacy.html", "return document.readyState === 'complete'"),
        page(
            format!("/api/events/{ended}/transcript?format=html"),
            "return document.readyState === 'complete'"),
        page("/login.html", "return !!document.getElementById('username')"),
    ]
}

/// The staff pages, opened as the administrator.
fn staff_pages(f: &Fixture) -> Vec<Page> {
    let (live, ended) = (f.live, f.ended);
    vec![
        page(
            format!("/moderate.html?event={live}"),
            "return window.minshengLive?.state === 'open' && document.querySelectorAll('#published .mod-item').length >= 2 \
             && document.querySelectorAll('#queue .mod-item').length >= 1")
        .state(
            "the reject dialog",
            "document.querySelector('#queue .mod-item button[data-action=\"r\"]').click()",
            "return document.getElementById('prompt').open",
        ),
        page(
            format!("/present.html?event={live}"),
            "return window.minshengLive?.state === 'open' && document.querySelectorAll('#next li').length >= 1"),
        page(
            "/unit.html",
            "return document.querySelectorAll('#opinions tbody tr[data-id] button').length > 0 \
             && document.querySelectorAll('#events tbody tr[data-id]').length > 0")
        .state(
            "the opinion editor",
            "document.querySelector('#opinions tbody tr[data-id] button').click()",
            "return !document.getElementById('editor').hidden && document.getElementById('ed-quote').textContent",
        )
        .state(
            "the event editor",
            "document.querySelector('#events tbody tr[data-id] button').click()",
            "return !document.getElementById('ev-editor').hidden",
        ),
        page(
            "/bureau.html",
            "return document.querySelectorAll('#report tbody tr').length > 0"),
        page(
            format!("/open-day.html?event={live}"),
            "return !document.getElementById('sections').hidden && document.querySelectorAll('#list tbody tr').length > 0"),
        page(
            format!("/door.html?event={live}"),
            "return document.querySelectorAll('#people li').length > 0"),
        page(
            format!("/transcript.html?event={ended}"),
            "return document.querySelectorAll('#entries > li').length > 0"),
        page(
            "/security.html",
            "return document.querySelectorAll('#accounts tbody tr').length > 0"),
    ]
}

/// Sign `b` in as the administrator through the API (the cookie is set for the pages).
async fn sign_in(b: &Browser, app: &TestApp) {
    b.goto(&app.url("/privacy.html")).await;
    let status = b
        .js(
            "return fetch('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, \
             body: JSON.stringify({ username: arguments[0], password: arguments[1] }) }).then(r => r.status)",
            json!([ADMIN, STAFF_PASSWORD]),
        )
        .await;
    assert_eq!(status, json!(200), "signed in");
}

/// Run axe on the page `b` shows: one line per element of each critical or
/// serious violation (rule, impact, element, what the rule asks, the markup).
async fn axe(b: &Browser, what: &str) -> Vec<String> {
    let version = b
        .js(
            &format!("if (!window.axe) {{ {AXE}\n }} return window.axe && window.axe.version"),
            json!([]),
        )
        .await;
    assert_eq!(version, json!(AXE_VERSION), "axe-core injected into {what}");
    let found = b
        .js(
            "return axe.run(document, { resultTypes: ['violations'] }).then(r => r.violations \
               .filter(v => v.impact === 'critical' || v.impact === 'serious') \
               .flatMap(v => v.nodes.map(n => `${v.id} (${v.impact}) at ${n.target.join(' ')}: ${v.help}; ${n.html.slice(0, 200)}`)))",
            json!([]),
        )
        .await;
    found
        .as_array()
        .expect("axe's findings")
        .iter()
        .map(|v| format!("{what}: {}", v.as_str().unwrap_or_default()))
        .collect()
}

/// How wide the page is when wider than the window (it scrolls sideways).
async fn sideways(b: &Browser) -> Option<i64> {
    let v = b
        .js(
            "const w = document.documentElement.scrollWidth; return w > window.innerWidth ? w : 0",
            json!([]),
        )
        .await;
    v.as_i64().filter(|w| *w > 0)
}

/// Whether the page scrolls sideways with its text at 200 % (WCAG 1.4.4):
/// the root's size doubled, as a browser's text-size setting does.
async fn sideways_at_200(b: &Browser) -> Option<i64> {
    let before = b
        .js(
            "const r = document.documentElement; const before = r.style.fontSize; \
             r.style.fontSize = (parseFloat(getComputedStyle(r).fontSize) * 2) + 'px'; return before",
            json!([]),
        )
        .await;
    let wide = sideways(b).await;
    b.js(
        "document.documentElement.style.fontSize = arguments[0]",
        json!([before]),
    )
    .await;
    wide
}

/// The type the pages are shown in: as they come, or switched to 大字版.
#[derive(Clone, Copy)]
enum Size {
    Normal,
    Large,
}

/// A file name for a screenshot of `path`.
fn shot_name(width: u32, path: &str, size: Size) -> String {
    let name: String = path
        .chars()
        .take_while(|c| *c != '#')
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let suffix = match size {
        Size::Normal => "",
        Size::Large => "-large",
    };
    format!("a11y-{width}{name}{suffix}.png")
}

/// Open each page in `b` (`width` wide), wait for its content, run axe on it
/// and on each of its states, check it fits; the findings.
async fn sweep(app: &TestApp, b: &Browser, width: u32, pages: &[Page], size: Size) -> Vec<String> {
    let mode = match size {
        Size::Normal => "",
        Size::Large => " (大字版)",
    };
    let mut findings = Vec::new();
    for p in pages {
        let what = format!("{}{mode} at {width} px", p.path);
        b.goto(&app.url(&p.path)).await;
        b.wait(&format!("{what} to show its content"), p.ready, json!([])).await;
        findings.extend(axe(b, &what).await);
        if width < 600
            && let Some(w) = sideways(b).await
        {
            findings.push(format!("{what}: scrolls sideways ({w} px wide)"));
        }
        let icon = b
            .js(
                "return document.querySelector('head link[rel=icon]')?.getAttribute('href')",
                json!([]),
            )
            .await;
        if icon != json!("/favicon.svg") {
            findings.push(format!("{what}: no favicon link ({icon})"));
        }
        if let Some(w) = sideways_at_200(b).await {
            findings.push(format!("{what}: scrolls sideways at 200 % text ({w} px wide)"));
        }
        b.screenshot(&screenshots().join(shot_name(width, &p.path, size))).await;
        for s in &p.states {
            b.js(s.act, json!([])).await;
            let what = format!("{what}, {}", s.name);
            b.wait(&what, s.ready, json!([])).await;
            findings.extend(axe(b, &what).await);
        }
    }
    findings
}

fn no_findings(findings: &[String]) {
    assert!(
        findings.is_empty(),
        "{} critical or serious finding(s):\n{}",
        findings.len(),
        findings.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_at_desktop_and_phone_width() {
    if !browser_here() {
        return;
    }
    let started = std::time::Instant::now();
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let fixture = fixture(&app).await;
    let (public, staff) = (public_pages(&fixture), staff_pages(&fixture));
    let driver = Driver::start().await;
    let mut findings = Vec::new();
    for (width, height, mobile) in [(1280, 900, false), (390, 844, true)] {
        let b = driver.browser(width, height, mobile).await;
        findings.extend(sweep(&app, &b, width, &public, Size::Normal).await);
        sign_in(&b, &app).await;
        findings.extend(sweep(&app, &b, width, &staff, Size::Normal).await);
        b.quit().await;
    }
    no_findings(&findings);
    eprintln!("[a11y] every page in {} s", started.elapsed().as_secs());
    drop(fixture);
    app.stop().await;
}

/// Describe the focused element and whether it shows a focus ring (an
/// outline or a box shadow of at least 2 px); null on the body.
const FOCUSED: &str = "const e = document.activeElement; \
    if (!e || e === document.body) return null; \
    const s = getComputedStyle(e); \
    const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none'; \
    const name = (e.getAttribute('aria-label') || e.textContent || e.value || '').trim().slice(0, 24); \
    return { what: `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} ${name}`, ring, \
      matches: !!arguments[0] && e.matches(arguments[0]) };";

/// The last element of the page Tab can reach (visible, enabled, not taken
/// out of the order), described as FOCUSED describes it; null if none.
const LAST_TABBABLE: &str = "const all = [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')] \
    .filter(e => e.tabIndex >= 0 && !e.disabled && e.getClientRects().length > 0 && !e.closest('[hidden], dialog:not([open]), details:not([open]) > :not(summary)') \
      && getComputedStyle(e).visibility !== 'hidden'); \
    const e = all[all.length - 1]; if (!e) return null; \
    const name = (e.getAttribute('aria-label') || e.textContent || e.value || '').trim().slice(0, 24); \
    return `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} ${name}`;";

/// Press Tab until the focused element matches `css`; every element passed
/// must show its focus ring. Panics after `max` presses.
async fn tab_to(b: &Browser, css: &str, max: usize) -> Vec<String> {
    let mut unringed = Vec::new();
    for _ in 0..max {
        b.keys(TAB).await;
        let f = b.js(FOCUSED, json!([css])).await;
        if f.is_null() {
            continue;
        }
        if f["ring"] != true {
            unringed.push(f["what"].as_str().unwrap_or_default().to_owned());
        }
        if f["matches"] == true {
            return unringed;
        }
    }
    panic!("Tab did not reach {css} in {max} presses");
}

/// Tab from the top of the page to its last tabbable element (no trap on
/// the way); the elements passed without a visible focus ring.
async fn tab_through(b: &Browser, what: &str) -> Vec<String> {
    b.js("document.activeElement?.blur(); window.scrollTo(0, 0)", json!([]))
        .await;
    let Some(last) = b.js(LAST_TABBABLE, json!([])).await.as_str().map(str::to_owned) else {
        return Vec::new(); // nothing to reach (a printable page)
    };
    let mut unringed = Vec::new();
    for _ in 0..400 {
        b.keys(TAB).await;
        let f = b.js(FOCUSED, json!([null])).await;
        if f.is_null() {
            continue;
        }
        let seen = f["what"].as_str().unwrap_or_default().to_owned();
        if f["ring"] != true {
            unringed.push(format!("{what}: no visible focus on {seen}"));
        }
        if seen == last {
            return unringed;
        }
    }
    panic!("{what}: Tab never reached the last element ({last}): a focus trap?");
}

/// The page at `path` among `pages`.
fn find(pages: Vec<Page>, path: &str) -> Page {
    pages
        .into_iter()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no page {path}"))
}

/// Whether `css` is the focused element.
async fn focused(b: &Browser, css: &str) -> bool {
    b.js(
        "return !!document.activeElement && document.activeElement.matches(arguments[0])",
        json!([css]),
    )
    .await
        == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_page_and_the_console_work_by_keyboard() {
    if !browser_here() {
        return;
    }
    let started = std::time::Instant::now();
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let fixture = fixture(&app).await;
    let live = fixture.live;
    let driver = Driver::start().await;
    let b = driver.browser(1280, 900, false).await;
    let mut problems = Vec::new();

    // Every public page: Tab gets through, and shows where it is.
    for p in public_pages(&fixture) {
        b.goto(&app.url(&p.path)).await;
        b.wait(&format!("{} to show its content", p.path), p.ready, json!([]))
            .await;
        problems.extend(tab_through(&b, &p.path).await);
    }

    // The viewer: ask, with the keyboard only.
    let viewer = find(public_pages(&fixture), &format!("/live.html?event={live}"));
    b.goto(&app.url(&viewer.path)).await;
    b.wait("the viewer page", viewer.ready, json!([])).await;
    problems.extend(tab_to(&b, "#ask-text", 60).await);
    b.keys("Can I ask by keyboard?").await;
    problems.extend(tab_to(&b, "#ask-form button[type=submit]", 10).await);
    b.keys(ENTER).await;
    shows(&b, "the question sent by Enter", "#mine", "Can I ask by keyboard?").await;

    // Upvote another's question with Space.
    problems.extend(tab_to(&b, "#questions button.upvote[aria-pressed=false]", 40).await);
    b.keys(" ").await;
    b.wait(
        "the upvote taken",
        "return !!document.querySelector('#questions button.upvote[aria-pressed=true]')",
        json!([]),
    )
    .await;
    if !focused(&b, "#questions button.upvote[aria-pressed=true]").await {
        problems.push("the focus is lost once the upvote is taken".to_owned());
    }

    // The tabs: arrows move between them, the panel follows; vote with Space and Enter.
    b.js("document.getElementById('tab-ask').focus()", json!([])).await;
    b.keys(&RIGHT.repeat(2)).await;
    b.wait(
        "the 投票 tab by the arrow keys",
        "return document.getElementById('tab-poll').getAttribute('aria-selected') === 'true' \
         && !document.getElementById('panel-poll').hidden && document.activeElement.id === 'tab-poll'",
        json!([]),
    )
    .await;
    problems.extend(tab_to(&b, "#polls input", 10).await);
    b.keys(" ").await;
    problems.extend(tab_to(&b, "#polls button[type=submit]", 10).await);
    b.keys(ENTER).await;
    shows(&b, "the vote taken", "#polls", "已投票").await;
    if focused(&b, "body").await {
        problems.push("the focus is lost (on the body) once the vote is taken".to_owned());
    }

    // The console: the queued question approved from the keyboard.
    sign_in(&b, &app).await;
    let console = find(staff_pages(&fixture), &format!("/moderate.html?event={live}"));
    b.goto(&app.url(&console.path)).await;
    b.wait("the console", console.ready, json!([])).await;
    problems.extend(tab_through(&b, "/moderate.html").await);
    b.js("document.activeElement?.blur(); window.scrollTo(0, 0)", json!([]))
        .await;
    problems.extend(tab_to(&b, "#queue .mod-item button[data-action=\"a\"]", 80).await);
    b.keys(ENTER).await;
    shows(&b, "approved by Enter", "#published .mod-item", QUEUED).await;
    for path in ["/unit.html", "/bureau.html"] {
        let p = find(staff_pages(&fixture), path);
        b.goto(&app.url(path)).await;
        b.wait(path, p.ready, json!([])).await;
        problems.extend(tab_through(&b, path).await);
    }
    assert!(problems.is_empty(), "keyboard problems:\n{}", problems.join("\n"));
    eprintln!("[a11y] keyboard in {} s", started.elapsed().as_secs());
    b.quit().await;
    drop(fixture);
    app.stop().await;
}

/// The 大字版 switch of the page `b` shows: (pressed, html has `large`,
/// the body's font size in px, the stored value).
async fn large_state(b: &Browser) -> Value {
    b.js(
        "const s = document.getElementById('large-switch'); \
         return { shown: !!s && !s.hidden, pressed: s?.getAttribute('aria-pressed'), \
           large: document.documentElement.classList.contains('large'), \
           px: parseFloat(getComputedStyle(document.body).fontSize), \
           stored: localStorage.getItem('minsheng.large') }",
        json!([]),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_mode_is_switched_on_kept_and_passes_axe_on_a_phone() {
    if !browser_here() {
        return;
    }
    let started = std::time::Instant::now();
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let fixture = fixture(&app).await;
    let driver = Driver::start().await;
    let phone = driver.browser(390, 844, true).await;
    let pages: Vec<Page> = public_pages(&fixture)
        .into_iter()
        .filter(|p| !p.path.starts_with("/api/") && p.path != "/login.html" && p.path != "/privacy.html")
        .collect();

    // Off at first; the switch is reached by Tab and pressed with Space.
    phone.goto(&app.url("/")).await;
    phone.wait("the programme", pages[0].ready, json!([])).await;
    let before = large_state(&phone).await;
    assert_eq!(
        (&before["shown"], &before["pressed"], &before["large"]),
        (&json!(true), &json!("false"), &json!(false)),
        "{before}"
    );
    let unringed = tab_to(&phone, "#large-switch", 5).await;
    assert!(unringed.is_empty(), "{unringed:?}");
    phone.keys(" ").await;
    let on = large_state(&phone).await;
    assert_eq!(
        (&on["pressed"], &on["large"], &on["stored"]),
        (&json!("true"), &json!(true), &json!("1")),
        "{on}"
    );
    assert!(on["px"].as_f64() >= Some(20.0), "at least 20 px: {on}");
    phone.screenshot(&screenshots().join("a11y-large-index.png")).await;

    // Kept over a reload, set before the first paint: by a classic script
    // at the top of <head>, before any stylesheet.
    phone.js("location.reload()", json!([])).await;
    phone.wait("the programme again", pages[0].ready, json!([])).await;
    let kept = large_state(&phone).await;
    assert_eq!(
        (&kept["pressed"], &kept["large"]),
        (&json!("true"), &json!(true)),
        "{kept}"
    );
    let early = phone
        .js(
            "const s = document.querySelector('head script[src=\"/large.js\"]'); \
             const sheet = document.querySelector('head link[rel=stylesheet]'); \
             return !!s && !s.type && !s.defer && !s.async \
               && !!(s.compareDocumentPosition(sheet) & Node.DOCUMENT_POSITION_FOLLOWING)",
            json!([]),
        )
        .await;
    assert_eq!(early, json!(true), "large.js runs before the first paint");

    // Every public page: kept, larger, axe-clean, fitting the phone.
    let mut findings = sweep(&app, &phone, 390, &pages, Size::Large).await;
    for p in &pages {
        phone.goto(&app.url(&p.path)).await;
        phone.wait(&p.path, p.ready, json!([])).await;
        let s = large_state(&phone).await;
        if s["pressed"] != "true" || s["large"] != true || s["px"].as_f64() < Some(20.0) {
            findings.push(format!("{}: 大字版 not kept: {s}", p.path));
        }
    }
    no_findings(&findings);

    // And off again, with Enter, on another page.
    phone.goto(&app.url(&pages[2].path)).await;
    phone.wait("the ended event's page", pages[2].ready, json!([])).await;
    tab_to(&phone, "#large-switch", 5).await;
    phone.keys(ENTER).await;
    let off = large_state(&phone).await;
    assert_eq!(
        (&off["pressed"], &off["large"], &off["stored"]),
        (&json!("false"), &json!(false), &json!("0")),
        "{off}"
    );
    assert!(off["px"].as_f64() < Some(20.0), "{off}");
    eprintln!("[a11y] 大字版 in {} s", started.elapsed().as_secs());
    phone.quit().await;
    drop(fixture);
    app.stop().await;
}

/// The icon every page links, and the address browsers ask for unlinked.
#[tokio::test]
async fn the_favicon_is_served() {
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    for path in ["/favicon.svg", "/favicon.ico"] {
        let res = app.client.get(app.url(path)).send().await.expect("the icon");
        assert_eq!(res.status(), reqwest::StatusCode::OK, "{path}");
        let kind = res.headers().get("content-type").cloned();
        assert_eq!(
            kind.as_ref().and_then(|v| v.to_str().ok()),
            Some("image/svg+xml"),
            "{path}"
        );
        let body = res.text().await.expect("SVG text");
        assert!(body.starts_with("<svg") && !body.contains("<script"), "{body}");
    }
    app.stop().await;
}
