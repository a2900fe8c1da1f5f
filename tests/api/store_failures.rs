//! The store failing: a full disk under the live writer, a failing read
//! that must not pass for the client's mistake.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_full_disk_never_acknowledges_a_question_it_loses,
    readiness_comes_back_by_itself_once_writes_succeed_again,
    a_failing_store_is_never_reported_as_an_unknown_code,
);

/// The text of the question that meets the full disk first.
const FIRST_TO_FAIL: &str = "磁盘满时的第一个问题";

/// Make the database full, the way a full disk fails an SQLite writer: a
/// commit that cannot be written is rolled back by SQLite itself (stood in
/// for by a trigger that does what SQLite does then, `RAISE(ROLLBACK)`, on
/// the question [`FIRST_TO_FAIL`]), and after that the file cannot grow
/// (`PRAGMA max_page_count` on the writer's connection: the real
/// `SQLITE_FULL`, which fails the statement and leaves the transaction open;
/// the cap dies with that connection). PostgreSQL: every insert of a
/// question fails with `disk_full` (53100). Until [`space_returns`].
async fn fill_the_disk(app: &TestApp, backend: Backend) {
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(app.database_url.expose())
                .await
                .expect("open");
            let sql = format!(
                "CREATE TRIGGER disk_full BEFORE INSERT ON questions WHEN NEW.text = '{FIRST_TO_FAIL}' \
                 BEGIN SELECT RAISE(ROLLBACK, 'database or disk is full'); END"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect("trigger");
            app.store.fill_sqlite_for_tests(true).await.expect("cap the file");
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(app.database_url.expose())
                .await
                .expect("connect");
            for sql in [
                "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = '53100'; END $$",
                "CREATE TRIGGER disk_full BEFORE INSERT ON questions FOR EACH ROW EXECUTE FUNCTION disk_full()",
            ] {
                sqlx::query(sql).execute(&mut conn).await.expect("trigger");
            }
        }
    }
}

async fn space_returns(app: &TestApp, backend: Backend) {
    match backend {
        // The trigger stays: it fails only the first question. (Dropping it
        // would wait for the writer, whose transaction never ended before
        // the fix: "database is locked".)
        Backend::Sqlite => app.store.fill_sqlite_for_tests(false).await.expect("lift the cap"),
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(app.database_url.expose())
                .await
                .expect("connect");
            sqlx::query("DROP TRIGGER disk_full ON questions")
                .execute(&mut conn)
                .await
                .expect("drop trigger");
        }
    }
}

/// The ids of the questions stored, read by a connection of its own after the server stopped.
async fn stored_questions(app: &TestApp, backend: Backend) -> Vec<i64> {
    const SQL: &str = "SELECT id FROM questions ORDER BY id";
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(app.database_url.expose())
                .await
                .expect("open");
            sqlx::query_scalar(SQL).fetch_all(&mut conn).await.expect("read")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(app.database_url.expose())
                .await
                .expect("connect");
            sqlx::query_scalar(SQL).fetch_all(&mut conn).await.expect("read")
        }
    }
}

/// Issue 13, point 3: on SQLite a commit that hit the full disk was rolled
/// back by SQLite itself, sqlx's ROLLBACK failed and left it counting one
/// open transaction; the next failure ran `ROLLBACK TO SAVEPOINT`, which
/// leaves SQLite's transaction open, and from then on every question was
/// acknowledged inside a transaction that never committed, while `/readyz`
/// said ready.
async fn a_full_disk_never_acknowledges_a_question_it_loses(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let event = app.live_event().await;
    let mut viewer = app.viewer_ws(event, "网友甲").await;
    assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);

    fill_the_disk(&app, backend).await;
    let mut acknowledged = Vec::new();
    let ask = async |viewer: &mut crate::helpers::Ws, reference: String, text: String| {
        let reply = viewer.request(json!({ "type": "ask", "text": text }), &reference).await;
        match reply["type"].as_str() {
            Some("ack") => Some(reply["question"]["id"].as_i64().expect("id")),
            _ => {
                assert_eq!(reply["code"], "unavailable", "{reply:?}");
                None
            }
        }
    };
    let refused = ask(&mut viewer, "first".into(), FIRST_TO_FAIL.into()).await;
    assert_eq!(refused, None, "the full disk took a question");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", ready.body);

    // While the disk is full, and once space is back: every question is
    // refused or truly committed, and some are taken again.
    for i in 0..60 {
        let text = format!("{i} {}", "满".repeat(280));
        acknowledged.extend(ask(&mut viewer, format!("full{i}"), text).await);
    }
    space_returns(&app, backend).await;
    let mut later = 0;
    for i in 0..20 {
        if let Some(id) = ask(&mut viewer, format!("later{i}"), format!("空间回来后的问题 {i}")).await {
            acknowledged.push(id);
            later += 1;
        }
    }
    assert!(later > 0, "no question was taken after space returned");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "{:?}", ready.body);

    app.halt().await;
    let stored = stored_questions(&app, backend).await;
    let lost: Vec<i64> = acknowledged.iter().copied().filter(|id| !stored.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "acknowledged and lost: {} of {}",
        lost.len(),
        acknowledged.len()
    );
}

/// A node that is not ready gets no traffic from a balancer, so no write
/// would ever tell it the database takes writes again: its idle writer tries
/// a small commit every 30 s (`PROBE_INTERVAL`) and `/readyz` comes back
/// without a single question being asked.
async fn readiness_comes_back_by_itself_once_writes_succeed_again(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let event = app.live_event().await;
    let mut viewer = app.viewer_ws(event, "网友乙").await;
    fill_the_disk(&app, backend).await;
    let reply = viewer
        .request(json!({ "type": "ask", "text": FIRST_TO_FAIL }), "first")
        .await;
    assert_eq!(reply["code"], "unavailable", "{reply:?}");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", ready.body);
    assert_eq!(ready.body["writes"], "failing");
    space_returns(&app, backend).await;

    // No more asks: only the writer's probe can make it ready again.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(75);
    loop {
        let ready = app.get("/readyz", None).await;
        if ready.status == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still not ready 75 s after space returned: {:?}",
            ready.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    app.stop().await;
}

/// Run `sql` on the test database by a connection of its own.
async fn execute(app: &TestApp, backend: Backend, sql: &'static str) {
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(app.database_url.expose())
                .await
                .expect("connect");
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(app.database_url.expose())
                .await
                .expect("connect");
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        }
    }
}

/// A unit code that names nothing is the client's mistake (422); a store
/// that fails while looking it up is the server's (500), never "there is no
/// unit with that code".
async fn a_failing_store_is_never_reported_as_an_unknown_code(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let token = app.admin_token.clone();
    let r = app.get("/api/opinions?unit=no-such-unit", Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert!(
        r.body["error"]["message"].as_str().unwrap_or("").contains("no unit"),
        "{:?}",
        r.body
    );

    // The units table is away: every lookup of a code fails in the store.
    execute(&app, backend, "ALTER TABLE units RENAME TO units_away").await;
    for path in [
        "/api/opinions?unit=no-such-unit",
        "/api/opinions/export?unit=no-such-unit",
        "/api/events?unit=no-such-unit",
    ] {
        let res = app
            .client
            .get(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .expect("send");
        let status = res.status();
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {body:?}");
        assert_eq!(body["error"]["code"], "internal", "{path}: {body:?}");
        assert!(
            !body["error"]["message"].as_str().unwrap_or("").contains("no unit"),
            "{path}: {body:?}"
        );
    }
    execute(&app, backend, "ALTER TABLE units_away RENAME TO units").await;
    let r = app.get("/api/opinions?unit=no-such-unit", Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
}
