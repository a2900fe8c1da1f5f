//! The command line: `minsheng [serve|migrate|import-plan|create-admin|calendar check]`.
//! Every flag falls back to an environment variable, then to a default.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "minsheng",
    version,
    about = "民声 Minsheng: livestream interaction relay for government open days and policy lectures"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Database: `sqlite://data/minsheng.db` (the default, created on first
    /// start) or `postgres://user@host/db`.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log format.
    #[arg(long, env = "MINSHENG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Folder of working-day calendar files (`*.toml`) that add or replace
    /// the built-in years.
    #[arg(long, env = "MINSHENG_CALENDAR_DIR", default_value = "calendar", global = true)]
    pub calendar_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmsSenderKind {
    Log,
    Webhook,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

// Parsed once at start: the size of the `serve` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the pages (the default).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Import a plan file (TOML); importing the same file twice changes nothing.
    ImportPlan {
        /// The plan file, e.g. plans/daxing-2024.toml.
        file: PathBuf,
    },
    /// Create an administrator (the data bureau), or reset their password.
    CreateAdmin {
        #[arg(long, default_value = "admin")]
        username: String,
        #[arg(long, default_value = "区政务服务和数据管理局管理员")]
        display_name: String,
        /// The password; when unset a random one is generated and printed once.
        #[arg(long = "password-env", env = "MINSHENG_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// The working-day calendar (no database needed).
    #[command(subcommand)]
    Calendar(CalendarCommand),
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Print the years loaded (built in, and `--calendar-dir`) and what is
    /// missing. Exits 2 when this year's State Council holiday notice is
    /// missing, or from 1 November next year's; 1 when a file is unreadable.
    Check {
        /// Judge as of this day (YYYY-MM-DD) instead of today in Beijing.
        #[arg(long, value_name = "YYYY-MM-DD")]
        on: Option<chrono::NaiveDate>,
    },
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MINSHENG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Load the 2024 plan and lay its events around today (one live now,
    /// others upcoming or ended), with demo accounts. Uses
    /// `sqlite://data/demo.db` unless DATABASE_URL is set.
    #[arg(long, env = "MINSHENG_DEMO")]
    pub demo: bool,
    /// Who may take part in the demo's rooms: `verified` viewers (as a
    /// district runs it) or anyone (`open`, for load tests).
    #[arg(long, env = "MINSHENG_DEMO_IDENTITY", value_parser = parse_identity_mode, default_value = "verified")]
    pub demo_identity: crate::domain::identity::IdentityMode,
    /// How long a staff session lasts, in hours.
    #[arg(long, env = "MINSHENG_SESSION_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub session_hours: u32,
    /// Mark the session cookie `Secure` (behind HTTPS).
    #[arg(long, env = "MINSHENG_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Send `Strict-Transport-Security: max-age=31536000; includeSubDomains`
    /// (only when the site is served over HTTPS, e.g. behind a TLS proxy).
    #[arg(long, env = "MINSHENG_HSTS")]
    pub hsts: bool,
    /// Protect `/metrics`: when set, it answers only `Authorization: Bearer
    /// <token>` (a Prometheus `bearer_token`); open when unset.
    #[arg(long, env = "MINSHENG_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Failed passwords for one sign-in name within `--lockout-minutes` that
    /// lock it for `--lockout-minutes` (429 `account_locked`); 0: never.
    #[arg(long, env = "MINSHENG_LOCKOUT_FAILURES", default_value_t = crate::domain::security::DEFAULT_LOCKOUT_FAILURES)]
    pub lockout_failures: u32,
    #[arg(long, env = "MINSHENG_LOCKOUT_MINUTES", default_value_t = crate::domain::security::DEFAULT_LOCKOUT_MINUTES,
        value_parser = clap::value_parser!(u32).range(1..=1440))]
    pub lockout_minutes: u32,
    /// A staff session ends after this many minutes without a request or a
    /// console frame (401 `session_expired`), besides `--session-hours`.
    #[arg(long, env = "MINSHENG_IDLE_MINUTES", default_value_t = crate::domain::security::DEFAULT_IDLE_MINUTES,
        value_parser = clap::value_parser!(u32).range(1..=720))]
    pub idle_minutes: u32,
    /// Days the security log is kept; never fewer than 180 (网络安全法 §21).
    #[arg(long, env = "MINSHENG_SECURITY_LOG_DAYS", default_value_t = crate::domain::security::MIN_SECURITY_LOG_DAYS,
        value_parser = clap::value_parser!(u32).range(180..))]
    pub security_log_days: u32,
    /// Origins (comma-separated, `https://www.bjdx.gov.cn`) allowed to embed
    /// the live page and the public pages in a frame, besides this site.
    #[arg(long, env = "MINSHENG_FRAME_ANCESTORS", value_delimiter = ',', value_parser = crate::config::parse_origin)]
    pub frame_ancestors: Vec<String>,
    /// Origins (comma-separated, `https://live.bjdx.gov.cn`) of the
    /// streaming servers whose HLS, FLV and captions the live page's player
    /// reads (the pages' `connect-src` and `media-src`).
    #[arg(long, env = "MINSHENG_MEDIA_ORIGINS", value_delimiter = ',', value_parser = crate::config::parse_origin)]
    pub media_origins: Vec<String>,
    /// Roles that must sign in with a second factor (TOTP), comma-separated
    /// (`admin`, `unit_staff`, `moderator`, `host`); `admin` by default, none
    /// in the demo unless given. `none` for none.
    #[arg(long, env = "MINSHENG_SECOND_FACTOR_ROLES", value_delimiter = ',')]
    pub second_factor_roles: Option<Vec<String>>,
    /// Days after an event ends until the retention job removes its viewers'
    /// addresses and links to verified identities (the posts, opinions and
    /// answers stay, anonymous).
    #[arg(long, env = "MINSHENG_RETENTION_DAYS", default_value_t = crate::domain::security::DEFAULT_RETENTION_DAYS,
        value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub retention_days: u32,
    /// Addresses of the load balancers in front (comma-separated): for a
    /// connection from one of them the client's address is taken from
    /// `X-Forwarded-For`; anyone else's header is ignored.
    #[arg(long = "trusted-proxies", env = "MINSHENG_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Working days after an event ends within which units reply to its opinions.
    #[arg(long, env = "MINSHENG_REPLY_WORKING_DAYS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub reply_working_days: u32,
    /// Sensitive-word list (TOML, see config/screen/README.md); re-read
    /// within seconds when it changes. The built-in starter list when unset.
    #[arg(long, env = "MINSHENG_WORDS_FILE")]
    pub words_file: Option<PathBuf>,
    /// Questions a viewer may post per minute.
    #[arg(long, env = "MINSHENG_ASKS_PER_VIEWER_PER_MIN", default_value_t = 6)]
    pub asks_per_viewer_per_min: u32,
    /// Questions one address may post per minute.
    #[arg(long, env = "MINSHENG_ASKS_PER_IP_PER_MIN", default_value_t = 60)]
    pub asks_per_ip_per_min: u32,
    /// Questions one room accepts per second.
    #[arg(long, env = "MINSHENG_ASKS_PER_ROOM_PER_SEC", default_value_t = 200)]
    pub asks_per_room_per_sec: u32,
    /// Public messages a connection may fall behind before it is cut off (it resumes).
    #[arg(long, env = "MINSHENG_OUTBOUND_QUEUE", default_value_t = 512)]
    pub outbound_queue: usize,
    /// Frames one connection may send per second (bursts of twice that); a
    /// moderator console's actions count here too.
    #[arg(long, env = "MINSHENG_FRAMES_PER_CONN_PER_SEC", default_value_t = 20)]
    pub frames_per_conn_per_sec: u32,
    /// Live poll tallies go out at most this often, in milliseconds.
    #[arg(long, env = "MINSHENG_TALLY_INTERVAL_MS", default_value_t = 250)]
    pub tally_interval_ms: u64,
    /// A room of 1,000 connections or more sends its frames at most this
    /// often, in milliseconds, those of one tick together (0: each at once).
    #[arg(long, env = "MINSHENG_PUBLISH_TICK_MS", default_value_t = 50)]
    pub publish_tick_ms: u64,
    /// Redis shared by several nodes (`redis://host:6379`): join their
    /// cluster, one room across them. Needs a PostgreSQL database; without
    /// it this node runs alone.
    #[arg(long, env = "MINSHENG_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of the cluster's Redis keys and channels (one per cluster
    /// sharing a Redis).
    #[arg(long, env = "MINSHENG_REDIS_PREFIX", default_value = "minsheng")]
    pub redis_prefix: String,
    /// Print `listening on ADDR` to standard output once bound (for scripts
    /// and tests that listen on port 0).
    #[arg(long, env = "MINSHENG_PRINT_ADDR")]
    pub print_addr: bool,
    /// Viewer sockets (live room WebSockets) one client address may hold
    /// open on this node, every room together; the next is refused with 429
    /// `too_many_connections` before the upgrade. The address is the one the
    /// trusted-proxy rule gives. Sized for an office or school behind one
    /// NAT; 0 turns the cap off. Staff signed in by cookie are not counted.
    #[arg(long, env = "MINSHENG_VIEWER_SOCKETS_PER_ADDRESS", default_value_t = 200)]
    pub viewer_sockets_per_address: u32,
    /// Viewer tokens of one address that may upvote one question, or vote in
    /// one poll; the next gets `too_many_from_address` (0 turns the cap off).
    #[arg(long, env = "MINSHENG_VOTES_PER_ADDRESS", default_value_t = 5)]
    pub votes_per_address: u32,
    /// The identity secret (at least 32 characters): keys the hashes of
    /// verified viewers' mobile numbers and seals the numbers. Every node of
    /// a cluster needs the same one; keep it out of the database's backups.
    #[arg(long, env = "MINSHENG_IDENTITY_SECRET", hide_env_values = true)]
    pub identity_secret: Option<String>,
    /// Without `--identity-secret`, a node running alone keeps a random
    /// secret in this file (created, mode 0600, on first start).
    #[arg(long, env = "MINSHENG_IDENTITY_SECRET_FILE", default_value = "data/identity.key")]
    pub identity_secret_file: PathBuf,
    /// How verification codes leave the server: `log` prints them to this
    /// console (standard output, never the log), `webhook` POSTs them to the
    /// district's SMS gateway.
    #[arg(long, env = "MINSHENG_SMS_SENDER", value_enum, default_value_t = SmsSenderKind::Log)]
    pub sms_sender: SmsSenderKind,
    /// The SMS gateway's URL for `--sms-sender webhook` (http://, on the
    /// district's network or through a local TLS proxy).
    #[arg(long, env = "MINSHENG_SMS_WEBHOOK_URL")]
    pub sms_webhook_url: Option<String>,
    /// The secret the webhook's body is signed with (HMAC-SHA256, header
    /// `X-Minsheng-Signature: sha256=<hex>`).
    #[arg(long, env = "MINSHENG_SMS_WEBHOOK_SECRET", hide_env_values = true)]
    pub sms_webhook_secret: Option<String>,
    /// Seconds each webhook attempt may take.
    #[arg(long, env = "MINSHENG_SMS_WEBHOOK_TIMEOUT_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub sms_webhook_timeout_secs: u64,
    /// Attempts per message (a network error, a timeout, 429 or 5xx is retried).
    #[arg(long, env = "MINSHENG_SMS_WEBHOOK_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub sms_webhook_attempts: u32,
    /// Distinct viewers whose reports hide a published question or comment at
    /// once, pending a moderator's review (0: reports never hide by themselves).
    #[arg(long, env = "MINSHENG_REPORT_THRESHOLD", default_value_t = crate::domain::report::DEFAULT_REPORT_THRESHOLD)]
    pub report_threshold: u32,
    /// Working days within which a report is to be handled (shown overdue after).
    #[arg(long, env = "MINSHENG_REPORT_DUE_WORKING_DAYS", default_value_t = crate::domain::report::DEFAULT_REPORT_DUE_WORKING_DAYS,
        value_parser = clap::value_parser!(u32).range(1..=30))]
    pub report_due_working_days: u32,
    /// Working days within which an appeal is to be decided (shown overdue after).
    #[arg(long, env = "MINSHENG_APPEAL_DUE_WORKING_DAYS", default_value_t = crate::domain::report::DEFAULT_APPEAL_DUE_WORKING_DAYS,
        value_parser = clap::value_parser!(u32).range(1..=30))]
    pub appeal_due_working_days: u32,
    /// Days a browser's verification lasts.
    #[arg(long, env = "MINSHENG_VERIFICATION_DAYS", default_value_t = crate::identity::DEFAULT_VERIFICATION_DAYS,
        value_parser = clap::value_parser!(u32).range(1..=365))]
    pub verification_days: u32,
    /// Verification codes one client address may be sent per hour (0: no cap).
    #[arg(long, env = "MINSHENG_CODES_PER_IP_PER_HOUR", default_value_t = crate::identity::DEFAULT_CODES_PER_IP_PER_HOUR)]
    pub codes_per_ip_per_hour: u32,
    /// Sign-in attempts one client address may make per minute (all at once
    /// if need be); more get 429 `rate_limited` before any password is checked.
    #[arg(long, env = "MINSHENG_SIGN_INS_PER_IP_PER_MIN", default_value_t = crate::config::DEFAULT_SIGN_INS_PER_IP_PER_MIN,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub sign_ins_per_ip_per_min: u32,
    /// The public origins of the site (comma-separated, e.g.
    /// `https://minsheng.example.gov.cn`) when its host name differs from the
    /// `Host` the server sees behind a proxy: cookie-signed requests that
    /// change something, and staff consoles' sockets, must come from one of
    /// them or from the request's own host.
    #[arg(long, env = "MINSHENG_PUBLIC_ORIGINS", value_delimiter = ',', value_parser = crate::config::parse_origin)]
    pub public_origins: Vec<String>,
    /// Seconds to wait for requests in flight on shutdown.
    #[arg(long = "shutdown-grace", env = "MINSHENG_SHUTDOWN_GRACE", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Connections (HTTP and WebSocket) this node holds at once; more are
    /// refused at accept. Lowered to what `ulimit -n` allows.
    #[arg(long, env = "MINSHENG_MAX_CONNECTIONS", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Connections one address may hold at once (trusted proxies exempt).
    #[arg(long, env = "MINSHENG_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_address: u64,
    /// Seconds a client has to send a request's head; a keep-alive connection
    /// idle this long is closed too.
    #[arg(long = "header-timeout", env = "MINSHENG_HEADER_TIMEOUT", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=30))]
    pub header_timeout_secs: u64,
}

impl Default for ServeArgs {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            demo: false,
            demo_identity: crate::domain::identity::IdentityMode::Verified,
            session_hours: 12,
            secure_cookies: false,
            hsts: false,
            metrics_token: None,
            lockout_failures: crate::domain::security::DEFAULT_LOCKOUT_FAILURES,
            lockout_minutes: crate::domain::security::DEFAULT_LOCKOUT_MINUTES,
            idle_minutes: crate::domain::security::DEFAULT_IDLE_MINUTES,
            security_log_days: crate::domain::security::MIN_SECURITY_LOG_DAYS,
            frame_ancestors: Vec::new(),
            media_origins: Vec::new(),
            second_factor_roles: None,
            retention_days: crate::domain::security::DEFAULT_RETENTION_DAYS,
            reply_working_days: 10,
            trusted_proxies: Vec::new(),
            shutdown_grace_secs: 10,
            words_file: None,
            asks_per_viewer_per_min: 6,
            asks_per_ip_per_min: 60,
            asks_per_room_per_sec: 200,
            outbound_queue: 512,
            tally_interval_ms: 250,
            publish_tick_ms: 50,
            frames_per_conn_per_sec: 20,
            redis_url: None,
            redis_prefix: "minsheng".into(),
            print_addr: false,
            viewer_sockets_per_address: 200,
            votes_per_address: 5,
            sign_ins_per_ip_per_min: crate::config::DEFAULT_SIGN_INS_PER_IP_PER_MIN,
            identity_secret: None,
            identity_secret_file: PathBuf::from("data/identity.key"),
            sms_sender: SmsSenderKind::Log,
            sms_webhook_url: None,
            sms_webhook_secret: None,
            sms_webhook_timeout_secs: 5,
            sms_webhook_attempts: 3,
            report_threshold: crate::domain::report::DEFAULT_REPORT_THRESHOLD,
            report_due_working_days: crate::domain::report::DEFAULT_REPORT_DUE_WORKING_DAYS,
            appeal_due_working_days: crate::domain::report::DEFAULT_APPEAL_DUE_WORKING_DAYS,
            verification_days: crate::identity::DEFAULT_VERIFICATION_DAYS,
            codes_per_ip_per_hour: crate::identity::DEFAULT_CODES_PER_IP_PER_HOUR,
            public_origins: Vec::new(),
            max_connections: 20_000,
            max_connections_per_address: 500,
            header_timeout_secs: 20,
        }
    }
}

impl ServeArgs {
    pub fn connection_limits(&self) -> crate::config::ConnectionLimits {
        crate::config::ConnectionLimits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_connections_per_address: usize::try_from(self.max_connections_per_address).unwrap_or(usize::MAX),
            header_timeout: std::time::Duration::from_secs(self.header_timeout_secs),
        }
    }

    /// The identity secret and the SMS sender, as the flags say: the secret
    /// from `--identity-secret`, else (a node alone) from its file, made on
    /// first start.
    pub fn identity_settings(&self) -> anyhow::Result<crate::identity::IdentitySettings> {
        use crate::identity::sms::{Console, SmsSender, Webhook};
        let secret = match self.identity_secret.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(secret) => secret.to_owned(),
            None => {
                anyhow::ensure!(
                    self.redis_url.is_none(),
                    "a cluster (--redis-url) needs --identity-secret (MINSHENG_IDENTITY_SECRET): every node must hash \
                     and seal verified numbers with the same secret"
                );
                secret_from_file(&self.identity_secret_file)?
            }
        };
        let keys = crate::domain::identity::IdentityKeys::from_secret(&secret)
            .map_err(|e| anyhow::anyhow!("--identity-secret: {}", e.message))?;
        let sender = match self.sms_sender {
            SmsSenderKind::Log => SmsSender::Log(Console::Stdout),
            SmsSenderKind::Webhook => {
                let url = self
                    .sms_webhook_url
                    .clone()
                    .filter(|u| !u.trim().is_empty())
                    .ok_or_else(|| {
                        anyhow::anyhow!("--sms-sender webhook needs --sms-webhook-url (MINSHENG_SMS_WEBHOOK_URL)")
                    })?;
                let secret = self
                    .sms_webhook_secret
                    .as_deref()
                    .and_then(crate::config::Secret::parse)
                    .ok_or_else(|| {
                        anyhow::anyhow!("--sms-sender webhook needs --sms-webhook-secret (MINSHENG_SMS_WEBHOOK_SECRET)")
                    })?;
                let timeout = std::time::Duration::from_secs(self.sms_webhook_timeout_secs);
                SmsSender::Webhook(Webhook::new(
                    url.trim().to_owned(),
                    secret,
                    timeout,
                    self.sms_webhook_attempts,
                )?)
            }
        };
        Ok(crate::identity::IdentitySettings {
            keys,
            sender,
            verification_days: self.verification_days,
            codes_per_ip_per_hour: self.codes_per_ip_per_hour,
        })
    }

    /// The roles that need a second factor, as `--second-factor-roles` says.
    pub fn second_factor_roles(&self) -> anyhow::Result<Vec<crate::domain::staff::Role>> {
        use crate::domain::staff::Role;
        match &self.second_factor_roles {
            None if self.demo => Ok(Vec::new()),
            None => Ok(vec![Role::Admin]),
            Some(names) => names
                .iter()
                .map(|n| n.trim())
                .filter(|n| !n.is_empty() && *n != "none")
                .map(|n| Role::parse(n).ok_or_else(|| anyhow::anyhow!("--second-factor-roles: `{n}` is not a role")))
                .collect(),
        }
    }

    pub fn live_settings(&self) -> crate::config::LiveSettings {
        crate::config::LiveSettings {
            asks_per_viewer_per_min: self.asks_per_viewer_per_min,
            asks_per_ip_per_min: self.asks_per_ip_per_min,
            asks_per_room_per_sec: self.asks_per_room_per_sec,
            outbound_queue: self.outbound_queue,
            words_file: self.words_file.clone(),
            tally_interval_ms: self.tally_interval_ms,
            publish_tick_ms: self.publish_tick_ms,
            frames_per_conn_per_sec: self.frames_per_conn_per_sec,
            viewer_sockets_per_address: self.viewer_sockets_per_address,
            votes_per_address: self.votes_per_address,
            report_threshold: self.report_threshold,
            report_due_working_days: self.report_due_working_days,
            appeal_due_working_days: self.appeal_due_working_days,
            cluster: self
                .redis_url
                .as_deref()
                .and_then(crate::config::RedisUrl::parse)
                .map(|redis_url| crate::config::ClusterSettings {
                    redis_url,
                    prefix: self.redis_prefix.clone(),
                }),
            ..crate::config::LiveSettings::default()
        }
    }
}

fn parse_identity_mode(s: &str) -> Result<crate::domain::identity::IdentityMode, String> {
    crate::domain::identity::IdentityMode::parse(s).ok_or_else(|| format!("`{s}`: verified or open"))
}

/// The secret kept in `path`; a new random one written there (readable by
/// this user only) when the file does not exist yet.
fn secret_from_file(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    use std::io::Write;
    match std::fs::read_to_string(path) {
        Ok(secret) => return Ok(secret.trim().to_owned()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("reading the identity secret from {}", path.display()));
        }
        Err(_) => {}
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let secret = crate::domain::identity::IdentityKeys::generate_secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating the identity secret file {}", path.display()))?;
    writeln!(file, "{secret}").with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(file = %path.display(), "a new identity secret was created; back it up apart from the database");
    Ok(secret)
}
