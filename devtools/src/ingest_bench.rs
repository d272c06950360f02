//! The ingest benchmark behind `spoor-bench-ingest`: batches of page views sent over
//! HTTP/1.1 by concurrent keep-alive clients to a collector served on 127.0.0.1 — the
//! whole path: parsing, validation, identity, the batching writer, SQLite with its
//! sessions, rollups and `synchronous=FULL`, and the acknowledgement after the commit —
//! and, in the same run, the baseline: the store's own insert rate for as many events
//! (the generator's realistic history, 500 events a transaction like the writer's largest
//! batch), the ceiling the HTTP path can approach.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::reports_bench::percentile;
use spoor_collector::Collector;
use spoor_collector::config::Config;
use spoor_collector::http::ratelimit::RateLimitConfig;
use spoor_collector::http::server::ServerLimits;
use spoor_collector::reports::generate::{self, generate};
use spoor_collector::reports::range::DAY_MS;
use spoor_collector::store::sqlite::SqliteStore;

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Events in all (rounded down to whole requests).
    pub events: usize,
    /// Events per request (the beacon sends a few at a time).
    pub per_request: usize,
    /// Clients sending at once, each on its own keep-alive connection.
    pub clients: usize,
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Events acknowledged over HTTP.
    pub http_events: usize,
    /// Wall time of the HTTP load.
    pub http: Duration,
    /// Each request's time, from writing it to reading its whole answer.
    pub requests: Vec<Duration>,
    /// Events written straight into the store.
    pub store_events: u64,
    /// Wall time of the store baseline.
    pub store: Duration,
}

/// Runs the baseline, then the HTTP load, each on a new database in `dir`.
pub async fn run(dir: &Path, spec: Spec) -> anyhow::Result<Measured> {
    let (store_events, store) = store_baseline(dir, spec.events).await?;
    let (http_events, http, requests) = http_load(dir, spec).await?;
    Ok(Measured {
        http_events,
        http,
        requests,
        store_events,
        store,
    })
}

/// The generator's history written through `SqliteStore::insert_groups`, 500 events a
/// transaction.
async fn store_baseline(dir: &Path, events: usize) -> anyhow::Result<(u64, Duration)> {
    let path = dir.join("store.db");
    tokio::task::spawn_blocking(move || {
        let store = SqliteStore::open(&path)?;
        let spec = generate::Spec {
            site: "demo".into(),
            events: events as u64,
            days: 1,
            // Yesterday, whole: the generator writes today only up to now.
            end_ms: spoor_collector::clock::now_ms().div_euclid(DAY_MS) * DAY_MS - 1,
            seed: 1,
            batch: 500,
        };
        let start = Instant::now();
        let written = generate(&store, &spec, |_| {})?;
        Ok((written.events, start.elapsed()))
    })
    .await?
}

/// Serves a collector on a free port over `dir/http.db` (rate limit off: the load comes
/// from one address) and sends the load; the collector drains and stops after.
async fn http_load(dir: &Path, spec: Spec) -> anyhow::Result<(usize, Duration, Vec<Duration>)> {
    let config = Config {
        db: dir.join("http.db"),
        rate_limit: RateLimitConfig {
            per_second: 0.0,
            ..RateLimitConfig::default()
        },
        // Every client is one connection from 127.0.0.1.
        server: ServerLimits {
            max_connections_per_client: spec.clients.max(1),
            ..ServerLimits::default()
        },
        ..Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let collector = Collector::open(config).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(collector.serve(listener, async {
        let _ = stopped.await;
    }));
    let requests = spec.events / spec.per_request.max(1);
    let clients = spec.clients.clamp(1, requests.max(1));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let mine: Vec<usize> = (client..requests).step_by(clients).collect();
        let per_request = spec.per_request;
        tasks.push(tokio::spawn(async move {
            let conn = TcpStream::connect(("127.0.0.1", port)).await?;
            // As browsers do: a request is not held back waiting for the last one's ACK.
            conn.set_nodelay(true)?;
            let mut conn = BufReader::new(conn);
            let mut times = Vec::with_capacity(mine.len());
            for b in mine {
                let body = batch(b, per_request);
                let sent = Instant::now();
                let status = post(&mut conn, "/collect", &body).await?;
                times.push(sent.elapsed());
                // 204: all stored (a bot's batch gets it too: the count below tells).
                anyhow::ensure!(status == 204, "batch {b} answered {status}");
            }
            anyhow::Ok(times)
        }));
    }
    let mut times = Vec::with_capacity(requests);
    for task in tasks {
        times.extend(task.await??);
    }
    let elapsed = start.elapsed();
    let _ = stop.send(());
    server.await??;
    let sent = times.len() * spec.per_request;
    let stored: i64 = rusqlite::Connection::open(dir.join("http.db"))?.query_row(
        "SELECT count(*) FROM events",
        [],
        |r| r.get(0),
    )?;
    anyhow::ensure!(
        usize::try_from(stored) == Ok(sent),
        "{sent} events acknowledged, {stored} stored"
    );
    Ok((sent, elapsed, times))
}

/// Request `b`'s body: `n` page views of visitor `v-b` in one session, as a running
/// beacon sends them.
fn batch(b: usize, n: usize) -> String {
    let ts = spoor_collector::clock::now_ms();
    let events: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": uuid::Uuid::from_u128(((b as u128) << 32) | i as u128).to_string(),
                "type": "pageview", "url": format!("http://localhost/docs/{i}"),
                "referrer": null, "title": "Docs", "visitor": format!("v-{b}"),
                "session": format!("s-{b}"), "ts": ts, "screen": "1280x720",
            })
        })
        .collect();
    serde_json::json!({"site": "demo", "events": events}).to_string()
}

/// One `POST` on a keep-alive connection; its status once the whole answer is read.
async fn post(conn: &mut BufReader<TcpStream>, path: &str, body: &str) -> anyhow::Result<u16> {
    // One write: head and body in one segment.
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\n\
         User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut().write_all(request.as_bytes()).await?;
    let mut status_line = String::new();
    conn.read_line(&mut status_line).await?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line: {status_line:?}"))?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        anyhow::ensure!(conn.read_line(&mut line).await? > 0, "connection closed");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse()?;
            }
        }
    }
    let mut rest = vec![0; length];
    conn.read_exact(&mut rest).await?;
    Ok(status)
}

/// The result as a Markdown table with the ratio of the HTTP path to the store's rate.
pub fn table(spec: Spec, m: &Measured) -> String {
    let rate = |n: f64, d: Duration| n / d.as_secs_f64().max(f64::EPSILON);
    let store = rate(m.store_events as f64, m.store);
    let http = rate(m.http_events as f64, m.http);
    let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
    format!(
        "| path | events | seconds | events/s | of the store's rate |\n\
         |---|---:|---:|---:|---:|\n\
         | store insert (generator, 500 events a transaction) | {} | {:.2} | {:.0} | 1.00 |\n\
         | HTTP /collect ({} clients x {} events a request) | {} | {:.2} | {:.0} | {:.2} |\n\n\
         HTTP requests: {} in all, p50 {} ms, p95 {} ms, p99 {} ms (from writing the request \
         to reading its acknowledgement, sent after the commit).\n",
        m.store_events,
        m.store.as_secs_f64(),
        store,
        spec.clients,
        spec.per_request,
        m.http_events,
        m.http.as_secs_f64(),
        http,
        http / store.max(f64::EPSILON),
        m.requests.len(),
        ms(percentile(&m.requests, 50.0)),
        ms(percentile(&m.requests, 95.0)),
        ms(percentile(&m.requests, 99.0)),
    )
}
