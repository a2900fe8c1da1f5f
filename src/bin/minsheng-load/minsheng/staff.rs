//! The staff side (login, moderator connections, paced commands) and seeding.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::fleet::{Deadline, Shared};
use crate::net::{Endpoint, Wake, Ws, close, close_label, find, http, open_ws, parse_int, wake, ws_error};
use crate::report::add_all;

use super::client::{HELLO, Room, error_code, handshake};

pub(super) struct ModCmd {
    pub(super) text: String,
    /// Measured commands carry their table slot (and `ref` "m…").
    pub(super) slot: Option<usize>,
}

#[derive(Default)]
pub(super) struct ModOut {
    pub(super) sent: u64,
    pub(super) acks: BTreeMap<String, u64>,
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) cut: Option<String>,
}

pub(super) async fn login(base: &Endpoint, username: &str, password: &str) -> anyhow::Result<String> {
    let body = json!({ "username": username, "password": password }).to_string();
    let (status, text) = http(base, "POST", "/api/auth/login", Some(&body), None).await?;
    if status != 200 {
        bail!("login as `{username}` failed: HTTP {status}: {text}");
    }
    let v: Value = serde_json::from_str(&text).context("login: the answer is not JSON")?;
    v["token"]
        .as_str()
        .map(str::to_owned)
        .context("login: no token in the answer")
}

pub(super) async fn live_event(base: &Endpoint) -> anyhow::Result<i64> {
    let (status, text) = http(base, "GET", "/api/events?status=live", None, None).await?;
    if status != 200 {
        bail!("GET /api/events?status=live: HTTP {status}: {text}");
    }
    let v: Value = serde_json::from_str(&text).context("/api/events: not JSON")?;
    v.as_array()
        .and_then(|a| a.first())
        .and_then(|e| e["id"].as_i64())
        .context("no live event (start the server with --demo, or pass --event)")
}

pub(super) async fn open_staff(room: &Room, token: &str) -> anyhow::Result<Ws> {
    let mut ws = open_ws(room.addr, &room.ws_url, None, None)
        .await
        .map_err(|e| anyhow::anyhow!("staff connection: {e}"))?;
    let hello = json!({ "type": "hello", "protocol": 1, "session": token }).to_string();
    let (_, welcome) = handshake(&mut ws, hello)
        .await
        .map_err(|e| anyhow::anyhow!("staff connection: {e}"))?;
    let cap = welcome["capability"].as_str().unwrap_or("?");
    if cap != "moderator" {
        bail!("the staff account joined as `{cap}`, not as a moderator of this event");
    }
    Ok(ws)
}

/// Send one frame and wait for the ack or error carrying `reference`.
pub(super) async fn request(ws: &mut Ws, text: String, reference: &str) -> Result<Value, String> {
    ws.send(Message::text(text)).await.map_err(|e| ws_error("send", &e))?;
    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let m = tokio::time::timeout_at(until, ws.next())
            .await
            .map_err(|_| "no answer within 15 s".to_owned())?;
        let t = match m {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(f))) => return Err(format!("closed {}", close_label(&f))),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(ws_error("read", &e)),
            None => return Err("closed".into()),
        };
        if !(t.starts_with(r#"{"type":"ack""#) || t.starts_with(r#"{"type":"error""#)) {
            continue;
        }
        let v: Value = serde_json::from_str(t.as_str()).map_err(|_| "bad JSON".to_owned())?;
        match v["ref"].as_str() {
            Some(r) if r == reference => return Ok(v),
            None if v["type"] == "error" => return Ok(v),
            _ => {}
        }
    }
}

pub(super) async fn moderator(
    mut ws: Ws,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<ModCmd>,
    measured: &'static str,
    mut stop: watch::Receiver<bool>,
) -> ModOut {
    let mut out = ModOut::default();
    let mut rx = Some(rx);
    if *stop.borrow_and_update() {
        return out;
    }
    loop {
        match wake(&mut ws, &mut stop, &mut rx).await {
            Wake::Stop => break,
            Wake::Cmd(Some(cmd)) => {
                if let Some(slot) = cmd.slot {
                    shared.mark_sent(slot);
                    shared.sent.fetch_add(1, Relaxed);
                }
                if let Err(e) = ws.send(Message::text(cmd.text)).await {
                    out.cut = Some(ws_error("send", &e));
                    break;
                }
                out.sent += 1;
            }
            Wake::Cmd(None) => rx = None,
            Wake::Frame(Ok(Message::Text(t))) => moderator_text(&shared, &mut out, t.as_bytes(), measured),
            Wake::Frame(Ok(_)) => {}
            Wake::Frame(Err(cut)) => {
                out.cut = Some(cut);
                break;
            }
        }
    }
    out
}

pub(super) fn moderator_text(shared: &Shared, out: &mut ModOut, b: &[u8], measured: &str) {
    if let Some(rest) = b.strip_prefix(br#"{"seq":"#) {
        if let Some((seq, _)) = parse_int(rest) {
            shared.max_seq.fetch_max(seq, Relaxed);
            shared.frame_len.fetch_max(b.len() as u64, Relaxed);
        }
    } else if b.starts_with(br#"{"type":"ack""#) {
        const ACTION: &[u8] = br#""action":""#;
        let action = find(b, ACTION)
            .map(|p| &b[p + ACTION.len()..])
            .and_then(|r| r.iter().position(|&c| c == b'"').map(|e| &r[..e]))
            .map_or("?".to_owned(), |a| String::from_utf8_lossy(a).into_owned());
        if action == measured {
            shared.acked.fetch_add(1, Relaxed);
            shared.replies.fetch_add(1, Relaxed);
        }
        *out.acks.entry(action).or_default() += 1;
    } else if b.starts_with(br#"{"type":"error""#) {
        let (code, reference, _) = error_code(b);
        let measured_reply = match &reference {
            Some(r) => r.starts_with('m'),
            None => code.starts_with("rate_limited"),
        };
        if measured_reply {
            shared.replies.fetch_add(1, Relaxed);
        }
        *out.errors.entry(code).or_default() += 1;
    }
}

/// Keep a staff connection read (and its pings answered) until `until`; then hand it back.
pub(super) fn park(mut ws: Ws, mut until: watch::Receiver<bool>) -> JoinHandle<Result<Ws, String>> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = until.wait_for(|v| *v) => return Ok(ws),
                m = ws.next() => match m {
                    Some(Ok(Message::Close(f))) => return Err(close_label(&f)),
                    Some(Err(e)) => return Err(ws_error("read", &e)),
                    None => return Err("closed".into()),
                    Some(Ok(_)) => {}
                },
            }
        }
    })
}

/// Hand `count` commands to the staff connections at `rate` per second.
pub(super) async fn drive(
    rate: f64,
    count: usize,
    txs: &[mpsc::Sender<ModCmd>],
    deadline: &Deadline,
    progress: &AtomicUsize,
    mut make: impl FnMut(usize) -> ModCmd,
) -> usize {
    let t0 = tokio::time::Instant::now();
    for k in 0..count {
        let at = t0 + Duration::from_secs_f64(k as f64 / rate);
        if deadline.run(tokio::time::sleep_until(at)).await.is_none() {
            return k;
        }
        // Round-robin; past a closed staff connection to the next one.
        let mut cmd = make(k);
        let mut handed = false;
        for j in 0..txs.len() {
            match deadline.run(txs[(k + j) % txs.len()].send(cmd)).await {
                None => return k,
                Some(Ok(())) => {
                    handed = true;
                    break;
                }
                Some(Err(back)) => cmd = back.0,
            }
        }
        if !handed {
            return k; // Every staff connection is gone.
        }
        progress.store(k + 1, Relaxed);
    }
    count
}

#[derive(Default)]
pub(super) struct Seeded {
    pub(super) ids: Vec<i64>,
    /// `rate_limited` answers waited out, by scope.
    pub(super) waits: BTreeMap<String, u64>,
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) not_pending: BTreeMap<String, u64>,
}

/// Ask `total` questions, 5 per short-lived connection, spread over the source addresses.
pub(super) async fn seed(room: Arc<Room>, total: usize, tag: String, rate: f64) -> Seeded {
    let seeders = total.div_ceil(5).max(1);
    let pacer = Arc::new(Pacer::new(rate));
    let results: Vec<Seeded> = futures_util::stream::iter(0..seeders)
        .map(|s| {
            let count = total.saturating_sub(5 * s).min(5);
            seed_one(room.clone(), s, count, tag.clone(), pacer.clone())
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut all = Seeded::default();
    for r in results {
        all.ids.extend(r.ids);
        add_all(&mut all.errors, &r.errors);
        add_all(&mut all.not_pending, &r.not_pending);
        add_all(&mut all.waits, &r.waits);
    }
    all.ids.sort_unstable();
    all
}

/// Spaces the seeding asks (the room refuses more than 200 a second, and a
/// refusal there also costs the viewer one of its own asks).
pub(super) struct Pacer {
    gap: Duration,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl Pacer {
    fn new(rate: f64) -> Self {
        Self {
            gap: Duration::from_secs_f64(1.0 / rate.max(1.0)),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(tokio::time::Instant::now());
            *next = slot + self.gap;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

pub(super) async fn seed_one(room: Arc<Room>, s: usize, count: usize, tag: String, pacer: Arc<Pacer>) -> Seeded {
    let mut out = Seeded::default();
    let mut ws = match open_ws(room.addr, &room.ws_url, room.src(s), None).await {
        Ok(ws) => ws,
        Err(e) => {
            *out.errors.entry(e).or_default() += 1;
            return out;
        }
    };
    if let Err(e) = handshake(&mut ws, HELLO.to_owned()).await {
        *out.errors.entry(e).or_default() += 1;
        return out;
    }
    for q in 0..count {
        let reference = format!("s{s}-{q}");
        let text = format!("Load test {tag} question {s}-{q}: when does the service hall open on Saturdays?");
        let frame = json!({ "type": "ask", "ref": reference, "text": text }).to_string();
        let mut tries = 0;
        loop {
            tries += 1;
            pacer.wait().await;
            match request(&mut ws, frame.clone(), &reference).await {
                Ok(v) if v["type"] == "ack" => {
                    let st = v["question"]["status"].as_str().unwrap_or("?");
                    match v["question"]["id"].as_i64() {
                        Some(id) if st == "pending" => out.ids.push(id),
                        _ => *out.not_pending.entry(st.to_owned()).or_default() += 1,
                    }
                    break;
                }
                Ok(v) => {
                    let code = v["code"].as_str().unwrap_or("?").to_owned();
                    if code == "rate_limited" && tries < 10 {
                        let scope = v["message"].as_str().unwrap_or("?").to_owned();
                        *out.waits.entry(scope).or_default() += 1;
                        let ms = v["retry_after_ms"].as_u64().unwrap_or(1000).min(65_000);
                        tokio::time::sleep(Duration::from_millis(ms + 20)).await;
                        continue;
                    }
                    *out.errors.entry(format!("ask: {code}")).or_default() += 1;
                    break;
                }
                Err(e) => {
                    *out.errors.entry(format!("ask: {e}")).or_default() += 1;
                    return out;
                }
            }
        }
    }
    close(&mut ws).await;
    out
}
