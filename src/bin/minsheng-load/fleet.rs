//! What every target shares: the deadline, the lock-free send-instant table,
//! per-viewer results, paced connecting, draining, sampling and summing up.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::net::{Endpoint, Ws, frame_or_end};
use crate::procfs;
use crate::report::{Delivery, add_all};

/// The run's hard deadline, and Ctrl-C.
#[derive(Clone)]
pub struct Deadline {
    pub at: tokio::time::Instant,
    abort: watch::Receiver<bool>,
}

impl Deadline {
    pub fn new(secs: u64, abort: watch::Receiver<bool>) -> Self {
        Self {
            at: tokio::time::Instant::now() + Duration::from_secs(secs),
            abort,
        }
    }

    /// `f`'s output, or `None` when the deadline passes or the run is interrupted first.
    pub async fn run<F: Future>(&self, f: F) -> Option<F::Output> {
        let mut abort = self.abort.clone();
        if *abort.borrow() {
            return None;
        }
        tokio::select! {
            biased;
            _ = abort.wait_for(|a| *a) => None,
            () = tokio::time::sleep_until(self.at) => None,
            v = f => Some(v),
        }
    }

    pub async fn sleep(&self, d: Duration) -> bool {
        self.run(tokio::time::sleep(d)).await.is_some()
    }

    /// A deadline `secs` from now (for cleaning up after the run's own deadline), unless interrupted.
    pub fn grace(&self, secs: u64) -> Self {
        Self {
            at: tokio::time::Instant::now() + Duration::from_secs(secs),
            abort: self.abort.clone(),
        }
    }

    pub fn interrupted(&self) -> bool {
        *self.abort.borrow()
    }

    pub fn over(&self) -> bool {
        *self.abort.borrow() || tokio::time::Instant::now() >= self.at
    }
}

/// State every viewer task shares. Only atomics are touched per message.
pub struct Shared {
    pub start: Instant,
    /// Send instant of message `i` (ns since `start`, plus one; 0 = not sent).
    pub table: Vec<AtomicU64>,
    /// Latency samples a viewer should expect (to size its Vec once).
    pub expect_per_viewer: usize,
    pub delivered: AtomicU64,
    /// Measured (not stalled) viewers connected now.
    pub alive: AtomicUsize,
    pub connected: AtomicUsize,
    pub failed: AtomicUsize,
    pub last_connected_ns: AtomicU64,
    /// Handshakes in progress at once.
    pub handshakes: Semaphore,
    /// The moderator's (publisher's) view.
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub replies: AtomicU64,
    pub max_seq: AtomicI64,
    pub frame_len: AtomicU64,
    pub upvote_acks: AtomicU64,
    /// vote: viewers that received the closing `poll` frame.
    pub finals: AtomicUsize,
}

impl Shared {
    pub fn new(table_len: usize, expect_per_viewer: usize) -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            table: (0..table_len).map(|_| AtomicU64::new(0)).collect(),
            expect_per_viewer,
            delivered: AtomicU64::new(0),
            alive: AtomicUsize::new(0),
            connected: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            last_connected_ns: AtomicU64::new(0),
            handshakes: Semaphore::new(512),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            replies: AtomicU64::new(0),
            max_seq: AtomicI64::new(0),
            frame_len: AtomicU64::new(0),
            upvote_acks: AtomicU64::new(0),
            finals: AtomicUsize::new(0),
        })
    }

    #[inline]
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Record that message `slot` is being sent now.
    pub fn mark_sent(&self, slot: usize) {
        if let Some(s) = self.table.get(slot) {
            s.store(self.now_ns() + 1, Relaxed);
        }
    }

    /// A viewer received message `slot` at `now`.
    #[inline]
    pub fn matched(&self, out: &mut ViewerOut, slot: i64, now: u64) {
        let Some(cell) = usize::try_from(slot).ok().and_then(|i| self.table.get(i)) else {
            return;
        };
        let sent = cell.load(Relaxed);
        if sent == 0 {
            return;
        }
        if out.lat.capacity() == 0 {
            out.lat.reserve(self.expect_per_viewer.min(1 << 20));
        }
        let micros = now.saturating_sub(sent - 1) / 1000;
        out.lat.push(u32::try_from(micros).unwrap_or(u32::MAX));
        out.matched += 1;
        out.last_match_ns = now;
        self.delivered.fetch_add(1, Relaxed);
    }

    /// Open one connection with `open`, under the limit of handshakes in
    /// flight and within `secs`: a success is counted as connected (and alive
    /// when `measured`), a failure as failed, with its error kept in `out`.
    pub async fn connect<T>(
        &self,
        out: &mut ViewerOut,
        measured: bool,
        secs: u64,
        open: impl Future<Output = Result<T, String>>,
    ) -> Option<T> {
        let permit = self.handshakes.acquire().await.ok();
        let opened = tokio::time::timeout(Duration::from_secs(secs), open)
            .await
            .unwrap_or_else(|_| Err("handshake: timeout".into()));
        drop(permit);
        match opened {
            Ok(conn) => {
                out.connected = true;
                self.connected_ok(measured);
                Some(conn)
            }
            Err(e) => {
                out.connect_error = Some(e);
                self.failed.fetch_add(1, Relaxed);
                None
            }
        }
    }

    fn connected_ok(&self, measured: bool) {
        self.connected.fetch_add(1, Relaxed);
        if measured {
            self.alive.fetch_add(1, Relaxed);
        }
        self.last_connected_ns.fetch_max(self.now_ns(), Relaxed);
    }
}

/// One viewer's results, returned by its task.
#[derive(Debug, Default)]
pub struct ViewerOut {
    pub stalled: bool,
    /// The node (index in --url) this viewer is connected to.
    pub node: usize,
    pub connected: bool,
    pub connect_error: Option<String>,
    /// The room's seq in this viewer's `welcome` (minsheng).
    pub welcome_seq: i64,
    /// Last sequence number seen (minsheng: public `seq`; nats: counter).
    pub last_seq: i64,
    pub gaps: u64,
    pub dups: u64,
    pub matched: u64,
    pub lat: Vec<u32>,
    /// Set when the server (or the network) ended the connection before the run did.
    pub cut: Option<String>,
    pub last_match_ns: u64,
    pub errors: BTreeMap<String, u64>,
    pub upvote_acks: u64,
    /// Stalled viewers: bytes read when finally drained.
    pub drained_bytes: u64,
    /// Askers: asks sent, and those still unanswered at the end (voters: their one vote).
    pub sent: u64,
    pub unanswered: u64,
    /// Voters: the option of the acknowledged vote, the code of a refused one,
    /// live tally frames received and whether the closing `poll` frame came.
    pub voted: Option<u32>,
    pub vote_error: Option<String>,
    pub tallies: u64,
    pub saw_final: bool,
    /// Failover (--kill-node): the time from losing the connection to the
    /// `welcome` of the next node, per reconnect, and how many of those
    /// resumes came back as a snapshot instead of a replay (a gap).
    pub reconnect_ms: Vec<u32>,
    pub resumed_by_snapshot: u32,
}

impl ViewerOut {
    /// Account a sequence number; false for a duplicate.
    #[inline]
    pub fn seq(&mut self, seq: i64) -> bool {
        if seq <= self.last_seq {
            self.dups += 1;
            return false;
        }
        if seq > self.last_seq + 1 {
            self.gaps += (seq - self.last_seq - 1) as u64;
        }
        self.last_seq = seq;
        true
    }

    pub fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_owned()).or_default() += 1;
    }
}

/// After the run: read what a stalled viewer's socket still holds, each
/// frame handed to `frame`, for at most 3 s; and how it ended.
pub async fn drain_stalled(ws: &mut Ws, out: &mut ViewerOut, mut frame: impl FnMut(&mut ViewerOut, Message)) {
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let Ok(m) = tokio::time::timeout_at(until, ws.next()).await else {
            out.cut = Some("still open at the end".into());
            break;
        };
        match frame_or_end(m) {
            Ok(m) => frame(out, m),
            Err(cut) => {
                out.cut = Some(cut);
                break;
            }
        }
    }
}

/// Spawn `n` viewer tasks at `rate` per second into `handles`; stops early at the deadline.
pub async fn launch<F, Fut>(n: usize, rate: f64, deadline: &Deadline, handles: &mut Vec<JoinHandle<ViewerOut>>, f: F)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ViewerOut> + Send + 'static,
{
    let t0 = tokio::time::Instant::now();
    let rate = if rate > 0.0 { rate } else { f64::MAX };
    for i in 0..n {
        let at = t0 + Duration::from_secs_f64(i as f64 / rate);
        if tokio::time::Instant::now() < at && deadline.run(tokio::time::sleep_until(at)).await.is_none() {
            return;
        }
        if deadline.over() {
            return;
        }
        handles.push(tokio::spawn(f(i)));
    }
}

/// Wait until every spawned viewer connected or failed; seconds from `t0` to the last success.
pub async fn wait_connected(shared: &Shared, spawned: usize, t0_ns: u64, deadline: &Deadline, quiet: bool) -> f64 {
    let mut last_print = Instant::now();
    loop {
        let (c, f) = (shared.connected.load(Relaxed), shared.failed.load(Relaxed));
        if c + f >= spawned {
            break;
        }
        if !quiet && last_print.elapsed() >= Duration::from_secs(2) {
            eprintln!("  … {c} connected, {f} failed of {spawned}");
            last_print = Instant::now();
        }
        if !deadline.sleep(Duration::from_millis(20)).await {
            break;
        }
    }
    let last = shared.last_connected_ns.load(Relaxed);
    last.saturating_sub(t0_ns) as f64 / 1e9
}

/// Wait for deliveries after the last send: until every measured viewer has
/// every acknowledged message, progress stops for 3 s, or `limit` passes.
pub async fn drain(shared: &Shared, limit: Duration, deadline: &Deadline) {
    let t = Instant::now();
    let mut last = shared.delivered.load(Relaxed);
    let mut last_change = Instant::now();
    loop {
        if !deadline.sleep(Duration::from_millis(50)).await {
            return;
        }
        let d = shared.delivered.load(Relaxed);
        if d != last {
            last = d;
            last_change = Instant::now();
        }
        let replies_in = shared.replies.load(Relaxed) >= shared.sent.load(Relaxed);
        let target = shared.acked.load(Relaxed) * shared.alive.load(Relaxed) as u64;
        if replies_in && d >= target {
            return;
        }
        if last_change.elapsed() > Duration::from_secs(3) && replies_in {
            return;
        }
        if t.elapsed() > limit {
            return;
        }
    }
}

/// How long viewers told to stop have to finish.
pub const STOP_WITHIN: Duration = Duration::from_secs(10);

/// Await every viewer; abort those still running `within` from now.
pub async fn collect(handles: Vec<JoinHandle<ViewerOut>>, within: Duration) -> (Vec<ViewerOut>, usize) {
    let until = tokio::time::Instant::now() + within;
    let mut outs = Vec::with_capacity(handles.len());
    let mut unfinished = 0;
    for h in handles {
        let abort = h.abort_handle();
        match tokio::time::timeout_at(until, h).await {
            Ok(Ok(out)) => outs.push(out),
            Ok(Err(_)) => unfinished += 1,
            Err(_) => {
                abort.abort();
                unfinished += 1;
            }
        }
    }
    (outs, unfinished)
}

#[derive(Debug, Default)]
pub struct Summary {
    pub measured_viewers: usize,
    pub still_connected: usize,
    pub delivered: u64,
    pub gaps: u64,
    pub tail: u64,
    pub missed_after_disconnect: u64,
    pub dups: u64,
    pub lat: Vec<u32>,
    pub last_match_ns: u64,
    pub disconnects: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    pub connect_errors: BTreeMap<String, u64>,
    pub upvote_acks: u64,
    pub welcome_min: i64,
    pub welcome_max: i64,
    pub welcome_zero: usize,
}

/// Sum the measured (connected, not stalled) viewers; `final_seq` is the last
/// sequence number every one of them should have reached.
pub fn summarise(outs: &mut [ViewerOut], final_seq: i64) -> Summary {
    let mut s = Summary {
        welcome_min: i64::MAX,
        welcome_max: i64::MIN,
        ..Summary::default()
    };
    let total: usize = outs.iter().filter(|o| !o.stalled).map(|o| o.lat.len()).sum();
    s.lat.reserve_exact(total);
    for o in outs.iter_mut() {
        if let Some(e) = &o.connect_error {
            *s.connect_errors.entry(e.clone()).or_default() += 1;
        }
        if !o.connected || o.stalled {
            continue;
        }
        s.measured_viewers += 1;
        s.welcome_min = s.welcome_min.min(o.welcome_seq);
        s.welcome_max = s.welcome_max.max(o.welcome_seq);
        s.welcome_zero += usize::from(o.welcome_seq == 0);
        s.delivered += o.matched;
        s.gaps += o.gaps;
        s.dups += o.dups;
        s.upvote_acks += o.upvote_acks;
        let behind = u64::try_from(final_seq - o.last_seq).unwrap_or(0);
        match &o.cut {
            None => {
                s.still_connected += 1;
                s.tail += behind;
            }
            Some(why) => {
                s.missed_after_disconnect += behind;
                *s.disconnects.entry(why.clone()).or_default() += 1;
            }
        }
        s.last_match_ns = s.last_match_ns.max(o.last_match_ns);
        add_all(&mut s.errors, &o.errors);
        s.lat.append(&mut o.lat);
        o.lat = Vec::new();
    }
    if s.measured_viewers == 0 {
        (s.welcome_min, s.welcome_max) = (0, 0);
    }
    s
}

/// The deliveries to the measured viewers `pick` chooses (one node's, or
/// every node but the moderator's), without taking their samples away (the
/// overall [`summarise`] does that afterwards). Counted as `summarise` does.
pub fn group(
    outs: &[ViewerOut],
    pick: impl Fn(&ViewerOut) -> bool,
    final_seq: i64,
    first_send_ns: u64,
) -> crate::report::Group {
    let mut g = crate::report::Group::default();
    let mut lat = Vec::new();
    let mut last = 0;
    for o in outs.iter().filter(|o| o.connected && !o.stalled && pick(o)) {
        g.viewers += 1;
        g.delivered += o.matched;
        g.duplicated += o.dups;
        g.lost += o.gaps;
        let behind = u64::try_from(final_seq - o.last_seq).unwrap_or(0);
        if o.cut.is_some() {
            g.disconnected += 1;
            g.missed_after_disconnect += behind;
        } else {
            g.lost += behind;
        }
        last = last.max(o.last_match_ns);
        lat.extend_from_slice(&o.lat);
    }
    let window = last.saturating_sub(first_send_ns) as f64 / 1e9;
    if window > 0.0 {
        g.deliveries_per_sec = g.delivered as f64 / window;
    }
    g.latency_ms = crate::report::latency(lat);
    g
}

impl Summary {
    /// The delivery figures of a run whose publisher sent `sent` messages
    /// (`acked` of them acknowledged) over `drive_secs`, the first at `first_send_ns`.
    pub fn delivery(&self, sent: u64, acked: u64, first_send_ns: u64, drive_secs: f64) -> Delivery {
        let window = self.last_match_ns.saturating_sub(first_send_ns) as f64 / 1e9;
        Delivery {
            sent,
            acked,
            send_rate: if drive_secs > 0.0 {
                sent as f64 / drive_secs
            } else {
                0.0
            },
            measured_viewers: self.measured_viewers,
            expected: acked * self.measured_viewers as u64,
            delivered: self.delivered,
            lost: self.gaps + self.tail,
            lost_gaps: self.gaps,
            lost_tail: self.tail,
            missed_after_disconnect: self.missed_after_disconnect,
            duplicated: self.dups,
            window_secs: window,
            deliveries_per_sec: if window > 0.0 {
                self.delivered as f64 / window
            } else {
                0.0
            },
        }
    }

    /// Viewers that joined the same quiet room should all be welcomed at the same seq.
    pub fn welcome_note(&self) -> Option<String> {
        (self.welcome_min != self.welcome_max).then(|| {
            format!(
                "viewers were welcomed at different seqs (min {}, max {}; {} at seq 0): a viewer welcomed \
                 at 0 while others were at {} got the snapshot of a room that was still loading",
                self.welcome_min, self.welcome_max, self.welcome_zero, self.welcome_max
            )
        })
    }
}

/// A sample of the server, every 250 ms.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at_ns: u64,
    pub rss: Option<u64>,
    pub gauge: Option<i64>,
}

/// Sample RSS (summed over `pids`: the nodes of a cluster) and the
/// connection gauge when `metrics` is given, until told to stop.
pub fn sampler(
    shared: Arc<Shared>,
    pids: Vec<u32>,
    metrics: Option<Endpoint>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<Vec<Sample>> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => {}
            }
            let at_ns = shared.now_ns();
            let rss = procfs::rss_total(&pids);
            let gauge = match &metrics {
                Some(ep) => live_connections(ep).await,
                None => None,
            };
            out.push(Sample { at_ns, rss, gauge });
        }
        out
    })
}

/// `minsheng_live_connections` from `GET /metrics`.
pub async fn live_connections(ep: &Endpoint) -> Option<i64> {
    let (status, body) = crate::net::http(ep, "GET", "/metrics", None, None).await.ok()?;
    if status != 200 {
        return None;
    }
    body.lines()
        .find_map(|l| l.strip_prefix("minsheng_live_connections "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as i64)
}

/// WebSocket upgrades the server has answered so far (`minsheng_http_requests_total`, status 101).
pub async fn upgrades_served(ep: &Endpoint) -> Option<u64> {
    let (status, body) = crate::net::http(ep, "GET", "/metrics", None, None).await.ok()?;
    if status != 200 {
        return None;
    }
    let mut total = 0.0;
    for line in body.lines() {
        if line.starts_with("minsheng_http_requests_total{") && line.contains("status=\"101\"") {
            total += line.rsplit(' ').next()?.parse::<f64>().ok()?;
        }
    }
    Some(total as u64)
}

/// A small xorshift generator (no dependency needed for picking viewers).
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64);
        Self(seed | 1)
    }

    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n.max(1) as u64) as usize
    }
}

/// A progress line every 5 s while a phase runs.
pub fn progress(shared: Arc<Shared>, quiet: bool, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    if quiet {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = tick.tick() => {}
            }
            eprintln!(
                "  … t={:.0}s sent {} acked {} delivered {} viewers alive {}",
                shared.start.elapsed().as_secs_f64(),
                shared.sent.load(Relaxed),
                shared.acked.load(Relaxed),
                shared.delivered.load(Relaxed),
                shared.alive.load(Relaxed)
            );
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(node: usize, lat_ms: &[u32], last_seq: i64, gaps: u64, dups: u64) -> ViewerOut {
        ViewerOut {
            node,
            connected: true,
            last_seq,
            gaps,
            dups,
            matched: lat_ms.len() as u64,
            lat: lat_ms.iter().map(|ms| ms * 1000).collect(),
            last_match_ns: 2_000_000_000,
            ..ViewerOut::default()
        }
    }

    #[test]
    fn groups_by_node_and_leave_the_samples() {
        let mut outs = vec![
            out(0, &[1, 2, 3], 10, 0, 0),
            out(1, &[10, 20, 30], 10, 0, 0),
            out(2, &[40, 50, 60], 9, 1, 2),
            out(0, &[4, 5, 6], 10, 0, 0),
        ];
        outs.push(ViewerOut {
            node: 1,
            stalled: true,
            connected: true,
            ..ViewerOut::default()
        });
        let moderator = 0;
        let g0 = group(&outs, |o| o.node == 0, 10, 0);
        assert_eq!((g0.viewers, g0.delivered, g0.lost, g0.duplicated), (2, 6, 0, 0));
        assert_eq!(g0.latency_ms.as_ref().unwrap().max_ms, 6.0);
        assert_eq!(g0.deliveries_per_sec, 3.0);
        let g2 = group(&outs, |o| o.node == 2, 10, 0);
        // One gap inside the stream, one message missing at the end.
        assert_eq!((g2.viewers, g2.lost, g2.duplicated), (1, 2, 2));
        let other = group(&outs, |o| o.node != moderator, 10, 0);
        assert_eq!(other.viewers, 2, "the stalled viewer is not measured");
        let l = other.latency_ms.unwrap();
        assert_eq!((l.samples, l.p50_ms, l.max_ms), (6, 30.0, 60.0));
        // Nothing was taken away: the overall summary still sees every sample.
        let s = summarise(&mut outs, 10);
        assert_eq!(
            (s.measured_viewers, s.lat.len(), s.gaps + s.tail, s.dups),
            (4, 12, 2, 2)
        );
    }
}
