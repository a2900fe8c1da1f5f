//! Counters for `/metrics`, in Prometheus' text format.
//!
//! HTTP counts are keyed by the matched route (low cardinality) and kept
//! under a std `Mutex`: it is held for a map update only, never across an
//! `.await`, and this is not the live broadcast path.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct RouteStats {
    /// Count per status code.
    by_status: BTreeMap<u16, u64>,
    /// Cumulative counts per bucket, then +Inf.
    buckets: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
}

#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, String), RouteStats>>,
    /// Kept by the server loop (`crate::server`).
    pub connections: Arc<ConnectionStats>,
}

/// The HTTP server's connections: open now, and refused at a cap.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    pub open: AtomicU64,
    /// Refused because the node holds `--max-connections` already.
    pub refused_full: AtomicU64,
    /// Refused because their address holds `--max-connections-per-address` already.
    pub refused_per_address: AtomicU64,
}

impl Metrics {
    pub fn observe_http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        let stats = http.entry((method.to_owned(), route.to_owned())).or_default();
        *stats.by_status.entry(status).or_default() += 1;
        let bucket = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        for count in &mut stats.buckets[bucket..] {
            *count += 1;
        }
        stats.sum_seconds += secs;
    }

    /// The text exposition, with `extra` gauges appended.
    pub fn render(&self, extra: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        out.push_str("# HELP minsheng_http_requests_total HTTP requests by method, route and status.\n");
        out.push_str("# TYPE minsheng_http_requests_total counter\n");
        let http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        for ((method, route), stats) in http.iter() {
            for (status, n) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "minsheng_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str("# HELP minsheng_http_request_duration_seconds Time to answer an HTTP request.\n");
        out.push_str("# TYPE minsheng_http_request_duration_seconds histogram\n");
        for ((method, route), stats) in http.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "minsheng_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    stats.buckets[i]
                );
            }
            let total = stats.buckets[BUCKETS.len()];
            let _ = writeln!(
                out,
                "minsheng_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(
                out,
                "minsheng_http_request_duration_seconds_sum{{{labels}}} {}",
                stats.sum_seconds
            );
            let _ = writeln!(out, "minsheng_http_request_duration_seconds_count{{{labels}}} {total}");
        }
        drop(http);
        let c = &self.connections;
        let _ = writeln!(
            out,
            "# HELP minsheng_connections_open TCP connections open (HTTP and WebSocket).\n\
             # TYPE minsheng_connections_open gauge\nminsheng_connections_open {}",
            c.open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP minsheng_connections_refused_total Connections closed at accept because a cap was reached.\n\
             # TYPE minsheng_connections_refused_total counter\n\
             minsheng_connections_refused_total{{reason=\"max_connections\"}} {}\n\
             minsheng_connections_refused_total{{reason=\"per_address\"}} {}",
            c.refused_full.load(Ordering::Relaxed),
            c.refused_per_address.load(Ordering::Relaxed)
        );
        for (name, help, value) in extra {
            // Prometheus' convention: a `_total` is a counter.
            let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_http("GET", "/api/events", 200, Duration::from_millis(3));
        m.observe_http("GET", "/api/events", 200, Duration::from_millis(300));
        m.observe_http("GET", "/api/events", 404, Duration::from_millis(1));
        let text = m.render(&[("minsheng_up", "Whether the service is up.", 1.0)]);
        assert!(text.contains("minsheng_http_requests_total{method=\"GET\",route=\"/api/events\",status=\"200\"} 2"));
        assert!(text.contains("le=\"0.005\"} 2"));
        assert!(text.contains("le=\"+Inf\"} 3"));
        assert!(text.contains("minsheng_up 1"));
    }
}
