//! Three `spoor-collector` processes over one SQLite file, each given the others with
//! `--peers`, and a client that sends round-robin across them, as a load balancer does:
//! - one visitor's 30 events (by client id; cookieless; by the server cookie alone, from
//!   ever-changing networks) and a server-side `/ingest` load of three visitors are each one
//!   visitor with one session in every collector's reports, every event stored once, and
//!   every event not received by its owner was forwarded to it (counted exactly);
//! - `kill -9` of one collector mid-load, while clients retry on the survivors: every
//!   acknowledged event is stored exactly once, every derived row counts exactly its
//!   events, each visitor is one visitor with one session; the survivors marked the dead
//!   one down, and once restarted, their probes bring it back.
//!
//! Every port is a free one on 127.0.0.1; every wait is bounded.

#![allow(clippy::unwrap_used)]

#[path = "faults/mod.rs"]
mod faults;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use faults::{Stored, assert_derived_match_events, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN_TOKEN: &str = "owners-admin-token-0123456789";
const INGEST_KEY: &str = "owners-ingest-key-0123456789";
const SITES: &str =
    "demo=localhost,127.0.0.1;ids=localhost;cookieless=localhost;cookie=localhost;server=localhost";

/// One collector process of the cluster.
struct Node {
    port: u16,
    args: Vec<String>,
    dir: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl Node {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start(&mut self) {
        assert!(self.child.is_none());
        self.starts += 1;
        let log = std::fs::File::create(
            self.dir
                .join(format!("collector-{}-{}.log", self.port, self.starts)),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_spoor-collector"))
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .env("SPOOR_ADMIN_TOKEN", ADMIN_TOKEN)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let ready_by = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http(self.port, "GET", "/healthz", &[], "").await {
                if r.status == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("collector {} exited at start: {status}", self.port);
            }
            assert!(Instant::now() < ready_by, "collector not ready within 20 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let by = Instant::now() + Duration::from_secs(15);
        while child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < by, "no exit within 15 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    async fn metric(&self, series: &str) -> f64 {
        let r = http(self.port, "GET", "/metrics", &[], "").await.unwrap();
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Three collectors over `dir/spoor.db`, each with the other two as peers.
struct Cluster {
    db: PathBuf,
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Cluster {
        Cluster::of(3).await
    }

    /// `n` collectors; one alone is started without `--peers`.
    async fn of(n: usize) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("spoor.db");
        for sub in ["www", "beacon"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let keys = dir.path().join("ingest-keys");
        std::fs::write(&keys, format!("server={INGEST_KEY}\n")).unwrap();
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let peers = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes: Vec<Node> = ports
            .iter()
            .map(|&port| Node {
                port,
                dir: dir.path().to_path_buf(),
                args: [
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--db",
                    &db.display().to_string(),
                    "--www",
                    &dir.path().join("www").display().to_string(),
                    "--beacon",
                    &dir.path().join("beacon").display().to_string(),
                    "--rate-limit-per-second",
                    "0",
                    "--sites",
                    SITES,
                    "--ingest-keys-file",
                    &keys.display().to_string(),
                    "--peers",
                    &peers,
                    "--peer-self",
                    &format!("http://127.0.0.1:{port}"),
                ]
                .iter()
                .take(if n > 1 { 18 } else { 14 })
                .map(|s| s.to_string())
                .collect(),
                child: None,
                starts: 0,
            })
            .collect();
        // One at a time: the first creates the schema and the store's secrets.
        for node in &mut nodes {
            node.start().await;
        }
        Cluster {
            db,
            nodes,
            _dir: dir,
        }
    }

    fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    fn port(&self, i: usize) -> u16 {
        self.nodes[i % self.nodes.len()].port
    }

    async fn total(&self, series: &str) -> f64 {
        let mut sum = 0.0;
        for node in &self.nodes {
            if node.child.is_some() {
                sum += node.metric(series).await;
            }
        }
        sum
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 exchange on a fresh connection, with `headers` (and the admin token unless
/// they carry an `Authorization`).
async fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> std::io::Result<Reply> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            head.push_str(&format!("Authorization: Bearer {ADMIN_TOKEN}\r\n"));
        }
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        {
            head.push_str("User-Agent: Mozilla/5.0 OwnersTest/1.0\r\n");
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| std::io::Error::other("truncated response"))?;
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other("no status line"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Ok(Reply {
            status,
            headers,
            body: body.to_string(),
        })
    };
    tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

fn id(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// A page view `n` of `site`, `at` ms, by client id `visitor` (none: JSON null).
fn pageview(site: &str, n: usize, visitor: Option<&str>, at: i64) -> serde_json::Value {
    serde_json::json!({
        "id": id(n), "type": "pageview", "url": format!("http://localhost/p/{}", n % 7),
        "referrer": null, "title": "Owners", "visitor": visitor, "session": format!("s-{site}"),
        "ts": at, "screen": "1280x720",
    })
}

fn batch(site: &str, events: &[serde_json::Value]) -> String {
    serde_json::json!({"site": site, "events": events}).to_string()
}

/// The summary of `site` as collector `port` reports it: (visitors, sessions, events).
async fn summary(port: u16, site: &str) -> (u64, u64, u64) {
    let r = http(port, "GET", &format!("/api/summary?site={site}"), &[], "")
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let n = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    (n("visitors"), n("sessions"), n("events"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_visitor_sent_round_robin_to_three_collectors_is_one_visitor_with_one_session() {
    let cluster = Cluster::start().await;
    let now = spoor_collector::clock::now_ms() - 60_000;
    let mut n = 0;

    // By client id, and cookieless: 30 single-event requests, three at a time (one per
    // collector), so the three would resolve the visitor at once were it not owned.
    for (site, visitor) in [("ids", Some("v-ids")), ("cookieless", None)] {
        for wave in 0..10 {
            let sends = (0..3).map(|k| {
                n += 1;
                let body = batch(
                    site,
                    &[pageview(
                        site,
                        n,
                        visitor,
                        now + (wave * 3 + k) as i64 * 1000,
                    )],
                );
                let port = cluster.port(k);
                async move { http(port, "POST", "/collect", &[], &body).await.unwrap() }
            });
            for r in futures_join(sends).await {
                assert_eq!(r.status, 204, "{site}: {}", r.body);
            }
        }
    }

    // By the server cookie alone: the first request's answer sets it; then every request
    // comes from another network (another User-Agent, so another fingerprint) with the
    // cookie, to each collector in turn: each accepts the cookie another one signed.
    n += 1;
    let first = http(
        cluster.port(0),
        "POST",
        "/collect",
        &[("User-Agent", "Mozilla/5.0 Cookie/0".into())],
        &batch("cookie", &[pageview("cookie", n, None, now)]),
    )
    .await
    .unwrap();
    assert_eq!(first.status, 204, "{}", first.body);
    let cookie = first
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    for i in 1..30 {
        n += 1;
        let r = http(
            cluster.port(i),
            "POST",
            "/collect",
            &[
                ("User-Agent", format!("Mozilla/5.0 Cookie/{i}")),
                ("Cookie", cookie.clone()),
            ],
            &batch(
                "cookie",
                &[pageview("cookie", n, None, now + i as i64 * 1000)],
            ),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 204, "{}", r.body);
    }

    // Server-side: ten requests of three visitors' events each, round-robin.
    let urls = cluster.urls();
    let mut expected_forwarded = 60.0; // 20 of each browser visitor's 30 events
    for i in 0..10 {
        let events: Vec<serde_json::Value> = ["srv-a", "srv-b", "srv-c"]
            .iter()
            .map(|v| {
                n += 1;
                let owner = spoor_collector::peers::ring::order(&urls, &format!("server\n{v}"))[0];
                if owner != i % 3 {
                    expected_forwarded += 1.0;
                }
                pageview("server", n, Some(v), now + i as i64 * 1000)
            })
            .collect();
        let r = http(
            cluster.port(i),
            "POST",
            "/ingest",
            &[("Authorization", format!("Bearer {INGEST_KEY}"))],
            &batch("server", &events),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 204, "{}", r.body);
    }

    for node in &cluster.nodes {
        for site in ["ids", "cookieless", "cookie"] {
            assert_eq!(
                summary(node.port, site).await,
                (1, 1, 30),
                "{site} at {}",
                node.port
            );
        }
        assert_eq!(summary(node.port, "server").await, (3, 3, 30));
    }
    // Each event went to its owner: forwarded exactly when it reached another collector.
    assert_eq!(
        cluster.total("spoor_peer_forwarded_events_total").await,
        expected_forwarded
    );
    assert_eq!(
        cluster.total("spoor_peer_received_events_total").await,
        expected_forwarded
    );
    assert_eq!(
        cluster
            .total("spoor_peer_state_changes_total{to=\"down\"}")
            .await,
        0.0
    );

    let mut cluster = cluster;
    for node in &mut cluster.nodes {
        node.terminate();
    }
    let stored = Stored::read(&cluster.db);
    assert_eq!(stored.integrity, "ok");
    assert_eq!(stored.ids.len(), n);
    assert!(
        stored.ids.iter().all(|(_, c)| *c == 1),
        "an event stored twice"
    );
}

/// `futures::future::join_all` without the crate: spawn each and await them in order.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

const VISITORS: usize = 20;
const ROUNDS: usize = 6;
const PER_BATCH: usize = 10;

/// Sends batch `round` of visitor `v` until acknowledged, starting at collector
/// `v + round` and moving to the next on a refused connection or a 503 (as the beacon's
/// retry through a load balancer does). Returns the event ids acknowledged.
async fn send_until_acked(
    ports: &[u16],
    v: usize,
    round: usize,
    now: i64,
    errors: &AtomicUsize,
) -> Vec<String> {
    let events: Vec<serde_json::Value> = (0..PER_BATCH)
        .map(|k| {
            let n = 1_000_000 + (v * 100 + round) * PER_BATCH + k;
            pageview(
                "demo",
                n,
                Some(&format!("v-{v}")),
                now + (round * PER_BATCH + k) as i64 * 500,
            )
        })
        .collect();
    let ids = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    let body = batch("demo", &events);
    let by = Instant::now() + Duration::from_secs(60);
    for attempt in 0.. {
        let port = ports[(v + round + attempt) % ports.len()];
        match http(port, "POST", "/collect", &[], &body).await {
            Ok(r) if r.status == 204 => return ids,
            Ok(r) => assert_eq!(r.status, 503, "{}", r.body),
            Err(_) => {}
        }
        errors.fetch_add(1, Ordering::SeqCst);
        assert!(
            Instant::now() < by,
            "batch {v}/{round} not acknowledged within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_collector_mid_load_loses_nothing_acknowledged_and_keeps_visitors_whole() {
    let mut cluster = Cluster::start().await;
    let ports: Arc<Vec<u16>> = Arc::new((0..3).map(|i| cluster.port(i)).collect());
    let now = spoor_collector::clock::now_ms() - 120_000;
    let acked = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    // Batches done of the visitors the collector to be killed owns (they may run ahead of
    // the others, so the kill waits for them, not for the whole load).
    let done = Arc::new(AtomicUsize::new(0));
    let urls = cluster.urls();
    let victims: Vec<bool> = (0..VISITORS)
        .map(|v| spoor_collector::peers::ring::order(&urls, &format!("demo\nv-{v}"))[0] == 2)
        .collect();
    let victim_rounds = victims.iter().filter(|&&o| o).count() * ROUNDS;
    assert!(victim_rounds > 0, "collector 2 owns none of the visitors");
    let errors = Arc::new(AtomicUsize::new(0));
    // One client per visitor, sending its rounds in order.
    let clients: Vec<_> = (0..VISITORS)
        .map(|v| {
            let victim = victims[v];
            let (ports, acked, done, errors) = (
                Arc::clone(&ports),
                Arc::clone(&acked),
                Arc::clone(&done),
                Arc::clone(&errors),
            );
            tokio::spawn(async move {
                for round in 0..ROUNDS {
                    let ids = send_until_acked(&ports, v, round, now, &errors).await;
                    acked.lock().unwrap().extend(ids);
                    if victim {
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    let by = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < victim_rounds / 3 {
        assert!(Instant::now() < by, "load stuck before the kill");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cluster.nodes[2].kill9();
    let killed_at = done.load(Ordering::SeqCst);
    // A server-side batch at once, half of it owned by the dead collector: its part goes
    // to the next owner, the rest to theirs, and all of it is acknowledged together.
    let server: Vec<serde_json::Value> = (0..12)
        .map(|k| {
            let v = format!("srv-{k}");
            pageview("server", 2_000_000 + k, Some(&v), now)
        })
        .collect();
    let r = http(
        cluster.port(0),
        "POST",
        "/ingest",
        &[("Authorization", format!("Bearer {INGEST_KEY}"))],
        &batch("server", &server),
    )
    .await
    .unwrap();
    assert_eq!(r.status, 204, "{}", r.body);
    acked
        .lock()
        .unwrap()
        .extend(server.iter().map(|e| e["id"].as_str().unwrap().to_string()));
    for c in clients {
        c.await.unwrap();
    }
    eprintln!(
        "killed after {killed_at} of the {victim_rounds} batches of its visitors; \
         failed attempts retried: {}",
        errors.load(Ordering::SeqCst)
    );
    assert!(
        killed_at < victim_rounds,
        "the kill came after its visitors' load"
    );
    // The survivors found the dead one down (their forwards to it failed).
    let downs = cluster
        .total("spoor_peer_state_changes_total{to=\"down\"}")
        .await;
    assert!(downs >= 1.0, "no survivor marked the dead collector down");

    // Back: the survivors' probes find it, and it takes its keys again.
    cluster.nodes[2].start().await;
    let by = Instant::now() + Duration::from_secs(10);
    loop {
        let up0 = cluster.nodes[0].metric("spoor_peers_up").await;
        let up1 = cluster.nodes[1].metric("spoor_peers_up").await;
        if up0 == 3.0 && up1 == 3.0 {
            break;
        }
        assert!(
            Instant::now() < by,
            "the restarted collector is not seen up: {up0} {up1}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let errors = AtomicUsize::new(0);
    for v in 0..VISITORS {
        let ids = send_until_acked(&ports, v, ROUNDS, now, &errors).await;
        acked.lock().unwrap().extend(ids);
    }

    for node in &mut cluster.nodes {
        node.terminate();
    }
    let acked: std::collections::HashSet<String> = acked.lock().unwrap().iter().cloned().collect();
    assert_eq!(acked.len(), VISITORS * (ROUNDS + 1) * PER_BATCH + 12);
    let stored = Stored::read(&cluster.db);
    assert_eq!(stored.integrity, "ok");
    stored.assert_holds_once(&acked);
    assert_eq!(
        stored.ids.len(),
        acked.len(),
        "only what was sent is stored"
    );
    assert_derived_match_events(&cluster.db);
    assert_whole(&cluster.db);
}

/// Each visitor of `demo` is one visitor (its client id), and every visitor has one
/// session.
fn assert_whole(db: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let split: i64 = conn
        .query_row(
            "SELECT count(*) FROM (SELECT site, visitor FROM events GROUP BY site, visitor
                                   HAVING count(DISTINCT session_id) <> 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let visitors: i64 = conn
        .query_row(
            "SELECT count(DISTINCT visitor) FROM events WHERE site = 'demo'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        (visitors, split),
        (VISITORS as i64, 0),
        "visitors split or sessions split"
    );
}

/// CPU time (user + system) of process `pid` so far, in µs, from `/proc`.
fn cpu_us(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports in USER_HZ, 100 on every platform it runs on here.
    ticks * 10_000
}

/// The cost of a forward: `BENCH_EVENTS` single-event requests (default 3000) sent to
/// collector 0 by 8 clients, first for visitors it owns (committed locally), then for
/// visitors collector 1 owns (forwarded), after the same load on one collector without
/// `--peers` (alone); prints events/s, p50/p99 latency and the CPU µs per event of the
/// collector processes together. Run it with
/// `cargo test -p spoor-collector --test owners -- --ignored --nocapture forward_cost`
/// (debug binaries: compare the lines with each other, not with release figures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn forward_cost() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let alone = Cluster::of(1).await;
    let alone_pid = alone.nodes[0].child.as_ref().unwrap().id();
    let now = spoor_collector::clock::now_ms() - 60_000;
    let visitors: Arc<Vec<String>> = Arc::new((0..200).map(|i| format!("a-{i}")).collect());
    load(
        "alone",
        alone.port(0),
        &[alone_pid],
        visitors,
        events,
        20_000_000,
        now,
    )
    .await;
    drop(alone);

    let cluster = Cluster::start().await;
    let urls = cluster.urls();
    let owned_by = |owner: usize| -> Vec<String> {
        (0..)
            .map(|i| format!("b{owner}-{i}"))
            .filter(|v| {
                spoor_collector::peers::ring::order(&urls, &format!("demo\n{v}"))[0] == owner
            })
            .take(200)
            .collect()
    };
    let pids: Vec<u32> = cluster
        .nodes
        .iter()
        .map(|n| n.child.as_ref().unwrap().id())
        .collect();
    let port = cluster.port(0);
    for (label, owner, base) in [("local", 0, 0), ("forwarded", 1, 10_000_000)] {
        let visitors: Arc<Vec<String>> = Arc::new(owned_by(owner));
        load(label, port, &pids, visitors, events, base, now).await;
    }
}

/// Sends `events` single-event page views of `visitors` in turn to `port` from 8 clients
/// (ids from `base`) and prints the rate, latency and CPU of the processes `pids`.
async fn load(
    label: &str,
    port: u16,
    pids: &[u32],
    visitors: Arc<Vec<String>>,
    events: usize,
    base: usize,
    now: i64,
) {
    let cpu_before: u64 = pids.iter().map(|&p| cpu_us(p)).sum();
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (next, visitors) = (Arc::clone(&next), Arc::clone(&visitors));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= events {
                        return latencies;
                    }
                    let v = &visitors[i % visitors.len()];
                    let body = batch("demo", &[pageview("demo", base + i, Some(v), now)]);
                    let sent = Instant::now();
                    let r = http(port, "POST", "/collect", &[], &body).await.unwrap();
                    assert_eq!(r.status, 204, "{}", r.body);
                    latencies.push(sent.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for c in clients {
        latencies.extend(c.await.unwrap());
    }
    let took = started.elapsed();
    let cpu: u64 = pids.iter().map(|&p| cpu_us(p)).sum::<u64>() - cpu_before;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    eprintln!(
        "{label:>9}: {events} events in {took:.2?}: {:.0} events/s, p50 {:.2?}, p99 {:.2?}, \
         CPU of the collectors {:.0} µs/event",
        events as f64 / took.as_secs_f64(),
        at(0.5),
        at(0.99),
        cpu as f64 / events as f64
    );
}

/// Debian's nginx in front of the cluster, round-robin over its collectors, passing a
/// request on to the next collector when one refuses the connection (as a production
/// balancer is set up to).
struct Nginx {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    async fn start(ports: &[u16]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path().display();
        let servers: String = ports
            .iter()
            .map(|p| format!("server 127.0.0.1:{p} max_fails=0;"))
            .collect();
        let conf = format!(
            "daemon off; master_process off; worker_processes 1;
             pid {d}/nginx.pid; error_log {d}/error.log;
             events {{ worker_connections 256; }}
             http {{
               access_log off;
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
               upstream collectors {{ {servers} }}
               server {{
                 listen 127.0.0.1:{port};
                 location / {{
                   proxy_pass http://collectors;
                   proxy_set_header Host $host;
                   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                   proxy_next_upstream error non_idempotent;
                 }}
               }}
             }}"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let binary = std::env::var("NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".into());
        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary} (apt-get install nginx): {e}"));
        let by = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < by, "nginx did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Nginx {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `body` through nginx until it is acknowledged; returns the answer's cookie.
async fn through(port: u16, headers: &[(&str, String)], body: &str) -> Option<String> {
    let by = Instant::now() + Duration::from_secs(30);
    loop {
        match http(port, "POST", "/collect", headers, body).await {
            Ok(r) if r.status == 204 => {
                return r
                    .header("set-cookie")
                    .and_then(|c| c.split(';').next())
                    .map(str::to_string);
            }
            Ok(r) => assert!(r.status >= 500, "{}: {}", r.status, r.body),
            Err(_) => {}
        }
        assert!(
            Instant::now() < by,
            "not acknowledged through nginx within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx_round_robin_a_visitor_stays_whole_before_and_after_a_collector_dies() {
    let mut cluster = Cluster::start().await;
    let nginx = Nginx::start(&(0..3).map(|i| cluster.port(i)).collect::<Vec<_>>()).await;
    let now = spoor_collector::clock::now_ms() - 60_000;
    let mut cookie: Option<String> = None;
    let mut n = 0;
    for i in 0..60 {
        if i == 30 {
            // nginx passes on what the dead collector refuses; the beacon retries the rest.
            cluster.nodes[1].kill9();
        }
        let at = now + i as i64 * 1000;
        n += 1;
        through(
            nginx.port,
            &[],
            &batch("ids", &[pageview("ids", n, Some("v-nginx"), at)]),
        )
        .await;
        n += 1;
        // A browser whose cookie is its only id, answered by whichever collector nginx
        // picked: the cookie keeps it one visitor.
        let headers: Vec<(&str, String)> = cookie
            .iter()
            .map(|c| ("Cookie", c.clone()))
            .chain([("User-Agent", format!("Mozilla/5.0 Nginx/{i}"))])
            .collect();
        let set = through(
            nginx.port,
            &headers,
            &batch("cookie", &[pageview("cookie", n, None, at)]),
        )
        .await;
        cookie = cookie.or(set);
    }
    let forwarded = cluster.total("spoor_peer_forwarded_events_total").await;
    assert!(
        forwarded >= 20.0,
        "round-robin sent most events to a non-owner: {forwarded} forwarded"
    );
    for site in ["ids", "cookie"] {
        assert_eq!(
            summary(cluster.port(0), site).await,
            (1, 1, 30 * 2),
            "{site}"
        );
    }
    drop(nginx);
    for node in &mut cluster.nodes {
        node.terminate();
    }
    let stored = Stored::read(&cluster.db);
    assert_eq!(stored.ids.len(), n);
    assert!(
        stored.ids.iter().all(|(_, c)| *c == 1),
        "an event stored twice"
    );
    assert_derived_match_events(&cluster.db);
}
