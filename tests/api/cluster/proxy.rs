//! A TCP proxy between a node and PostgreSQL that a test can cut: every open
//! connection is dropped, and new ones are accepted but never answered (a
//! black hole, the worst case for a client: it must time out by itself)
//! until the proxy is restored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct PgProxy {
    pub addr: SocketAddr,
    upstream: String,
    open: watch::Sender<bool>,
    /// Connections accepted while cut (held, never answered).
    pub black_holed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// `host:port` of a `postgres://[user[:password]@]host[:port]/…` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

impl PgProxy {
    /// A proxy to the PostgreSQL of `url`, open.
    pub async fn start(url: &str) -> Self {
        let upstream = host_port(url);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let (open, watch) = watch::channel(true);
        let black_holed = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept(listener, upstream.clone(), watch, black_holed.clone()));
        Self {
            addr,
            upstream,
            open,
            black_holed,
            task,
        }
    }

    /// `url` with its host and port replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        url.replacen(&self.upstream, &self.addr.to_string(), 1)
    }

    /// Drop every open connection and black-hole new ones.
    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    /// Let connections through again.
    pub fn restore(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: String, open: watch::Receiver<bool>, black_holed: Arc<AtomicUsize>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let mut open = open.clone();
        if !*open.borrow_and_update() {
            // Held until the proxy is restored, then dropped: never answered.
            black_holed.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let _ = open.wait_for(|o| *o).await;
                drop(client);
            });
            continue;
        }
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return;
            };
            pipe(client, server, open).await;
        });
    }
}

/// Copy both ways until either side closes or the proxy is cut (then both are dropped).
async fn pipe(mut client: TcpStream, mut server: TcpStream, mut open: watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = open.wait_for(|o| !*o) => {}
    }
}
