//! Loading a minsheng live room: the scenarios (the wire is in [`client`]
//! for viewers and askers, [`staff`] for moderators and seeding; `vote` is
//! in [`vote`]).

mod client;
mod staff;
mod vote;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::cli::{Args, Scenario};
use crate::fleet::{self, Deadline, Rng, Sample, Shared, Summary, ViewerOut};
use crate::net::{Endpoint, Ws, parse_source_ips};
use crate::procfs::{self, CpuMark};
use crate::report::{self, Moderator, NodeFigures, Questions, Report, Stall, Upvotes, add_all};

use client::{Match, Room, Seat, asker, viewer};
use staff::{ModCmd, ModOut, drive, live_event, login, moderator, open_staff, park, request, seed};

fn status(quiet: bool, msg: impl AsRef<str>) {
    if !quiet {
        eprintln!("minsheng-load: {}", msg.as_ref());
    }
}

struct Harness {
    args: Args,
    deadline: Deadline,
    /// The moderator's node (the only one with a single --url).
    base: Endpoint,
    room: Arc<Room>,
    /// Every node, in --url order.
    bases: Vec<Endpoint>,
    rooms: Vec<Arc<Room>>,
    pids: Vec<Option<u32>>,
    report: Report,
}

impl Harness {
    /// The node viewer `i` connects to (round-robin when the scenario spreads).
    fn room_for(&self, i: usize) -> Arc<Room> {
        if self.args.spreads() {
            self.rooms[self.args.node_of(i)].clone()
        } else {
            self.room.clone()
        }
    }

    fn known_pids(&self) -> Vec<u32> {
        self.pids.iter().flatten().copied().collect()
    }

    /// Every node's RSS now, summed (each node's kept in the report's node figures).
    fn rss_now(&mut self, slot: fn(&mut NodeFigures) -> &mut Option<u64>) -> Option<u64> {
        let each: Vec<Option<u64>> = self.pids.iter().map(|p| p.and_then(procfs::rss_bytes)).collect();
        for (n, v) in self.report.nodes.iter_mut().zip(&each) {
            *slot(n) = *v;
        }
        if self.known_pids().is_empty() {
            return None;
        }
        each.into_iter().sum()
    }

    fn rss_connected(&mut self) -> Option<u64> {
        self.rss_now(|n| &mut n.rss_connected_bytes)
    }

    /// A CPU reading of every node.
    fn cpu_mark(&self) -> Vec<Option<CpuMark>> {
        self.pids.iter().map(|p| p.and_then(|p| CpuMark::of(Some(p)))).collect()
    }

    /// CPU since `marks`, per node and summed into the server figure.
    fn cpu_done(&mut self, marks: &[Option<CpuMark>]) {
        let each: Vec<Option<f64>> = marks
            .iter()
            .zip(&self.pids)
            .map(|(m, p)| m.and_then(|m| p.and_then(|p| m.cores_since(Some(p)))))
            .collect();
        for (n, c) in self.report.nodes.iter_mut().zip(&each) {
            n.cpu_cores = *c;
        }
        self.report.server.cpu_cores = if marks.is_empty() { None } else { each.into_iter().sum() };
    }

    /// Per node (and for the nodes other than the moderator's): deliveries,
    /// losses, latency and memory per connection. Only with several nodes.
    fn per_node(&mut self, outs: &[ViewerOut], final_seq: i64, first_send_ns: u64) {
        if self.report.nodes.is_empty() {
            return;
        }
        let m = self.args.moderator_node;
        for n in &mut self.report.nodes {
            let k = n.node;
            n.deliveries = fleet::group(outs, |o| o.node == k, final_seq, first_send_ns);
            if let (Some(i), Some(c)) = (n.rss_idle_bytes, n.rss_connected_bytes) {
                if c >= i && n.deliveries.viewers > 0 {
                    n.bytes_per_connection = Some((c - i) as f64 / n.deliveries.viewers as f64);
                }
            }
        }
        if self.args.spreads() {
            self.report.other_nodes = Some(fleet::group(outs, |o| o.node != m, final_seq, first_send_ns));
        }
    }
}

pub async fn run(args: &Args, deadline: &Deadline) -> anyhow::Result<Report> {
    let bases = args
        .url
        .iter()
        .map(|u| Endpoint::parse(u, &["http"]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let m = args.moderator_node;
    let Some(base) = bases.get(m).cloned() else {
        bail!("--moderator-node {m}: only {} server(s) given", bases.len());
    };
    let mut srcs = parse_source_ips(&args.source_ips)?;
    let mut notes = Vec::new();
    if bases.iter().any(|b| b.addr.is_ipv6()) && !srcs.is_empty() {
        notes.push("a server is on ::1: --source-ips (IPv4) ignored".to_owned());
        srcs.clear();
    }
    let event_id = match args.event {
        Some(e) => e,
        None => live_event(&base).await?,
    };
    let rooms: Vec<Arc<Room>> = bases
        .iter()
        .enumerate()
        .map(|(node, b)| {
            Arc::new(Room {
                addr: b.addr,
                ws_url: format!("ws://{}/api/events/{event_id}/live", b.authority),
                srcs: srcs.clone(),
                node,
            })
        })
        .collect();
    let several = bases.len() > 1;
    let mut pids = Vec::new();
    for (k, b) in bases.iter().enumerate() {
        let pid = match args.pid_of(k) {
            Some(p) => Some(p),
            None => {
                let (pick, all) = procfs::find_minsheng(b.addr.port());
                if all.len() > 1 {
                    notes.push(format!(
                        "several minsheng servers run ({all:?}); sampling {pick:?} for {} (use --server-pid)",
                        args.url[k]
                    ));
                }
                pick
            }
        };
        if pid.is_none() {
            notes.push(format!(
                "no minsheng server process found for {}: no memory or CPU figures (use --server-pid)",
                args.url[k]
            ));
        }
        pids.push(pid);
    }
    if several && pids.iter().flatten().collect::<std::collections::BTreeSet<_>>().len() < pids.iter().flatten().count()
    {
        notes.push(format!(
            "the same process was found for several nodes ({pids:?}): CPU and memory are counted twice (use --server-pid)"
        ));
    }
    if several && !args.spreads() {
        notes.push(format!(
            "{}: every connection uses the moderator's node {m} (only broadcast, answers, connect and vote spread viewers over nodes)",
            args.scenario().name()
        ));
    }
    let nodes = if several {
        bases
            .iter()
            .enumerate()
            .map(|(k, _)| NodeFigures {
                node: k,
                url: args.url[k].clone(),
                pid: pids[k],
                moderator: k == m,
                ..NodeFigures::default()
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut h = Harness {
        args: args.clone(),
        deadline: deadline.clone(),
        base,
        room: rooms[m].clone(),
        bases,
        rooms,
        pids: pids.clone(),
        report: Report {
            target: "minsheng".into(),
            scenario: args.scenario().name().into(),
            endpoint: args.url.join(","),
            event_id: Some(event_id),
            duration_secs: args.duration,
            notes,
            moderator_node: several.then_some(m),
            nodes,
            ..Report::default()
        },
    };
    h.report.server.pid = pids[m];
    status(
        args.quiet,
        format!("{} on event {event_id} ({})", h.report.scenario, h.room.ws_url),
    );
    match args.scenario() {
        Scenario::Broadcast => broadcast(&mut h).await?,
        Scenario::Stall | Scenario::Answers => stall(&mut h).await?,
        Scenario::Connect => connect(&mut h).await?,
        Scenario::Questions => questions(&mut h).await?,
        Scenario::Vote => vote::vote(&mut h).await?,
    }
    Ok(h.report)
}

/// The server's RSS just before the viewers connect (everything else is set
/// up by then), read three times 250 ms apart; a note when it still moves,
/// or when earlier connections left freed memory for the new ones to reuse.
async fn idle_rss(h: &mut Harness, opened_so_far: usize) -> Option<u64> {
    if h.known_pids().is_empty() {
        return None;
    }
    let mut served = Some(0);
    for b in &h.bases {
        served = served.zip(fleet::upgrades_served(b).await).map(|(a, b)| a + b);
    }
    if let Some(served) = served {
        let earlier = served.saturating_sub(opened_so_far as u64);
        if earlier > 10 {
            h.report.notes.push(format!(
                "the server had served {earlier} live connections before this run: new ones reuse memory \
                 those freed, so bytes per connection is understated (restart the server for a clean figure)"
            ));
        }
    }
    let first = h.rss_now(|n| &mut n.rss_idle_bytes)?;
    let mut last = first;
    for _ in 0..2 {
        h.deadline.sleep(Duration::from_millis(250)).await;
        last = h.rss_now(|n| &mut n.rss_idle_bytes).unwrap_or(last);
    }
    if first.abs_diff(last) > 2 << 20 {
        h.report.notes.push(format!(
            "the server's memory was still changing before the viewers connected ({:.1} -> {:.1} MiB): \
             the per-connection figure is rough (restart the server for a clean one)",
            first as f64 / 1048576.0,
            last as f64 / 1048576.0
        ));
    }
    Some(last)
}

/// Memory per viewer connection from the idle and connected samples.
fn memory(h: &mut Harness, idle: Option<u64>, connected: Option<u64>, connections: usize) {
    h.report.server.rss_idle_bytes = idle;
    h.report.server.rss_connected_bytes = connected;
    if let (Some(i), Some(c)) = (idle, connected) {
        if connections > 0 && c >= i {
            h.report.server.bytes_per_connection = Some((c - i) as f64 / connections as f64);
        } else if c < i {
            h.report.notes.push(
                "the server's memory fell while the viewers connected (its allocator returned memory \
                 from earlier work): no per-connection figure; restart the server for a clean one"
                    .into(),
            );
        }
    }
}

fn finish_memory(h: &mut Harness, samples: &[Sample]) {
    let end = h.rss_now(|n| &mut n.rss_end_bytes);
    h.report.server.rss_end_bytes = end;
    let peak = samples
        .iter()
        .filter_map(|s| s.rss)
        .chain(h.report.server.rss_connected_bytes)
        .chain(end)
        .max();
    h.report.server.rss_peak_bytes = peak;
}

/// Fill the delivery figures from the viewers' results.
fn deliveries(
    h: &mut Harness,
    shared: &Shared,
    outs: &mut [ViewerOut],
    final_seq: i64,
    first_send_ns: u64,
    drive_secs: f64,
) {
    let s = summarise_viewers(h, outs, final_seq, first_send_ns);
    let (sent, acked) = (shared.sent.load(Relaxed), shared.acked.load(Relaxed));
    h.report.delivery = Some(s.delivery(sent, acked, first_send_ns, drive_secs));
    h.report.latency_ms = report::latency(s.lat);
}

/// Connect `n` viewer tasks, each made by `make` from the harness (for its
/// node) and its index, at --connect-rate: the idle memory figure first
/// (`opened_so_far` connections being open already), then wait for them to
/// connect, count them, and after 2 s of quiet take the connected figure.
async fn connect_viewers<F, Fut>(
    h: &mut Harness,
    shared: &Shared,
    n: usize,
    opened_so_far: usize,
    make: F,
) -> Vec<JoinHandle<ViewerOut>>
where
    F: Fn(&Harness, usize) -> Fut,
    Fut: Future<Output = ViewerOut> + Send + 'static,
{
    let rss_idle = idle_rss(h, opened_so_far).await;
    let mut handles = Vec::with_capacity(n);
    let t0 = shared.now_ns();
    let hr: &Harness = h;
    fleet::launch(n, hr.args.connect_rate, &hr.deadline, &mut handles, |i| make(hr, i)).await;
    let connect_secs = fleet::wait_connected(shared, handles.len(), t0, &h.deadline, h.args.quiet).await;
    h.report.viewers.requested = n;
    h.report.viewers.connected = shared.connected.load(Relaxed);
    h.report.viewers.failed = n - h.report.viewers.connected;
    h.report.viewers.connect_secs = connect_secs;
    h.deadline.sleep(Duration::from_secs(2)).await;
    let rss_connected = h.rss_connected();
    memory(h, rss_idle, rss_connected, shared.connected.load(Relaxed));
    handles
}

/// The measured window's instruments: the sampler (memory, and the
/// connection gauge when asked), the progress line, and CPU marks of the
/// servers and of this generator.
struct Measuring {
    stop: watch::Sender<bool>,
    sampler: JoinHandle<Vec<Sample>>,
    progress: Option<JoinHandle<()>>,
    cpu: Vec<Option<CpuMark>>,
    gen_cpu: Option<CpuMark>,
}

impl Measuring {
    fn start(h: &Harness, shared: &Arc<Shared>, gauge: Option<Endpoint>, progress: bool) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let sampler = fleet::sampler(shared.clone(), h.known_pids(), gauge, stop_rx.clone());
        let progress = if progress {
            fleet::progress(shared.clone(), h.args.quiet, stop_rx)
        } else {
            None
        };
        Self {
            stop,
            sampler,
            progress,
            cpu: h.cpu_mark(),
            gen_cpu: CpuMark::of(None),
        }
    }

    /// The servers' and the generator's CPU since the window opened.
    fn cpu_done(&self, h: &mut Harness) {
        h.cpu_done(&self.cpu);
        h.report.generator_cpu_cores = self.gen_cpu.and_then(|c| c.cores_since(None));
    }

    /// Stop sampling; the peak and end memory figures; the samples.
    async fn close(self, h: &mut Harness) -> Vec<Sample> {
        let _ = self.stop.send(true);
        let samples = self.sampler.await.unwrap_or_default();
        if let Some(p) = self.progress {
            let _ = p.await;
        }
        finish_memory(h, &samples);
        samples
    }
}

/// A note for the `unfinished` tasks (`who`) that did not finish when collected.
fn note_unfinished(h: &mut Harness, unfinished: usize, who: &str) {
    if unfinished > 0 {
        h.report
            .notes
            .push(format!("{unfinished} {who} did not finish in time"));
    }
}

/// Sum the viewers up (per node too); how they ended goes into the report,
/// the rest is for the scenario's own figures.
fn summarise_viewers(h: &mut Harness, outs: &mut [ViewerOut], final_seq: i64, first_send_ns: u64) -> Summary {
    h.per_node(outs, final_seq, first_send_ns);
    let mut s = fleet::summarise(outs, final_seq);
    if let Some(note) = s.welcome_note() {
        h.report.notes.push(note);
    }
    h.report.disconnects_by_code = std::mem::take(&mut s.disconnects);
    h.report.viewer_error_frames = std::mem::take(&mut s.errors);
    h.report.viewers.connect_errors = std::mem::take(&mut s.connect_errors);
    h.report.viewers.still_connected_at_end = s.still_connected;
    s
}

/// The staff connections that drive a run: a command channel and a task
/// each, stopped together.
struct Moderators {
    txs: Vec<mpsc::Sender<ModCmd>>,
    handles: Vec<JoinHandle<ModOut>>,
    stop: watch::Sender<bool>,
}

impl Moderators {
    fn new() -> Self {
        Self {
            txs: Vec::new(),
            handles: Vec::new(),
            stop: watch::channel(false).0,
        }
    }

    /// A moderator task on `ws`, measuring the acks of `measured` actions.
    fn spawn(&mut self, ws: Ws, shared: &Arc<Shared>, measured: &'static str) {
        let (tx, rx) = mpsc::channel(4096);
        let stop = self.stop.subscribe();
        self.handles
            .push(tokio::spawn(moderator(ws, shared.clone(), rx, measured, stop)));
        self.txs.push(tx);
    }

    /// Stop them all; what they sent and were answered, summed.
    async fn finish(self) -> Moderator {
        let _ = self.stop.send(true);
        collect_mods(self.handles).await
    }
}

async fn collect_mods(handles: Vec<JoinHandle<ModOut>>) -> Moderator {
    let mut m = Moderator {
        connections: handles.len(),
        ..Moderator::default()
    };
    for hd in handles {
        if let Ok(Ok(o)) = tokio::time::timeout(Duration::from_secs(5), hd).await {
            m.sent += o.sent;
            add_all(&mut m.acks_by_action, &o.acks);
            add_all(&mut m.errors_by_code, &o.errors);
            if let Some(c) = o.cut {
                *m.errors_by_code
                    .entry(format!("staff connection ended: {c}"))
                    .or_default() += 1;
            }
        }
    }
    m
}

/// Hide what a run published (not measured), so that the room's snapshot
/// does not grow from run to run.
async fn cleanup(h: &mut Harness, shared: &Arc<Shared>, token: &str, mods: &mut Moderators, hide: &[i64]) {
    if hide.is_empty() || h.args.keep_questions || h.deadline.interrupted() {
        return;
    }
    // Bounded on its own: it also runs after the run's deadline.
    let deadline = h.deadline.grace(15);
    let per = h.args.staff_frames_per_sec;
    // Up to 8 staff connections, to be done in about 3 s.
    let want = ((hide.len() as f64 / (per * 3.0)).ceil() as usize).clamp(1, 8);
    while mods.txs.len() < want {
        match open_staff(&h.room, token).await {
            Ok(ws) => mods.spawn(ws, shared, "-"),
            Err(e) => {
                h.report.notes.push(format!("cleanup: {e}"));
                break;
            }
        }
    }
    status(
        h.args.quiet,
        format!(
            "hiding the {} question(s) this run published (--keep-questions to keep them)",
            hide.len()
        ),
    );
    let ignored = AtomicUsize::new(0);
    let done = drive(
        per * mods.txs.len() as f64,
        hide.len(),
        &mods.txs,
        &deadline,
        &ignored,
        |k| ModCmd {
            text: format!(r#"{{"type":"hide","ref":"h{k}","question_id":{}}}"#, hide[k]),
            slot: None,
        },
    )
    .await;
    if done < hide.len() {
        h.report.notes.push(format!(
            "cleanup: only {done} of {} published questions were hidden",
            hide.len()
        ));
    }
    deadline.sleep(Duration::from_secs(1)).await;
}

fn run_tag() -> String {
    chrono::Utc::now().format("%H%M%S").to_string()
}

async fn broadcast(h: &mut Harness) -> anyhow::Result<()> {
    let a = h.args.clone();
    let quiet = a.quiet;
    let total = ((a.approvals_per_sec * a.duration as f64).round() as usize).max(1);
    let token = login(&h.base, &a.username, &a.password).await?;
    // Staff connect before seeding: the server sends them every pending question on joining.
    let per = a.staff_frames_per_sec;
    let staff = ((a.approvals_per_sec / per).ceil() as usize)
        .max(((total as f64 / (per * 3.0)).ceil() as usize).min(8))
        .max(1);
    let (park_tx, park_rx) = watch::channel(false);
    let mut parked = Vec::new();
    for _ in 0..staff {
        parked.push(park(open_staff(&h.room, &token).await?, park_rx.clone()));
    }
    status(
        quiet,
        format!("seeding {total} questions (5 per connection, {}/s)", a.seed_rate),
    );
    let seeded = h
        .deadline
        .run(seed(h.room.clone(), total, run_tag(), a.seed_rate))
        .await;
    let _ = park_tx.send(true);
    let Some(seeded) = seeded else {
        h.report.notes.push("the deadline passed while seeding".into());
        return Ok(());
    };
    for (e, n) in &seeded.errors {
        h.report.notes.push(format!("seeding: {n} x {e}"));
    }
    for (scope, n) in &seeded.waits {
        h.report.notes.push(format!("seeding waited {n} times: {scope}"));
    }
    for (st, n) in &seeded.not_pending {
        h.report
            .notes
            .push(format!("seeding: {n} questions were `{st}` instead of pending"));
    }
    let ids = seeded.ids;
    if ids.is_empty() {
        bail!(
            "seeding produced no pending question: errors {:?}, not pending {:?}",
            seeded.errors,
            seeded.not_pending
        );
    }
    if ids.len() < total {
        h.report
            .notes
            .push(format!("only {} of {total} questions were seeded", ids.len()));
    }
    let min_id = ids[0];
    let span = usize::try_from(ids[ids.len() - 1] - min_id + 1).unwrap_or(0);
    let shared = Shared::new(span, ids.len());
    let mode = Match::QuestionId { min_id };

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut mods = Moderators::new();
    for p in parked {
        let ws = match p.await {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => bail!("a staff connection closed while seeding: {e}"),
            Err(e) => bail!("staff connection task: {e}"),
        };
        mods.spawn(ws, &shared, "approve");
    }

    let n = a.viewers();
    let upvoting = a.upvotes_per_sec > 0.0;
    let mut up_txs = Vec::new();
    let mut up_rxs = Vec::new();
    if upvoting {
        for _ in 0..n {
            let (tx, rx) = mpsc::channel::<i64>(8);
            up_txs.push(tx);
            up_rxs.push(Some(rx));
        }
    }
    let up_rxs = Mutex::new(up_rxs);
    // --kill-node: that node is SIGKILLed mid-run; its viewers fail over to the next node.
    let kill = match a.kill_node {
        None => None,
        Some(k) => {
            anyhow::ensure!(h.rooms.len() > 1, "--kill-node needs several --url");
            anyhow::ensure!(
                k < h.rooms.len() && k != a.moderator_node,
                "--kill-node {k}: give a node other than the moderator's, below {}",
                h.rooms.len()
            );
            let pid =
                h.pids[k].ok_or_else(|| anyhow::anyhow!("--kill-node {k}: its pid is unknown (give --server-pid)"))?;
            Some((k, pid))
        }
    };
    let failover = kill.map(|_| Arc::new(h.rooms.clone()));
    status(quiet, format!("connecting {n} viewers at {}/s", a.connect_rate));
    let handles = connect_viewers(h, &shared, n, staff + total.div_ceil(5), |hr, i| {
        let cmds = up_rxs.lock().ok().and_then(|mut v| v.get_mut(i).and_then(Option::take));
        viewer(
            hr.room_for(i),
            shared.clone(),
            Seat {
                i,
                stalled: false,
                mode,
            },
            stop_rx.clone(),
            cmds,
            failover.clone(),
        )
    })
    .await;

    let measuring = Measuring::start(h, &shared, None, true);
    let count = ids.len().min(total);
    status(
        quiet,
        format!(
            "approving {count} questions at {}/s over {staff} staff connection(s)",
            a.approvals_per_sec
        ),
    );
    let first_send_ns = shared.now_ns();
    let drive_start = std::time::Instant::now();
    let approved = AtomicUsize::new(0);
    let driving = AtomicBool::new(true);
    let mut upvotes = Upvotes::default();
    let approvals = async {
        let sent = drive(a.approvals_per_sec, count, &mods.txs, &h.deadline, &approved, |k| {
            ModCmd {
                text: format!(r#"{{"type":"approve","ref":"m{k}","question_id":{}}}"#, ids[k]),
                slot: usize::try_from(ids[k] - min_id).ok(),
            }
        })
        .await;
        driving.store(false, Relaxed);
        sent
    };
    let upvoter = async {
        if !upvoting {
            return;
        }
        let mut rng = Rng::new();
        let t0 = tokio::time::Instant::now();
        let mut k = 0u64;
        while driving.load(Relaxed) {
            let at = t0 + Duration::from_secs_f64(k as f64 / a.upvotes_per_sec);
            k += 1;
            if h.deadline.run(tokio::time::sleep_until(at)).await.is_none() {
                return;
            }
            let done = approved.load(Relaxed);
            if done == 0 {
                continue;
            }
            let qid = ids[rng.below(done)];
            if up_txs[rng.below(up_txs.len())].try_send(qid).is_ok() {
                upvotes.requested += 1;
            }
        }
    };
    let killer = async {
        let (k, pid) = kill?;
        h.deadline
            .run(tokio::time::sleep(Duration::from_secs_f64(a.kill_after)))
            .await?;
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        Some((k, pid, killed))
    };
    let (handed, (), killed) = tokio::join!(approvals, upvoter, killer);
    let handed_all = all_handed(h, handed, count, "approvals");
    let drive_secs = drive_start.elapsed().as_secs_f64();
    fleet::drain(&shared, Duration::from_secs(a.drain_secs), &h.deadline).await;
    measuring.cpu_done(h);
    measuring.close(h).await;
    let complete = handed_all && !h.deadline.over();

    let final_seq = shared.max_seq.load(Relaxed);
    let _ = stop_tx.send(true);
    let (mut outs, unfinished) = fleet::collect(handles, fleet::STOP_WITHIN).await;
    cleanup(h, &shared, &token, &mut mods, &ids[..approved.load(Relaxed)]).await;
    h.report.moderator = Some(mods.finish().await);
    note_unfinished(h, unfinished, "viewer tasks");
    let final_seq = outs.iter().map(|o| o.last_seq).max().unwrap_or(0).max(final_seq);
    deliveries(h, &shared, &mut outs, final_seq, first_send_ns, drive_secs);
    if let Some((k, pid, killed)) = killed {
        h.report.notes.push(failover_note(&outs, k, pid, killed, a.kill_after));
    }
    if upvoting {
        upvotes.acked = shared.upvote_acks.load(Relaxed);
        upvotes.errors_by_code = h.report.viewer_error_frames.clone();
        h.report.upvotes = Some(upvotes);
    }
    h.report.complete = complete;
    Ok(())
}

/// Whether the driver handed all `count` commands to a staff connection;
/// a note when the connections closed under it before the deadline.
fn all_handed(h: &mut Harness, handed: usize, count: usize, what: &str) -> bool {
    if handed < count && !h.deadline.over() {
        h.report.notes.push(format!(
            "only {handed} of {count} {what} could be handed to a staff connection: all were closed"
        ));
        return false;
    }
    true
}

/// What the viewers saw of a node killed under them.
fn failover_note(outs: &[ViewerOut], node: usize, pid: u32, killed: bool, after: f64) -> String {
    if !killed {
        return format!("failover: `kill -KILL {pid}` (node {node}) failed; nothing was killed");
    }
    let mut ms: Vec<u32> = outs.iter().flat_map(|o| o.reconnect_ms.iter().copied()).collect();
    ms.sort_unstable();
    let viewers = outs.iter().filter(|o| !o.reconnect_ms.is_empty()).count();
    let snapshots: u32 = outs.iter().map(|o| o.resumed_by_snapshot).sum();
    let at = |p: f64| {
        ms.get(((ms.len().saturating_sub(1)) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    format!(
        "failover: node {node} (pid {pid}) SIGKILLed {after:.1} s into the approvals; {viewers} viewers \
         reconnected to another node ({} reconnects; {snapshots} answered with a snapshot instead of a replay); \
         from losing the connection to the next node's welcome: p50 {} ms, p99 {} ms, max {} ms",
        ms.len(),
        at(0.5),
        at(0.99),
        ms.last().copied().unwrap_or(0)
    )
}

async fn stall(h: &mut Harness) -> anyhow::Result<()> {
    let a = h.args.clone();
    let quiet = a.quiet;
    // answers: one moderator, nobody stalled, --text-bytes is the answer itself.
    let answers = a.scenario() == Scenario::Answers;
    if !answers && a.stalled >= a.viewers() {
        bail!(
            "--stalled ({}) must be smaller than --viewers ({})",
            a.stalled,
            a.viewers()
        );
    }
    let total = ((a.messages_per_sec * a.duration as f64).round() as usize).max(1);
    let token = login(&h.base, &a.username, &a.password).await?;
    let shared = Shared::new(total, total);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Staff connect first: the server sends them every pending question on joining.
    let staff = if answers {
        1 // One moderator, whatever the rate.
    } else {
        ((a.messages_per_sec / a.staff_frames_per_sec).ceil() as usize).max(1)
    };
    let mut staff_ws = Vec::new();
    for _ in 0..staff {
        staff_ws.push(open_staff(&h.room, &token).await?);
    }
    let seeded = seed(h.room.clone(), 1, run_tag(), a.seed_rate).await;
    let Some(&qid) = seeded.ids.first() else {
        bail!("could not seed the question to answer: {:?}", seeded.errors);
    };
    let approve = format!(r#"{{"type":"approve","ref":"a0","question_id":{qid}}}"#);
    let v = request(&mut staff_ws[0], approve, "a0")
        .await
        .map_err(|e| anyhow::anyhow!("approving question {qid}: {e}"))?;
    if v["type"] != "ack" {
        bail!("approving question {qid}: {v}");
    }
    let mut mods = Moderators::new();
    for ws in staff_ws {
        mods.spawn(ws, &shared, "answer");
    }

    let n = a.viewers();
    let k = if answers { 0 } else { a.stalled };
    status(
        quiet,
        format!(
            "connecting {n} viewers ({k} of them stall after their snapshot) at {}/s",
            a.connect_rate
        ),
    );
    let mode = Match::AnswerCounter;
    // Stalled viewers are spread over the whole range.
    let stride = n / k.max(1);
    let is_stalled = move |i: usize| k > 0 && i % stride == stride - 1 && i / stride < k;
    // With several nodes, viewers round-robin over them (as in broadcast).
    let handles = connect_viewers(h, &shared, n, staff + 1, |hr, i| {
        viewer(
            hr.room_for(i),
            shared.clone(),
            Seat {
                i,
                stalled: is_stalled(i),
                mode,
            },
            stop_rx.clone(),
            None,
            None,
        )
    })
    .await;
    let gauge_start = fleet::live_connections(&h.base).await;

    let measuring = Measuring::start(h, &shared, Some(h.base.clone()), true);
    // The answer text: `#n#` then filler, so that the public frame is about --text-bytes.
    // (answers: --text-bytes is the payload, the answer text itself, as
    // nats-server's payload; the frame around it re-sends the question.)
    let text_len = if answers {
        a.text_bytes.clamp(16, 2000)
    } else {
        a.text_bytes.saturating_sub(256).clamp(16, 2000)
    };
    let filler: String = "abcdefghijklmnopqrstuvwxyz0123456789"
        .chars()
        .cycle()
        .take(text_len)
        .collect();
    status(
        quiet,
        format!(
            "answering question {qid} {total} times at {}/s ({text_len}-character answers) over {staff} staff connection(s)",
            a.messages_per_sec
        ),
    );
    let first_send_ns = shared.now_ns();
    let drive_start = std::time::Instant::now();
    let progress_count = AtomicUsize::new(0);
    let handed = drive(
        a.messages_per_sec,
        total,
        &mods.txs,
        &h.deadline,
        &progress_count,
        |n| {
            let prefix = format!("#{n}#");
            let text = format!("{prefix}{}", &filler[..text_len.saturating_sub(prefix.len())]);
            ModCmd {
                text: format!(r#"{{"type":"answer","ref":"m{n}","question_id":{qid},"text":"{text}"}}"#),
                slot: Some(n),
            }
        },
    )
    .await;
    let handed_all = all_handed(h, handed, total, "answers");
    let drive_secs = drive_start.elapsed().as_secs_f64();
    fleet::drain(&shared, Duration::from_secs(a.drain_secs), &h.deadline).await;
    measuring.cpu_done(h);
    let samples = measuring.close(h).await;
    let complete = handed_all && !h.deadline.over();

    let final_seq = shared.max_seq.load(Relaxed);
    let _ = stop_tx.send(true);
    let (mut outs, unfinished) = fleet::collect(handles, fleet::STOP_WITHIN).await;
    cleanup(h, &shared, &token, &mut mods, &[qid]).await;
    h.report.moderator = Some(mods.finish().await);
    note_unfinished(h, unfinished, "viewer tasks");
    let frame = shared.frame_len.load(Relaxed);
    h.report
        .notes
        .push(format!("each answer's public frame is about {frame} bytes"));

    // The stalled viewers, as the gauge and their own sockets tell it.
    let mut st = Stall {
        stalled: k,
        stalled_connected: outs.iter().filter(|o| o.stalled && o.connected).count(),
        gauge_at_start: gauge_start,
        ..Stall::default()
    };
    let mut last_gauge = gauge_start;
    for s in &samples {
        let t = (s.at_ns as f64 - first_send_ns as f64) / 1e9;
        if s.gauge.is_some() && s.gauge != last_gauge {
            st.gauge_changes.push((t, s.gauge.unwrap_or_default()));
            last_gauge = s.gauge;
        }
        if let (None, Some(g), Some(g0)) = (st.all_cut_after_secs, s.gauge, gauge_start) {
            if t >= 0.0 && g <= g0 - st.stalled_connected as i64 {
                st.all_cut_after_secs = Some(t);
            }
        }
    }
    st.all_cut_within_duration = st.all_cut_after_secs.is_some_and(|t| t <= a.duration as f64);
    for o in outs.iter().filter(|o| o.stalled && o.connected) {
        let how = o.cut.clone().unwrap_or_else(|| "?".into());
        *st.stalled_close.entry(how).or_default() += 1;
        st.stalled_bytes_buffered += o.drained_bytes;
    }
    let final_seq = outs
        .iter()
        .filter(|o| !o.stalled)
        .map(|o| o.last_seq)
        .max()
        .unwrap_or(0)
        .max(final_seq);
    deliveries(h, &shared, &mut outs, final_seq, first_send_ns, drive_secs);
    st.normal_viewers_disconnected = h.report.disconnects_by_code.values().sum();
    h.report.stall = Some(st);
    h.report.complete = complete;
    Ok(())
}

async fn connect(h: &mut Harness) -> anyhow::Result<()> {
    let a = h.args.clone();
    let shared = Shared::new(0, 0);
    let (stop_tx, stop_rx) = watch::channel(false);
    let n = a.viewers();
    status(a.quiet, format!("connecting {n} viewers at {}/s", a.connect_rate));
    let handles = connect_viewers(h, &shared, n, 0, |hr, i| {
        viewer(
            hr.room_for(i),
            shared.clone(),
            Seat {
                i,
                stalled: false,
                mode: Match::None,
            },
            stop_rx.clone(),
            None,
            None,
        )
    })
    .await;
    status(
        a.quiet,
        format!(
            "holding {} connections for {} s",
            shared.connected.load(Relaxed),
            a.duration
        ),
    );
    let measuring = Measuring::start(h, &shared, None, false);
    h.deadline.sleep(Duration::from_secs(a.duration)).await;
    measuring.cpu_done(h);
    measuring.close(h).await;
    let complete = !h.deadline.over();
    let _ = stop_tx.send(true);
    let (mut outs, unfinished) = fleet::collect(handles, fleet::STOP_WITHIN).await;
    note_unfinished(h, unfinished, "viewer tasks");
    summarise_viewers(h, &mut outs, 0, 0);
    h.report.complete = complete;
    Ok(())
}

async fn questions(h: &mut Harness) -> anyhow::Result<()> {
    let a = h.args.clone();
    let shared = Shared::new(0, 0);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (go_tx, go_rx) = watch::channel::<Option<tokio::time::Instant>>(None);
    let n = a.askers;
    status(a.quiet, format!("connecting {n} askers at {}/s", a.connect_rate));
    let in_flight = a.in_flight.max(1);
    let handles = connect_viewers(h, &shared, n, 0, |hr, i| {
        asker(
            hr.room.clone(),
            shared.clone(),
            i,
            in_flight,
            go_rx.clone(),
            stop_rx.clone(),
        )
    })
    .await;
    status(
        a.quiet,
        format!("asking for {} s, {in_flight} in flight per asker", a.duration),
    );
    let measuring = Measuring::start(h, &shared, None, true);
    let start = tokio::time::Instant::now();
    let end = start + Duration::from_secs(a.duration);
    let _ = go_tx.send(Some(end));
    h.deadline.run(tokio::time::sleep_until(end)).await;
    measuring.cpu_done(h);
    // Let the last answers come in, then collect.
    h.deadline.sleep(Duration::from_secs(1)).await;
    let (mut outs, unfinished) = fleet::collect(handles, Duration::from_secs(6)).await;
    let _ = stop_tx.send(true);
    measuring.close(h).await;
    note_unfinished(h, unfinished, "askers");
    let mut q = Questions {
        askers: n,
        connected: shared.connected.load(Relaxed),
        ..Questions::default()
    };
    let mut lat = Vec::new();
    for o in &mut outs {
        q.sent += o.sent;
        q.acked += o.matched;
        q.unanswered += o.unanswered;
        add_all(&mut q.errors_by_code, &o.errors);
        if let Some(e) = &o.connect_error {
            *h.report.viewers.connect_errors.entry(e.clone()).or_default() += 1;
        }
        if let Some(c) = &o.cut {
            *h.report.disconnects_by_code.entry(c.clone()).or_default() += 1;
        } else if o.connected {
            h.report.viewers.still_connected_at_end += 1;
        }
        lat.append(&mut o.lat);
    }
    q.acked_per_sec = q.acked as f64 / a.duration.max(1) as f64;
    q.ack_latency_ms = report::latency(lat);
    h.report.questions = Some(q);
    h.report.complete = !h.deadline.over();
    Ok(())
}
