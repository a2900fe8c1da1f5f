//! Minsheng (民声): the livestream interaction relay for Daxing district's
//! government open days (政务开放日) and policy lectures (政策公开讲).
//!
//! Where things live:
//! - [`domain`]: pure types and rules — events and their lifecycle, the
//!   working-day calendar, the plan's deadlines, staff roles, the plan file.
//! - [`store`]: SQLite or PostgreSQL behind one API, one module per aggregate.
//! - [`hub`]: the live rooms — WebSocket protocol, rooms, connections, client actions, limits, screen.
//! - [`http`]: the axum routes, auth extractors, error mapping, OpenAPI,
//!   health and metrics, and the embedded pages under `web/`.
//! - [`app`]: wiring — configuration into state, serving, graceful shutdown.
//! - [`server`]: the HTTP accept loop — connection caps, header timeout, graceful shutdown.
//! - [`config`], [`cli`]: the command line and its environment fallbacks.
//! - [`demo`]: the demo schedule that `serve --demo` lays around today.
//! - [`export`]: CSV and Excel workbooks from typed tables (bytes only, no I/O).
//! - [`metrics`]: the counters behind `/metrics`.

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod export;
pub mod http;
pub mod hub;
pub mod identity;
pub mod metrics;
pub mod passwords;
pub mod second_factor;
pub mod server;
pub mod store;
