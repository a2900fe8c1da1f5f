//! `serve --demo` as a newcomer meets it: the live event's room is
//! `verified` and opens working (published questions, one answered, one with
//! a masked number, one pending), the console prints the verification codes,
//! and the moderator console has a report and an appeal to look at.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Ws, next_json, send_json};

struct Demo {
    child: Child,
    addr: String,
    console: Arc<Mutex<Vec<String>>>,
    _dir: tempdir::Dir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

mod tempdir {
    /// A folder removed when dropped.
    pub struct Dir(pub std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn start_demo() -> Demo {
    let dir = std::env::temp_dir().join(format!("minsheng_demo_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_minsheng"))
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--print-addr",
            "--shutdown-grace",
            "1",
        ])
        .env("DATABASE_URL", format!("sqlite://{}/demo.db", dir.display()))
        .env("MINSHENG_IDENTITY_SECRET_FILE", dir.join("identity.key"))
        .env("MINSHENG_LOG", "warn")
        .env_remove("MINSHENG_REDIS_URL")
        .env_remove("MINSHENG_IDENTITY_SECRET")
        .env_remove("MINSHENG_DEMO_IDENTITY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the bound address");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    let console = Arc::new(Mutex::new(Vec::new()));
    let lines = console.clone();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
    Demo {
        child,
        addr,
        console,
        _dir: tempdir::Dir(dir),
    }
}

async fn ws(addr: &str, event: i64, hello: Value) -> Ws {
    let url = format!("ws://{addr}/api/events/{event}/live");
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("ws connect");
    let mut msg = json!({ "type": "hello", "protocol": 1 });
    for (k, v) in hello.as_object().unwrap() {
        msg[k] = v.clone();
    }
    send_json(&mut socket, &msg).await;
    let welcome = next_json(&mut socket).await.expect("welcome");
    assert_eq!(welcome["type"], "welcome", "{welcome:?}");
    let mut ws = Ws::new(socket);
    ws.welcome = welcome;
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_opens_a_verified_working_room() {
    let demo = tokio::task::spawn_blocking(start_demo).await.unwrap();
    let base = format!("http://{}", demo.addr);
    let http = reqwest::Client::new();
    let live: Value = http
        .get(format!("{base}/api/events?status=live"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = &live[0];
    assert_eq!(event["identity_mode"], "verified", "{event:?}");
    let event = event["id"].as_i64().unwrap();

    // A viewer sees a working room at once, personal data masked.
    let mut viewer = ws(&demo.addr, event, json!({ "nickname": "新来的" })).await;
    assert_eq!(viewer.welcome["identity"], "verified");
    let snapshot = viewer.expect("snapshot").await;
    let questions = snapshot["questions"].as_array().unwrap();
    assert!(questions.len() >= 3, "{questions:?}");
    assert!(questions.iter().any(|q| q["answered"] == true));
    let all = snapshot.to_string();
    assert!(all.contains("138****5678") && !all.contains("13812345678"), "{all}");
    let refused = viewer.request(json!({ "type": "ask", "text": "我也想问" }), "q").await;
    assert_eq!(refused["code"], "verification_required");

    // The code goes to the console; it verifies.
    let sent = http
        .post(format!("{base}/api/verification/code"))
        .json(&json!({ "phone": "13712345678" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let mut code = None;
    for _ in 0..100 {
        code = demo
            .console
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("137****5678"))
            .map(|l| crate::verification::code_in(l));
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let code = code.expect("the demo console printed the code");
    let verified: Value = http
        .post(format!("{base}/api/verification"))
        .json(&json!({ "phone": "13712345678", "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verification = verified["verification"].as_str().expect("verified").to_owned();
    let mut asker = ws(
        &demo.addr,
        event,
        json!({ "nickname": "新来的", "verification": verification }),
    )
    .await;
    asker.expect("snapshot").await;
    let asked = asker.request(json!({ "type": "ask", "text": "我也想问" }), "q").await;
    assert_eq!(asked["type"], "ack", "{asked:?}");

    // The moderator's console: a pending question, an appeal, a report.
    let login: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": "demo-moderator", "password": "minsheng-demo" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("signed in").to_owned();
    let mut console = ws(&demo.addr, event, json!({ "session": token })).await;
    let queue = console.expect("queue").await;
    let queue = queue["questions"].as_array().unwrap();
    assert!(queue.iter().any(|q| q["status"] == "pending"), "{queue:?}");
    assert!(queue.iter().any(|q| q["appeal"]["status"] == "open"), "{queue:?}");
    let reports = console.expect("reports").await;
    assert_eq!(reports["reports"][0]["open"], 1, "{reports:?}");

    // The in-person open day: sign-ups open with eight applicants; the
    // verified newcomer signs up too; the unit sees them and the invited.
    let events: Value = http
        .get(format!("{base}/api/events"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let open_day = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "open-day-06")
        .expect("open day 6")["id"]
        .as_i64()
        .unwrap();
    let selection: Value = http
        .get(format!("{base}/api/events/{open_day}/selection"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (selection["open"].as_bool(), selection["applicants"].as_i64()),
        (Some(true), Some(8)),
        "{selection:?}"
    );
    let signed = http
        .post(format!("{base}/api/events/{open_day}/signups"))
        .json(&json!({ "verification": verification, "name": "新来的", "group": "家长", "street": "黄村镇" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::CREATED);
    let login: Value = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": "demo-unit", "password": "minsheng-demo" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let unit = login["token"].as_str().expect("signed in");
    let list: Value = http
        .get(format!("{base}/api/events/{open_day}/participants"))
        .bearer_auth(unit)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 11, "8 applicants, the newcomer, 2 invited");
    assert_eq!(list.iter().filter(|p| p["kind"] == "invited").count(), 2);
}
