//! The store failing under the live writer: a full disk.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(a_full_disk_never_acknowledges_a_question_it_loses);

/// Make the database full. SQLite: the writer's connection may not grow the
/// file (the real `SQLITE_FULL` path; the cap dies with that connection, and
/// [`space_returns`] lifts it).
/// PostgreSQL: every insert of a question fails with `disk_full` (53100)
/// until [`space_returns`].
async fn fill_the_disk(app: &TestApp, backend: Backend) {
    match backend {
        Backend::Sqlite => app.store.fill_sqlite_for_tests(true).await.expect("cap the file"),
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(app.db_url.expose()).await.expect("connect");
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
        Backend::Sqlite => app.store.fill_sqlite_for_tests(false).await.expect("lift the cap"),
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(app.db_url.expose()).await.expect("connect");
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
            let mut conn = sqlx::SqliteConnection::connect(app.db_url.expose())
                .await
                .expect("open");
            sqlx::query_scalar(SQL).fetch_all(&mut conn).await.expect("read")
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(app.db_url.expose()).await.expect("connect");
            sqlx::query_scalar(SQL).fetch_all(&mut conn).await.expect("read")
        }
    }
}

/// Issue 13, point 3: on SQLite a batch that hit `SQLITE_FULL` left the writer's
/// connection in a broken transaction, and every later question was
/// acknowledged and never committed while `/readyz` said ready.
async fn a_full_disk_never_acknowledges_a_question_it_loses(backend: Backend) {
    let Some(mut app) = spawn_app(backend).await else {
        return;
    };
    let event = app.live_event().await;
    let mut viewer = app.viewer_ws(event, "网友甲").await;
    assert_eq!(app.get("/readyz", None).await.status, StatusCode::OK);

    fill_the_disk(&app, backend).await;
    let mut acknowledged = Vec::new();
    let ask = async |viewer: &mut crate::helpers::Ws, i: usize| {
        let text = format!("{i} {}", "满".repeat(280));
        let reply = viewer
            .request(json!({ "type": "ask", "text": text }), &format!("q{i}"))
            .await;
        match reply["type"].as_str() {
            Some("ack") => Some(reply["question"]["id"].as_i64().expect("id")),
            _ => {
                assert_eq!(reply["code"], "unavailable", "{reply:?}");
                None
            }
        }
    };
    // Ask until the full disk refuses one.
    let mut refused = false;
    for i in 0..500 {
        match ask(&mut viewer, i).await {
            Some(id) => acknowledged.push(id),
            None => {
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "the full database took 500 questions");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", ready.body);

    // Every later question is refused or truly committed; once space is back they commit again.
    space_returns(&app, backend).await;
    let mut later = 0;
    for i in 500..520 {
        if let Some(id) = ask(&mut viewer, i).await {
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
        "acknowledged and lost: {lost:?} of {}",
        acknowledged.len()
    );
}
