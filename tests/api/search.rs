//! Indexed Chinese search (issue 18, point 6): the unit workspace's opinion
//! list and the public answers find queries of one, two and three or more
//! characters, best first, with the match marked in the text as shown
//! (masked), and three or more characters go through the index on both
//! backends (FTS5 trigrams on SQLite, pg_trgm's GIN on PostgreSQL). In
//! Chromium, both pages mark what was found with `<mark>` elements and show
//! a hostile text as text (passes loudly without Chromium, unless
//! MINSHENG_REQUIRE_BROWSER=1).

use minsheng::domain::search::SearchQuery;
use minsheng::store::opinions::OpinionFilter;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::webdriver::Driver;
use crate::browser::{browser_here, fits, screenshots, shows, sign_in};
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    the_workspace_finds_ranks_and_marks_chinese_queries_of_every_length,
    three_characters_go_through_the_index_and_fewer_are_scanned,
    public_answers_are_searched_in_what_the_public_sees,
);

async fn opinion(app: &TestApp, token: &str, event: i64, text: &str, nickname: &str) -> i64 {
    let r = app
        .post(
            &format!("/api/events/{event}/opinions"),
            Some(token),
            json!({ "text": text, "nickname": nickname }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_i64().unwrap()
}

/// Decide with `reply` and publish it.
async fn reply(app: &TestApp, token: &str, id: i64, text: &str) {
    let path = format!("/api/opinions/{id}");
    let r = app
        .patch(&path, Some(token), json!({ "state": "answered", "reply": text }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.post(&format!("{path}/publish"), Some(token), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list:?}"))
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

/// A field's highlight as text with each hit in brackets: `门口[停车难]`.
fn marked(segments: &Value) -> String {
    segments
        .as_array()
        .unwrap_or_else(|| panic!("no segments: {segments:?}"))
        .iter()
        .map(|s| {
            let text = s["text"].as_str().unwrap();
            if s["hit"] == true {
                format!("[{text}]")
            } else {
                text.to_owned()
            }
        })
        .collect()
}

async fn search(app: &TestApp, token: &str, q: &str) -> Value {
    let path = format!("/api/opinions?q={}", urlencode(q));
    let r = app.get(&path, Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{q}: {:?}", r.body);
    r.body
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The test's opinions: ids of `(short, twice)`, `(long, once)`, `(in the
/// reply only)`, `(in the nickname only)`, `(a phone number)`, `(Latin)`.
struct Found {
    twice: i64,
    once: i64,
    in_reply: i64,
    in_nickname: i64,
    phone: i64,
    latin: i64,
}

async fn opinions(app: &TestApp, unit: &str, event: i64) -> Found {
    let once = opinion(
        app,
        unit,
        event,
        "社保中心门口每天早上都很拥挤，排队办事的人很多，附近停车难的问题一直没有解决，希望有关部门尽快协调周边单位开放车位",
        "王大爷",
    )
    .await;
    let twice = opinion(app, unit, event, "停车难，真的停车难", "李女士").await;
    let in_reply = opinion(app, unit, event, "门前道路坑洼需要修缮", "张先生").await;
    let in_nickname = opinion(app, unit, event, "希望延长图书馆开放时间", "停车难受害者").await;
    let phone = opinion(app, unit, event, "退休认证怎么办？联系电话13812345678", "赵女士").await;
    let latin = opinion(app, unit, event, "图书馆WiFi信号太差", "学生").await;
    opinion(app, unit, event, "社保卡丢了怎么补办", "孙先生").await;
    reply(app, unit, in_reply, "道路已修缮；另，周边停车难已协调解决").await;
    reply(app, unit, phone, "可在社保中心办理").await;
    Found {
        twice,
        once,
        in_reply,
        in_nickname,
        phone,
        latin,
    }
}

async fn the_workspace_finds_ranks_and_marks_chinese_queries_of_every_length(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let o = opinions(&app, &unit, event).await;

    // Three characters (the index) and two (a scan) rank alike: a match in
    // the text before one in the reply before one in the nickname; two
    // matches before one.
    let best_first = [o.twice, o.once, o.in_reply, o.in_nickname];
    let three = search(&app, &unit, "停车难").await;
    assert_eq!(ids(&three), best_first, "{three:#}");
    let two = search(&app, &unit, "停车").await;
    assert_eq!(ids(&two), best_first, "{two:#}");
    for list in [&three, &two] {
        let h = &list[0]["highlight"];
        assert!(h["reply"].is_null() && h["nickname"].is_null(), "{h}");
        assert_eq!(list[2]["highlight"]["text"], Value::Null);
        assert!(marked(&list[2]["highlight"]["reply"]).contains("周边[停车"), "{list:#}");
        assert!(
            marked(&list[3]["highlight"]["nickname"]).starts_with("[停车"),
            "{list:#}"
        );
    }
    assert_eq!(marked(&three[0]["highlight"]["text"]), "[停车难]，真的[停车难]");
    assert_eq!(marked(&two[0]["highlight"]["text"]), "[停车]难，真的[停车]难");
    assert!(marked(&three[1]["highlight"]["text"]).contains("附近[停车难]的问题"));

    // One character.
    let one = search(&app, &unit, "坑").await;
    assert_eq!(ids(&one), [o.in_reply]);
    assert_eq!(marked(&one[0]["highlight"]["text"]), "门前道路[坑]洼需要修缮");
    // Case does not matter, through the index too; the text keeps its own.
    let latin = search(&app, &unit, "wifi信号").await;
    assert_eq!(ids(&latin), [o.latin]);
    assert_eq!(marked(&latin[0]["highlight"]["text"]), "图书馆[WiFi信号]太差");

    // Staff find an opinion by a number as before, but the mark is made in
    // the masked text: digits that masking hides are never shown.
    let number = search(&app, &unit, "1234").await;
    assert_eq!(ids(&number), [o.phone]);
    assert_eq!(number[0]["text"], "退休认证怎么办？联系电话138****5678");
    assert_eq!(
        number[0]["highlight"],
        json!({ "text": null, "reply": null, "nickname": null })
    );
    assert!(!number.to_string().contains("13812345678"), "{number}");
    let tail = search(&app, &unit, "5678").await;
    assert_eq!(
        marked(&tail[0]["highlight"]["text"]),
        "退休认证怎么办？联系电话138****[5678]"
    );

    // Quotes and operators are text, not query syntax; nothing matches them.
    for q in ["\"停车难\" OR 坑", "停车难*", "%停车", "NEAR(停车 难)"] {
        assert_eq!(search(&app, &unit, q).await, json!([]), "{q}");
    }
    // An edit of the text, the reply or the nickname is found at once (the
    // triggers keep SQLite's index in step; PostgreSQL's indexes are the table's).
    reply(&app, &unit, o.twice, "已增设临时泊位").await;
    let found = search(&app, &unit, "临时泊位").await;
    assert_eq!(ids(&found), [o.twice]);
    assert_eq!(marked(&found[0]["highlight"]["reply"]), "已增设[临时泊位]");
    // Without a query the list keeps its order (by due date, then oldest) and has no highlight.
    let all = app.get(&format!("/api/opinions?event={event}"), Some(&unit)).await;
    assert_eq!(ids(&all.body).len(), 7);
    assert!(all.body[0].get("highlight").is_none(), "{:?}", all.body[0]);
    // Filters still narrow a search, and paging pages the ranked list.
    let page = app
        .get(
            "/api/opinions?q=%E5%81%9C%E8%BD%A6%E9%9A%BE&limit=2&offset=1",
            Some(&unit),
        )
        .await;
    assert_eq!(ids(&page.body), [o.once, o.in_reply]);
    let published = app
        .get(
            "/api/opinions?q=%E5%81%9C%E8%BD%A6%E9%9A%BE&published=true",
            Some(&unit),
        )
        .await;
    assert_eq!(ids(&published.body), [o.twice, o.in_reply]);
    let r = app
        .get(&format!("/api/opinions?q={}", "x".repeat(101)), Some(&unit))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    app.stop().await;
}

/// `count` more opinions of `event` answered by unit `rsj`, none with the
/// test's words: enough rows that the planner weighs an index against a scan
/// as it would in use (on a table of ten rows a scan is cheapest, and
/// PostgreSQL rightly takes it).
async fn fill(app: &TestApp, backend: Backend, event: i64, count: u32) {
    let columns = "event_id, unit_id, source, text, nickname, received_at, created_at, updated_at";
    let row = format!(
        "{event}, (SELECT id FROM units WHERE code = 'rsj'), 'offline',
         '关于第' || i || '号公园绿化和路灯照明的第' || (i * 7) || '条建议', '网友' || i, $1, $1, $1"
    );
    let sql = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
             INSERT INTO opinions ({columns}) SELECT {row} FROM n"
        ),
        Backend::Postgres => {
            format!("INSERT INTO opinions ({columns}) SELECT {row} FROM generate_series(1, {count}) AS n(i)")
        }
    };
    app.sql(&sql, Some(chrono::Utc::now())).await;
    // Statistics, as the databases keep them in use. PostgreSQL's VACUUM also
    // moves the new rows from the GIN indexes' pending list into the index
    // proper (autovacuum does the same): a long pending list must be read
    // whole, and the planner, rightly, then prefers a scan.
    let analyze = match backend {
        Backend::Sqlite => "ANALYZE",
        Backend::Postgres => "VACUUM ANALYZE opinions",
    };
    app.sql(analyze, None).await;
}

async fn three_characters_go_through_the_index_and_fewer_are_scanned(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let o = opinions(&app, &unit, event).await;
    fill(&app, backend, event, 5_000).await;
    let plan = |q: &str| {
        let filter = OpinionFilter {
            text: SearchQuery::parse("q", q).unwrap(),
            today: chrono::Utc::now().date_naive(),
            limit: 200,
            ..OpinionFilter::default()
        };
        let store = app.store.clone();
        async move { store.explain_opinion_search(&filter).await.unwrap().join("\n") }
    };

    let indexed = plan("停车难").await;
    let scanned = plan("停车").await;
    match backend {
        // EXPLAIN QUERY PLAN: `SCAN opinion_search VIRTUAL TABLE INDEX 0:M…`
        // (M: a MATCH the FTS5 table answers), then the opinions by rowid.
        Backend::Sqlite => {
            assert!(indexed.contains("SCAN opinion_search VIRTUAL TABLE INDEX"), "{indexed}");
            assert!(!indexed.lines().any(|step| step == "SCAN o"), "{indexed}");
            assert!(scanned.lines().any(|step| step == "SCAN o"), "{scanned}");
            assert!(!scanned.contains("opinion_search"), "{scanned}");
        }
        // EXPLAIN: a bitmap of the three trigram indexes, no sequential scan.
        // No `SET enable_seqscan = off`: with the rows and the VACUUM above
        // the planner chooses the index on its own, as on a table in use.
        Backend::Postgres => {
            for index in ["opinions_text_trgm", "opinions_reply_trgm", "opinions_nickname_trgm"] {
                assert!(indexed.contains(&format!("Bitmap Index Scan on {index}")), "{indexed}");
            }
            assert!(!indexed.contains("Seq Scan on opinions"), "{indexed}");
            assert!(scanned.contains("Seq Scan on opinions"), "{scanned}");
            assert!(!scanned.contains("_trgm"), "{scanned}");
        }
    }
    // The filled rows change nothing in what is found.
    assert_eq!(
        ids(&search(&app, &unit, "停车难").await),
        [o.twice, o.once, o.in_reply, o.in_nickname]
    );
    let many = search(&app, &unit, "路灯照明").await;
    assert_eq!(ids(&many).len(), 200, "a page of the default size");
    assert!(marked(&many[0]["highlight"]["text"]).contains("[路灯照明]"));
    app.stop().await;
}

async fn public_answers_are_searched_in_what_the_public_sees(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let event = app.live_event().await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let o = opinions(&app, &unit, event).await;
    let public = |q: &str| {
        let path = format!("/api/events/{event}/feedback?q={}", urlencode(q));
        let app = &app;
        async move {
            let r = app.get(&path, None).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            r.body
        }
    };

    // Only published replies, found in the reply as in the text; the counts stay the event's.
    for q in ["停车难", "停车", "停"] {
        let page = public(q).await;
        assert_eq!(ids(&page["replies"]), [o.in_reply], "{q}: {page:#}");
        assert_eq!(page["published"], 2);
        let h = &page["replies"][0]["highlight"];
        assert!(h["text"].is_null(), "{h}");
        assert!(marked(&h["reply"]).contains(&format!("周边[{q}]")), "{h}");
    }
    let page = public("修缮").await;
    assert_eq!(ids(&page["replies"]), [o.in_reply]);
    let h = &page["replies"][0]["highlight"];
    assert_eq!(marked(&h["text"]), "门前道路坑洼需要[修缮]");
    assert_eq!(marked(&h["reply"]), "道路已[修缮]；另，周边停车难已协调解决");
    // A search cannot probe a hidden number: digits only in the masked part
    // find nothing; the digits the public sees are found and marked.
    assert_eq!(public("1234").await["replies"], json!([]));
    assert_eq!(public("13812345678").await["replies"], json!([]));
    let tail = public("5678").await;
    assert_eq!(ids(&tail["replies"]), [o.phone]);
    assert_eq!(
        marked(&tail["replies"][0]["highlight"]["text"]),
        "退休认证怎么办？联系电话138****[5678]"
    );
    assert!(!tail.to_string().contains("1234"), "{tail}");
    // No query: every published reply, in the order published, without highlight.
    let all = app.get(&format!("/api/events/{event}/feedback"), None).await;
    assert_eq!(ids(&all.body["replies"]), [o.in_reply, o.phone]);
    assert!(all.body["replies"][0].get("highlight").is_none());
    let r = app
        .get(&format!("/api/events/{event}/feedback?q={}", "x".repeat(101)), None)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get(&format!("/api/events/{event}/feedback?nope=1"), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

/// The marks inside `css`, as text, and whether any element named in
/// `forbidden` was made from what people wrote.
const MARKS: &str = "const [css, forbidden] = arguments; \
    const marks = [...document.querySelectorAll(`${css} mark`)].map(m => m.textContent); \
    return marks.length ? { marks, made: document.querySelectorAll(forbidden).length } : null;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_pages_mark_what_was_found() {
    if !browser_here() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    let event = app.live_event().await;
    let unit = app.staff("rsj-staff", "unit_staff", Some("rsj")).await;
    let moderator = app.staff("mod", "moderator", None).await;
    let o = opinions(&app, &unit, event).await;
    let hostile = "<b>停车难</b>，<img src=x onerror=alert(1)>";
    let hostile_id = opinion(&app, &unit, event, hostile, "<i>网友</i>").await;
    reply(&app, &unit, hostile_id, "已转交<script>alert(1)</script>停车难专班").await;
    let r = app
        .post(&format!("/api/events/{event}/end"), Some(&moderator), json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let driver = Driver::start().await;
    let forbidden = "#opinions tbody b, #opinions tbody img, #replies b, #replies img, #replies script, #replies i";

    // The unit workspace: best first, every match marked, the markup as text.
    let desk = driver.browser(1280, 900, false).await;
    sign_in(&desk, &app, "/unit.html", "rsj-staff").await;
    desk.fill("#f-q", "停车难").await;
    desk.click("#filters button[type=submit]").await;
    shows(&desk, "the ranked count", "#list-count", "按相关程度排序").await;
    let found = desk
        .wait("the marks in the list", MARKS, json!(["#opinions tbody", forbidden]))
        .await;
    assert_eq!(found["made"], 0, "an element was made from a text: {found}");
    let first_row = desk
        .js(
            "return document.querySelector('#opinions tbody tr').dataset.id",
            json!([]),
        )
        .await;
    assert_eq!(first_row, o.twice.to_string());
    let row_marks = desk
        .js(
            "return [...document.querySelector('#opinions tbody tr').querySelectorAll('mark')].map(m => m.textContent)",
            json!([]),
        )
        .await;
    assert_eq!(row_marks, json!(["停车难", "停车难"]));
    shows(&desk, "the hostile text as text", "#opinions tbody td", hostile).await;
    shows(
        &desk,
        "a match in the reply",
        "#opinions tbody .found-in",
        "答复：道路已修缮",
    )
    .await;
    desk.js("document.getElementById('list-count').scrollIntoView()", json!([]))
        .await;
    desk.screenshot(&screenshots().join("search-unit.png")).await;

    // The public answers on a phone: two characters, the reply marked.
    let phone = driver.browser(390, 844, true).await;
    phone.goto(&app.url(&format!("/event.html?id={event}"))).await;
    shows(
        &phone,
        "the published replies",
        "#replies .reply-body",
        "可在社保中心办理",
    )
    .await;
    phone.fill("#reply-q", "停车").await;
    phone.click("#reply-search button[type=submit]").await;
    shows(&phone, "what the search found", "#reply-search-status", "找到 2 条").await;
    let found = phone
        .wait("the marks in the replies", MARKS, json!(["#replies", forbidden]))
        .await;
    assert_eq!(found["made"], 0, "an element was made from a text: {found}");
    assert_eq!(found["marks"], json!(["停车", "停车", "停车"]), "{found}");
    shows(
        &phone,
        "the hostile reply as text",
        "#replies .reply-body",
        "<script>alert(1)</script>",
    )
    .await;
    assert!(
        fits(&phone, "#replies mark").await,
        "the event page scrolls sideways at 390 px"
    );
    phone.screenshot(&screenshots().join("search-event.png")).await;
    phone.fill("#reply-q", "没有这句话").await;
    phone.click("#reply-search button[type=submit]").await;
    shows(&phone, "nothing found", "#replies li", "没有找到包含“没有这句话”的答复").await;
    app.stop().await;
}
