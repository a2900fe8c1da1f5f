//! Reference mode: the same fan-out through nats-server's WebSocket listener.
//!
//! Viewers send `CONNECT` and `SUB room 1` and parse `MSG room 1 <len>`;
//! a publisher sends `PUB room <len>` with payloads `#<n>#…`, so a viewer
//! finds losses and duplicates from gaps in `n`.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use anyhow::bail;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::cli::{Args, Scenario};
use crate::fleet::{self, Deadline, Shared, ViewerOut};
use crate::net::{Endpoint, Ws, close, close_label, find, next_frame, open_ws, parse_int, parse_source_ips, ws_error};
use crate::procfs::{self, CpuMark};
use crate::report::{self, Report, Stall};

const CONNECT: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"name\":\"minsheng-load\"}\r\nSUB room 1\r\nPING\r\n";

#[derive(Debug)]
enum Ev {
    Msg(Option<i64>),
    Ping,
    Pong,
    Info,
    Ok,
    Err(String),
}

/// The NATS text protocol, fed with whatever the WebSocket frames carry.
#[derive(Default)]
struct Parser {
    buf: Vec<u8>,
}

impl Parser {
    fn feed(&mut self, data: &[u8], mut on: impl FnMut(Ev)) {
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        loop {
            let rest = &self.buf[pos..];
            let Some(eol) = find(rest, b"\r\n") else { break };
            let line = &rest[..eol];
            if line.starts_with(b"MSG ") {
                let len = line
                    .rsplit(|&c| c == b' ')
                    .next()
                    .and_then(|l| std::str::from_utf8(l).ok())
                    .and_then(|l| l.parse::<usize>().ok());
                let Some(len) = len else {
                    on(Ev::Err("bad MSG line".into()));
                    pos += eol + 2;
                    continue;
                };
                let need = eol + 2 + len + 2;
                if rest.len() < need {
                    break;
                }
                let payload = &rest[eol + 2..eol + 2 + len];
                let n = payload.strip_prefix(b"#").and_then(parse_int).map(|(n, _)| n);
                on(Ev::Msg(n));
                pos += need;
            } else {
                let ev = match line {
                    b"PING" => Ev::Ping,
                    b"PONG" => Ev::Pong,
                    b"+OK" => Ev::Ok,
                    l if l.starts_with(b"INFO") => Ev::Info,
                    l => Ev::Err(String::from_utf8_lossy(&l[..l.len().min(60)]).into_owned()),
                };
                on(ev);
                pos += eol + 2;
            }
        }
        self.buf.drain(..pos);
    }
}

struct Target {
    addr: std::net::SocketAddr,
    url: String,
    srcs: Vec<std::net::IpAddr>,
}

fn payload_of(msg: &Message) -> Option<&[u8]> {
    match msg {
        Message::Binary(b) => Some(b),
        Message::Text(t) => Some(t.as_bytes()),
        _ => None,
    }
}

/// Read until `INFO`, send CONNECT + SUB + PING, read until PONG.
async fn subscribe(ws: &mut Ws, parser: &mut Parser, connect: &[u8]) -> Result<(), String> {
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut info = false;
    let mut sent = false;
    loop {
        if info && !sent {
            ws.send(Message::binary(connect.to_vec()))
                .await
                .map_err(|e| ws_error("connect", &e))?;
            sent = true;
        }
        let m = tokio::time::timeout_at(until, ws.next())
            .await
            .map_err(|_| "handshake: timeout".to_owned())?;
        let m = match m {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Err(ws_error("handshake", &e)),
            None => return Err("handshake: closed".into()),
        };
        if let Message::Close(f) = &m {
            return Err(format!("handshake: closed {}", close_label(f)));
        }
        let Some(data) = payload_of(&m) else { continue };
        let mut pong = false;
        let mut ping = false;
        let mut err = None;
        parser.feed(data, |ev| match ev {
            Ev::Info => info = true,
            Ev::Pong => pong = true,
            Ev::Ping => ping = true,
            Ev::Err(e) => err = Some(e),
            _ => {}
        });
        if let Some(e) = err {
            return Err(format!("handshake: {e}"));
        }
        if ping {
            let _ = ws.send(Message::binary(b"PONG\r\n".to_vec())).await;
        }
        if pong && sent {
            return Ok(());
        }
    }
}

async fn viewer(
    target: Arc<Target>,
    shared: Arc<Shared>,
    i: usize,
    stalled: bool,
    mut stop: watch::Receiver<bool>,
) -> ViewerOut {
    let mut out = ViewerOut {
        stalled,
        ..ViewerOut::default()
    };
    let mut parser = Parser::default();
    let src = (!target.srcs.is_empty()).then(|| target.srcs[i % target.srcs.len()]);
    let opened = shared.connect(&mut out, !stalled, 20, async {
        let mut ws = open_ws(target.addr, &target.url, src, stalled.then_some(4096)).await?;
        subscribe(&mut ws, &mut parser, CONNECT).await?;
        Ok(ws)
    });
    let Some(mut ws) = opened.await else {
        return out;
    };
    if stalled {
        let _ = stop.wait_for(|s| *s).await;
        fleet::drain_stalled(&mut ws, &mut out, |out, m| {
            out.drained_bytes += payload_of(&m).map_or(0, |d| d.len() as u64);
        })
        .await;
        return out;
    }
    if *stop.borrow_and_update() {
        return out;
    }
    while let Some(frame) = next_frame(&mut ws, &mut stop).await {
        match frame {
            Ok(m) => {
                let Some(data) = payload_of(&m) else { continue };
                let mut ping = false;
                parser.feed(data, |ev| match ev {
                    Ev::Msg(Some(n)) => {
                        if out.seq(n) {
                            shared.matched(&mut out, n, shared.now_ns());
                        }
                    }
                    Ev::Msg(None) => out.error("unnumbered MSG"),
                    Ev::Ping => ping = true,
                    Ev::Err(e) => out.error(&e),
                    Ev::Pong | Ev::Info | Ev::Ok => {}
                });
                if ping && ws.send(Message::binary(b"PONG\r\n".to_vec())).await.is_err() {
                    out.cut = Some("send failed".into());
                    break;
                }
            }
            Err(cut) => {
                out.cut = Some(cut);
                break;
            }
        }
    }
    if out.cut.is_some() {
        shared.alive.fetch_sub(1, Relaxed);
    }
    out
}

/// The publisher: sends `PUB` frames it is handed, answers pings.
async fn publisher(
    mut ws: Ws,
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<(usize, Vec<u8>)>,
    mut stop: watch::Receiver<bool>,
) -> Option<String> {
    let mut parser = Parser::default();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => {
                close(&mut ws).await;
                return None;
            }
            cmd = rx.recv() => match cmd {
                Some((slot, data)) => {
                    shared.mark_sent(slot);
                    if let Err(e) = ws.send(Message::binary(data)).await {
                        return Some(ws_error("publish", &e));
                    }
                    shared.sent.fetch_add(1, Relaxed);
                    shared.acked.fetch_add(1, Relaxed);
                    shared.replies.fetch_add(1, Relaxed);
                }
                None => {
                    let _ = stop.wait_for(|s| *s).await;
                    return None;
                }
            },
            m = ws.next() => match m {
                Some(Ok(m)) => {
                    let Some(data) = payload_of(&m) else { continue };
                    let mut ping = false;
                    parser.feed(data, |ev| if matches!(ev, Ev::Ping) { ping = true });
                    if ping {
                        let _ = ws.send(Message::binary(b"PONG\r\n".to_vec())).await;
                    }
                }
                Some(Err(e)) => return Some(ws_error("publisher read", &e)),
                None => return Some("publisher closed".into()),
            },
        }
    }
}

pub async fn run(args: &Args, deadline: &Deadline) -> anyhow::Result<Report> {
    let ep = Endpoint::parse(&args.nats_url, &["ws"])?;
    let scenario = args.scenario();
    if matches!(scenario, Scenario::Questions | Scenario::Vote) {
        bail!(
            "--target nats supports broadcast, stall and connect, not {}",
            scenario.name()
        );
    }
    let mut srcs = parse_source_ips(&args.source_ips)?;
    let mut report = Report {
        target: "nats".into(),
        scenario: scenario.name().into(),
        endpoint: args.nats_url.clone(),
        duration_secs: args.duration,
        ..Report::default()
    };
    if ep.addr.is_ipv6() && !srcs.is_empty() {
        report
            .notes
            .push("the server is on ::1: --source-ips (IPv4) ignored".into());
        srcs.clear();
    }
    let target = Arc::new(Target {
        addr: ep.addr,
        url: format!("ws://{}{}", ep.authority, ep.path),
        srcs,
    });
    let pid = args.server_pid.first().copied().or_else(|| {
        let (pick, all) = procfs::find_nats(ep.addr.port());
        if all.len() > 1 {
            report
                .notes
                .push(format!("several nats-server processes ({all:?}); sampling {pick:?}"));
        }
        pick
    });
    if pid.is_none() {
        report
            .notes
            .push("no nats-server process found: no memory or CPU figures (use --server-pid)".into());
    }
    report.server.pid = pid;
    let quiet = args.quiet;
    let say = |m: String| {
        if !quiet {
            eprintln!("minsheng-load: {m}");
        }
    };
    let (rate, payload_len, stalled) = match scenario {
        Scenario::Answers => (args.messages_per_sec, args.text_bytes, 0),
        Scenario::Stall => {
            if args.stalled >= args.viewers() {
                bail!("--stalled must be smaller than --viewers");
            }
            (args.messages_per_sec, args.text_bytes, args.stalled)
        }
        _ => (args.approvals_per_sec, args.nats_payload_bytes, 0),
    };
    let total = if scenario == Scenario::Connect {
        0
    } else {
        ((rate * args.duration as f64).round() as usize).max(1)
    };
    let rss_idle = pid.and_then(procfs::rss_bytes);
    let shared = Shared::new(total + 1, total);
    let (stop_tx, stop_rx) = watch::channel(false);
    let n = args.viewers();
    say(format!(
        "{} against nats-server at {}: connecting {n} viewers",
        scenario.name(),
        target.url
    ));
    let stride = n / stalled.max(1);
    let is_stalled = move |i: usize| stalled > 0 && i % stride == stride - 1 && i / stride < stalled;
    let mut handles = Vec::with_capacity(n);
    let t0 = shared.now_ns();
    let (tg, sh) = (target.clone(), shared.clone());
    fleet::launch(n, args.connect_rate, deadline, &mut handles, |i| {
        viewer(tg.clone(), sh.clone(), i, is_stalled(i), stop_rx.clone())
    })
    .await;
    let connect_secs = fleet::wait_connected(&shared, handles.len(), t0, deadline, quiet).await;
    report.viewers.requested = n;
    report.viewers.connected = shared.connected.load(Relaxed);
    report.viewers.failed = n - report.viewers.connected;
    report.viewers.connect_secs = connect_secs;
    deadline.sleep(Duration::from_secs(2)).await;
    let rss_connected = pid.and_then(procfs::rss_bytes);
    report.server.rss_idle_bytes = rss_idle;
    report.server.rss_connected_bytes = rss_connected;
    if let (Some(i), Some(c)) = (rss_idle, rss_connected) {
        let conns = report.viewers.connected;
        if conns > 0 && c >= i {
            report.server.bytes_per_connection = Some((c - i) as f64 / conns as f64);
        } else if c < i {
            report.notes.push(
                "the server's memory fell while the viewers connected: no per-connection figure; \
                 restart the server for a clean one"
                    .into(),
            );
        }
    }

    let (sample_tx, sample_rx) = watch::channel(false);
    let sampler = fleet::sampler(shared.clone(), pid.into_iter().collect(), None, sample_rx.clone());
    let progress = fleet::progress(shared.clone(), quiet, sample_rx);
    let cpu = CpuMark::of(pid);
    let gen_cpu = CpuMark::of(None);
    let first_send_ns = shared.now_ns();
    let drive_start = std::time::Instant::now();
    let mut pub_handle = None;
    if scenario == Scenario::Connect {
        say(format!(
            "holding {} connections for {} s",
            report.viewers.connected, args.duration
        ));
        deadline.sleep(Duration::from_secs(args.duration)).await;
    } else {
        let mut parser = Parser::default();
        let mut ws = open_ws(target.addr, &target.url, None, None)
            .await
            .map_err(|e| anyhow::anyhow!("publisher: {e}"))?;
        let connect =
            b"CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1,\"name\":\"minsheng-load-pub\"}\r\nPING\r\n";
        subscribe(&mut ws, &mut parser, connect)
            .await
            .map_err(|e| anyhow::anyhow!("publisher: {e}"))?;
        let (tx, rx) = mpsc::channel(4096);
        pub_handle = Some(tokio::spawn(publisher(ws, shared.clone(), rx, stop_rx.clone())));
        let filler: Vec<u8> = b"abcdefghijklmnopqrstuvwxyz0123456789"
            .iter()
            .copied()
            .cycle()
            .take(payload_len)
            .collect();
        say(format!(
            "publishing {total} messages of {payload_len} bytes at {rate}/s"
        ));
        let t = tokio::time::Instant::now();
        for k in 1..=total {
            let at = t + Duration::from_secs_f64((k - 1) as f64 / rate);
            if deadline.run(tokio::time::sleep_until(at)).await.is_none() {
                break;
            }
            let prefix = format!("#{k}#");
            let body_len = payload_len.max(prefix.len());
            let mut frame = format!("PUB room {body_len}\r\n{prefix}").into_bytes();
            frame.extend_from_slice(&filler[..body_len - prefix.len()]);
            frame.extend_from_slice(b"\r\n");
            if deadline.run(tx.send((k, frame))).await.is_none() {
                break;
            }
        }
        drop(tx);
    }
    let drive_secs = drive_start.elapsed().as_secs_f64();
    if scenario != Scenario::Connect {
        fleet::drain(&shared, Duration::from_secs(args.drain_secs), deadline).await;
    }
    report.server.cpu_cores = cpu.and_then(|c| c.cores_since(pid));
    report.generator_cpu_cores = gen_cpu.and_then(|c| c.cores_since(None));
    let _ = sample_tx.send(true);
    let samples = sampler.await.unwrap_or_default();
    if let Some(p) = progress {
        let _ = p.await;
    }
    let end = pid.and_then(procfs::rss_bytes);
    report.server.rss_end_bytes = end;
    report.server.rss_peak_bytes = samples
        .iter()
        .filter_map(|s| s.rss)
        .chain(rss_connected)
        .chain(end)
        .max();
    let complete = !deadline.over();
    let _ = stop_tx.send(true);
    let (mut outs, unfinished) = fleet::collect(handles, fleet::STOP_WITHIN).await;
    if let Some(p) = pub_handle {
        if let Ok(Ok(Some(e))) = tokio::time::timeout(Duration::from_secs(5), p).await {
            report.notes.push(format!("publisher: {e}"));
        }
    }
    if unfinished > 0 {
        report
            .notes
            .push(format!("{unfinished} viewer tasks did not finish in time"));
    }
    let final_seq = shared.sent.load(Relaxed) as i64;
    let s = fleet::summarise(&mut outs, final_seq);
    if scenario != Scenario::Connect {
        let sent = shared.sent.load(Relaxed);
        report.delivery = Some(s.delivery(sent, sent, first_send_ns, drive_secs));
        report.latency_ms = report::latency(s.lat);
    }
    if scenario == Scenario::Stall {
        let mut st = Stall {
            stalled,
            stalled_connected: outs.iter().filter(|o| o.stalled && o.connected).count(),
            ..Stall::default()
        };
        for o in outs.iter().filter(|o| o.stalled && o.connected) {
            *st.stalled_close
                .entry(o.cut.clone().unwrap_or_else(|| "?".into()))
                .or_default() += 1;
            st.stalled_bytes_buffered += o.drained_bytes;
        }
        st.normal_viewers_disconnected = s.disconnects.values().sum();
        report.notes.push(
            "nats: no connection gauge is polled; the stalled viewers' fate is read from their sockets at the end"
                .into(),
        );
        report.stall = Some(st);
    }
    report.disconnects_by_code = s.disconnects;
    report.viewer_error_frames = s.errors;
    report.viewers.connect_errors = s.connect_errors;
    report.viewers.still_connected_at_end = s.still_connected;
    report.complete = complete;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_split_and_joined_messages() {
        let mut p = Parser::default();
        let mut got = Vec::new();
        p.feed(b"INFO {}\r\nMSG room 1 5\r\n#1#ab\r\nMSG room 1 5\r\n#2", |e| {
            got.push(format!("{e:?}"))
        });
        p.feed(b"#cd\r\nPING\r\n", |e| got.push(format!("{e:?}")));
        assert_eq!(got, ["Info", "Msg(Some(1))", "Msg(Some(2))", "Ping"]);
        assert!(p.buf.is_empty());
    }
}
