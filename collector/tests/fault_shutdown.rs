//! Fault test 4: `SIGTERM` while clients are sending. The collector stops accepting,
//! commits what it holds and exits 0 within its shutdown deadline; every event it
//! acknowledged is in the store. And when the store is stalled, the deadline bounds the
//! stop: exit 1 at the deadline, with nothing acknowledged that is not stored.

#[path = "faults/mod.rs"]
mod faults;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use faults::{Collector, Load, OnFailure, Stored, batches, free_port};

const DEADLINE_MS: u64 = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_0_within_the_deadline_and_keeps_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let deadline = DEADLINE_MS.to_string();
    let mut collector =
        Collector::start(dir.path(), port, &["--shutdown-deadline-ms", &deadline]).await;

    // The second half of the load waits for the signal, so it is sent mid-load.
    let load = Load::new(batches(200, 25));
    let signalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients = tokio::spawn({
        let load = Arc::clone(&load);
        let signalled = Arc::clone(&signalled);
        async move {
            load.run(port, 8, OnFailure::GiveUpWhenGone, move |i| {
                i < 100 || signalled.load(Ordering::SeqCst)
            })
            .await
        }
    });
    while load.acked_batches.load(Ordering::SeqCst) < 50 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    signalled.store(true, Ordering::SeqCst);
    let (status, took) = tokio::task::spawn_blocking(move || {
        let stopped = collector.terminate(Duration::from_millis(DEADLINE_MS + 5_000));
        (stopped, collector)
    })
    .await
    .map(|((status, took), _)| (status, took))
    .unwrap();
    clients.await.unwrap();

    let stored = Stored::read(&dir.path().join("spoor.db"));
    let acked = load.acked_ids();
    eprintln!(
        "exit {status} after {took:?}; acknowledged {} of {} events, stored {}, \
         batches given up {}",
        acked.len(),
        load.all_ids().len(),
        stored.ids.len(),
        load.given_up.load(Ordering::SeqCst)
    );
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    assert!(
        took < Duration::from_millis(DEADLINE_MS),
        "stopped in {took:?}"
    );
    assert!(acked.len() >= 50 * 25);
    stored.assert_holds_once(&acked);
    assert_eq!(stored.integrity, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_stalled_store_exits_1_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut collector =
        Collector::start(dir.path(), port, &["--shutdown-deadline-ms", "500"]).await;
    let db = collector.db.clone();
    let (taken, taken_rx) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        taken.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(20));
        conn.execute_batch("ROLLBACK").unwrap();
    });
    taken_rx.recv().unwrap();
    // A request now waits on the lock (store deadline 5 s), holding the shutdown up.
    let body = batches(1, 5).remove(0).body;
    let pending =
        tokio::spawn(async move { faults::request(port, "POST", "/collect", &body).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, took) = tokio::task::spawn_blocking(move || {
        let stopped = collector.terminate(Duration::from_secs(10));
        drop(collector);
        stopped
    })
    .await
    .unwrap();
    release.send(()).unwrap();
    holder.join().unwrap();
    let answer = pending.await.unwrap();
    eprintln!("exit {status} after {took:?}; the waiting request got {answer:?}");
    assert_eq!(status.code(), Some(1), "a passed deadline is an error exit");
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(
        !matches!(answer, Ok(ref r) if r.status == 204),
        "nothing acknowledged while the store was locked"
    );
    assert!(Stored::read(&dir.path().join("spoor.db")).ids.is_empty());
}
