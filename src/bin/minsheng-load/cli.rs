//! The command line of `minsheng-load`.

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Seed questions, then a moderator approves them at --approvals-per-sec
    /// for --duration seconds; every viewer measures approval-to-delivery
    /// latency, losses and duplicates (optionally with --upvotes-per-sec).
    Broadcast,
    /// Like broadcast, but --stalled viewers stop reading after their
    /// snapshot while the moderator sends --messages-per-sec answers of
    /// --text-bytes on one question; measures the others' latency, the
    /// server's memory and how fast the stalled viewers are cut off.
    Stall,
    /// One moderator connection sends `answer` frames (--text-bytes) at
    /// --messages-per-sec on one question, without waiting for each ack;
    /// every viewer times their arrival. The serial path from one staff
    /// connection to the commit and the fan-out (start the server with
    /// --frames-per-conn-per-sec above the rate). Against nats-server: one
    /// publisher at the same rate.
    Answers,
    /// Connect --viewers at --connect-rate, hold them --duration seconds;
    /// reports connections held and server memory per connection.
    Connect,
    /// --askers viewers ask as fast as they can (--in-flight pipelined asks
    /// each) for --duration seconds; reports acknowledged questions per
    /// second and errors by code. Start the server with raised ask limits.
    Questions,
    /// A moderator creates and opens a single-choice poll; --viewers
    /// (10,000 by default) each cast one vote, spread evenly over
    /// --vote-window seconds; then the poll is closed. Reports votes
    /// acknowledged per second, ack latency, errors by code, the live tally
    /// updates and their rate, and whether the final tally equals the
    /// acknowledged votes per option.
    Vote,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Broadcast => "broadcast",
            Self::Stall => "stall",
            Self::Answers => "answers",
            Self::Connect => "connect",
            Self::Questions => "questions",
            Self::Vote => "vote",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// A minsheng server (`minsheng serve`) at --url.
    Minsheng,
    /// A reference nats-server WebSocket listener at --nats-url (broadcast,
    /// stall and connect only).
    Nats,
}

const ABOUT: &str = "Load generator for minsheng's live rooms: opens many viewer connections \
to one room, drives questions, approvals, upvotes and poll votes at chosen rates, and reports \
connections held, deliveries per second, approval-to-delivery latency, lost and duplicated \
messages, votes acknowledged and live tallies, and the server's memory and CPU.";

const AFTER_HELP: &str = "\
EXAMPLES (against `minsheng serve --demo --listen 127.0.0.1:18090`):
  minsheng-load broadcast --url http://127.0.0.1:18090 --viewers 200 --approvals-per-sec 10 --duration 5
  minsheng-load stall --url http://127.0.0.1:18090 --viewers 100 --stalled 5 --messages-per-sec 100 --duration 10
  minsheng-load connect --url http://127.0.0.1:18090 --viewers 500
  minsheng-load questions --url http://127.0.0.1:18090 --askers 20 --duration 5
    (for `questions`, start the server with --asks-per-viewer-per-min 100000
     --asks-per-ip-per-min 1000000 --asks-per-room-per-sec 100000)

WHAT A RUN DOES:
  broadcast  logs in (--username/--password), opens the staff connections, seeds rate x duration
             questions (5 per short-lived viewer connection, spread over --source-ips, at
             --seed-rate, waiting out `rate_limited`), connects the viewers, waits 2 s, then
             approves at the rate; each viewer times every `question` frame from the approval's
             send instant. Afterwards the published questions are hidden again (--keep-questions).
  stall      the same with one seeded, approved question answered --messages-per-sec times
             (`#n#` + filler); `minsheng_live_connections` is polled every 250 ms from /metrics.
  vote       connects the viewers plus one observer viewer, then logs in and over one staff
             connection creates a single-choice poll (--vote-options options, live results)
             and opens it; viewer i votes at window x (i + 0.5) / viewers for one option
             (a fixed skewed mix: option k about twice as often as option k + 1), timing
             vote -> ack. The observer records every `poll_results` frame (tally updates,
             their spacing against --tally-interval-ms); every viewer counts them. After the
             acks are in (or --drain-secs), the poll is closed and the tally in the closing
             `poll` frame is compared with the acknowledged votes per option.
  Lost = gaps in each viewer's public `seq` (presence ignored) + what a still-connected viewer
  lacks at the end; duplicated = a seq not above the last one seen.
  Server memory: VmRSS just before the viewers connect and 2 s after the last one did;
  bytes per connection = the difference / viewers. Only a freshly started server gives a clean
  figure (freed memory of earlier connections is reused); the report says when it was not.

SERVER LIMITS THAT SHAPE A RUN:
  The server accepts at most 20 frames per second (burst 40) on any one connection, so
  moderator actions are spread over ceil(rate / --staff-frames-per-sec) staff connections,
  and each asker in `questions` tops out near 20 asks per second.
  Votes are limited per viewer only (60 a minute, shared with upvotes; no per-address or
  per-room vote limit), so `vote` needs no raised limits: each viewer sends two frames.

REFERENCE MODE (--target nats):
  Compares the same fan-out with nats-server's WebSocket listener. Write ref.conf:
      port: 4333
      websocket { listen: \"127.0.0.1:4223\", no_tls: true }
  start `nats-server -c ref.conf`, then e.g.
      minsheng-load broadcast --target nats --nats-url ws://127.0.0.1:4223 --viewers 200 --approvals-per-sec 10 --duration 5
  Viewers send `CONNECT`+`SUB room 1`; a publisher sends `PUB room` at --approvals-per-sec
  (or --messages-per-sec with --text-bytes payloads in `stall`). The server process is
  --server-pid or the process named nats-server.

SEVERAL NODES (a cluster on one PostgreSQL and Redis):
  minsheng-load broadcast --url http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083
  (or --server repeated) puts viewer i on node i mod 3; the moderator, the seeding askers and the
  cleanup use --moderator-node (0-based, default 0). The report adds a line per node (viewers,
  deliveries, lost, duplicated, approval-on-the-moderator's-node to delivery-there latency, CPU,
  memory) and one for the viewers on the other nodes; the server CPU and RSS figures are the sums.
  --server-pid takes one pid per node (else each node is found by its listening port). vote
  spreads its voters the same way (the observer stays on the moderator's node, so the tally
  gaps it measures are the cluster's); stall and questions keep every connection on the
  moderator's node.

OUTPUT:
  A plain-text report on stdout; with --json the same figures as one JSON object on stdout
  and the text report on stderr. Exit status: 0 when the run completed, 2 when it hit the
  hard deadline or was interrupted (what was measured is still reported), 1 on a setup error.

Only loopback targets are allowed (127.x.x.x, localhost, ::1).";

#[derive(Debug, Clone, Parser)]
#[command(name = "minsheng-load", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Args {
    /// The scenario (the same as --scenario; `broadcast` when neither is given).
    #[arg(value_enum, value_name = "SCENARIO", conflicts_with = "scenario_flag")]
    pub scenario_pos: Option<Scenario>,
    /// The scenario: broadcast, stall, answers, connect, questions or vote (see SCENARIO above).
    #[arg(long = "scenario", value_enum, value_name = "SCENARIO", hide_possible_values = true)]
    pub scenario_flag: Option<Scenario>,
    /// What to load: a minsheng server or a reference nats-server.
    #[arg(long, value_enum, default_value_t = Target::Minsheng)]
    pub target: Target,
    /// Base URL of the minsheng server (loopback only). Several nodes of one
    /// cluster: repeat it or give a comma-separated list (`--server` is the
    /// same flag); broadcast and connect then spread the viewers over them
    /// round-robin (viewer i on node i mod N) and report each node.
    #[arg(
        long,
        visible_alias = "server",
        env = "MINSHENG_LOAD_URL",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: Vec<String>,
    /// With several --url: the node (0-based, in --url order) the moderator,
    /// the seeding askers and the staff connections use; latency on the
    /// other nodes is approval on this node to delivery on that one.
    #[arg(long, default_value_t = 0)]
    pub moderator_node: usize,
    /// broadcast with several --url: SIGKILL this node (0-based; not the
    /// moderator's) --kill-after seconds into the approvals. Its viewers
    /// reconnect to the next node with their viewer token and last seq and
    /// resume; the report says how long that took and whether anything was
    /// lost or duplicated. Needs the node's pid (--server-pid or its port).
    #[arg(long)]
    pub kill_node: Option<usize>,
    /// Seconds into the approvals at which --kill-node is killed.
    #[arg(long, default_value_t = 5.0)]
    pub kill_after: f64,
    /// The event whose live room to load; default: the first of `GET /api/events?status=live`.
    #[arg(long)]
    pub event: Option<i64>,
    /// Viewer connections to open [default: 1000; 10000 for vote].
    #[arg(long = "viewers", value_name = "VIEWERS")]
    pub viewers_flag: Option<usize>,
    /// New connections per second.
    #[arg(long, default_value_t = 2000.0)]
    pub connect_rate: f64,
    /// Loopback source addresses the viewer sockets bind to, round-robin: a
    /// range `A-B`, a comma-separated list, or `none` (let the kernel choose).
    /// Many addresses make per-address limits and the ephemeral-port range
    /// behave as with many real clients.
    #[arg(long, default_value = "127.0.0.2-127.0.0.250")]
    pub source_ips: String,
    /// Seconds to measure (broadcast, stall, questions) or to hold (connect).
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// broadcast: approvals per second the moderator sends (questions are
    /// seeded first: rate x duration of them, 5 per seeding viewer).
    #[arg(long, default_value_t = 20.0)]
    pub approvals_per_sec: f64,
    /// broadcast: upvotes per second, by random viewers on random approved questions.
    #[arg(long, default_value_t = 0.0)]
    pub upvotes_per_sec: f64,
    /// stall: viewers that stop reading right after their snapshot (4 KiB receive buffer).
    #[arg(long, default_value_t = 50)]
    pub stalled: usize,
    /// stall: `answer` frames per second on one approved question.
    #[arg(long, default_value_t = 200.0)]
    pub messages_per_sec: f64,
    /// stall: approximate size of each answer's public frame in bytes (the
    /// answer text is at most 2000 characters).
    #[arg(long, default_value_t = 2048)]
    pub text_bytes: usize,
    /// questions: viewer connections that ask.
    #[arg(long, default_value_t = 200)]
    pub askers: usize,
    /// questions: asks each asker keeps in flight (tracked by `ref`).
    #[arg(long, default_value_t = 8)]
    pub in_flight: usize,
    /// vote: seconds over which the viewers' votes are spread evenly.
    #[arg(long, default_value_t = 10.0)]
    pub vote_window: f64,
    /// vote: options of the single-choice poll (2-20).
    #[arg(long, default_value_t = 4)]
    pub vote_options: usize,
    /// vote: the server's --tally-interval-ms, which live tally updates
    /// should be spaced by at least (the check in the report).
    #[arg(long, default_value_t = 250)]
    pub tally_interval_ms: u64,
    /// Staff account for the moderator connections.
    #[arg(long, env = "MINSHENG_LOAD_USERNAME", default_value = "demo-moderator")]
    pub username: String,
    /// Its password.
    #[arg(
        long,
        env = "MINSHENG_LOAD_PASSWORD",
        default_value = "minsheng-demo",
        hide_env_values = true
    )]
    pub password: String,
    /// Frames per second to send on one staff connection (the server allows
    /// 20 per second per connection); more staff connections are opened for higher rates.
    #[arg(long, default_value_t = 18.0)]
    pub staff_frames_per_sec: f64,
    /// The server process to sample (VmRSS, CPU); default: the process listening
    /// on the target's port, else the one whose argv[0] is `minsheng` with
    /// `serve` (or `nats-server` with --target nats). With several --url, one
    /// pid per node in the same order (repeated or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// WebSocket URL of the nats-server listener (--target nats; loopback only).
    #[arg(long, default_value = "ws://127.0.0.1:4223")]
    pub nats_url: String,
    /// --target nats, broadcast and connect: payload bytes of each published message.
    #[arg(long, default_value_t = 300)]
    pub nats_payload_bytes: usize,
    /// broadcast and stall: questions per second while seeding (the server
    /// refuses more than --asks-per-room-per-sec, 200 by default).
    #[arg(long, default_value_t = 150.0)]
    pub seed_rate: f64,
    /// Seconds to wait after the last send for deliveries to arrive.
    #[arg(long, default_value_t = 10)]
    pub drain_secs: u64,
    /// Hard deadline of the whole run in seconds (default: --duration + 60;
    /// vote: connecting + --vote-window + --drain-secs + 60);
    /// then the run stops, reports what it has and exits with status 2.
    #[arg(long)]
    pub hard_deadline: Option<u64>,
    /// Leave the questions this run published. By default broadcast and stall
    /// hide them after the measurement (not measured), so that the room's
    /// snapshot does not grow from run to run.
    #[arg(long)]
    pub keep_questions: bool,
    /// Print the figures as one JSON object on stdout (the text report goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

impl Args {
    /// The server pid given for node `k`, if any.
    pub fn pid_of(&self, k: usize) -> Option<u32> {
        self.server_pid.get(k).copied()
    }

    /// The nodes the viewers are spread over (one unless several --url).
    pub fn nodes(&self) -> usize {
        self.url.len().max(1)
    }

    /// The node viewer `i` connects to: round-robin over the nodes.
    pub fn node_of(&self, i: usize) -> usize {
        i % self.nodes()
    }

    /// Does this scenario spread its viewers over several nodes? (stall and
    /// questions keep every connection on the moderator's node.)
    pub fn spreads(&self) -> bool {
        self.nodes() > 1
            && matches!(
                self.scenario(),
                Scenario::Broadcast | Scenario::Connect | Scenario::Vote | Scenario::Answers
            )
    }

    pub fn scenario(&self) -> Scenario {
        self.scenario_pos.or(self.scenario_flag).unwrap_or(Scenario::Broadcast)
    }

    pub fn viewers(&self) -> usize {
        self.viewers_flag.unwrap_or(if self.scenario() == Scenario::Vote {
            10_000
        } else {
            1000
        })
    }

    pub fn hard_deadline_secs(&self) -> u64 {
        let default = if self.scenario() == Scenario::Vote {
            let connecting = self.viewers() as f64 / self.connect_rate.max(1.0);
            (connecting + self.vote_window.max(0.0)).ceil() as u64 + self.drain_secs + 60
        } else {
            self.duration + 60
        };
        self.hard_deadline.unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        let mut v = vec!["minsheng-load"];
        v.extend_from_slice(args);
        Args::try_parse_from(v).unwrap()
    }

    #[test]
    fn one_server_as_before() {
        let a = parse(&["broadcast", "--url", "http://127.0.0.1:18181", "--server-pid", "42"]);
        assert_eq!(a.url, ["http://127.0.0.1:18181"]);
        assert_eq!(a.nodes(), 1);
        assert_eq!(a.pid_of(0), Some(42));
        assert_eq!(a.moderator_node, 0);
        assert!(!a.spreads());
        assert_eq!(a.node_of(7), 0);
    }

    #[test]
    fn several_servers_repeated_or_listed() {
        let listed = parse(&[
            "broadcast",
            "--url",
            "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3",
            "--server-pid",
            "10,11,12",
            "--moderator-node",
            "1",
        ]);
        let repeated = parse(&[
            "--server",
            "http://127.0.0.1:1",
            "--server",
            "http://127.0.0.1:2",
            "--url",
            "http://127.0.0.1:3",
            "--server-pid",
            "10",
            "--server-pid",
            "11",
            "--server-pid",
            "12",
        ]);
        for a in [&listed, &repeated] {
            assert_eq!(a.nodes(), 3);
            assert_eq!(a.url[2], "http://127.0.0.1:3");
            assert_eq!(a.pid_of(1), Some(11));
            assert!(a.spreads());
        }
        assert_eq!(listed.moderator_node, 1);
        assert_eq!(repeated.moderator_node, 0);
        let vote = parse(&["vote", "--url", "http://127.0.0.1:1,http://127.0.0.1:2"]);
        assert!(vote.spreads());
        let stall = parse(&["stall", "--url", "http://127.0.0.1:1,http://127.0.0.1:2"]);
        assert!(!stall.spreads());
    }

    #[test]
    fn viewers_go_round_robin() {
        let a = parse(&["--url", "http://127.0.0.1:1,http://127.0.0.1:2,http://127.0.0.1:3"]);
        let nodes: Vec<usize> = (0..7).map(|i| a.node_of(i)).collect();
        assert_eq!(nodes, [0, 1, 2, 0, 1, 2, 0]);
        let mut per = [0usize; 3];
        for i in 0..3000 {
            per[a.node_of(i)] += 1;
        }
        assert_eq!(per, [1000, 1000, 1000]);
        let stall = parse(&["stall", "--url", "http://127.0.0.1:1,http://127.0.0.1:2"]);
        assert!(!stall.spreads(), "stall keeps its viewers on the moderator's node");
    }
}
