//! The `vote` scenario: a single-choice poll opened live, every viewer voting
//! once within a window, the live tallies they receive, and the final tally
//! checked against the acknowledged votes.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use super::client::{HANDSHAKE_SECS, HELLO, Room, error_code, handshake};
use super::staff::{login, open_staff, park, request};
use super::{Harness, Measuring, connect_viewers, note_unfinished, run_tag, status, summarise_viewers};
use crate::fleet::{self, Shared, ViewerOut};
use crate::net::{Ws, close, find, frame_or_end, next_frame, open_ws, parse_int, ws_error};
use crate::report::{self, FinalTally, TallyUpdates, Votes, add_all};

/// The `ref` of every viewer's vote (one per connection).
const VOTE_REF: &str = "v";

/// What the viewers are told once the poll is open.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    poll_id: i64,
    options: usize,
    start: Instant,
    window: Duration,
}

/// The option viewer `i` votes for: a fixed skewed mix, option k about twice
/// as often as option k + 1, so that swapped or shifted counts show.
pub(super) fn choice(i: usize, options: usize) -> u32 {
    // splitmix64 of the index.
    let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let options = options.clamp(1, 20) as u32;
    let mut r = z % ((1u64 << options) - 1);
    for k in 0..options {
        let weight = 1u64 << (options - 1 - k);
        if r < weight {
            return k;
        }
        r -= weight;
    }
    options - 1
}

/// A voter's own vote.
struct Ballot {
    poll_id: i64,
    choice: u32,
    at: Instant,
    sent_ns: Option<u64>,
    answered: bool,
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One voter: connect, handshake, wait for the plan, vote once at its
/// instant of the window, and read (counting tallies) until told to stop.
pub(super) async fn voter(
    room: Arc<Room>,
    shared: Arc<Shared>,
    i: usize,
    n: usize,
    mut plan: watch::Receiver<Option<Plan>>,
    mut stop: watch::Receiver<bool>,
) -> ViewerOut {
    let mut out = ViewerOut {
        node: room.node,
        ..ViewerOut::default()
    };
    let opened = shared.connect(&mut out, true, HANDSHAKE_SECS, async {
        let mut ws = open_ws(room.addr, &room.ws_url, room.src(i), None).await?;
        let (seq, _) = handshake(&mut ws, HELLO.to_owned()).await?;
        Ok((ws, seq))
    });
    let Some((mut ws, seq)) = opened.await else {
        return out;
    };
    out.last_seq = seq;
    out.welcome_seq = seq;
    let mut ballot: Option<Ballot> = None;
    let mut plan_open = true;
    loop {
        if ballot.is_none() {
            if let Some(p) = *plan.borrow_and_update() {
                let offset = p.window.mul_f64((i as f64 + 0.5) / n.max(1) as f64);
                ballot = Some(Ballot {
                    poll_id: p.poll_id,
                    choice: choice(i, p.options),
                    at: p.start + offset,
                    sent_ns: None,
                    answered: false,
                });
            }
        }
        let send_at = ballot.as_ref().filter(|b| b.sent_ns.is_none()).map(|b| b.at);
        tokio::select! {
            biased;
            _ = stop.changed() => {
                close(&mut ws).await;
                break;
            }
            r = plan.changed(), if ballot.is_none() && plan_open => {
                if r.is_err() {
                    plan_open = false;
                }
            }
            () = sleep_until_opt(send_at) => {
                let Some(b) = ballot.as_mut() else { continue };
                let text = format!(
                    r#"{{"type":"vote","ref":"{VOTE_REF}","poll_id":{},"choices":[{}]}}"#,
                    b.poll_id, b.choice
                );
                b.sent_ns = Some(shared.now_ns());
                out.sent += 1;
                shared.sent.fetch_add(1, Relaxed);
                if let Err(e) = ws.send(Message::text(text)).await {
                    out.cut = Some(ws_error("send", &e));
                    break;
                }
            }
            m = ws.next() => match frame_or_end(m) {
                Ok(Message::Text(t)) => on_vote_text(&shared, ballot.as_mut(), &mut out, t.as_bytes()),
                Ok(_) => {}
                Err(cut) => {
                    out.cut = Some(cut);
                    break;
                }
            },
        }
    }
    if ballot.as_ref().is_some_and(|b| b.sent_ns.is_some() && !b.answered) {
        out.unanswered = 1;
    }
    if out.cut.is_some() {
        shared.alive.fetch_sub(1, Relaxed);
    }
    out
}

/// A voter's per-message path: byte searches, no JSON parse.
fn on_vote_text(shared: &Shared, ballot: Option<&mut Ballot>, out: &mut ViewerOut, b: &[u8]) {
    if let Some(rest) = b.strip_prefix(br#"{"seq":"#) {
        let Some((seq, used)) = parse_int(rest) else { return };
        if !out.seq(seq) {
            return;
        }
        let Some(poll_id) = ballot.map(|b| b.poll_id) else {
            return;
        };
        let rest = &rest[used..];
        if let Some(r) = rest.strip_prefix(br#","type":"poll_results","poll_id":"#) {
            if parse_int(r).is_some_and(|(id, _)| id == poll_id) {
                out.tallies += 1;
                shared.delivered.fetch_add(1, Relaxed);
            }
        } else if let Some(r) = rest.strip_prefix(br#","type":"poll","poll":{"id":"#) {
            let closing = find(r, br#""status":"closed""#).is_some();
            if closing && !out.saw_final && parse_int(r).is_some_and(|(id, _)| id == poll_id) {
                out.saw_final = true;
                shared.finals.fetch_add(1, Relaxed);
            }
        }
    } else if b.starts_with(br#"{"type":"presence""#) {
        // Ephemeral; carries the current seq without advancing it.
    } else if b.starts_with(br#"{"type":"ack""#) {
        let Some(ballot) = ballot else { return };
        if find(b, br#""action":"vote""#).is_none() || ballot.answered {
            return;
        }
        let Some(sent) = ballot.sent_ns else { return };
        ballot.answered = true;
        let now = shared.now_ns();
        let micros = now.saturating_sub(sent) / 1000;
        out.lat.push(u32::try_from(micros).unwrap_or(u32::MAX));
        out.matched += 1;
        out.last_match_ns = now;
        out.voted = Some(ballot.choice);
        shared.acked.fetch_add(1, Relaxed);
        shared.replies.fetch_add(1, Relaxed);
    } else if b.starts_with(br#"{"type":"error""#) {
        let (code, reference, _) = error_code(b);
        match ballot {
            Some(ballot) if reference.as_deref() == Some(VOTE_REF) && !ballot.answered => {
                ballot.answered = true;
                out.vote_error = Some(code);
                shared.replies.fetch_add(1, Relaxed);
            }
            _ => out.error(&code),
        }
    }
}

/// A poll frame the observer received.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    at_ns: u64,
    seq: i64,
    poll_id: i64,
    /// A `poll` frame with status `closed` (else a `poll_results` or another `poll` frame).
    closing: bool,
    results: bool,
    voters: Option<i64>,
    counts: Option<Vec<i64>>,
}

fn seen(at_ns: u64, b: &[u8]) -> Option<Seen> {
    if !b.starts_with(br#"{"seq":"#) || find(b, br#""type":"poll"#).is_none() {
        return None;
    }
    let v: Value = serde_json::from_slice(b).ok()?;
    let seq = v["seq"].as_i64()?;
    let (poll_id, status, tally, results) = match v["type"].as_str()? {
        "poll_results" => (v["poll_id"].as_i64()?, None, &v["tally"], true),
        "poll" => (
            v["poll"]["id"].as_i64()?,
            v["poll"]["status"].as_str(),
            &v["poll"]["tally"],
            false,
        ),
        _ => return None,
    };
    let counts = tally["counts"]
        .as_array()
        .map(|a| a.iter().map(|c| c.as_i64().unwrap_or(-1)).collect());
    Some(Seen {
        at_ns,
        seq,
        poll_id,
        closing: status == Some("closed"),
        results,
        voters: tally["voters"].as_i64(),
        counts,
    })
}

/// One more viewer that votes not and records every poll frame, with its
/// arrival time, for the tally rate and the final tally.
fn observer(
    mut ws: Ws,
    shared: Arc<Shared>,
    log: Arc<Mutex<Vec<Seen>>>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Option<String>> {
    tokio::spawn(async move {
        while let Some(frame) = next_frame(&mut ws, &mut stop).await {
            match frame {
                Ok(Message::Text(t)) => {
                    if let Some(s) = seen(shared.now_ns(), t.as_bytes()) {
                        if let Ok(mut l) = log.lock() {
                            l.push(s);
                        }
                    }
                }
                Ok(_) => {}
                Err(cut) => return Some(cut),
            }
        }
        None
    })
}

fn observed(log: &Mutex<Vec<Seen>>) -> Vec<Seen> {
    log.lock().map(|l| l.clone()).unwrap_or_default()
}

/// Send one staff request and insist on its ack.
async fn staff_step(ws: &mut Ws, frame: Value, reference: &str) -> anyhow::Result<Value> {
    let what = frame["type"].as_str().unwrap_or("?").to_owned();
    let v = request(ws, frame.to_string(), reference)
        .await
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    if v["type"] != "ack" {
        bail!(
            "{what} refused: {} ({})",
            v["code"].as_str().unwrap_or("?"),
            v["message"].as_str().unwrap_or("")
        );
    }
    Ok(v)
}

/// Take a parked staff connection back.
async fn unpark(
    parked: tokio::task::JoinHandle<Result<Ws, String>>,
    release: &watch::Sender<bool>,
) -> anyhow::Result<Ws> {
    let _ = release.send(true);
    match parked.await {
        Ok(Ok(ws)) => Ok(ws),
        Ok(Err(e)) => bail!("the staff connection closed: {e}"),
        Err(e) => bail!("staff connection task: {e}"),
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Live tally updates of `poll_id` as the observer saw them.
fn tally_updates(log: &[Seen], poll_id: i64, interval_ms: u64) -> TallyUpdates {
    let live: Vec<&Seen> = log.iter().filter(|s| s.results && s.poll_id == poll_id).collect();
    let mut t = TallyUpdates {
        updates: live.len() as u64,
        interval_ms,
        voters_monotonic: true,
        last_live_voters: live.last().and_then(|s| s.voters),
        ..TallyUpdates::default()
    };
    let mut gaps: Vec<f64> = live
        .windows(2)
        .map(|w| w[1].at_ns.saturating_sub(w[0].at_ns) as f64 / 1e6)
        .collect();
    t.gaps_below_interval = gaps.iter().filter(|&&g| g < interval_ms as f64).count() as u64;
    t.gaps_below_half_interval = gaps.iter().filter(|&&g| g < interval_ms as f64 / 2.0).count() as u64;
    t.gap_min_ms = gaps.iter().copied().min_by(f64::total_cmp);
    t.gap_max_ms = gaps.iter().copied().max_by(f64::total_cmp);
    t.gap_median_ms = median(&mut gaps);
    t.voters_monotonic = live.windows(2).all(|w| w[1].voters >= w[0].voters);
    let t0 = live.first().map_or(0, |s| s.at_ns);
    t.timeline = live
        .iter()
        .map(|s| (s.at_ns.saturating_sub(t0) as f64 / 1e9, s.seq, s.voters))
        .collect();
    if let (Some(first), Some(last)) = (live.first(), live.last()) {
        t.span_secs = last.at_ns.saturating_sub(first.at_ns) as f64 / 1e9;
        if t.span_secs > 0.0 {
            t.updates_per_sec = (t.updates - 1) as f64 / t.span_secs;
        }
        t.allowed_max = (t.span_secs * 1000.0 / interval_ms.max(1) as f64).floor() as u64 + 1;
    }
    t
}

/// The closing tally against the acknowledged votes per option.
fn compare(closing: &Seen, acked: u64, acked_by_option: &[u64]) -> (bool, Vec<String>) {
    let mut differences = Vec::new();
    match closing.voters {
        Some(v) if v == acked as i64 => {}
        Some(v) => differences.push(format!("voters: tally {v}, acknowledged {acked}")),
        None => differences.push("the closing frame carries no tally".into()),
    }
    match &closing.counts {
        Some(counts) if counts.len() == acked_by_option.len() => {
            for (k, (&c, &a)) in counts.iter().zip(acked_by_option).enumerate() {
                if c != a as i64 {
                    differences.push(format!("option {k}: tally {c}, acknowledged {a}"));
                }
            }
        }
        Some(counts) => differences.push(format!(
            "the tally has {} counts for {} options",
            counts.len(),
            acked_by_option.len()
        )),
        None => differences.push("the closing tally has no counts".into()),
    }
    (differences.is_empty(), differences)
}

pub(super) async fn vote(h: &mut Harness) -> anyhow::Result<()> {
    let a = h.args.clone();
    let quiet = a.quiet;
    let n = a.viewers();
    let options = a.vote_options;
    let window = Duration::from_secs_f64(a.vote_window);
    h.report.duration_secs = a.vote_window.ceil() as u64;
    let token = login(&h.base, &a.username, &a.password).await?;
    let staff_ws = open_staff(&h.room, &token).await?;
    let (release_tx, release_rx) = watch::channel(false);
    let parked = park(staff_ws, release_rx);
    let shared = Shared::new(0, 1);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (plan_tx, plan_rx) = watch::channel::<Option<Plan>>(None);

    // The observer joins first, from an address of its own when there is one.
    let mut obs_ws = open_ws(h.room.addr, &h.room.ws_url, h.room.src(n), None)
        .await
        .map_err(|e| anyhow::anyhow!("observer connection: {e}"))?;
    handshake(&mut obs_ws, HELLO.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("observer connection: {e}"))?;
    let log = Arc::new(Mutex::new(Vec::new()));
    let obs = observer(obs_ws, shared.clone(), log.clone(), stop_rx.clone());

    status(quiet, format!("connecting {n} voters at {}/s", a.connect_rate));
    // Voter i on its node (round-robin over several --url).
    let handles = connect_viewers(h, &shared, n, 2, |hr, i| {
        voter(hr.room_for(i), shared.clone(), i, n, plan_rx.clone(), stop_rx.clone())
    })
    .await;

    // Create and open the poll.
    let mut staff_ws = unpark(parked, &release_tx).await?;
    let labels: Vec<String> = (0..options).map(|k| format!("Service {}", k + 1)).collect();
    let create = json!({
        "type": "create_poll", "ref": "vp-create", "kind": "single_choice",
        "title": format!("Load test {}: which service should open on Saturdays?", run_tag()),
        "options": labels, "allow_change": false, "results": "live",
    });
    let v = staff_step(&mut staff_ws, create, "vp-create").await?;
    let poll_id = v["poll"]["id"]
        .as_i64()
        .context("create_poll: the ack carries no poll id")?;
    staff_step(
        &mut staff_ws,
        json!({ "type": "open_poll", "ref": "vp-open", "poll_id": poll_id }),
        "vp-open",
    )
    .await?;
    let (release_tx, release_rx) = watch::channel(false);
    let parked = park(staff_ws, release_rx);

    let connected = shared.connected.load(Relaxed);
    status(
        quiet,
        format!(
            "poll {poll_id} open: {connected} voters vote over {:.1} s ({options} options)",
            a.vote_window
        ),
    );
    let measuring = Measuring::start(h, &shared, None, true);
    // A short lead, so that the first voters are not late.
    let start = Instant::now() + Duration::from_millis(100);
    let first_send_ns = shared.now_ns() + 100_000_000;
    let _ = plan_tx.send(Some(Plan {
        poll_id,
        options,
        start,
        window,
    }));
    h.deadline.run(tokio::time::sleep_until(start + window)).await;
    // Every live voter has sent; wait for the answers (at most --drain-secs).
    let drain_until = Instant::now() + Duration::from_secs(a.drain_secs);
    loop {
        let (sent, replies) = (shared.sent.load(Relaxed), shared.replies.load(Relaxed));
        if (replies >= sent && sent >= shared.alive.load(Relaxed) as u64) || Instant::now() >= drain_until {
            break;
        }
        if !h.deadline.sleep(Duration::from_millis(50)).await {
            break;
        }
    }
    // One more tick or two, for the last live tally.
    h.deadline
        .sleep(Duration::from_millis(2 * a.tally_interval_ms + 250))
        .await;
    measuring.cpu_done(h);

    // Close the poll; the closing frame carries the final tally.
    let mut close_ns = None;
    let closed = async {
        let mut staff_ws = unpark(parked, &release_tx).await?;
        close_ns = Some(shared.now_ns());
        staff_step(
            &mut staff_ws,
            json!({ "type": "close_poll", "ref": "vp-close", "poll_id": poll_id }),
            "vp-close",
        )
        .await?;
        Ok::<_, anyhow::Error>(staff_ws)
    }
    .await;
    let mut staff_ws = match closed {
        Ok(ws) => Some(ws),
        Err(e) => {
            h.report.notes.push(format!("closing the poll: {e:#}"));
            None
        }
    };
    let final_until = Instant::now() + Duration::from_secs(10);
    while staff_ws.is_some() && Instant::now() < final_until {
        let have = observed(&log).iter().any(|s| s.closing && s.poll_id == poll_id);
        if have && shared.finals.load(Relaxed) >= shared.alive.load(Relaxed) {
            break;
        }
        if !h.deadline.sleep(Duration::from_millis(50)).await {
            break;
        }
    }
    measuring.close(h).await;
    let _ = stop_tx.send(true);
    if let Some(ws) = staff_ws.as_mut() {
        close(ws).await;
    }
    let (mut outs, unfinished) = fleet::collect(handles, fleet::STOP_WITHIN).await;
    if let Ok(Ok(Some(cut))) = tokio::time::timeout(Duration::from_secs(3), obs).await {
        h.report.notes.push(format!(
            "the observer connection ended early ({cut}): tally figures are partial"
        ));
    }
    note_unfinished(h, unfinished, "voter tasks");

    let log = observed(&log);
    let closing = log.iter().find(|s| s.closing && s.poll_id == poll_id).cloned();
    let mut v = Votes {
        poll_id,
        options,
        voters: connected,
        window_secs: a.vote_window,
        acked_by_option: vec![0; options],
        tally: tally_updates(&log, poll_id, a.tally_interval_ms),
        ..Votes::default()
    };
    for o in &outs {
        v.sent += o.sent;
        v.unanswered += o.unanswered;
        v.tally.frames_delivered += o.tallies;
        if let Some(k) = o.voted {
            v.acked += 1;
            if let Some(c) = usize::try_from(k).ok().and_then(|k| v.acked_by_option.get_mut(k)) {
                *c += 1;
            }
        }
        if let Some(e) = &o.vote_error {
            *v.errors_by_code.entry(e.clone()).or_default() += 1;
        }
    }
    let viewers_received = outs.iter().filter(|o| o.saw_final).count();
    let final_seq = closing.as_ref().map_or(0, |c| c.seq);
    let s = summarise_viewers(h, &mut outs, final_seq, 0);
    v.offered_per_sec = v.sent as f64 / a.vote_window;
    v.ack_window_secs = s.last_match_ns.saturating_sub(first_send_ns) as f64 / 1e9;
    if v.ack_window_secs > 0.0 {
        v.acked_per_sec = v.acked as f64 / v.ack_window_secs;
    }
    v.ack_latency_ms = report::latency(s.lat);
    v.frames_lost = s.gaps + s.tail;
    v.frames_duplicated = s.dups;
    v.tally.frames_expected = v.tally.updates * s.measured_viewers as u64;
    if v.tally.span_secs > 0.0 {
        v.tally.frames_per_sec = v.tally.frames_delivered as f64 / v.tally.span_secs;
    }
    if let Some(c) = &closing {
        let (matches, differences) = compare(c, v.acked, &v.acked_by_option);
        v.final_tally = Some(FinalTally {
            seq: c.seq,
            voters: c.voters.unwrap_or(-1),
            counts: c.counts.clone().unwrap_or_default(),
            matches,
            differences,
            viewers_received,
            close_to_frame_ms: close_ns.map_or(0.0, |t| c.at_ns.saturating_sub(t) as f64 / 1e6),
        });
    }
    if v.unanswered > 0 {
        h.report.notes.push(format!(
            "{} votes had no answer when the poll was closed: they may or may not be in the final tally",
            v.unanswered
        ));
    }
    add_all(&mut h.report.viewer_error_frames, &v.errors_by_code);
    h.report.votes = Some(v);
    h.report.complete = !h.deadline.over();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_skewed_and_in_range() {
        let mut counts = [0usize; 4];
        for i in 0..10_000 {
            counts[choice(i, 4) as usize] += 1;
        }
        assert_eq!(counts.iter().sum::<usize>(), 10_000);
        assert!(counts.windows(2).all(|w| w[0] > w[1]), "{counts:?}");
        assert!((0..1000).all(|i| choice(i, 2) < 2 && choice(i, 20) < 20));
    }

    /// A ballot for `choice` in poll `poll_id`, sent just now.
    fn sent_ballot(shared: &Shared, poll_id: i64, choice: u32) -> Ballot {
        Ballot {
            poll_id,
            choice,
            at: Instant::now(),
            sent_ns: Some(shared.now_ns()),
            answered: false,
        }
    }

    #[test]
    fn voters_count_acks_errors_and_tallies() {
        let shared = Shared::new(0, 1);
        let mut out = ViewerOut {
            last_seq: 4,
            ..ViewerOut::default()
        };
        let mut b = sent_ballot(&shared, 3, 1);
        on_vote_text(&shared, Some(&mut b), &mut out, br#"{"seq":5,"type":"poll_results","poll_id":3,"tally":{"voters":1,"counts":[0,1],"average":null,"words":[]}}"#);
        on_vote_text(&shared, Some(&mut b), &mut out, br#"{"seq":6,"type":"poll_results","poll_id":30,"tally":{"voters":1,"counts":[0,1],"average":null,"words":[]}}"#);
        on_vote_text(
            &shared,
            Some(&mut b),
            &mut out,
            br#"{"type":"ack","ref":"v","action":"vote","changed":false}"#,
        );
        on_vote_text(&shared, Some(&mut b), &mut out, br#"{"seq":7,"type":"poll","poll":{"id":3,"kind":"single_choice","status":"closed","tally":{"voters":1,"counts":[0,1]}}}"#);
        assert_eq!(
            (out.tallies, out.voted, out.saw_final, out.last_seq),
            (1, Some(1), true, 7)
        );
        assert_eq!(out.lat.len(), 1);

        let mut out = ViewerOut::default();
        let mut b = sent_ballot(&shared, 3, 0);
        on_vote_text(
            &shared,
            Some(&mut b),
            &mut out,
            br#"{"type":"error","ref":"v","code":"poll_closed","message":"m"}"#,
        );
        assert_eq!((out.voted, out.vote_error.as_deref()), (None, Some("poll_closed")));
    }

    #[test]
    fn the_observer_reads_tallies_and_the_closing_frame() {
        let s = seen(9, br#"{"seq":5,"type":"poll_results","poll_id":3,"tally":{"voters":2,"counts":[1,1],"average":null,"words":[]}}"#).unwrap();
        assert!(s.results && !s.closing && s.voters == Some(2) && s.counts == Some(vec![1, 1]));
        let c = seen(
            9,
            br#"{"seq":8,"type":"poll","poll":{"id":3,"status":"closed","tally":{"voters":3,"counts":[2,1]}}}"#,
        )
        .unwrap();
        assert!(c.closing && c.poll_id == 3);
        assert_eq!(compare(&c, 3, &[2, 1]), (true, vec![]));
        assert!(!compare(&c, 3, &[1, 2]).0);
        assert!(seen(9, br#"{"seq":8,"type":"question","question":{"id":3}}"#).is_none());
    }
}
