//! Settings the running service needs, resolved from the command line.

use std::fmt;

/// A database URL that never prints its password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub const DEFAULT: &'static str = "sqlite://data/minsheng.db";
    pub const DEMO: &'static str = "sqlite://data/demo.db";

    /// The explicit URL when given, else the default for the mode.
    pub fn resolve(explicit: Option<&str>, demo: bool) -> Self {
        match explicit.and_then(non_blank) {
            Some(url) => Self(url),
            None if demo => Self(Self::DEMO.to_owned()),
            None => Self(Self::DEFAULT.to_owned()),
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A setting's value without surrounding spaces; `None` when nothing is left.
fn non_blank(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// `Debug` and `Display` of a URL newtype: the URL with any password replaced by `***`.
macro_rules! shown_redacted {
    ($($url:ty),*) => {
        $(impl fmt::Debug for $url {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl fmt::Display for $url {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                redacted(&self.0, f)
            }
        })*
    };
}

shown_redacted!(DatabaseUrl, RedisUrl);

/// `scheme://user:password@host…` with the password replaced by `***`.
fn redacted(url: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.rsplit_once('@') {
            if let Some((user, _password)) = creds.split_once(':') {
                return write!(f, "{scheme}://{user}:***@{host}");
            }
        }
    }
    f.write_str(url)
}

/// A Redis URL (`redis://[:password@]host[:port][/db]`) that never prints its password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// `None` for an empty or blank value.
    pub fn parse(url: &str) -> Option<Self> {
        non_blank(url).map(Self)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Several nodes sharing their rooms: PostgreSQL holds the room log, Redis
/// carries the wake-ups, staff frames and presence between the nodes.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub redis_url: RedisUrl,
    /// Prefix of every Redis key and channel, so clusters (or test runs) sharing a Redis never cross.
    pub prefix: String,
}

/// Settings of the HTTP side.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub session_hours: u32,
    pub secure_cookies: bool,
    /// Working days after an event's end within which its opinions are answered.
    pub reply_working_days: u32,
    /// Load balancers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Sign-in attempts one client address may make per minute.
    pub sign_ins_per_ip_per_min: u32,
    /// Origins (`https://host[:port]`, lowercase, no path) besides the
    /// request's own host from which a cookie-borne request may change
    /// something or open a staff console.
    pub public_origins: Vec<String>,
    /// Caps on open connections and the request-head timeout.
    pub connections: ConnectionLimits,
    /// Send `Strict-Transport-Security` (the site is only ever served over HTTPS).
    pub hsts: bool,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    /// Failed passwords for one name within `lockout_minutes` that lock it
    /// for `lockout_minutes` (0: never locked).
    pub lockout_failures: u32,
    pub lockout_minutes: u32,
    /// A staff session without a request or a console frame for this long ends.
    pub idle_minutes: u32,
    /// Days the security log keeps (at least 180).
    pub security_log_days: u32,
    /// Origins besides this site that may embed the live and public pages
    /// (`frame-ancestors`); staff pages are never embedded.
    pub frame_ancestors: Vec<String>,
    /// Origins of the streaming servers (`https://live.bjdx.gov.cn`) the
    /// live page's player reads playlists, segments, FLV and captions from:
    /// added to the pages' `connect-src` and `media-src`.
    pub media_origins: Vec<String>,
    /// Days after an event ends until its viewers' addresses and identity
    /// links are removed by the retention job.
    pub retention_days: u32,
    /// Roles that must sign in with a second factor (TOTP).
    pub second_factor_roles: Vec<crate::domain::staff::Role>,
}

/// A secret setting (a token): compared in constant time, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// `None` for an empty or blank value.
    pub fn parse(s: &str) -> Option<Self> {
        non_blank(s).map(Self)
    }

    /// The secret itself, for a key (never for a log line).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the secret, in time that does not depend on where
    /// they first differ.
    pub fn matches(&self, given: &str) -> bool {
        crate::domain::identity::same(&self.0, given)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The default of `--sign-ins-per-ip-per-min`: enough for an office of
/// staff behind one address at the start of a shift, far too few to guess
/// passwords.
pub const DEFAULT_SIGN_INS_PER_IP_PER_MIN: u32 = 20;

/// `https://host[:port]` as browsers send it in `Origin`: lowercase, no
/// path, no trailing slash; anything else is refused with a reason.
pub fn parse_origin(s: &str) -> Result<String, String> {
    let origin = s.trim().trim_end_matches('/').to_ascii_lowercase();
    let Some((scheme, authority)) = origin.split_once("://") else {
        return Err(format!("`{s}` is not an origin like https://minsheng.example.gov.cn"));
    };
    if !matches!(scheme, "http" | "https") {
        return Err(format!("`{s}`: an origin is http:// or https://"));
    }
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!("`{s}`: an origin is a scheme and a host (and port), no path"));
    }
    // Origins go into the Content-Security-Policy: nothing that could end a
    // source list (`;`, quotes) may come with one.
    let host_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']');
    if !authority.chars().all(host_char) {
        return Err(format!("`{s}`: a host is letters, digits, '.', '-' and a port"));
    }
    Ok(origin)
}

/// How many connections the server holds, and how long it waits for a request head.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once (HTTP and WebSocket); lowered to what the
    /// open-file limit allows.
    pub max_connections: usize,
    /// Connections open at once from one address, trusted proxies exempt.
    /// Generous: a whole office may watch from behind one NAT address.
    pub max_connections_per_address: usize,
    /// A request head must arrive within this, and a keep-alive connection
    /// idle this long is closed.
    pub header_timeout: std::time::Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 20_000,
            max_connections_per_address: 500,
            header_timeout: std::time::Duration::from_secs(20),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            session_hours: 12,
            secure_cookies: false,
            reply_working_days: crate::domain::opinion::DEFAULT_REPLY_WORKING_DAYS,
            trusted_proxies: Vec::new(),
            sign_ins_per_ip_per_min: DEFAULT_SIGN_INS_PER_IP_PER_MIN,
            public_origins: Vec::new(),
            connections: ConnectionLimits::default(),
            hsts: false,
            metrics_token: None,
            lockout_failures: crate::domain::security::DEFAULT_LOCKOUT_FAILURES,
            lockout_minutes: crate::domain::security::DEFAULT_LOCKOUT_MINUTES,
            idle_minutes: crate::domain::security::DEFAULT_IDLE_MINUTES,
            security_log_days: crate::domain::security::MIN_SECURITY_LOG_DAYS,
            frame_ancestors: Vec::new(),
            media_origins: Vec::new(),
            second_factor_roles: vec![crate::domain::staff::Role::Admin],
            retention_days: crate::domain::security::DEFAULT_RETENTION_DAYS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let url = DatabaseUrl::resolve(Some("postgres://app:s3cret@db:5432/minsheng"), false);
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/minsheng");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(
            DatabaseUrl::resolve(Some("postgres://app@db/x"), false).to_string(),
            "postgres://app@db/x"
        );
        assert_eq!(DatabaseUrl::resolve(None, true).expose(), DatabaseUrl::DEMO);
        assert_eq!(DatabaseUrl::resolve(Some(" "), false).expose(), DatabaseUrl::DEFAULT);
        let redis = RedisUrl::parse("redis://:hunter2@cache:6379/0").unwrap();
        assert_eq!(redis.to_string(), "redis://:***@cache:6379/0");
        assert!(!format!("{redis:?}").contains("hunter2"));
        assert!(RedisUrl::parse("  ").is_none());
        let token = Secret::parse(" scrape-me ").unwrap();
        assert!(token.matches("scrape-me") && !token.matches("scrape-mf") && !token.matches("scrape"));
        assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
        assert!(Secret::parse(" ").is_none());
    }

    #[test]
    fn origins_are_a_scheme_and_a_host() {
        assert_eq!(
            parse_origin("https://Live.BJDX.gov.cn/").unwrap(),
            "https://live.bjdx.gov.cn"
        );
        assert_eq!(parse_origin("http://127.0.0.1:8088").unwrap(), "http://127.0.0.1:8088");
        assert!(parse_origin("live.bjdx.gov.cn").is_err());
        assert!(parse_origin("ftp://live.bjdx.gov.cn").is_err());
        assert!(parse_origin("https://live.bjdx.gov.cn/hls").is_err());
        // Nothing that would close the CSP's source list.
        assert!(parse_origin("https://a.cn;script-src").is_err());
        assert!(parse_origin("https://a.cn'unsafe-inline'").is_err());
    }
}

/// Limits and sizes of the live rooms.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Questions per viewer per minute (burst: the same number).
    pub asks_per_viewer_per_min: u32,
    /// Questions per address per minute.
    pub asks_per_ip_per_min: u32,
    /// Questions per room per second.
    pub asks_per_room_per_sec: u32,
    /// Upvotes per viewer per minute.
    pub upvotes_per_viewer_per_min: u32,
    /// Frames a connection may send per second (burst: twice that).
    pub frames_per_conn_per_sec: u32,
    /// Public messages a connection may fall behind before it is cut off.
    pub outbound_queue: usize,
    /// Recent public messages a room keeps for resumes.
    pub ring_capacity: usize,
    /// A send that takes longer than this cuts the connection off.
    pub send_timeout_ms: u64,
    pub ping_interval_secs: u64,
    /// No frame (not even a pong) for this long closes the connection.
    pub idle_timeout_secs: u64,
    /// Largest frame or message a client may send.
    pub max_frame_bytes: usize,
    pub writer_queue: usize,
    pub writer_batch: usize,
    /// Live poll tallies go out at most this often (per poll).
    pub tally_interval_ms: u64,
    /// A large room's publisher runs at most this often (0: at every change).
    pub publish_tick_ms: u64,
    /// Word list (TOML); the built-in starter list when `None`.
    pub words_file: Option<std::path::PathBuf>,
    /// Join a cluster of nodes; `None` runs this node alone.
    pub cluster: Option<ClusterSettings>,
    /// Viewer sockets one client address may hold open on this node (0: no cap).
    pub viewer_sockets_per_address: u32,
    /// Viewer tokens of one address that may upvote one question or vote in
    /// one poll (0: no cap) in an `open` room (in a `verified` one, each
    /// identity has one voice however many share an address).
    pub votes_per_address: u32,
    /// Verified posting: the identity secret, the SMS sender, how long a verification lasts.
    pub identity: crate::identity::IdentitySettings,
    /// Distinct reporters that hide a published post at once, pending review (0: never).
    pub report_threshold: u32,
    /// Working days within which a report is handled.
    pub report_due_working_days: u32,
    /// Working days within which an appeal is decided.
    pub appeal_due_working_days: u32,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            asks_per_viewer_per_min: 6,
            asks_per_ip_per_min: 60,
            asks_per_room_per_sec: 200,
            upvotes_per_viewer_per_min: 60,
            frames_per_conn_per_sec: 20,
            outbound_queue: 512,
            ring_capacity: 2048,
            send_timeout_ms: 5_000,
            ping_interval_secs: 20,
            idle_timeout_secs: 60,
            max_frame_bytes: 16 * 1024,
            writer_queue: 8192,
            writer_batch: 1024,
            tally_interval_ms: 250,
            publish_tick_ms: 50,
            words_file: None,
            cluster: None,
            viewer_sockets_per_address: 200,
            votes_per_address: 5,
            identity: crate::identity::IdentitySettings::default(),
            report_threshold: crate::domain::report::DEFAULT_REPORT_THRESHOLD,
            report_due_working_days: crate::domain::report::DEFAULT_REPORT_DUE_WORKING_DAYS,
            appeal_due_working_days: crate::domain::report::DEFAULT_APPEAL_DUE_WORKING_DAYS,
        }
    }
}
