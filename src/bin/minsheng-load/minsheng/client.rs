//! A minsheng viewer's side of the wire: handshake, the per-message path, askers.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::fleet::{self, Shared, ViewerOut};
use crate::net::{Wake, Ws, close_label, find, frame_or_end, open_ws, parse_int, wake, ws_error};

pub(super) const HELLO: &str = r#"{"type":"hello","protocol":1}"#;
pub(super) const HANDSHAKE_SECS: u64 = 20;

/// Where the room is.
pub(crate) struct Room {
    pub(crate) addr: SocketAddr,
    pub(crate) ws_url: String,
    pub(crate) srcs: Vec<IpAddr>,
    /// Which of the --url nodes this is (0 with one server).
    pub(crate) node: usize,
}

impl Room {
    pub(super) fn src(&self, i: usize) -> Option<IpAddr> {
        (!self.srcs.is_empty()).then(|| self.srcs[i % self.srcs.len()])
    }
}

/// Which public frames a viewer times.
#[derive(Debug, Clone, Copy)]
pub(super) enum Match {
    None,
    /// `question` frames, by question id (slot = id - min_id).
    QuestionId {
        min_id: i64,
    },
    /// `question` frames whose answer starts `#n#` (slot = n).
    AnswerCounter,
}

pub(super) async fn next_text(ws: &mut Ws, within: Duration) -> Result<String, String> {
    let until = tokio::time::Instant::now() + within;
    loop {
        let m = tokio::time::timeout_at(until, ws.next())
            .await
            .map_err(|_| "handshake: timeout".to_owned())?;
        match m {
            None => return Err("handshake: closed".into()),
            Some(Err(e)) => return Err(ws_error("handshake", &e)),
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_owned()),
            Some(Ok(Message::Close(f))) => return Err(format!("handshake: closed {}", close_label(&f))),
            Some(Ok(_)) => {}
        }
    }
}

/// hello → welcome → snapshot; the welcome's `seq` and the welcome itself.
pub(super) async fn handshake(ws: &mut Ws, hello: String) -> Result<(i64, Value), String> {
    ws.send(Message::text(hello)).await.map_err(|e| ws_error("hello", &e))?;
    let within = Duration::from_secs(HANDSHAKE_SECS);
    let text = next_text(ws, within).await?;
    let welcome: Value = serde_json::from_str(&text).map_err(|_| "handshake: welcome is not JSON".to_owned())?;
    match welcome["type"].as_str() {
        Some("welcome") => {}
        Some("error") => {
            return Err(format!("hello refused: {}", welcome["code"].as_str().unwrap_or("?")));
        }
        other => return Err(format!("handshake: expected welcome, got {other:?}")),
    }
    let seq = welcome["seq"]
        .as_i64()
        .ok_or_else(|| "handshake: welcome without seq".to_owned())?;
    let snapshot = next_text(ws, within).await?;
    if !snapshot.starts_with(r#"{"type":"snapshot""#) {
        return Err("handshake: no snapshot after welcome".into());
    }
    Ok((seq, welcome))
}

pub(super) fn error_code(b: &[u8]) -> (String, Option<String>, Option<u64>) {
    let v: Value = serde_json::from_slice(b).unwrap_or(Value::Null);
    let mut code = v["code"].as_str().unwrap_or("?").to_owned();
    if code == "rate_limited" {
        let msg = v["message"].as_str().unwrap_or("");
        let scope = ["viewer", "address", "room"]
            .into_iter()
            .find(|s| msg.contains(&format!("({s} limit)")))
            .unwrap_or(if msg.contains("too many messages") {
                "connection"
            } else {
                "other"
            });
        code = format!("rate_limited({scope})");
    }
    let reference = v["ref"].as_str().map(str::to_owned);
    (code, reference, v["retry_after_ms"].as_u64())
}

/// Which viewer a task plays: its index (its source address), whether it
/// stops reading after its snapshot, and what it matches frames against.
pub(super) struct Seat {
    pub i: usize,
    pub stalled: bool,
    pub mode: Match,
}

/// One viewer: connect, handshake, then read until told to stop.
pub(super) async fn viewer(
    room: Arc<Room>,
    shared: Arc<Shared>,
    Seat { i, stalled, mode }: Seat,
    mut stop: watch::Receiver<bool>,
    mut cmds: Option<mpsc::Receiver<i64>>,
    failover: Option<Arc<Vec<Arc<Room>>>>,
) -> ViewerOut {
    let mut out = ViewerOut {
        stalled,
        node: room.node,
        ..ViewerOut::default()
    };
    let opened = shared.connect(&mut out, !stalled, HANDSHAKE_SECS, async {
        let mut ws = open_ws(room.addr, &room.ws_url, room.src(i), stalled.then_some(4096)).await?;
        let (seq, welcome) = handshake(&mut ws, HELLO.to_owned()).await?;
        Ok((ws, seq, welcome))
    });
    let Some((mut ws, seq, welcome)) = opened.await else {
        return out;
    };
    out.last_seq = seq;
    out.welcome_seq = seq;
    if stalled {
        // Never poll the socket again until the run is over.
        let _ = stop.wait_for(|s| *s).await;
        fleet::drain_stalled(&mut ws, &mut out, |out, m| {
            if let Message::Text(t) = m {
                out.drained_bytes += t.len() as u64;
                if t.starts_with(r#"{"type":"error""#) {
                    let (code, _, _) = error_code(t.as_bytes());
                    out.error(&code);
                }
            }
        })
        .await;
        return out;
    }
    if *stop.borrow_and_update() {
        return out;
    }
    let token = welcome["viewer"]["token"].as_str().unwrap_or_default().to_owned();
    let mut node = room.node;
    'connection: loop {
        loop {
            match wake(&mut ws, &mut stop, &mut cmds).await {
                Wake::Stop => break,
                Wake::Cmd(Some(qid)) => {
                    let text = format!(r#"{{"type":"upvote","ref":"u{qid}","question_id":{qid}}}"#);
                    if let Err(e) = ws.send(Message::text(text)).await {
                        out.cut = Some(ws_error("send", &e));
                        break;
                    }
                }
                Wake::Cmd(None) => cmds = None,
                Wake::Frame(Ok(Message::Text(t))) => on_text(&shared, mode, &mut out, t.as_bytes()),
                Wake::Frame(Ok(_)) => {}
                Wake::Frame(Err(cut)) => {
                    out.cut = Some(cut);
                    break;
                }
            }
        }
        // Failover: resume on the next node that answers, as a browser behind a
        // load balancer would, from the last seq seen.
        if let (Some(rooms), Some(_)) = (&failover, &out.cut) {
            if !*stop.borrow() {
                let lost_at = std::time::Instant::now();
                for k in 1..rooms.len() {
                    let next = &rooms[(node + k) % rooms.len()];
                    match resume(next, i, &token, out.last_seq).await {
                        Ok((new_ws, replayed)) => {
                            out.reconnect_ms
                                .push(u32::try_from(lost_at.elapsed().as_millis()).unwrap_or(u32::MAX));
                            if !replayed {
                                out.resumed_by_snapshot += 1;
                            }
                            ws = new_ws;
                            node = next.node;
                            out.cut = None;
                            continue 'connection;
                        }
                        Err(e) => out.cut = Some(format!("failover to node {}: {e}", next.node)),
                    }
                }
            }
        }
        break;
    }
    if out.cut.is_some() {
        shared.alive.fetch_sub(1, Relaxed);
    }
    out
}

/// Reconnect to `room` as the same viewer from `last_seq`: `(socket, replayed)`;
/// `replayed` is false when the node answered with a snapshot instead (the
/// frames in between are then missing, and counted as gaps).
async fn resume(room: &Room, i: usize, token: &str, last_seq: i64) -> Result<(Ws, bool), String> {
    tokio::time::timeout(Duration::from_secs(HANDSHAKE_SECS), async {
        let mut ws = open_ws(room.addr, &room.ws_url, room.src(i), None).await?;
        let hello = serde_json::json!({ "type": "hello", "protocol": 1, "viewer_token": token, "last_seq": last_seq });
        ws.send(Message::text(hello.to_string()))
            .await
            .map_err(|e| ws_error("hello", &e))?;
        let within = Duration::from_secs(HANDSHAKE_SECS);
        let welcome: Value = serde_json::from_str(&next_text(&mut ws, within).await?)
            .map_err(|_| "resume: welcome is not JSON".to_owned())?;
        if welcome["type"] != "welcome" {
            return Err(format!("resume refused: {}", welcome["code"].as_str().unwrap_or("?")));
        }
        let replayed = welcome["start"] == "replay";
        if !replayed {
            next_text(&mut ws, within).await?; // The snapshot.
        }
        Ok((ws, replayed))
    })
    .await
    .unwrap_or_else(|_| Err("resume: timeout".into()))
}

/// The per-message path: byte searches, no JSON parse, no locks.
#[inline]
pub(super) fn on_text(shared: &Shared, mode: Match, out: &mut ViewerOut, b: &[u8]) {
    if let Some(rest) = b.strip_prefix(br#"{"seq":"#) {
        let Some((seq, used)) = parse_int(rest) else { return };
        if !out.seq(seq) {
            return;
        }
        let rest = &rest[used..];
        match mode {
            Match::QuestionId { min_id } => {
                if let Some(r) = rest.strip_prefix(br#","type":"question","question":{"id":"#) {
                    if let Some((id, _)) = parse_int(r) {
                        shared.matched(out, id - min_id, shared.now_ns());
                    }
                }
            }
            Match::AnswerCounter => {
                const ANSWER: &[u8] = br##""answer":"#"##;
                if rest.starts_with(br#","type":"question""#) {
                    if let Some(p) = find(rest, ANSWER) {
                        if let Some((n, _)) = parse_int(&rest[p + ANSWER.len()..]) {
                            shared.matched(out, n, shared.now_ns());
                        }
                    }
                }
            }
            Match::None => {}
        }
    } else if b.starts_with(br#"{"type":"presence""#) {
        // Ephemeral; carries the current seq without advancing it.
    } else if b.starts_with(br#"{"type":"ack""#) {
        if find(b, br#""action":"upvote""#).is_some() {
            out.upvote_acks += 1;
            shared.upvote_acks.fetch_add(1, Relaxed);
        }
    } else if b.starts_with(br#"{"type":"error""#) {
        let (code, _, _) = error_code(b);
        out.error(&code);
    }
}

/// One asker: up to `in_flight` asks outstanding, from `go` until its end instant.
pub(super) async fn asker(
    room: Arc<Room>,
    shared: Arc<Shared>,
    i: usize,
    in_flight: usize,
    mut go: watch::Receiver<Option<tokio::time::Instant>>,
    mut stop: watch::Receiver<bool>,
) -> ViewerOut {
    let mut out = ViewerOut::default();
    let opened = shared.connect(&mut out, true, HANDSHAKE_SECS, async {
        let mut ws = open_ws(room.addr, &room.ws_url, room.src(i), None).await?;
        handshake(&mut ws, HELLO.to_owned()).await?;
        Ok(ws)
    });
    let Some(mut ws) = opened.await else {
        return out;
    };
    // Wait for the start (reading meanwhile, so pings are answered).
    let end = loop {
        if let Some(end) = *go.borrow_and_update() {
            break end;
        }
        tokio::select! {
            r = go.changed() => if r.is_err() { return out },
            m = ws.next() => if let Err(cut) = frame_or_end(m) {
                out.cut = Some(cut);
                return out;
            },
        }
    };
    let drain_until = end + Duration::from_secs(5);
    let mut outstanding: VecDeque<(u64, u64)> = VecDeque::with_capacity(in_flight);
    let mut next: u64 = 0;
    let mut paused_until: Option<tokio::time::Instant> = None;
    // After a `rate_limited`, one ask at a time again, growing back by one per ack:
    // otherwise every pipelined ask behind a refused one is refused too.
    let mut window = in_flight;
    'run: loop {
        let now = tokio::time::Instant::now();
        if paused_until.is_some_and(|p| now >= p) {
            paused_until = None;
        }
        while now < end && paused_until.is_none() && outstanding.len() < window {
            let text = format!(
                r#"{{"type":"ask","ref":"k{next}","text":"Load test question {i}-{next}: which documents does the application need?"}}"#
            );
            outstanding.push_back((next, shared.now_ns()));
            next += 1;
            if let Err(e) = ws.send(Message::text(text)).await {
                out.cut = Some(ws_error("send", &e));
                break 'run;
            }
            out.sent += 1;
            shared.sent.fetch_add(1, Relaxed);
        }
        if (now >= end && outstanding.is_empty()) || now >= drain_until {
            break;
        }
        let wake = if now < end {
            paused_until.map_or(end, |p| p.min(end))
        } else {
            drain_until
        };
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            () = tokio::time::sleep_until(wake) => {}
            m = ws.next() => match frame_or_end(m) {
                Ok(Message::Text(t)) => {
                    let b = t.as_bytes();
                    if b.starts_with(br#"{"type":"ack""#) {
                        let v: Value = serde_json::from_slice(b).unwrap_or(Value::Null);
                        let n = v["ref"].as_str().and_then(|r| r.strip_prefix('k')).and_then(|r| r.parse::<u64>().ok());
                        if let Some(pos) = n.and_then(|n| outstanding.iter().position(|(x, _)| *x == n)) {
                            if let Some((_, sent)) = outstanding.remove(pos) {
                                let micros = shared.now_ns().saturating_sub(sent) / 1000;
                                out.lat.push(u32::try_from(micros).unwrap_or(u32::MAX));
                                out.matched += 1;
                                shared.acked.fetch_add(1, Relaxed);
                                window = (window + 1).min(in_flight);
                            }
                        }
                    } else if b.starts_with(br#"{"type":"error""#) {
                        let (code, reference, retry) = error_code(b);
                        out.error(&code);
                        let n = reference.as_deref().and_then(|r| r.strip_prefix('k')).and_then(|r| r.parse::<u64>().ok());
                        match n.and_then(|n| outstanding.iter().position(|(x, _)| *x == n)) {
                            Some(pos) => { outstanding.remove(pos); }
                            // No ref (the connection's frame limit): the server answers in order.
                            None if reference.is_none() => { outstanding.pop_front(); }
                            None => {}
                        }
                        if let Some(ms) = retry {
                            paused_until = Some(tokio::time::Instant::now() + Duration::from_millis(ms));
                            window = 1;
                        }
                    }
                }
                Ok(_) => {}
                Err(cut) => { out.cut = Some(cut); break; }
            },
        }
    }
    out.unanswered = outstanding.len() as u64;
    if out.cut.is_none() {
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_count_public_frames_and_time_questions() {
        let shared = Shared::new(10, 10);
        shared.mark_sent(3);
        let mut out = ViewerOut {
            last_seq: 16,
            ..ViewerOut::default()
        };
        let mode = Match::QuestionId { min_id: 100 };
        let q = br#"{"seq":17,"type":"question","question":{"id":103,"nickname":"x","text":"t"}}"#;
        on_text(&shared, mode, &mut out, q);
        on_text(&shared, mode, &mut out, br#"{"type":"presence","seq":17,"viewers":3}"#);
        on_text(
            &shared,
            mode,
            &mut out,
            br#"{"seq":19,"type":"upvotes","question_id":103,"upvotes":1}"#,
        );
        on_text(&shared, mode, &mut out, q);
        on_text(
            &shared,
            mode,
            &mut out,
            br#"{"type":"error","ref":null,"code":"lagged","message":"m"}"#,
        );
        assert_eq!((out.last_seq, out.gaps, out.dups, out.matched), (19, 1, 1, 1));
        assert_eq!(out.lat.len(), 1);
        assert_eq!(out.errors.get("lagged"), Some(&1));

        let mut out = ViewerOut::default();
        shared.mark_sent(7);
        let a = br##"{"seq":1,"type":"question","question":{"id":5,"text":"q","answered":true,"answer":"#7#abc"}}"##;
        on_text(&shared, Match::AnswerCounter, &mut out, a);
        assert_eq!(out.matched, 1);
    }
}
