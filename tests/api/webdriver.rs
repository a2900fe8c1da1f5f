//! A tiny W3C WebDriver client: chromedriver drives Debian's headless
//! Chromium over its HTTP API, with the suite's `reqwest`. Just what the
//! browser tests need: sessions, navigation, elements, keys, scripts and
//! screenshots. Every wait polls a condition against a deadline.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a wait for a condition in a page may take.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

/// Numbers each browser profile folder of this process.
static PROFILES: AtomicU32 = AtomicU32::new(0);

/// The key W3C gives every element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Flags for Chromium on this machine: headless, and no background traffic
/// (the sandbox's closed network refuses it, many connections at a time).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// Whether the browser tests can run: `Err` names what is missing.
pub fn available() -> Result<(), String> {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} not installed (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        ))
    }
}

/// A running chromedriver; killed (after closing its sessions) when dropped.
pub struct Driver {
    child: Child,
    port: u16,
    http: reqwest::Client,
    sessions: Arc<Mutex<Vec<String>>>,
}

impl Driver {
    pub async fn start() -> Driver {
        // Ask the kernel for a free port, then hand it to chromedriver.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("http client");
        let driver = Driver {
            child,
            port,
            http,
            sessions: Arc::default(),
        };
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let ready = driver
                .http
                .get(format!("{}/status", driver.base()))
                .send()
                .await
                .ok()
                .map(|r| r.json::<Value>());
            if let Some(body) = ready
                && body.await.is_ok_and(|v| v["value"]["ready"] == true)
            {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new browser with its own fresh profile. `mobile`: emulate a phone
    /// screen `width` CSS pixels wide; otherwise a desktop window of `width`×`height`.
    pub async fn browser(&self, width: u32, height: u32, mobile: bool) -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "minsheng_chromium_{}_{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--window-size={width},{height}"));
        let mut options = json!({ "binary": CHROMIUM, "args": args });
        if mobile {
            options["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true }
            });
        }
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let started = Instant::now();
        let res = self
            .http
            .post(format!("{}/session", self.base()))
            .json(&caps)
            .send()
            .await
            .expect("new session");
        let body: Value = res.json().await.expect("session JSON");
        let id = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {body}"))
            .to_owned();
        self.sessions.lock().expect("sessions").push(id.clone());
        eprintln!("[browser] new session: {} ms", started.elapsed().as_millis());
        Browser {
            http: self.http.clone(),
            url: format!("{}/session/{id}", self.base()),
            id,
            sessions: self.sessions.clone(),
            profile,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Close the browsers through chromedriver first (it ends Chromium's
        // process tree), synchronously: this also runs when a test panics.
        for id in self.sessions.lock().map(|s| s.clone()).unwrap_or_default() {
            let _ = delete_blocking(self.port, &format!("/session/{id}"));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `DELETE path` over a plain socket, waiting (bounded) for the answer.
fn delete_blocking(port: u16, path: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // chromedriver answers once it has closed the browser; the first bytes of
    // the answer are enough (it may keep the connection open after them).
    let mut answer = [0u8; 512];
    stream.read(&mut answer).map(|_| ())
}

/// One browser session.
pub struct Browser {
    http: reqwest::Client,
    url: String,
    id: String,
    /// The driver's list of open sessions (closed on the driver's drop).
    sessions: Arc<Mutex<Vec<String>>>,
    profile: PathBuf,
}

/// An element reference.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = res.status();
        let body: Value = res.json().await.map_err(|e| format!("{path}: {e}"))?;
        if status.is_success() {
            Ok(body["value"].clone())
        } else {
            Err(format!("{path}: {status} {}", body["value"]))
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body))
            .await
            .unwrap_or_else(|e| panic!("WebDriver {e}"))
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn find(&self, css: &str) -> Element {
        let v = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await;
        Element(
            v[ELEMENT_KEY]
                .as_str()
                .unwrap_or_else(|| panic!("element reference for {css}: {v}"))
                .to_owned(),
        )
    }

    /// Click the element `css` names. Live lists are rebuilt as frames arrive,
    /// so a missing or replaced ("stale") element is looked up again until the deadline.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + PAGE_WAIT;
        loop {
            let found = self
                .command(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            let clicked = match found {
                Ok(v) => {
                    let id = v[ELEMENT_KEY].as_str().unwrap_or_default().to_owned();
                    self.command(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({})))
                        .await
                }
                Err(e) => Err(e),
            };
            match clicked {
                Ok(_) => return,
                Err(e) if Instant::now() >= deadline => panic!("WebDriver click {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Clear an input and type `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{}/clear", e.0), json!({})).await;
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }))
            .await;
    }

    /// Type `text` into the element `css` names without clearing it first.
    /// For a file input, `text` is a path on this machine: chromedriver
    /// gives the input that file, as if it had been chosen in the dialog.
    pub async fn send_keys(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.post(&format!("/element/{}/value", e.0), json!({ "text": text }))
            .await;
    }

    /// The rendered text of the element `css` names. Read in one script call:
    /// live lists are rebuilt as frames arrive, so a reference found first and
    /// read second can already be stale.
    pub async fn text(&self, css: &str) -> String {
        let v = self
            .wait(
                &format!("{css} to read"),
                "const e = document.querySelector(arguments[0]); return e ? { text: e.innerText } : null;",
                json!([css]),
            )
            .await;
        v["text"].as_str().unwrap_or_default().to_owned()
    }

    /// Press keys on whatever has the focus (W3C actions, one key at a time).
    pub async fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [
                    json!({ "type": "keyDown", "value": c.to_string() }),
                    json!({ "type": "keyUp", "value": c.to_string() }),
                ]
            })
            .collect();
        self.post(
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        )
        .await;
    }

    /// Run `script` (a function body; `arguments` holds `args`) and return its value.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Wait until `script` returns something truthy; returns that value.
    /// Panics at the deadline with `what` and the last value seen.
    pub async fn wait(&self, what: &str, script: &str, args: Value) -> Value {
        let started = Instant::now();
        let deadline = started + PAGE_WAIT;
        loop {
            let v = self
                .command(
                    reqwest::Method::POST,
                    "/execute/sync",
                    Some(json!({ "script": script, "args": args })),
                )
                .await;
            match &v {
                Ok(v) if truthy(v) => {
                    // Shown with the output of a failing test: where the time went.
                    eprintln!("[browser] {what}: {} ms", started.elapsed().as_millis());
                    return v.clone();
                }
                _ if Instant::now() >= deadline => panic!("timed out waiting for {what}; last: {v:?}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Send a Chrome DevTools Protocol command (chromedriver's
    /// `goog/cdp/execute`), e.g. `Page.addScriptToEvaluateOnNewDocument`
    /// to change what a page finds before its own scripts run.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({ "cmd": cmd, "params": params }))
            .await
    }

    /// Save a PNG of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        let v = self.get("/screenshot").await;
        let png = base64_decode(v.as_str().expect("screenshot base64")).expect("valid base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).expect("write screenshot");
    }

    /// End the session (Chromium exits).
    pub async fn quit(self) {
        if self.command(reqwest::Method::DELETE, "", None).await.is_ok()
            && let Ok(mut open) = self.sessions.lock()
        {
            open.retain(|s| *s != self.id);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Standard base64 (screenshots); no crate for twenty lines.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let n = chunk.len().checked_sub(1)?;
        out.extend_from_slice(&acc.to_be_bytes()[1..=n]);
    }
    Some(out)
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
    assert_eq!(base64_decode("aGk=").as_deref(), Some(&b"hi"[..]));
    assert_eq!(base64_decode("YWJj").as_deref(), Some(&b"abc"[..]));
    assert_eq!(base64_decode("a$"), None);
}
