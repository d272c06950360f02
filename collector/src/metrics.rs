//! [`Metrics`]: the collector's counters, gauges and histograms, rendered for `GET /metrics`
//! in the Prometheus text format (hand-written: a few atomics need no library).
//!
//! `/collect` counts *items*: each event of a batch whose envelope parsed, or the whole
//! request when it was refused before its events could be counted (rate limited, wrong
//! content type, body too large, not a batch). Every item received ends in exactly one
//! outcome, so after any load
//! `received = accepted + deduplicated + rejected + failed + filtered`
//! (the last three summed over their `reason` labels). The test `collector/tests/metrics.rs`
//! checks that identity after a mixed load.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// A counter per label value.
#[derive(Debug, Default)]
struct Family(Mutex<BTreeMap<String, u64>>);

impl Family {
    fn add(&self, label: &str, n: u64) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(label.to_string()).or_default() += n;
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A histogram with fixed buckets.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus `+Inf`.
    buckets: Vec<AtomicU64>,
    /// Sum of observations, in millionths.
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: f64) {
        let slot = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(bucket) = self.buckets.get(slot) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros
            .fetch_add((value.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = self
                .bounds
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {}", self.count.load(Ordering::Relaxed));
    }
}

const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];
const LATENCY_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Every metric the collector keeps; shared through [`AppState`] and the ingest writer.
#[derive(Debug)]
pub struct Metrics {
    requests: Family,
    received: AtomicU64,
    accepted: AtomicU64,
    deduplicated: AtomicU64,
    rejected: Family,
    failed: Family,
    filtered: Family,
    fallback: Family,
    rate_limited: AtomicU64,
    admin_refused: Family,
    batch_events: Histogram,
    commit_seconds: Histogram,
    connections_refused: AtomicU64,
    connections_shed: Family,
    connections_open: AtomicU64,
    identity_links_capped: AtomicU64,
    opaque_origin_batches: AtomicU64,
    /// Forwarding between collectors (`--peers`); rendered only when peers are configured.
    pub peers: crate::peers::metrics::PeerMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            received: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            deduplicated: AtomicU64::new(0),
            rejected: Family::default(),
            failed: Family::default(),
            filtered: Family::default(),
            fallback: Family::default(),
            rate_limited: AtomicU64::new(0),
            admin_refused: Family::default(),
            batch_events: Histogram::new(BATCH_BOUNDS),
            commit_seconds: Histogram::new(LATENCY_BOUNDS),
            connections_refused: AtomicU64::new(0),
            connections_shed: Family::default(),
            connections_open: AtomicU64::new(0),
            identity_links_capped: AtomicU64::new(0),
            opaque_origin_batches: AtomicU64::new(0),
            peers: Default::default(),
        }
    }
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

impl Metrics {
    /// `n` items reached `/collect`.
    pub fn received(&self, n: usize) {
        add(&self.received, n);
    }

    /// `stored` events were committed and `duplicates` were already stored.
    pub fn accepted(&self, stored: usize, duplicates: usize) {
        add(&self.accepted, stored);
        add(&self.deduplicated, duplicates);
    }

    /// `n` items were refused for `reason` (the request's status is 4xx or 5xx).
    pub fn rejected(&self, reason: &str, n: usize) {
        self.rejected.add(reason, n as u64);
    }

    /// One request was refused by the rate limit (also counted as rejected).
    pub fn rate_limited(&self) {
        add(&self.rate_limited, 1);
        self.rejected("rate_limited", 1);
    }

    /// `n` events failed validation for `reason` and went to `failed_events`.
    pub fn failed(&self, reason: &str, n: usize) {
        self.failed.add(reason, n as u64);
    }

    /// `n` events were dropped for `reason`: bot traffic, or a login under DNT/GPC.
    pub fn filtered(&self, reason: &str, n: usize) {
        if n > 0 {
            self.filtered.add(reason, n as u64);
        }
    }

    /// The admin gate refused one request for `reason` (see `routes::auth`).
    pub fn admin_refused(&self, reason: &str) {
        self.admin_refused.add(reason, 1);
    }

    /// One page view sent by the loader's no-wasm fallback was accepted (stored, or a
    /// duplicate); `reason` is why the beacon could not run
    /// ([`payload::fallback`](crate::payload::fallback)). Not an outcome: these are also
    /// counted as accepted.
    pub fn fallback_pageview(&self, reason: &str) {
        self.fallback.add(reason, 1);
    }

    /// The writer committed a batch of `events` in `took`.
    pub fn committed(&self, events: usize, took: Duration) {
        self.batch_events.observe(events as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// A new connection was refused: its client had `max_connections_per_client`
    /// connections, all busy ([`server`](crate::http::server)).
    pub fn connection_refused(&self) {
        add(&self.connections_refused, 1);
    }

    /// An idle or unfinished connection was closed to make room for a new one, at the
    /// client's cap (`client_cap`) or the server's (`global_cap`).
    pub fn connection_shed(&self, reason: &str) {
        self.connections_shed.add(reason, 1);
    }

    /// `n` connections are open.
    pub fn connections_open(&self, n: usize) {
        self.connections_open.store(n as u64, Ordering::Relaxed);
    }

    /// `n` events of a committed batch came with a new client id that was not linked to
    /// their server cookie's visitor: the cookie had reached `max_ids_per_cookie` today.
    pub fn identity_links_capped(&self, n: usize) {
        add(&self.identity_links_capped, n);
    }

    /// A `/collect` batch from a page with an opaque origin (`Origin: null`) passed the
    /// origin check and goes on, cookieless (see [`cors`](crate::http::cors)). Not an outcome: its
    /// events are counted by theirs too.
    pub fn opaque_origin_batch(&self) {
        add(&self.opaque_origin_batches, 1);
    }

    /// One HTTP request on `route` was answered `status`.
    pub fn request(&self, route: &str, status: u16) {
        self.requests.add(&format!("{route}\u{0}{status}"), 1);
    }

    /// The metrics in the Prometheus text format; `queue_depth` is read by the caller.
    pub fn render(&self, queue_depth: usize) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP spoor_http_requests_total HTTP requests by route and status.\n\
             # TYPE spoor_http_requests_total counter"
        );
        for (key, n) in self.requests.snapshot() {
            let (route, status) = key.split_once('\u{0}').unwrap_or((&key, ""));
            let _ = writeln!(
                out,
                "spoor_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        let counters = [
            (
                "spoor_events_received_total",
                "Items received by /collect: events of parsed batches, or whole requests refused before their events were counted.",
                &self.received,
            ),
            (
                "spoor_events_accepted_total",
                "Events newly stored.",
                &self.accepted,
            ),
            (
                "spoor_events_deduplicated_total",
                "Events whose id was already stored.",
                &self.deduplicated,
            ),
            (
                "spoor_connections_refused_total",
                "Connections answered 429 and closed at once: their client had max_connections_per_client open, all busy.",
                &self.connections_refused,
            ),
            (
                "spoor_identity_links_capped_total",
                "Events stored without the client-id link to their cookie's visitor: the cookie had max_ids_per_cookie ids linked today.",
                &self.identity_links_capped,
            ),
            (
                "spoor_opaque_origin_batches_total",
                "Batches /collect let through from pages with an opaque origin (Origin: null, such as a sandboxed frame), stored without cookies.",
                &self.opaque_origin_batches,
            ),
            (
                "spoor_rate_limited_total",
                "Requests refused by the per-client rate limit (also in rejected, reason rate_limited).",
                &self.rate_limited,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let families = [
            (
                "spoor_events_rejected_total",
                "Items refused with the whole request, by reason.",
                &self.rejected,
            ),
            (
                "spoor_events_failed_total",
                "Events that failed validation (kept in failed_events), by reason.",
                &self.failed,
            ),
            (
                "spoor_events_filtered_total",
                "Events dropped unstored (bot traffic, identify under DNT/GPC), by reason.",
                &self.filtered,
            ),
            (
                "spoor_admin_refused_total",
                "Requests to /api, /metrics or the dashboard refused by the admin gate, by reason.",
                &self.admin_refused,
            ),
            (
                "spoor_connections_shed_total",
                "Idle or unfinished connections closed to serve a new one, by the cap reached (client_cap, global_cap).",
                &self.connections_shed,
            ),
            (
                "spoor_fallback_pageviews_total",
                "Page views accepted from browsers where the wasm beacon could not run (sent by the loader's fallback, cookieless; also in accepted), by reason.",
                &self.fallback,
            ),
        ];
        for (name, help, family) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (reason, n) in family.snapshot() {
                let _ = writeln!(out, "{name}{{reason=\"{}\"}} {n}", escape(&reason));
            }
        }
        let _ = writeln!(
            out,
            "# HELP spoor_ingest_queue_depth Requests waiting for the writer.\n\
             # TYPE spoor_ingest_queue_depth gauge\nspoor_ingest_queue_depth {queue_depth}"
        );
        let _ = writeln!(
            out,
            "# HELP spoor_connections_open HTTP connections open.\n\
             # TYPE spoor_connections_open gauge\nspoor_connections_open {}",
            self.connections_open.load(Ordering::Relaxed)
        );
        self.batch_events.render(
            &mut out,
            "spoor_ingest_batch_events",
            "Events per committed transaction.",
        );
        self.commit_seconds.render(
            &mut out,
            "spoor_ingest_commit_seconds",
            "Time to commit one transaction, in seconds.",
        );
        self.peers.render(&mut out);
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render(state.ingest.queue_depth());
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Middleware counting every routed request by route and status.
pub async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", MatchedPath::as_str)
        .to_string();
    let response = next.run(request).await;
    state.metrics.request(&route, response.status().as_u16());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_counters_render() {
        let m = Metrics::default();
        m.committed(3, Duration::from_millis(2));
        m.committed(300, Duration::from_millis(20));
        m.rejected("invalid_json", 1);
        m.request("/collect", 204);
        let text = m.render(7);
        for line in [
            "spoor_ingest_batch_events_bucket{le=\"5\"} 1",
            "spoor_ingest_batch_events_bucket{le=\"500\"} 2",
            "spoor_ingest_batch_events_bucket{le=\"+Inf\"} 2",
            "spoor_ingest_batch_events_count 2",
            "spoor_ingest_batch_events_sum 303",
            "spoor_ingest_commit_seconds_bucket{le=\"0.0025\"} 1",
            "spoor_events_rejected_total{reason=\"invalid_json\"} 1",
            "spoor_http_requests_total{route=\"/collect\",status=\"204\"} 1",
            "spoor_ingest_queue_depth 7",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
