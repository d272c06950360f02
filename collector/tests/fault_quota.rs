//! Fault test 2: the store cannot write. The database is capped with `--sqlite-max-pages`
//! (a file made read-only does not stop root, and CI runs as root), and clients send more
//! than fits. Once it is full the collector answers `503` with `Retry-After`, loses nothing
//! it acknowledged, and — without a restart — stores again as soon as erasure frees pages.

#[path = "faults/mod.rs"]
mod faults;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use faults::{Collector, Load, OnFailure, Stored, batches, free_port, request};

const BATCHES: usize = 150;
const EVENTS_PER_BATCH: usize = 40;
/// About half of what the whole load needs (about 450 pages of 4 KiB).
const MAX_PAGES: &str = "240";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_answers_503_and_recovers_without_restart_when_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut collector = Collector::start(
        dir.path(),
        port,
        &[
            "--sqlite-max-pages",
            MAX_PAGES,
            "--store-deadline-ms",
            "1000",
        ],
    )
    .await;
    let pid = collector.pid();

    let load = Load::new(batches(BATCHES, EVENTS_PER_BATCH));
    let clients = tokio::spawn({
        let load = Arc::clone(&load);
        async move { load.run(port, 8, OnFailure::Retry, |_| true).await }
    });

    // Whenever the load is stuck on 503s, erase every visitor acknowledged so far.
    let mut erased: HashSet<String> = HashSet::new();
    let mut erased_batches = HashSet::new();
    let mut erasures = 0;
    let mut last_acked = 0;
    let mut last_progress = Instant::now();
    let mut last_unavailable = 0;
    while !load.finished() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let acked = load.acked_batches.load(Ordering::SeqCst);
        let unavailable = load.unavailable.load(Ordering::SeqCst);
        if acked != last_acked {
            (last_acked, last_progress) = (acked, Instant::now());
        }
        let stuck =
            unavailable > last_unavailable && last_progress.elapsed() > Duration::from_millis(300);
        last_unavailable = unavailable;
        if !stuck {
            continue;
        }
        erasures += 1;
        let indexes = load.acked_indexes.lock().unwrap().clone();
        for i in indexes.into_iter().filter(|i| erased_batches.insert(*i)) {
            let resp = request(
                port,
                "DELETE",
                &format!("/api/erase?site=demo&visitor=v-{i}"),
                "",
            )
            .await
            .unwrap();
            assert_eq!(resp.status, 200, "{}", resp.body);
            erased.extend(load.ids_of(i).iter().cloned());
        }
        last_progress = Instant::now();
    }
    clients.await.unwrap();
    assert_eq!(collector.pid(), pid, "no restart");
    let (status, _) = collector.terminate(Duration::from_secs(15));
    assert!(status.success());

    let stored = Stored::read(&collector.db);
    let sent = load.all_ids();
    let acked = load.acked_ids();
    let kept: HashSet<String> = acked.difference(&erased).cloned().collect();
    eprintln!(
        "cap {MAX_PAGES} pages, file {} pages; 503s {} ({} with Retry-After); erasures {erasures} \
         ({} events); acknowledged {} of {}, stored {}",
        Stored::page_count(&collector.db),
        load.unavailable.load(Ordering::SeqCst),
        load.unavailable_with_retry_after.load(Ordering::SeqCst),
        erased.len(),
        acked.len(),
        sent.len(),
        stored.ids.len()
    );
    assert!(erasures >= 1, "the store filled up");
    assert!(load.unavailable.load(Ordering::SeqCst) > 0);
    assert_eq!(
        load.unavailable.load(Ordering::SeqCst),
        load.unavailable_with_retry_after.load(Ordering::SeqCst),
        "every 503 carries Retry-After"
    );
    assert_eq!(
        acked, sent,
        "every batch was acknowledged once space was freed"
    );
    stored.assert_holds_once(&kept);
    assert_eq!(
        stored.id_set(),
        kept,
        "stored: what was acknowledged and not erased"
    );
    assert_eq!(stored.integrity, "ok");
}
