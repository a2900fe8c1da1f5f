//! `minsheng-load`: a load generator for minsheng's live rooms (and, for
//! comparison, nats-server's WebSocket listener). See `--help`.

mod cli;
mod fleet;
mod minsheng;
mod nats;
mod net;
mod procfs;
mod report;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use cli::{Args, Target};
use fleet::Deadline;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = check(&args) {
        eprintln!("minsheng-load: {e}");
        return ExitCode::from(1);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("minsheng-load: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let hard = args.hard_deadline_secs();
    // A last resort, whatever happens inside: reporting gets 30 s after the deadline.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(hard + 30));
        eprintln!("minsheng-load: hard deadline ({hard} s) long passed; exiting without a report");
        std::process::exit(3);
    });
    runtime.block_on(run(args))
}

fn check(args: &Args) -> anyhow::Result<()> {
    // Refuse non-loopback targets before anything else.
    match args.target {
        Target::Minsheng => {
            anyhow::ensure!(!args.url.is_empty(), "--url: at least one server");
            for url in &args.url {
                net::Endpoint::parse(url, &["http"])?;
            }
            anyhow::ensure!(
                args.moderator_node < args.url.len(),
                "--moderator-node {} is not one of the {} server(s) given (0-based)",
                args.moderator_node,
                args.url.len()
            );
            anyhow::ensure!(
                args.server_pid.is_empty() || args.server_pid.len() == args.url.len(),
                "--server-pid: give one pid per --url ({} given for {} server(s))",
                args.server_pid.len(),
                args.url.len()
            );
        }
        Target::Nats => {
            net::Endpoint::parse(&args.nats_url, &["ws"])?;
        }
    }
    net::parse_source_ips(&args.source_ips)?;
    anyhow::ensure!(
        args.viewers() > 0 || args.scenario() == cli::Scenario::Questions,
        "--viewers must be at least 1"
    );
    anyhow::ensure!(args.connect_rate > 0.0, "--connect-rate must be positive");
    anyhow::ensure!(args.approvals_per_sec > 0.0, "--approvals-per-sec must be positive");
    anyhow::ensure!(args.messages_per_sec > 0.0, "--messages-per-sec must be positive");
    anyhow::ensure!(
        args.staff_frames_per_sec > 0.0,
        "--staff-frames-per-sec must be positive"
    );
    anyhow::ensure!(args.upvotes_per_sec >= 0.0, "--upvotes-per-sec must not be negative");
    anyhow::ensure!(args.duration > 0, "--duration must be at least 1 second");
    anyhow::ensure!(
        args.vote_window.is_finite() && args.vote_window > 0.0,
        "--vote-window must be a positive number of seconds"
    );
    anyhow::ensure!(
        (2..=20).contains(&args.vote_options),
        "--vote-options must be 2 to 20 (the server's limit on poll options)"
    );
    anyhow::ensure!(args.tally_interval_ms > 0, "--tally-interval-ms must be at least 1");
    Ok(())
}

async fn run(args: Args) -> ExitCode {
    let (abort_tx, abort_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("minsheng-load: interrupted; stopping and reporting what was measured");
            let _ = abort_tx.send(true);
        }
    });
    let deadline = Deadline::new(args.hard_deadline_secs(), abort_rx);
    let result = match args.target {
        Target::Minsheng => minsheng::run(&args, &deadline).await,
        Target::Nats => nats::run(&args, &deadline).await,
    };
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("minsheng-load: {e:#}");
            return ExitCode::from(1);
        }
    };
    let text = report.text();
    if args.json {
        eprint!("{text}");
        match serde_json::to_string_pretty(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => eprintln!("minsheng-load: cannot encode the report: {e}"),
        }
    } else {
        print!("{text}");
    }
    if report.complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}
