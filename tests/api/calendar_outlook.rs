//! A calendar that never runs out (issue 18, point 7): from 1 November a
//! missing next year is said by `minsheng calendar check` (exit 2), `/readyz`,
//! `/metrics`, `GET /api/calendar/status` and the bureau page.
//!
//! The dates follow the last year shipped in `calendar/` (2026 when this was
//! written, so `--on 2026-11-02` names 2027): shipping a new notice moves the
//! test along instead of breaking it. The fake next year the tests write is
//! made up and says so; it is never a real State Council notice.

use std::process::{Command, Output};

use chrono::{Datelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(the_server_says_when_next_year_is_missing);

/// The years `calendar/` ships (the binary builds the same files in).
fn shipped_years() -> Vec<i32> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("calendar");
    let mut years: Vec<i32> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("cn-")?.strip_suffix(".toml")?.parse().ok()
        })
        .collect();
    years.sort();
    years
}

fn last_shipped() -> i32 {
    *shipped_years().last().expect("calendar/ ships at least one year")
}

/// A folder for one test's calendar files.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("minsheng_calendar_{name}_{}_{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A made-up year in the calendar file format: one day off, one make-up
/// working day. NOT a State Council notice.
fn fake_year(year: i32) -> String {
    // The first Saturday of March: a weekend day, so it may be a make-up working day.
    let saturday = (1..=7)
        .map(|d| chrono::NaiveDate::from_ymd_opt(year, 3, d).unwrap())
        .find(|d| d.weekday() == chrono::Weekday::Sat)
        .unwrap();
    format!(
        "# TEST ONLY: made up for tests/api/calendar_outlook.rs, not the State Council's notice.\n\
         year = {year}\n\
         source = \"测试用虚构数据（非国务院通知）\"\n\n\
         [[holidays]]\n\
         name = \"测试假日\"\n\
         from = \"{year}-01-01\"\n\
         to = \"{year}-01-01\"\n\
         work = [\"{saturday}\"]\n"
    )
}

/// `minsheng calendar check` with `args`, the calendar folder given, no database.
fn check(calendar_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_minsheng"))
        .args(["calendar", "check", "--calendar-dir"])
        .arg(calendar_dir)
        .args(args)
        .env("MINSHENG_LOG", "warn")
        // It must not need one: a URL that cannot be reached proves it.
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env_remove("MINSHENG_CALENDAR_DIR")
        .output()
        .expect("running minsheng")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn calendar_check_exits_non_zero_from_1_november_until_next_year_is_added() {
    let last = last_shipped();
    let next = last + 1;
    let dir = temp_dir("check");

    let before = check(&dir, &["--on", &format!("{last}-10-15")]);
    assert!(
        before.status.success(),
        "{}{}",
        stdout(&before),
        String::from_utf8_lossy(&before.stderr)
    );
    assert!(stdout(&before).contains(&format!("{last}")), "{}", stdout(&before));

    let after = check(&dir, &["--on", &format!("{last}-11-02")]);
    assert_eq!(after.status.code(), Some(2), "{}", stdout(&after));
    assert!(
        stdout(&after).contains(&format!("next year {next}: MISSING")),
        "{}",
        stdout(&after)
    );
    assert!(
        stdout(&after).contains(&format!("cn-{next}.toml")),
        "{}",
        stdout(&after)
    );

    // A missing current year is as wrong, whatever the month.
    let new_year = check(&dir, &["--on", &format!("{next}-01-01")]);
    assert_eq!(new_year.status.code(), Some(2), "{}", stdout(&new_year));
    assert!(stdout(&new_year).contains(&format!("this year {next}: MISSING")));

    // With next year's file in --calendar-dir, no rebuild: fine.
    std::fs::write(dir.join(format!("cn-{next}.toml")), fake_year(next)).unwrap();
    let added = check(&dir, &["--on", &format!("{last}-11-02")]);
    assert!(added.status.success(), "{}", stdout(&added));
    assert!(stdout(&added).contains("测试用虚构数据"), "{}", stdout(&added));
    assert!(
        stdout(&added).contains(&format!("next year {next}: loaded")),
        "{}",
        stdout(&added)
    );

    // A broken file is an error (1), not a verdict on the years.
    std::fs::write(dir.join("broken.toml"), "year = \"soon\"\n").unwrap();
    let broken = check(&dir, &["--on", &format!("{last}-11-02")]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("broken.toml"));
    let _ = std::fs::remove_dir_all(dir);
}

/// What the server must say today, worked out here from the date and the
/// years shipped (the test app loads `calendar/`), not by the code under test.
struct Expected {
    this_year: i32,
    next_year: i32,
    covers_next_year: bool,
    next_year_needed: bool,
    missing: Vec<i32>,
}

fn expected_today() -> Expected {
    let today = (Utc::now() + chrono::Duration::hours(8)).date_naive();
    let years = shipped_years();
    let (this_year, next_year) = (today.year(), today.year() + 1);
    let next_year_needed = today.month() >= 11;
    let covers_next_year = years.contains(&next_year);
    let mut missing = Vec::new();
    if !years.contains(&this_year) {
        missing.push(this_year);
    }
    if next_year_needed && !covers_next_year {
        missing.push(next_year);
    }
    Expected {
        this_year,
        next_year,
        covers_next_year,
        next_year_needed,
        missing,
    }
}

async fn status(app: &TestApp, query: &str) -> Value {
    let reply = app.get(&format!("/api/calendar/status{query}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    reply.body
}

async fn the_server_says_when_next_year_is_missing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let last = last_shipped();
    let next = last + 1;

    // As of a day: fine on 15 October, next year missing from 1 November.
    let october = status(&app, &format!("?on={last}-10-15")).await;
    assert_eq!(october["covers_this_year"], true);
    assert_eq!(october["covers_next_year"], false);
    assert_eq!(october["next_year_needed"], false);
    assert_eq!(october["missing_years"], json!([]));
    assert!(october["warning"].is_null(), "{october}");
    let november = status(&app, &format!("?on={last}-11-01")).await;
    assert_eq!(november["today"], format!("{last}-11-01"));
    assert_eq!(november["next_year"], next);
    assert_eq!(november["next_year_needed"], true);
    assert_eq!(november["missing_years"], json!([next]));
    let warning = november["warning"].as_str().unwrap();
    assert!(warning.contains(&format!("cn-{next}.toml")), "{warning}");
    let loaded: Vec<i64> = november["years"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| y["year"].as_i64().unwrap())
        .collect();
    assert_eq!(loaded.last().copied(), Some(i64::from(last)));
    let doc = app.get("/api/openapi.json", None).await.body;
    let documented = &doc["paths"]["/api/calendar/status"]["get"];
    assert_eq!(documented["parameters"][0]["name"], "on", "{documented}");
    assert!(documented["responses"]["400"].is_object(), "{documented}");
    let bad = app.get("/api/calendar/status?on=2026-13-01", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "bad_query");

    // Today, as /readyz and /metrics see it: on the day this was written
    // (December 2026, no 2027 notice) next year is missing.
    let want = expected_today();
    let now = status(&app, "").await;
    assert_eq!(now["this_year"], want.this_year);
    assert_eq!(now["next_year"], want.next_year);
    assert_eq!(now["covers_next_year"], want.covers_next_year);
    assert_eq!(now["next_year_needed"], want.next_year_needed);
    assert_eq!(now["missing_years"], json!(want.missing));

    let ready = app.get("/readyz", None).await;
    assert_eq!(
        ready.status,
        StatusCode::OK,
        "a missing year is a warning, not an outage"
    );
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["calendar_covers_next_year"], want.covers_next_year);
    let warnings = ready.body["warnings"].as_array().unwrap();
    match want.missing.last() {
        None => assert!(warnings.is_empty(), "{warnings:?}"),
        Some(year) => {
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(warnings[0].as_str().unwrap().contains(&format!("cn-{year}.toml")));
            assert_eq!(warnings[0], now["warning"]);
        }
    }

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = |name: &str, on: bool| format!("\n{name} {}\n", u8::from(on));
    for line in [
        gauge("minsheng_calendar_covers_next_year", want.covers_next_year),
        gauge("minsheng_calendar_next_year_needed", want.next_year_needed),
    ] {
        assert!(metrics.contains(&line), "{line:?} in\n{metrics}");
    }

    // A deadline that crosses into a missing year names it, as before.
    app.import_plan().await;
    let event = app
        .post(
            "/api/events",
            Some(&app.admin_token),
            json!({ "code": "year-end-outlook", "kind": "open_day", "title": "年末活动", "host_units": ["rsj"],
                    "form": "offline", "starts_at": format!("{last}-12-30T09:30:00"), "duration_minutes": 60 }),
        )
        .await;
    assert_eq!(event.status, StatusCode::CREATED, "{:?}", event.body);
    let id = event.body["id"].as_i64().unwrap();
    let deadlines = app
        .get(&format!("/api/events/{id}/deadlines"), Some(&app.admin_token))
        .await
        .body;
    let materials = deadlines
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "materials")
        .unwrap();
    assert_eq!(materials["state"], "calendar_missing", "{materials}");
    assert!(
        materials["note"].as_str().unwrap().contains(&next.to_string()),
        "{materials}"
    );
    app.stop().await;
}

/// The bureau page's banner, in Chromium, when today lacks a year (as on
/// the day this was written); skipped, saying why, on a day that lacks none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bureau_page_warns_of_a_missing_year() {
    use crate::browser::webdriver::Driver;
    use crate::browser::{browser_here, fits, screenshots, shows, sign_in};

    let want = expected_today();
    let Some(&year) = want.missing.last() else {
        eprintln!("!! the bureau banner test needs a day with a missing year; today none is missing");
        return;
    };
    if !browser_here() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await.expect("SQLite is always there");
    app.staff("bureau", "admin", None).await;
    let driver = Driver::start().await;
    let bureau = driver.browser(1280, 900, false).await;
    sign_in(&bureau, &app, "/bureau.html", "bureau").await;
    let banner = "#calendar-warning[role=alert]:not([hidden])";
    shows(&bureau, "the banner naming the year", banner, &format!("{year} 年")).await;
    shows(&bureau, "the file to add", banner, &format!("cn-{year}.toml")).await;
    shows(&bureau, "where to put it", banner, "--calendar-dir").await;
    shows(&bureau, "how to check", banner, "minsheng calendar check").await;
    shows(&bureau, "the file format", &format!("{banner} pre"), "[[holidays]]").await;
    bureau
        .screenshot(&screenshots().join("bureau-calendar-warning.png"))
        .await;
    bureau.quit().await;
    // On a phone the file format scrolls inside its box, not the page.
    let phone = driver.browser(390, 844, true).await;
    sign_in(&phone, &app, "/bureau.html", "bureau").await;
    phone.click("#calendar-warning summary").await;
    assert!(
        fits(&phone, banner).await,
        "/bureau.html scrolls sideways at 390 px with the banner"
    );
    phone
        .screenshot(&screenshots().join("bureau-calendar-warning-phone.png"))
        .await;
    phone.quit().await;
    app.stop().await;
}
