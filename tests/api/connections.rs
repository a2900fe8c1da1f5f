//! Connections that never finish their request, and the caps on open
//! connections (issue 13, point 4). Not a database matter: SQLite only.
//!
//! The sockets of these tests come from their own loopback addresses
//! (127.0.0.2 and up; Linux routes all of 127/8 to `lo`), so the helpers'
//! HTTP client on 127.0.0.1 never counts against the caps they test.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use minsheng::config::{ConnectionLimits, HttpSettings};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Backend, TestApp, live_settings, spawn_app_full};

/// The longest wait for anything here; never a measure of speed.
const WAIT: Duration = Duration::from_secs(30);

async fn spawn_with(limits: ConnectionLimits) -> TestApp {
    let http = HttpSettings {
        connections: limits,
        ..crate::helpers::http_settings()
    };
    spawn_app_full(Backend::Sqlite, live_settings(), http)
        .await
        .expect("SQLite is always there")
}

/// A TCP connection to `addr` from the loopback address `from`.
async fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{from}:0").parse().expect("address"))
        .expect("bind");
    tokio::time::timeout(WAIT, socket.connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Read until the server closes `stream`; what it sent before. Panics if it is still open after [`WAIT`].
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open for {WAIT:?}"),
            Ok(Ok(0) | Err(_)) => return seen,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Whether a new connection from `from` is served (`GET /healthz` answered 200).
async fn served(from: &str, addr: SocketAddr) -> bool {
    let mut stream = connect_from(from, addr).await;
    // The write may fail on a socket refused already; the read tells.
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: minsheng\r\nConnection: close\r\n\r\n")
        .await;
    closed_by_server(&mut stream).await.starts_with(b"HTTP/1.1 200")
}

/// Wait (bounded) until a connection from `from` is served again.
async fn served_again(from: &str, addr: SocketAddr) {
    let until = tokio::time::Instant::now() + WAIT;
    while !served(from, addr).await {
        assert!(
            tokio::time::Instant::now() < until,
            "{from} still refused after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metrics(app: &TestApp) -> String {
    let reply = app.get("/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.body.as_str().expect("text").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_finishes_its_request_is_closed() {
    let app = spawn_with(ConnectionLimits {
        header_timeout: Duration::from_secs(1),
        ..Default::default()
    })
    .await;
    let mut half_line = connect_from("127.0.0.2", app.addr).await;
    half_line.write_all(b"GET /heal").await.expect("write");
    let mut silent = connect_from("127.0.0.2", app.addr).await;
    closed_by_server(&mut half_line).await;
    closed_by_server(&mut silent).await;
    // A request that does arrive is answered as before.
    assert!(served("127.0.0.2", app.addr).await);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_connections_than_its_cap() {
    let app = spawn_with(ConnectionLimits {
        max_connections_per_address: 3,
        header_timeout: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect_from("127.0.0.2", app.addr).await);
    }
    // Accepted in order: the three idle ones hold the address's places.
    assert!(!served("127.0.0.2", app.addr).await, "a fourth connection was served");
    assert!(served("127.0.0.3", app.addr).await, "another address is not affected");
    drop(idle.pop());
    served_again("127.0.0.2", app.addr).await;
    assert!(
        metrics(&app)
            .await
            .lines()
            .any(|l| l.starts_with("minsheng_connections_refused_total{reason=\"per_address\"}") && !l.ends_with(" 0")),
        "refusal not counted"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_refuses_connections_past_its_cap() {
    const CAP: usize = 6;
    let app = spawn_with(ConnectionLimits {
        max_connections: CAP,
        header_timeout: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    // The helpers' client may hold a connection or two: fill up to the cap, whatever it is.
    let mut idle = Vec::new();
    loop {
        let mut probe = connect_from("127.0.0.4", app.addr).await;
        let _ = probe
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: minsheng\r\n\r\n")
            .await;
        let mut buf = [0u8; 12];
        let answered = tokio::time::timeout(WAIT, probe.read_exact(&mut buf))
            .await
            .expect("an answer or a close");
        match answered {
            Ok(_) if buf.starts_with(b"HTTP/1.1 200") => idle.push(probe),
            _ => break,
        }
        assert!(idle.len() <= CAP, "more than {CAP} connections served at once");
    }
    assert!(!idle.is_empty(), "not even one connection was served");
    // At the cap, every address is refused.
    assert!(!served("127.0.0.5", app.addr).await);
    drop(idle.pop());
    served_again("127.0.0.5", app.addr).await;
    drop(idle);
    let until = tokio::time::Instant::now() + WAIT;
    let text = loop {
        // The helpers' client needs a place too: wait for the idle sockets to be seen closed.
        match app.client.get(app.url("/metrics")).send().await {
            Ok(r) => break r.text().await.expect("metrics"),
            Err(_) if tokio::time::Instant::now() < until => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("metrics: {e}"),
        }
    };
    assert!(
        text.lines().any(
            |l| l.starts_with("minsheng_connections_refused_total{reason=\"max_connections\"}") && !l.ends_with(" 0")
        ),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_work_and_count_until_they_close() {
    let app = spawn_with(ConnectionLimits {
        max_connections_per_address: 2,
        header_timeout: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let event = app.live_event().await;
    let tcp = connect_from("127.0.0.6", app.addr).await;
    let (mut ws, _) = tokio_tungstenite::client_async(app.ws_url(event), tcp)
        .await
        .expect("upgrade");
    let hello = json!({ "type": "hello", "protocol": 1, "nickname": "网友" }).to_string();
    ws.send(Message::text(hello)).await.expect("hello");
    let welcome = loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("a frame in time") {
            Some(Ok(Message::Text(t))) => break serde_json::from_str::<serde_json::Value>(t.as_str()).expect("JSON"),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    };
    assert_eq!(welcome["type"], "welcome", "{welcome:?}");
    // The upgraded socket still holds one of the address's two places.
    let _idle = connect_from("127.0.0.6", app.addr).await;
    assert!(!served("127.0.0.6", app.addr).await, "a third connection was served");
    ws.close(None).await.expect("close");
    drop(ws);
    served_again("127.0.0.6", app.addr).await;
    app.stop().await;
}
