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

/// Deliveries to one group of viewers (one node's, or those on other nodes
/// than the moderator's).
#[derive(Debug, Default, Serialize)]
pub struct Group {
    /// Measured viewers (connected, not stalled) in the group.
    pub viewers: usize,
    pub delivered: u64,
    /// delivered / (first send to the group's last delivery).
    pub deliveries_per_sec: f64,
    /// Seq gaps, plus what a still-connected viewer lacked at the end.
    pub lost: u64,
    pub duplicated: u64,
    pub missed_after_disconnect: u64,
    /// Viewers of the group the server (or the network) cut off.
    pub disconnected: u64,
    /// Approval on the moderator's node to delivery here.
    pub latency_ms: Option<Latency>,
}

/// One node of a cluster run (several --url).
#[derive(Debug, Default, Serialize)]
pub struct NodeFigures {
    pub node: usize,
    pub url: String,
    pub pid: Option<u32>,
    /// The moderator (who approves), the seeding askers and the staff connections use this node.
    pub moderator: bool,
    #[serde(flatten)]
    pub deliveries: Group,
    /// This node's CPU over the measured window, in cores.
    pub cpu_cores: Option<f64>,
    pub rss_idle_bytes: Option<u64>,
    pub rss_connected_bytes: Option<u64>,
    pub rss_end_bytes: Option<u64>,
    pub bytes_per_connection: Option<f64>,
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
    /// Server CPU over the measured window, in cores (with several nodes:
    /// their sum, as are the RSS figures).
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
pub struct Votes {
    pub poll_id: i64,
    pub options: usize,
    /// Viewers connected to vote (one vote each).
    pub voters: usize,
    /// The votes were spread evenly over this many seconds.
    pub window_secs: f64,
    pub sent: u64,
    /// Acknowledged (committed) votes.
    pub acked: u64,
    /// Sent votes with neither an ack nor an error when the poll was closed.
    pub unanswered: u64,
    pub errors_by_code: BTreeMap<String, u64>,
    /// sent / window.
    pub offered_per_sec: f64,
    /// acked / ack_window_secs.
    pub acked_per_sec: f64,
    /// From the first vote sent to the last ack received.
    pub ack_window_secs: f64,
    pub ack_latency_ms: Option<Latency>,
    /// Acknowledged votes per option, in option order.
    pub acked_by_option: Vec<u64>,
    pub tally: TallyUpdates,
    /// The tally in the closing `poll` frame, against the acknowledged votes.
    pub final_tally: Option<FinalTally>,
    /// Public frames a voter missed (seq gaps, and what a still-connected voter lacked at the end) or saw twice.
    pub frames_lost: u64,
    pub frames_duplicated: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct TallyUpdates {
    /// `poll_results` frames of the poll the observer received.
    pub updates: u64,
    /// From the first to the last of them.
    pub span_secs: f64,
    /// (updates - 1) / span.
    pub updates_per_sec: f64,
    /// The most updates one per interval allows over the span (span / interval + 1).
    pub allowed_max: u64,
    /// The spacing they should keep at least (the server's --tally-interval-ms).
    pub interval_ms: u64,
    pub gap_min_ms: Option<f64>,
    pub gap_median_ms: Option<f64>,
    pub gap_max_ms: Option<f64>,
    /// Consecutive updates that arrived closer than the interval (arrival jitter included).
    pub gaps_below_interval: u64,
    /// ... and closer than half of it (two tallies in one tick rather than jitter).
    pub gaps_below_half_interval: u64,
    /// Voters in the last live tally, and whether the voter counts never went down.
    pub last_live_voters: Option<i64>,
    pub voters_monotonic: bool,
    /// `poll_results` frames all voters received, expected (updates x voters), and per second over the span.
    pub frames_delivered: u64,
    pub frames_expected: u64,
    pub frames_per_sec: f64,
    /// Every update as the observer got it: (seconds after the first, seq, voters).
    pub timeline: Vec<(f64, i64, Option<i64>)>,
}

#[derive(Debug, Default, Serialize)]
pub struct FinalTally {
    pub seq: i64,
    pub voters: i64,
    pub counts: Vec<i64>,
    /// voters == acked and counts == acked_by_option.
    pub matches: bool,
    pub differences: Vec<String>,
    /// Voters that received the closing frame (of those connected).
    pub viewers_received: usize,
    /// From sending close_poll to the observer receiving the closing frame.
    pub close_to_frame_ms: f64,
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
    /// With several --url: the moderator's node (0-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moderator_node: Option<usize>,
    /// With several --url: each node's viewers, deliveries, latency, CPU and memory.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeFigures>,
    /// With several --url: the viewers on nodes other than the moderator's together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_nodes: Option<Group>,
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
    pub votes: Option<Votes>,
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

fn group(g: &Group) -> String {
    format!(
        "{} viewers; delivered {} = {:.0}/s; lost {}, duplicated {}, disconnected {}; latency {}",
        g.viewers,
        g.delivered,
        g.deliveries_per_sec,
        g.lost,
        g.duplicated,
        g.disconnected,
        lat(&g.latency_ms)
    )
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
        if let Some(v) = &self.votes {
            let _ = writeln!(
                o,
                "votes           poll {} ({} options), {} voters over {:.1} s: {} sent ({:.0}/s offered), {} acknowledged = {:.0}/s over {:.2} s; {} unanswered",
                v.poll_id,
                v.options,
                v.voters,
                v.window_secs,
                v.sent,
                v.offered_per_sec,
                v.acked,
                v.acked_per_sec,
                v.ack_window_secs,
                v.unanswered
            );
            let _ = writeln!(o, "vote errors     {}", map(&v.errors_by_code));
            let _ = writeln!(o, "vote -> ack     {}", lat(&v.ack_latency_ms));
            let t = &v.tally;
            let ms = |x: Option<f64>| x.map_or("n/a".into(), |x| format!("{x:.0} ms"));
            let _ = writeln!(
                o,
                "live tallies    {} updates over {:.2} s = {:.2}/s (one per {} ms allows {}); gaps min {}, median {}, max {}; {} below {} ms, {} below half",
                t.updates,
                t.span_secs,
                t.updates_per_sec,
                t.interval_ms,
                t.allowed_max,
                ms(t.gap_min_ms),
                ms(t.gap_median_ms),
                ms(t.gap_max_ms),
                t.gaps_below_interval,
                t.interval_ms,
                t.gaps_below_half_interval
            );
            let _ = writeln!(
                o,
                "tally frames    {} delivered of {} expected, {:.0}/s; last live tally {} voters; voter counts {}; public frames lost {}, duplicated {}",
                t.frames_delivered,
                t.frames_expected,
                t.frames_per_sec,
                t.last_live_voters.map_or("n/a".into(), |n| n.to_string()),
                if t.voters_monotonic {
                    "never went down"
                } else {
                    "WENT DOWN"
                },
                v.frames_lost,
                v.frames_duplicated
            );
            let counts = |c: &[i64]| c.iter().map(i64::to_string).collect::<Vec<_>>().join("/");
            let acked: Vec<i64> = v.acked_by_option.iter().map(|&n| n as i64).collect();
            match &v.final_tally {
                Some(f) => {
                    let _ = writeln!(
                        o,
                        "final tally     seq {}: {} voters, counts {}; acknowledged {} voters, {}; match: {}{}",
                        f.seq,
                        f.voters,
                        counts(&f.counts),
                        v.acked,
                        counts(&acked),
                        if f.matches { "yes" } else { "NO" },
                        if f.differences.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", f.differences.join("; "))
                        }
                    );
                    let _ = writeln!(
                        o,
                        "closing frame   received by {} of {} voters; {:.1} ms from close_poll to the observer",
                        f.viewers_received, v.voters, f.close_to_frame_ms
                    );
                }
                None => {
                    let _ = writeln!(
                        o,
                        "final tally     NOT received (acknowledged {}); match: NO",
                        counts(&acked)
                    );
                }
            }
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
        if let Some(m) = self.moderator_node {
            let _ = writeln!(
                o,
                "nodes           {}; the moderator on node {m}; viewers round-robin (viewer i on node i mod {})",
                self.nodes.len(),
                self.nodes.len()
            );
        }
        for n in &self.nodes {
            let _ = writeln!(
                o,
                "node {}{}  {} pid {}: {}",
                n.node,
                if n.moderator { " (mod)" } else { " (other)" },
                n.url,
                n.pid.map_or("n/a".into(), |p| p.to_string()),
                group(&n.deliveries)
            );
            let _ = writeln!(
                o,
                "                CPU {}; RSS idle {}, connected {}, end {}; per connection {}",
                opt(n.cpu_cores, " cores"),
                mib(n.rss_idle_bytes),
                mib(n.rss_connected_bytes),
                mib(n.rss_end_bytes),
                n.bytes_per_connection
                    .map_or("n/a".into(), |b| format!("{:.1} KiB", b / 1024.0)),
            );
        }
        if let Some(g) = &self.other_nodes {
            let _ = writeln!(o, "other nodes     {}", group(g));
        }
        let s = &self.server;
        let _ = writeln!(
            o,
            "server{}pid {}; RSS idle {}, connected {}, peak {}, end {}",
            if self.nodes.is_empty() {
                "          "
            } else {
                " (nodes summed) moderator's "
            },
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
