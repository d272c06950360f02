//! The load: batches of events with unique ids, sent by concurrent clients that retry
//! every batch not acknowledged (as the beacon does), with a seeded random source for the
//! moments of faults.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::child::request;

/// Longest any one fault test's load may take before it is declared stuck.
pub const LOAD_LIMIT: Duration = Duration::from_secs(90);
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
                        // What a running beacon sends: without it the batch is a bot's.
                        "screen": "1280x720",
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
