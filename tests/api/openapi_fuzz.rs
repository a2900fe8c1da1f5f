//! The OpenAPI document against the real server, by a schema-driven fuzzer
//! (schemathesis, from PyPI: `pip install schemathesis`): every operation is
//! called with generated valid and invalid input, as an administrator, and
//! every answer must be a documented status, never a 500, with the documented
//! content type. Runs on PostgreSQL when it is there (NUL in text was a 500
//! only there), else SQLite.
//!
//! Skipped loudly when the `st` command is missing, unless
//! MINSHENG_REQUIRE_SCHEMATHESIS=1 (CI), which makes it fail. The time budget
//! is MINSHENG_FUZZ_SECONDS (default 90).

use std::process::Command;

use crate::helpers::{Backend, spawn_app};

fn required() -> bool {
    std::env::var("MINSHENG_REQUIRE_SCHEMATHESIS").is_ok_and(|v| v == "1")
}

fn schemathesis() -> Option<String> {
    let st = std::env::var("MINSHENG_SCHEMATHESIS").unwrap_or_else(|_| "st".into());
    let found = Command::new(&st)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    found.then_some(st)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_the_api_is_documented_and_none_is_a_server_error() {
    let Some(st) = schemathesis() else {
        assert!(
            !required(),
            "MINSHENG_REQUIRE_SCHEMATHESIS=1 but the `st` command (schemathesis) is not installed"
        );
        eprintln!("!! SKIPPED the OpenAPI fuzz test: schemathesis (`st`) is not installed (pip install schemathesis)");
        return;
    };
    let app = match spawn_app(Backend::Postgres).await {
        Some(app) => app,
        None => spawn_app(Backend::Sqlite).await.expect("SQLite is always there"),
    };
    app.import_plan().await;
    let seconds = std::env::var("MINSHENG_FUZZ_SECONDS").unwrap_or_else(|_| "90".into());
    let schema = app.url("/api/openapi.json");
    let token = app.admin_token.clone();
    // schemathesis keeps a cache in its working directory: a temporary one,
    // not the checkout.
    let workdir = std::env::temp_dir().join(format!("minsheng_fuzz_{}", std::process::id()));
    std::fs::create_dir_all(&workdir).expect("a working directory for schemathesis");
    let cwd = workdir.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .current_dir(cwd)
            .args(["run", &schema])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance",
            ])
            // One worker: with two, hypothesis 6.170's lambda descriptions
            // (shared, not thread-safe) fail at random with "AST constructor
            // recursion depth mismatch", an error of the tool, not of the API.
            .args(["--max-time", &seconds, "--workers", "1"])
            // Signing out would end the fuzzer's own session; the live room is
            // a WebSocket (tests/api/live*.rs); plan files are TOML, which the
            // fuzzer cannot write (tests/api/programme.rs covers bad plans).
            .args(["--exclude-path", "/api/auth/logout"])
            .args(["--exclude-path", "/api/events/{id}/live"])
            .args(["--exclude-path", "/api/plans/import"])
            .env("NO_COLOR", "1")
            .output()
            .expect("running schemathesis")
    })
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&workdir);
    let report = String::from_utf8_lossy(&output.stdout);
    let tail: Vec<&str> = report.lines().rev().take(60).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    assert!(
        output.status.success(),
        "schemathesis found answers the OpenAPI document does not describe:\n{}\n{}",
        report,
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{}", tail.join("\n"));
    app.stop().await;
}
