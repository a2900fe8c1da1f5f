//! Loopback-only URLs, a tiny HTTP/1.1 client and WebSocket connections
//! from chosen source addresses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

pub type Ws = WebSocketStream<TcpStream>;

/// A parsed `scheme://host:port/path` on a loopback address.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port` as written (for `Host`).
    pub authority: String,
    pub addr: SocketAddr,
    pub path: String,
}

impl Endpoint {
    pub fn parse(url: &str, schemes: &[&str]) -> anyhow::Result<Self> {
        let (scheme, rest) = url
            .split_once("://")
            .with_context(|| format!("`{url}` is not a URL (expected {}://HOST:PORT)", schemes[0]))?;
        let scheme = scheme.to_ascii_lowercase();
        if !schemes.contains(&scheme.as_str()) {
            bail!(
                "`{url}`: the scheme must be {} (plain, loopback only)",
                schemes.join(" or ")
            );
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            bail!("`{url}`: credentials in the URL are not supported");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').with_context(|| format!("`{url}`: unclosed `[`"))?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port: u16 = match port {
            Some(p) => p.parse().with_context(|| format!("`{url}`: bad port `{p}`"))?,
            None => 80,
        };
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse().map_err(|_| {
                anyhow::anyhow!(
                    "refusing `{url}`: minsheng-load only targets loopback addresses \
                     (127.x.x.x, localhost or ::1), not `{host}`"
                )
            })?
        };
        if !ip.is_loopback() {
            bail!(
                "refusing `{url}`: minsheng-load only targets loopback addresses \
                 (127.x.x.x, localhost or ::1), not {ip}"
            );
        }
        Ok(Self {
            authority: authority.to_owned(),
            addr: SocketAddr::new(ip, port),
            path: path.to_owned(),
        })
    }
}

/// `--source-ips`: `A-B`, `a,b,c` (items may be ranges) or `none`.
pub fn parse_source_ips(spec: &str) -> anyhow::Result<Vec<IpAddr>> {
    let spec = spec.trim();
    if spec.is_empty() || spec.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some((a, b)) = item.split_once('-') {
            let a: Ipv4Addr = a
                .trim()
                .parse()
                .with_context(|| format!("bad address `{a}` in --source-ips"))?;
            let b: Ipv4Addr = b
                .trim()
                .parse()
                .with_context(|| format!("bad address `{b}` in --source-ips"))?;
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || b - a > 65_535 {
                bail!("--source-ips range `{item}` is empty or too large");
            }
            out.extend((a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
        } else {
            out.push(
                item.parse()
                    .with_context(|| format!("bad address `{item}` in --source-ips"))?,
            );
        }
    }
    if let Some(bad) = out.iter().find(|ip| !ip.is_loopback()) {
        bail!("--source-ips: {bad} is not a loopback address");
    }
    Ok(out)
}

/// One HTTP/1.1 request (`Connection: close`); returns the status and the body.
pub async fn http(
    ep: &Endpoint,
    method: &str,
    path: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let work = async {
        let mut stream = TcpStream::connect(ep.addr).await?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: minsheng-load\r\nAccept: */*\r\nConnection: close\r\n",
            ep.authority
        );
        if let Some(token) = bearer {
            req.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        if let Some(b) = body {
            req.push_str(b);
        }
        stream.write_all(req.as_bytes()).await?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await?;
        anyhow::Ok(buf)
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .with_context(|| format!("{method} {path}: no answer within 10 s"))?
        .with_context(|| format!("{method} {path} to {}", ep.addr))?;
    parse_response(&raw).with_context(|| format!("{method} {path}: bad HTTP response"))
}

fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, String)> {
    let end = find(raw, b"\r\n\r\n").context("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end])?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line `{status_line}`"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            }
        }
    }
    let mut body = &raw[end + 4..];
    let decoded;
    if chunked {
        let mut out = Vec::new();
        loop {
            let line_end = find(body, b"\r\n").context("bad chunk")?;
            let size_text = std::str::from_utf8(&body[..line_end])?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
            body = &body[line_end + 2..];
            if size == 0 {
                break;
            }
            anyhow::ensure!(body.len() >= size, "truncated chunk");
            out.extend_from_slice(&body[..size]);
            body = body.get(size + 2..).unwrap_or_default();
        }
        decoded = out;
        body = &decoded;
    } else if let Some(n) = length {
        body = &body[..n.min(body.len())];
    }
    Ok((status, String::from_utf8_lossy(body).into_owned()))
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        match hay[i..=last_start].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => {
                i += p;
                if &hay[i..i + needle.len()] == needle {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

/// A leading decimal integer (optionally negative) and how many bytes it took.
pub fn parse_int(b: &[u8]) -> Option<(i64, usize)> {
    let (neg, start) = if b.first() == Some(&b'-') {
        (true, 1)
    } else {
        (false, 0)
    };
    let mut n: i64 = 0;
    let mut i = start;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n.checked_mul(10)?.checked_add(i64::from(b[i] - b'0'))?;
        i += 1;
    }
    if i == start {
        return None;
    }
    Some((if neg { -n } else { n }, i))
}

/// WebSocket config of a load viewer: small buffers, like a phone.
pub fn viewer_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(Some(64 << 20))
}

/// Open a WebSocket to `url` at `addr`, from `src` when given.
pub async fn open_ws(addr: SocketAddr, url: &str, src: Option<IpAddr>, recv_buffer: Option<u32>) -> Result<Ws, String> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| io_kind("socket", &e))?;
    if let Some(n) = recv_buffer {
        socket.set_recv_buffer_size(n).map_err(|e| io_kind("setsockopt", &e))?;
    }
    if let Some(ip) = src {
        if ip.is_ipv4() == addr.is_ipv4() {
            socket.bind(SocketAddr::new(ip, 0)).map_err(|e| io_kind("bind", &e))?;
        }
    }
    let stream = socket.connect(addr).await.map_err(|e| io_kind("connect", &e))?;
    let _ = stream.set_nodelay(true);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(viewer_config()))
        .await
        .map_err(|e| ws_error("upgrade", &e))?;
    Ok(ws)
}

pub fn io_kind(stage: &str, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(24) => format!("{stage}: too many open files"),
        Some(99) => format!("{stage}: address not available (ephemeral ports exhausted?)"),
        Some(98) => format!("{stage}: address in use"),
        _ => format!("{stage}: {:?}", e.kind()),
    }
}

pub fn ws_error(stage: &str, e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::Io(io) => io_kind(stage, io),
        E::Http(resp) => format!("{stage}: HTTP {}", resp.status().as_u16()),
        E::ConnectionClosed | E::AlreadyClosed => format!("{stage}: connection closed"),
        E::Protocol(tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake) => {
            "reset without a close frame".to_owned()
        }
        E::Protocol(p) => format!("{stage}: protocol error ({p})"),
        other => {
            let mut s = format!("{stage}: {other}");
            s.truncate(80);
            s
        }
    }
}

/// Close `ws` with a close frame, waiting at most 2 s for the peer's.
pub async fn close(ws: &mut Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
}

/// How a peer closed: the close frame's code and the start of its reason.
pub fn close_label(f: &Option<CloseFrame>) -> String {
    match f {
        Some(f) => {
            let code = u16::from(f.code);
            let mut reason = f.reason.as_str().to_owned();
            reason.truncate(40);
            if reason.is_empty() {
                code.to_string()
            } else {
                format!("{code} {reason}")
            }
        }
        None => "close without code".into(),
    }
}

/// One read from a live socket: the frame, or how the connection ended
/// (a close frame, a read error, or the stream's end) as a cut label.
pub fn frame_or_end(m: Option<Result<Message, tungstenite::Error>>) -> Result<Message, String> {
    match m {
        Some(Ok(Message::Close(f))) => Err(close_label(&f)),
        Some(Ok(m)) => Ok(m),
        Some(Err(e)) => Err(ws_error("read", &e)),
        None => Err("closed without a close frame".into()),
    }
}

/// What a connection's loop woke up to, in [`wake`]'s order.
pub enum Wake<T> {
    /// The run is over; the socket is closed already (see [`close`]).
    Stop,
    /// A command to send, or `None` once its sender is gone.
    Cmd(Option<T>),
    /// The next frame, or how the connection ended (see [`frame_or_end`]).
    Frame(Result<Message, String>),
}

/// Wait for the stop signal, a command from `cmds` (never while it is
/// `None`) or the next frame, in that order when several are ready; on
/// stop, close the socket first.
pub async fn wake<T>(ws: &mut Ws, stop: &mut watch::Receiver<bool>, cmds: &mut Option<mpsc::Receiver<T>>) -> Wake<T> {
    tokio::select! {
        biased;
        _ = stop.changed() => {
            close(ws).await;
            Wake::Stop
        }
        cmd = recv_opt(cmds) => Wake::Cmd(cmd),
        m = ws.next() => Wake::Frame(frame_or_end(m)),
    }
}

/// [`wake`] for a connection that takes no commands: the next frame, or
/// `None` once stopped (the socket closed).
pub async fn next_frame(ws: &mut Ws, stop: &mut watch::Receiver<bool>) -> Option<Result<Message, String>> {
    match wake::<std::convert::Infallible>(ws, stop, &mut None).await {
        Wake::Frame(f) => Some(f),
        // Without a receiver there is no command: only the stop is left.
        Wake::Stop | Wake::Cmd(_) => None,
    }
}

/// The next item of `rx`; pending forever once it is `None`.
pub async fn recv_opt<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback() {
        assert!(Endpoint::parse("http://127.0.0.1:18090", &["http"]).is_ok());
        assert!(Endpoint::parse("http://localhost:1", &["http"]).is_ok());
        assert!(Endpoint::parse("http://[::1]:8080/x", &["http"]).is_ok());
        assert!(Endpoint::parse("http://10.0.0.1:8080", &["http"]).is_err());
        assert!(Endpoint::parse("http://example.com", &["http"]).is_err());
        assert!(Endpoint::parse("ws://127.0.0.1:4223", &["http"]).is_err());
    }

    #[test]
    fn ints_and_ranges() {
        assert_eq!(parse_int(b"17,\"type\""), Some((17, 2)));
        assert_eq!(parse_int(b"x"), None);
        assert_eq!(parse_source_ips("127.0.0.2-127.0.0.4").unwrap().len(), 3);
        assert!(parse_source_ips("10.0.0.1").is_err());
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
    }

    #[test]
    fn chunked() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap(), (200, "abcde".to_owned()));
    }
}
