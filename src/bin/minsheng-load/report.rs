//! The figures of a run, as text and as JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// Percentiles of microsecond samples (sorted here).
pub fn latency(mut v: Vec<u32>) -> Option<Latency> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    let at = |q: f64| {
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        f64::from(v[rank - 1]) / 1000.0
    };
    let sum: u64 = v.iter().map(|&x| u64::from(x)).sum();
    Some(Latency {
        samples: n as u64,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: f64::from(v[n - 1]) / 1000.0,
        mean_ms: sum as f64 / n as f64 / 1000.0,
    })
}

#[derive(Debug, Default, Serialize)]
pub struct Viewers {
    pub requested: usize,
    pub connected: usize,
    pub failed: usize,
    pub connect_errors: BTreeMap<String, u64>,
    /// From the first attempt to the last successful handshake.
    pub connect_secs: f64,
    pub still_connected_at_end: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct Delivery {
    /// Messages the moderator (or publisher) sent during the measured window.
    pub sent: u64,
    /// Of those, acknowledged by the server (minsheng) / written (nats).
    pub acked: u64,
    /// Achieved send rate.
    pub send_rate: f64,
    /// Viewers the measurement is about (connected, not stalled).
    pub measured_viewers: usize,
    /// acked x measured viewers.
    pub expected: u64,
    /// Matching messages received by measured viewers.
    pub delivered: u64,
    /// lost_gaps + lost_tail.
    pub lost: u64,
    /// Sequence (minsheng: public `seq`; nats: counter) gaps inside each viewer's stream.
    pub lost_gaps: u64,
    /// Messages after a still-connected viewer's last one, up to the last sent.
    pub lost_tail: u64,
    /// What viewers cut off by the server missed after their disconnect.
    pub missed_after_disconnect: u64,
    /// Messages whose sequence number was not above the last one seen.
    pub duplicated: u64,
    /// From the first send to the last delivery.
    pub window_secs: f64,
    pub deliveries_per_sec: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Server {
    pub pid: Option<u32>,
    pub rss_idle_bytes: Option<u64>,
    pub rss_connected_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    pub rss_end_bytes: Option<u64>,
    /// (connected - idle) / connections, after 2 s idle.
    pub bytes_per_connection: Option<f64>,
    /// Server CPU over the measured window, in cores.
    pub cpu_cores: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Moderator {
    pub connections: usize,
    pub sent: u64,
    pub acks_by_action: BTreeMap<String, u64>,
    pub errors_by_code: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Upvotes {
    pub requested: u64,
    pub acked: u64,
    pub errors_by_code: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Stall {
    pub stalled: usize,
    pub stalled_connected: usize,
    /// `minsheng_live_connections` when the stall began.
    pub gauge_at_start: Option<i64>,
    /// Seconds after the stall began at which the gauge had dropped by the stalled count.
    pub all_cut_after_secs: Option<f64>,
    pub all_cut_within_duration: bool,
    /// (seconds after the stall began, gauge) at every change.
    pub gauge_changes: Vec<(f64, i64)>,
    /// How the stalled connections ended, read when they were finally drained.
    pub stalled_close: BTreeMap<String, u64>,
    pub stalled_bytes_buffered: u64,
    /// Normal viewers disconnected during the stall (should be 0).
    pub normal_viewers_disconnected: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Questions {
    pub askers: usize,
    pub connected: usize,
    pub sent: u64,
    pub acked: u64,
    pub acked_per_sec: f64,
    pub unanswered: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    pub ack_latency_ms: Option<Latency>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub target: String,
    pub scenario: String,
    pub endpoint: String,
    pub event_id: Option<i64>,
    /// False when the run hit its hard deadline or was interrupted.
    pub complete: bool,
    pub duration_secs: u64,
    pub notes: Vec<String>,
    pub viewers: Viewers,
    pub delivery: Option<Delivery>,
    /// Approval (or send) to delivery, over all measured viewers.
    pub latency_ms: Option<Latency>,
    pub server: Server,
    /// This generator's CPU over the measured window, in cores.
    pub generator_cpu_cores: Option<f64>,
    /// Viewers (not stalled ones) closed, by close code or reason.
    pub disconnects_by_code: BTreeMap<String, u64>,
    /// `error` frames viewers received, by code.
    pub viewer_error_frames: BTreeMap<String, u64>,
    pub moderator: Option<Moderator>,
    pub upvotes: Option<Upvotes>,
    pub stall: Option<Stall>,
    pub questions: Option<Questions>,
}

fn mib(b: Option<u64>) -> String {
    b.map_or_else(|| "n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{v:.2}{unit}"))
}

fn map(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn lat(l: &Option<Latency>) -> String {
    l.as_ref().map_or_else(
        || "no samples".into(),
        |l| {
            format!(
                "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (mean {:.2} ms, {} samples)",
                l.p50_ms, l.p99_ms, l.max_ms, l.mean_ms, l.samples
            )
        },
    )
}

impl Report {
    pub fn text(&self) -> String {
        let mut o = String::new();
        let event = self.event_id.map(|e| format!(", event {e}")).unwrap_or_default();
        let _ = writeln!(
            o,
            "== minsheng-load: {} against {} {}{} — {} ==",
            self.scenario,
            self.target,
            self.endpoint,
            event,
            if self.complete { "complete" } else { "INCOMPLETE" }
        );
        let v = &self.viewers;
        let rate = if v.connect_secs > 0.0 {
            format!(" ({:.0}/s)", v.connected as f64 / v.connect_secs)
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            "connections     requested {}, connected {}, failed {}, in {:.2} s{rate}; held at end {}",
            v.requested, v.connected, v.failed, v.connect_secs, v.still_connected_at_end
        );
        if !v.connect_errors.is_empty() {
            let _ = writeln!(o, "connect errors  {}", map(&v.connect_errors));
        }
        if let Some(d) = &self.delivery {
            let _ = writeln!(
                o,
                "sent            {} ({} acknowledged) at {:.1}/s",
                d.sent, d.acked, d.send_rate
            );
            let _ = writeln!(
                o,
                "delivered       {} of {} expected ({} viewers x {}); {:.0} deliveries/s over {:.2} s",
                d.delivered, d.expected, d.measured_viewers, d.acked, d.deliveries_per_sec, d.window_secs
            );
            let _ = writeln!(
                o,
                "lost            {} (gaps {}, tail {}); duplicated {}; missed after a disconnect {}",
                d.lost, d.lost_gaps, d.lost_tail, d.duplicated, d.missed_after_disconnect
            );
            let _ = writeln!(o, "latency         {}", lat(&self.latency_ms));
        }
        if let Some(q) = &self.questions {
            let _ = writeln!(
                o,
                "questions       {} askers ({} connected): {} sent, {} acknowledged = {:.1}/s; {} unanswered",
                q.askers, q.connected, q.sent, q.acked, q.acked_per_sec, q.unanswered
            );
            let _ = writeln!(o, "ask errors      {}", map(&q.errors_by_code));
            let _ = writeln!(o, "ask -> ack      {}", lat(&q.ack_latency_ms));
        }
        if let Some(m) = &self.moderator {
            let _ = writeln!(
                o,
                "moderator       {} connection(s), {} frames sent; acks {}; errors {}",
                m.connections,
                m.sent,
                map(&m.acks_by_action),
                map(&m.errors_by_code)
            );
        }
        if let Some(u) = &self.upvotes {
            let _ = writeln!(
                o,
                "upvotes         {} requested, {} acknowledged; errors {}",
                u.requested,
                u.acked,
                map(&u.errors_by_code)
            );
        }
        if let Some(s) = &self.stall {
            let cut = match s.all_cut_after_secs {
                Some(t) => format!(
                    "all {} cut off {:.2} s after the stall began ({} --duration)",
                    s.stalled,
                    t,
                    if s.all_cut_within_duration {
                        "within"
                    } else {
                        "NOT within"
                    }
                ),
                None if s.gauge_at_start.is_none() => "no connection gauge".into(),
                None => format!("the gauge did NOT drop by {} during the run", s.stalled),
            };
            let _ = writeln!(
                o,
                "stalled         {} ({} connected); gauge at start {}; {cut}",
                s.stalled,
                s.stalled_connected,
                s.gauge_at_start.map_or("n/a".into(), |g| g.to_string())
            );
            let changes: Vec<String> = s.gauge_changes.iter().map(|(t, g)| format!("{t:.2}s={g}")).collect();
            let _ = writeln!(
                o,
                "gauge changes   {}",
                if changes.is_empty() {
                    "none".into()
                } else {
                    changes.join(" ")
                }
            );
            let _ = writeln!(
                o,
                "stalled ended   {}; {} bytes were still buffered for them; normal viewers disconnected {}",
                map(&s.stalled_close),
                s.stalled_bytes_buffered,
                s.normal_viewers_disconnected
            );
        }
        let s = &self.server;
        let _ = writeln!(
            o,
            "server          pid {}; RSS idle {}, connected {}, peak {}, end {}",
            s.pid.map_or("n/a".into(), |p| p.to_string()),
            mib(s.rss_idle_bytes),
            mib(s.rss_connected_bytes),
            mib(s.rss_peak_bytes),
            mib(s.rss_end_bytes)
        );
        let _ = writeln!(
            o,
            "per connection  {}; server CPU {}; generator CPU {}",
            s.bytes_per_connection
                .map_or("n/a".into(), |b| format!("{:.1} KiB", b / 1024.0)),
            opt(s.cpu_cores, " cores"),
            opt(self.generator_cpu_cores, " cores")
        );
        let _ = writeln!(o, "disconnects     {}", map(&self.disconnects_by_code));
        if !self.viewer_error_frames.is_empty() {
            let _ = writeln!(o, "error frames    {}", map(&self.viewer_error_frames));
        }
        for note in &self.notes {
            let _ = writeln!(o, "note: {note}");
        }
        o
    }
}

pub fn add_all(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let l = latency((1..=100).map(|x| x * 1000).collect()).unwrap();
        assert_eq!(l.p50_ms, 50.0);
        assert_eq!(l.p99_ms, 99.0);
        assert_eq!(l.max_ms, 100.0);
    }
}
