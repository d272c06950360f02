//! Fault test 3: another connection holds the database's write lock for seconds while
//! clients keep sending. Requests are answered `503` with `Retry-After` once the store
//! deadline passes (or at once when the queue is full), the collector's memory stays
//! bounded (more clients than queue slots), and when the lock is released everything is stored, each event once.

#[path = "faults/mod.rs"]
mod faults;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use faults::{Collector, Load, OnFailure, Stored, batches, free_port};

const STALL: Duration = Duration::from_secs(3);
/// Generous: the debug binary idles near 10 MiB; unbounded queueing under this load would
/// grow without limit.
const RSS_LIMIT_KIB: u64 = 150 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_write_lock_gives_503s_with_bounded_memory_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let collector = Collector::start(
        dir.path(),
        port,
        &["--store-deadline-ms", "300", "--queue-capacity", "16"],
    )
    .await;
    let idle_rss = collector.rss_kib();

    let load = Load::new(batches(150, 40));
    let locked = Arc::new(AtomicBool::new(false));
    let clients = tokio::spawn({
        let load = Arc::clone(&load);
        let locked = Arc::clone(&locked);
        async move {
            load.run(port, 32, OnFailure::Retry, move |i| {
                i < 20 || locked.load(Ordering::SeqCst)
            })
            .await
        }
    });
    while load.acked_batches.load(Ordering::SeqCst) < 10 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    let (taken, taken_rx) = std::sync::mpsc::channel();
    let db = collector.db.clone();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        taken.send(()).unwrap();
        std::thread::sleep(STALL);
        conn.execute_batch("ROLLBACK").unwrap();
    });
    taken_rx.recv().unwrap();
    locked.store(true, Ordering::SeqCst);
    // Answers to commits made just before the lock may still be on their way.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let acked_at_lock = load.acked_batches.load(Ordering::SeqCst);
    let mut max_rss = 0;
    while !holder.is_finished() {
        max_rss = max_rss.max(collector.rss_kib());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let unavailable_during_stall = load.unavailable.load(Ordering::SeqCst);
    let acked_during_stall = load.acked_batches.load(Ordering::SeqCst) - acked_at_lock;
    holder.join().unwrap();
    clients.await.unwrap();
    max_rss = max_rss.max(collector.rss_kib());

    let mut collector = collector;
    let (status, _) = collector.terminate(Duration::from_secs(15));
    assert!(status.success());
    let stored = Stored::read(&collector.db);
    let sent = load.all_ids();
    let acked = load.acked_ids();
    eprintln!(
        "stall {STALL:?}: 503s {} ({} with Retry-After), batches acknowledged during the stall \
         {acked_during_stall}, RSS idle {idle_rss} KiB, max {max_rss} KiB ({:.2}x); stored {} of {}",
        unavailable_during_stall,
        load.unavailable_with_retry_after.load(Ordering::SeqCst),
        max_rss as f64 / idle_rss.max(1) as f64,
        stored.ids.len(),
        sent.len()
    );
    assert!(unavailable_during_stall > 0, "a stalled store answers 503");
    assert_eq!(
        load.unavailable.load(Ordering::SeqCst),
        load.unavailable_with_retry_after.load(Ordering::SeqCst),
        "every 503 carries Retry-After"
    );
    assert_eq!(
        acked_during_stall, 0,
        "nothing is acknowledged while the store cannot commit"
    );
    assert!(max_rss < RSS_LIMIT_KIB, "RSS {max_rss} KiB under stall");
    assert_eq!(acked, sent, "every batch was acknowledged after the stall");
    stored.assert_holds_once(&acked);
    assert_eq!(stored.id_set(), sent);
    assert_eq!(stored.integrity, "ok");
}
