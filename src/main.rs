//! `minsheng`: parse the command line, set up logging, run the command.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use minsheng::cli::{CalendarCommand, Cli, Command, LogFormat, ServeArgs};
use minsheng::config::{DatabaseUrl, HttpSettings};
use minsheng::domain::calendar::WorkingCalendar;
use minsheng::domain::plan;
use minsheng::domain::staff::{NewPassword, Role, Username};
use minsheng::domain::time::{local_date, now};
use minsheng::store::Store;
use minsheng::{app, demo, passwords};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.log_format);
    if let Some(Command::Calendar(CalendarCommand::Check { on })) = cli.command {
        return calendar_check(&cli.global.calendar_dir, on);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env("MINSHENG_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    // Colours only for a person at a terminal; a log file or journal gets
    // plain lines, each event on one line whatever text it carries.
    let terminal = std::io::stderr().is_terminal();
    let writer = if terminal {
        BoxMakeWriter::new(std::io::stderr)
    } else {
        BoxMakeWriter::new(|| OneLine(std::io::stderr()))
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Writes each log event as one line: a control character inside it (a
/// newline or an escape code that slipped in through text a client chose)
/// is written escaped, so it can neither forge a line nor drive a terminal.
/// Fields holding client text are logged with `?` (escaped) anyway; this is
/// the wall behind them. The fmt layer hands over each event in one write.
struct OneLine<W>(W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        if !body.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        for &b in body {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.push(b),
                c if c.is_ascii_control() => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
                c => out.push(c),
            }
        }
        out.extend_from_slice(end);
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let serve_args = match &cli.command {
        None => ServeArgs::default(),
        Some(Command::Serve(args)) => args.clone(),
        Some(_) => ServeArgs::default(),
    };
    let db = DatabaseUrl::resolve(cli.global.database_url.as_deref(), serve_args.demo);
    match cli.command {
        None | Some(Command::Serve(_)) => serve(serve_args, &db, &cli.global.calendar_dir).await,
        Some(Command::Migrate) => {
            let store = Store::connect(db.expose()).await?;
            store.migrate().await?;
            println!("migrations applied to {db}");
            Ok(())
        }
        Some(Command::ImportPlan { file }) => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let plan = plan::parse(&text).with_context(|| format!("in {}", file.display()))?;
            let store = Store::connect(db.expose()).await?;
            store.migrate().await?;
            let report = store.import_plan(&plan).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Some(Command::CreateAdmin {
            username,
            display_name,
            password,
        }) => create_admin(&db, &username, &display_name, password).await,
        Some(Command::Calendar(_)) => unreachable!("answered in main without a runtime"),
    }
}

/// `minsheng calendar check`: the years loaded and what is missing, without
/// a database. 0 when fine, 2 when a needed year is missing (for cron and
/// monitoring), 1 when a calendar file cannot be read.
fn calendar_check(dir: &std::path::Path, on: Option<chrono::NaiveDate>) -> ExitCode {
    let calendar = match WorkingCalendar::load(Some(dir)) {
        Ok(calendar) => calendar,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outlook = calendar.outlook(on.unwrap_or_else(|| local_date(now())));
    let folder = if dir.is_dir() { "" } else { " (not found)" };
    println!(
        "working-day calendar as of {}: the built-in years, then {}/*.toml{folder}",
        outlook.today,
        dir.display()
    );
    for year in calendar.years() {
        println!(
            "  {}  {} days off, {} make-up working days  {}",
            year.year, year.holidays, year.make_up_workdays, year.source
        );
    }
    let next = if outlook.covers_next_year {
        "loaded"
    } else if outlook.next_year_needed {
        "MISSING"
    } else {
        "not loaded, needed from 1 November"
    };
    let this = if outlook.covers_this_year { "loaded" } else { "MISSING" };
    println!(
        "this year {}: {this}; next year {}: {next}",
        outlook.this_year, outlook.next_year
    );
    match outlook.warning {
        None => ExitCode::SUCCESS,
        Some(warning) => {
            println!("warning: {warning}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: ServeArgs, db: &DatabaseUrl, calendar_dir: &std::path::Path) -> anyhow::Result<()> {
    let settings = HttpSettings {
        session_hours: args.session_hours,
        secure_cookies: args.secure_cookies,
        reply_working_days: args.reply_working_days,
        trusted_proxies: args.trusted_proxies.clone(),
        sign_ins_per_ip_per_min: args.sign_ins_per_ip_per_min,
        public_origins: args.public_origins.clone(),
        connections: args.connection_limits(),
        hsts: args.hsts,
        metrics_token: args.metrics_token.as_deref().and_then(minsheng::config::Secret::parse),
        lockout_failures: args.lockout_failures,
        lockout_minutes: args.lockout_minutes,
        idle_minutes: args.idle_minutes,
        security_log_days: args.security_log_days,
        frame_ancestors: args.frame_ancestors.clone(),
        media_origins: args.media_origins.clone(),
        second_factor_roles: args.second_factor_roles()?,
        retention_days: args.retention_days,
    };
    let mut live = args.live_settings();
    live.identity = args.identity_settings()?;
    if live.identity.sender.name() == "log" {
        eprintln!(
            "\n  Verification codes are printed to this console (--sms-sender log). For real text messages set\n  --sms-sender webhook with --sms-webhook-url and --sms-webhook-secret.\n"
        );
    }
    let state = app::build_state(db, calendar_dir, settings, live).await?;
    if args.demo {
        demo::load(&state.store, &state.calendar, now(), args.demo_identity)
            .await
            .context("loading the demo programme")?;
        demo::open_live_room(&state.store, &state.hub)
            .await
            .context("opening the demo's live room")?;
        demo::in_person_open_day(&state.store, state.verifier.keys(), now())
            .await
            .context("laying the demo's in-person open day")?;
        eprintln!(
            "\n  Demo data loaded. Staff accounts (password `{}`): demo-admin, demo-unit (人保局), demo-moderator, demo-host.\n",
            demo::DEMO_PASSWORD
        );
    }
    app::ensure_admin(&state.store).await?;
    let listener = listen(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    if args.print_addr {
        // Tests and scripts start on port 0 and read the port here.
        println!("listening on {}", listener.local_addr()?);
    }
    app::serve(
        listener,
        state,
        app::shutdown_signal(),
        Duration::from_secs(args.shutdown_grace_secs),
    )
    .await
}

async fn create_admin(
    db: &DatabaseUrl,
    username: &str,
    display_name: &str,
    password: Option<String>,
) -> anyhow::Result<()> {
    let username = Username::parse(username)?;
    let (password, generated) = match password {
        Some(p) => (NewPassword::parse(&p)?, false),
        None => (NewPassword::parse(&passwords::generate())?, true),
    };
    let store = Store::connect(db.expose()).await?;
    store.migrate().await?;
    let hash = passwords::hash_blocking(password.expose().to_owned()).await?;
    match store.credentials(username.as_str()).await? {
        Some(existing) if existing.account.staff.role == Role::Admin => {
            let change = minsheng::store::users::PasswordChange::default();
            let ended = store.set_password(existing.account.staff.id, &hash, change).await?;
            println!(
                "password of administrator `{}` reset; {ended} session(s) signed out",
                username.as_str()
            );
        }
        Some(_) => anyhow::bail!("`{}` exists and is not an administrator", username.as_str()),
        None => {
            store
                .create_user(&username, display_name, &hash, Role::Admin, None)
                .await?;
            println!("administrator `{}` created", username.as_str());
        }
    }
    if generated {
        println!("password (shown once): {}", password.expose());
    }
    Ok(())
}

/// Connections the kernel may hold for us before they are accepted. When a
/// node of a cluster dies, its viewers all reconnect to the others at once;
/// with tokio's default (1,024) a burst of a few thousand overflows the queue
/// and the overflow waits a full second for TCP to retry (the kernel caps it
/// at `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 8192;

fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}
