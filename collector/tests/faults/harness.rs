//! Harness of the fault tests: the real `spoor-collector` binary as a child process on a
//! free 127.0.0.1 port, a minimal HTTP/1.1 client over a raw socket (so a killed server
//! shows up as the connection errors a browser would see), a load generator whose clients
//! retry every batch that was not acknowledged, and reads of the database file.
//!
//! Every wait here is bounded; a test that cannot finish fails instead of hanging.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any one fault test's load may take before it is declared stuck.
pub const LOAD_LIMIT: Duration = Duration::from_secs(90);

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A deterministic random source (splitmix64), so a failing run can be replayed by seed.
pub struct Rng(u64);

impl Rng {
    /// Seeded from `SPOOR_FAULT_SEED` when set, else from `default`; prints the seed.
    pub fn from_env(default: u64) -> Rng {
        let seed = std::env::var("SPOOR_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        eprintln!("fault test seed: {seed} (set SPOOR_FAULT_SEED to replay)");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

/// The collector binary running as a child process.
pub struct Collector {
    pub port: u16,
    pub db: PathBuf,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<std::process::Child>,
    starts: usize,
}

impl Collector {
    /// Starts the binary on `port` over `dir/spoor.db` with `args` added, and waits until
    /// it answers `/healthz`.
    pub async fn start(dir: &Path, port: u16, args: &[&str]) -> Collector {
        std::fs::create_dir_all(dir.join("www")).unwrap();
        std::fs::create_dir_all(dir.join("beacon")).unwrap();
        let mut c = Collector {
            port,
            db: dir.join("spoor.db"),
            dir: dir.to_path_buf(),
            args: args.iter().map(|s| s.to_string()).collect(),
            child: None,
            starts: 0,
        };
        c.restart().await;
        c
    }

    /// Starts the process again (same port, same database) and waits until it is ready.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the collector is still running");
        self.starts += 1;
        let log =
            std::fs::File::create(self.dir.join(format!("collector-{}.log", self.starts))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_spoor-collector"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--db")
            .arg(&self.db)
            .arg("--www")
            .arg(self.dir.join("www"))
            .arg("--beacon")
            .arg(self.dir.join("beacon"))
            .args(&self.args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let ready_by = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(resp) = request(self.port, "GET", "/healthz", "").await {
                if resp.status == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "collector exited at start with {status}: see {}",
                    self.log()
                );
            }
            assert!(Instant::now() < ready_by, "collector not ready within 20 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The process id of the running child.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// `SIGKILL`: the process dies wherever it is, with no chance to flush anything.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Sends `SIGTERM` and waits up to `limit` for the exit; returns its status and how
    /// long it took.
    pub fn terminate(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let mut child = self.child.take().unwrap();
        let sent = Instant::now();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -TERM failed");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, sent.elapsed());
            }
            if sent.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no exit within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Resident memory of the child in KiB, from `/proc`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// The path of the latest log file (for failure messages).
    pub fn log(&self) -> String {
        self.dir
            .join(format!("collector-{}.log", self.starts))
            .display()
            .to_string()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What came back from one request.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), bounded to 15 s.
pub async fn request(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<Response> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: SpoorFaultTest/1.0\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse(&raw)
    };
    tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("truncated response"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let retry_after = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .map(|(_, v)| v.trim().to_string());
    Ok(Response {
        status,
        retry_after,
        body: body.to_string(),
    })
}

/// One batch of the load: its event ids and its `/collect` body.
pub struct Batch {
    pub ids: Vec<String>,
    pub body: String,
}

/// `count` batches of `size` page views of site `demo`, every event id unique; batch `b`
/// is sent by visitor `v-b`.
pub fn batches(count: usize, size: usize) -> Vec<Batch> {
    let ts = spoor_collector::clock::now_ms();
    (0..count)
        .map(|b| {
            let ids: Vec<String> = (0..size)
                .map(|i| format!("00000000-0000-4000-8000-{:012x}", b * size + i))
                .collect();
            let events: Vec<serde_json::Value> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    serde_json::json!({
                        "id": id, "type": "pageview", "url": format!("http://localhost/p/{i}"),
                        "referrer": null, "title": "Fault", "visitor": format!("v-{b}"),
                        "session": format!("s-{b}"), "ts": ts,
                    })
                })
                .collect();
            let body = serde_json::json!({"site": "demo", "events": events}).to_string();
            Batch { ids, body }
        })
        .collect()
}

/// What clients do with a batch that was not acknowledged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Retry it until it is acknowledged (the beacon's behaviour).
    Retry,
    /// Retry 503s, but give the batch up once the collector stops answering (shutdown).
    GiveUpWhenGone,
}

/// A load of batches sent by concurrent clients, and what came back.
pub struct Load {
    batches: Vec<Batch>,
    next: AtomicUsize,
    /// Ids of acknowledged (204) batches.
    pub acked: Mutex<HashSet<String>>,
    pub acked_batches: AtomicUsize,
    /// Indexes of acknowledged batches, in the order of their acknowledgement.
    pub acked_indexes: Mutex<Vec<usize>>,
    /// 503 answers, and those among them that carried `Retry-After`.
    pub unavailable: AtomicUsize,
    pub unavailable_with_retry_after: AtomicUsize,
    /// Connection errors (refused, reset, timed out).
    pub connection_errors: AtomicUsize,
    pub given_up: AtomicUsize,
    finished: AtomicBool,
}

impl Load {
    pub fn new(batches: Vec<Batch>) -> Arc<Load> {
        Arc::new(Load {
            batches,
            next: AtomicUsize::new(0),
            acked: Mutex::new(HashSet::new()),
            acked_batches: AtomicUsize::new(0),
            acked_indexes: Mutex::new(Vec::new()),
            unavailable: AtomicUsize::new(0),
            unavailable_with_retry_after: AtomicUsize::new(0),
            connection_errors: AtomicUsize::new(0),
            given_up: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
        })
    }

    /// Every id of every batch.
    /// The ids of batch `i`.
    pub fn ids_of(&self, i: usize) -> &[String] {
        &self.batches[i].ids
    }

    pub fn all_ids(&self) -> HashSet<String> {
        self.batches.iter().flat_map(|b| b.ids.clone()).collect()
    }

    pub fn acked_ids(&self) -> HashSet<String> {
        self.acked.lock().unwrap().clone()
    }

    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }

    /// Runs `clients` concurrent clients until every batch is acknowledged (or given up).
    /// `may_start(i)` holds batch `i` back until it returns true, so a test can make sure
    /// its fault happens while the load is still running.
    pub async fn run(
        self: &Arc<Load>,
        port: u16,
        clients: usize,
        on_failure: OnFailure,
        may_start: impl Fn(usize) -> bool + Send + Sync + 'static,
    ) {
        let may_start = Arc::new(may_start);
        let started = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let load = Arc::clone(self);
                let may_start = Arc::clone(&may_start);
                tokio::spawn(async move {
                    loop {
                        let i = load.next.fetch_add(1, Ordering::SeqCst);
                        let Some(batch) = load.batches.get(i) else {
                            return;
                        };
                        while !may_start(i) {
                            assert!(started.elapsed() < LOAD_LIMIT, "load held back too long");
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        if load.send(port, batch, on_failure, started).await {
                            load.acked_indexes.lock().unwrap().push(i);
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        self.finished.store(true, Ordering::SeqCst);
    }

    /// Sends `batch` until it is acknowledged (true) or given up (false).
    async fn send(
        &self,
        port: u16,
        batch: &Batch,
        on_failure: OnFailure,
        started: Instant,
    ) -> bool {
        loop {
            assert!(
                started.elapsed() < LOAD_LIMIT,
                "load not acknowledged within {LOAD_LIMIT:?}"
            );
            match request(port, "POST", "/collect", &batch.body).await {
                Ok(r) if r.status == 204 => {
                    self.acked.lock().unwrap().extend(batch.ids.iter().cloned());
                    self.acked_batches.fetch_add(1, Ordering::SeqCst);
                    return true;
                }
                Ok(r) if r.status == 503 => {
                    self.unavailable.fetch_add(1, Ordering::SeqCst);
                    if r.retry_after.is_some() {
                        self.unavailable_with_retry_after
                            .fetch_add(1, Ordering::SeqCst);
                    }
                }
                Ok(r) => panic!(
                    "unexpected answer {} to a valid batch: {}",
                    r.status, r.body
                ),
                Err(_) => {
                    self.connection_errors.fetch_add(1, Ordering::SeqCst);
                    if on_failure == OnFailure::GiveUpWhenGone {
                        self.given_up.fetch_add(1, Ordering::SeqCst);
                        return false;
                    }
                }
            }
            // Shorter than Retry-After, to keep the test brief; the semantics are the same.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The store as read straight from the file after the collector stopped.
pub struct Stored {
    /// Every stored event id, with how many rows carry it.
    pub ids: Vec<(String, i64)>,
    pub integrity: String,
}

impl Stored {
    pub fn read(db: &Path) -> Stored {
        let conn =
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        let mut stmt = conn
            .prepare("SELECT id, count(*) FROM events GROUP BY id")
            .unwrap();
        let ids = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        Stored { ids, integrity }
    }

    /// The file's size in pages.
    pub fn page_count(db: &Path) -> i64 {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap()
    }

    pub fn id_set(&self) -> HashSet<String> {
        self.ids.iter().map(|(id, _)| id.clone()).collect()
    }

    /// Asserts every id of `acked` is stored exactly once.
    pub fn assert_holds_once(&self, acked: &HashSet<String>) {
        assert!(
            self.ids.iter().all(|(_, n)| *n == 1),
            "an event id is stored twice"
        );
        let stored = self.id_set();
        let missing: Vec<_> = acked.difference(&stored).take(5).collect();
        assert!(
            missing.is_empty(),
            "{} acknowledged events are not stored, e.g. {missing:?}",
            acked.difference(&stored).count()
        );
    }
}
