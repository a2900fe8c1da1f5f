//! The HTTP server loop: accept, connection limits, header timeout, graceful shutdown.
//!
//! axum's `serve` runs hyper without a timer, so hyper's header read timeout
//! never fires, and it takes every connection it is offered: sockets that
//! send half a request line, or nothing, stayed open for ever, and about a
//! thousand of them used up the process's file descriptors. Here each
//! connection is served by hyper directly, with:
//! - a timer, so a request head must arrive within the header timeout. In
//!   hyper 1.x the timer starts when the connection starts waiting for a head
//!   (`proto/h1/conn.rs`, `poll_read_head`), so it also closes a connection
//!   that sends nothing at all, and a keep-alive connection idle that long;
//! - a cap on the connections open at once, and one per peer address (peers
//!   that are trusted proxies are exempt: they carry many clients). A socket
//!   over a cap gets a bare `503` and is closed at once, without a task;
//! - counting that lasts until the socket closes: the count is held by the
//!   socket object itself, so a WebSocket, which leaves hyper when it
//!   upgrades, still counts until it ends.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use crate::config::ConnectionLimits;
use crate::hub::addresses::{AddressSlot, Addresses};
use crate::metrics::ConnectionStats;

/// What a refused socket is told before it is closed (no body, no keep-alive).
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// File descriptors kept for everything that is not a client connection: the
/// database files and connections, Redis, logs, the listener.
const RESERVED_FDS: usize = 128;

/// How the server treats its connections.
pub struct Server {
    pub limits: ConnectionLimits,
    /// Exempt from the per-address cap.
    pub trusted_proxies: Vec<IpAddr>,
    pub stats: Arc<ConnectionStats>,
    /// Applied to each admitted socket.
    pub tune: fn(&mut TcpStream),
    /// How long requests in flight may take to finish once `stop` is cancelled.
    pub grace: Duration,
}

impl Server {
    /// Serve `router` on `listener` until `stop` is cancelled; then stop
    /// accepting, let requests in flight finish (at most `grace`) and close
    /// idle connections. Resolves when every HTTP connection has ended
    /// (upgraded WebSockets are the hub's to close).
    pub async fn run(self, listener: TcpListener, router: Router, stop: CancellationToken) {
        let gate = Arc::new(Gate::new(&self.limits, &self.trusted_proxies, self.stats));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout);
        serve(listener, router, gate, http, self.tune, stop, self.grace).await;
    }
}

/// The accept loop of [`Server::run`].
async fn serve(
    listener: TcpListener,
    router: Router,
    gate: Arc<Gate>,
    http: hyper::server::conn::http1::Builder,
    tune: fn(&mut TcpStream),
    stop: CancellationToken,
    grace: Duration,
) {
    let connections = TaskTracker::new();
    // Cancelled when the grace period is over: what is still open is dropped.
    let kill = CancellationToken::new();
    loop {
        let (mut tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        // An IPv4 client of a dual-stack listener is `::ffff:a.b.c.d`: counted (and matched against the proxies) as a.b.c.d.
        let Some(slot) = gate.admit(peer.ip().to_canonical()) else {
            // Best effort and never waiting: the socket is new, its send buffer empty.
            let _ = tcp.try_write(REFUSAL);
            continue;
        };
        tune(&mut tcp);
        let io = TokioIo::new(Counted { tcp, _slot: slot });
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // What axum's `into_make_service_with_connect_info` would add.
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let connection = http.serve_connection(io, service).with_upgrades();
        let (stop, kill) = (stop.clone(), kill.clone());
        connections.spawn(async move {
            tokio::pin!(connection);
            let result = tokio::select! {
                r = connection.as_mut() => r,
                () = stop.cancelled() => {
                    // Finish the request in flight (if any), then close.
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        r = connection.as_mut() => r,
                        () = kill.cancelled() => return,
                    }
                }
            };
            if let Err(e) = result {
                // Timeouts, resets, malformed requests: the client's business.
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(grace, connections.wait()).await.is_err() {
        tracing::warn!("shutdown grace period over; closing remaining connections");
        kill.cancel();
        connections.wait().await;
    }
}

/// `accept` failed. Out of file descriptors (or kernel memory), the listener
/// would fail again at once: pause, and say so once per second at most.
async fn accept_failed(e: &std::io::Error) {
    static LAST_LOG: Mutex<Option<std::time::Instant>> = Mutex::new(None);
    // ENFILE, EMFILE, ENOMEM, ENOBUFS (Linux numbers; elsewhere only the pause is missed).
    let resources = matches!(e.raw_os_error(), Some(23 | 24 | 12 | 105));
    if resources {
        let now = std::time::Instant::now();
        let log = {
            let mut last = LAST_LOG.lock().unwrap_or_else(|p| p.into_inner());
            let due = last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
            if due {
                *last = Some(now);
            }
            due
        };
        if log {
            tracing::error!(error = %e, "cannot accept connections: out of file descriptors or memory (see --max-connections)");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    } else {
        // A connection reset before it was accepted, and the like.
        tracing::debug!(error = %e, "accept failed");
    }
}

/// The connection counts, and the decision to admit a socket.
struct Gate {
    max_total: usize,
    max_per_address: u32,
    trusted: Vec<IpAddr>,
    /// Open connections from each address that is capped.
    per_address: Arc<Addresses>,
    stats: Arc<ConnectionStats>,
    /// The global cap was hit and not yet relieved: logged once per episode.
    full: AtomicBool,
    open: AtomicUsize,
}

impl Gate {
    fn new(limits: &ConnectionLimits, trusted: &[IpAddr], stats: Arc<ConnectionStats>) -> Self {
        let max_total = limits.max_connections.min(fd_budget().unwrap_or(usize::MAX)).max(1);
        if max_total < limits.max_connections {
            tracing::warn!(
                configured = limits.max_connections,
                using = max_total,
                "--max-connections is above what the open-file limit (ulimit -n) allows; raise the limit to serve more"
            );
        }
        Self {
            max_total,
            max_per_address: u32::try_from(limits.max_connections_per_address.max(1)).unwrap_or(u32::MAX),
            trusted: trusted.to_vec(),
            per_address: Arc::default(),
            stats,
            full: AtomicBool::new(false),
            open: AtomicUsize::new(0),
        }
    }

    /// A slot for a new connection from `ip`, or `None` when a cap is reached.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        // Only the accept loop adds, so a load-then-add cannot overshoot.
        let open = self.open.load(Ordering::Acquire);
        if open >= self.max_total {
            self.stats.refused_full.fetch_add(1, Ordering::Relaxed);
            if !self.full.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    limit = self.max_total,
                    "connection limit reached: new connections are refused until some close (--max-connections)"
                );
            }
            return None;
        }
        let address = if self.trusted.contains(&ip) {
            None
        } else {
            match self.per_address.claim_noting(ip, self.max_per_address) {
                Ok(slot) => Some(slot),
                Err(first) => {
                    self.stats.refused_per_address.fetch_add(1, Ordering::Relaxed);
                    if first {
                        tracing::warn!(
                            %ip,
                            limit = self.max_per_address,
                            "connections from one address at the limit: refusing more from it (--max-connections-per-address)"
                        );
                    }
                    return None;
                }
            }
        };
        self.open.fetch_add(1, Ordering::AcqRel);
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            gate: self.clone(),
            _address: address,
        })
    }

    fn release(&self) {
        let open = self.open.fetch_sub(1, Ordering::AcqRel) - 1;
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
        // Relieved once a tenth is free again, so a crowd at the edge does not log every few connections.
        if open < self.max_total - self.max_total / 10 && self.full.swap(false, Ordering::Relaxed) {
            tracing::info!(open, "connections below the limit again");
        }
    }
}

/// One admitted connection; releases its place when dropped.
struct Slot {
    gate: Arc<Gate>,
    /// The place in its address's count, if the address is capped (given
    /// back by its own drop).
    _address: Option<AddressSlot>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.release();
    }
}

/// A socket that holds its connection's [`Slot`] until it is closed.
struct Counted {
    tcp: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// How many client connections the open-file limit leaves room for (Linux;
/// `None` where it cannot be read).
fn fd_budget() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        return None;
    }
    Some(soft.parse::<usize>().ok()?.saturating_sub(RESERVED_FDS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(total: usize, per_address: usize, trusted: &[IpAddr]) -> Arc<Gate> {
        let limits = ConnectionLimits {
            max_connections: total,
            max_connections_per_address: per_address,
            header_timeout: Duration::from_secs(1),
        };
        Arc::new(Gate::new(&limits, trusted, Arc::default()))
    }

    #[test]
    fn caps_per_address_and_in_all_and_frees_on_drop() {
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let g = gate(4, 2, &[proxy]);
        let a1 = g.admit(a).unwrap();
        let _a2 = g.admit(a).unwrap();
        assert!(g.admit(a).is_none(), "third from one address");
        let _b1 = g.admit(b).unwrap();
        // The proxy is exempt from the per-address cap, not from the total.
        let _p1 = g.admit(proxy).unwrap();
        assert!(g.admit(proxy).is_none(), "over the total");
        drop(a1);
        assert!(g.admit(a).is_some());
        assert_eq!(g.stats.refused_per_address.load(Ordering::Relaxed), 1);
        assert_eq!(g.stats.refused_full.load(Ordering::Relaxed), 1);
    }
}
