//! Fault test 1 and 6: `kill -9` the collector binary at random moments while clients
//! send 10,000 page views (and logins that join their visitors into persons) and retry
//! every batch that was not acknowledged. After the last
//! restart, every acknowledged event is stored exactly once, the store holds exactly the
//! distinct ids sent, `PRAGMA integrity_check` is `ok`, and every derived row (sessions,
//! rollups, persons) counts exactly the events that were committed
//! ([`assert_derived_match_events`](faults::assert_derived_match_events)): the writer's caches, lost with
//! each kill, never put anything in the store its events did not.

#[path = "faults/mod.rs"]
mod faults;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use faults::load::Batch;
use faults::{Collector, Load, OnFailure, Rng, Stored, batches, free_port};

const BATCHES: usize = 200;
const EVENTS_PER_BATCH: usize = 50;
const MIN_KILLS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_acknowledged_event_and_stores_each_once() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut rng = Rng::from_env(0x5EED_0001);
    let mut collector = Collector::start(dir.path(), port, &[]).await;

    let load = Load::new(with_logins(batches(BATCHES, EVENTS_PER_BATCH)));
    let kills = Arc::new(AtomicUsize::new(0));
    // Batch i waits for its share of the kills, so at least MIN_KILLS happen mid-load.
    let gate = {
        let kills = Arc::clone(&kills);
        move |i: usize| kills.load(Ordering::SeqCst) >= i * (MIN_KILLS + 1) / BATCHES
    };
    let clients = tokio::spawn({
        let load = Arc::clone(&load);
        async move { load.run(port, 8, OnFailure::Retry, gate).await }
    });

    while !load.finished() {
        tokio::time::sleep(rng.millis(20, 250)).await;
        if load.finished() {
            break;
        }
        collector.kill9();
        kills.fetch_add(1, Ordering::SeqCst);
        // Down for a moment: clients meet refused connections and keep their batches.
        tokio::time::sleep(rng.millis(0, 50)).await;
        collector.restart().await;
    }
    clients.await.unwrap();

    let (status, took) = collector.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit after SIGTERM: {status}");
    let stored = Stored::read(&collector.db);
    let sent = load.all_ids();
    let acked = load.acked_ids();
    eprintln!(
        "kills: {}, events sent: {}, acknowledged: {}, stored: {}, connection errors: {}, \
         503s: {}, stop took {took:?}, run took {:?}",
        kills.load(Ordering::SeqCst),
        sent.len(),
        acked.len(),
        stored.ids.len(),
        load.connection_errors.load(Ordering::SeqCst),
        load.unavailable.load(Ordering::SeqCst),
        started.elapsed()
    );
    assert!(kills.load(Ordering::SeqCst) >= MIN_KILLS);
    let logins = (0..BATCHES).filter(|b| b % 3 != 2).count();
    assert_eq!(sent.len(), BATCHES * EVENTS_PER_BATCH + logins);
    assert_eq!(
        acked, sent,
        "clients retried until every batch was acknowledged"
    );
    stored.assert_holds_once(&acked);
    assert_eq!(
        stored.id_set(),
        sent,
        "stored ids are exactly the distinct ids sent"
    );
    assert_eq!(stored.integrity, "ok");
    faults::assert_derived_match_events(&collector.db);

    // The check itself: a derived row that counts one event more than was committed (what
    // a cache applied before its commit, or a rollup flushed apart, would leave) fails it.
    for tamper in [
        // On the table: an update through the `sessions` view counts no changes.
        "UPDATE session_rows SET events = events + 1 WHERE rowid = (SELECT min(rowid) FROM session_rows)",
        "UPDATE report_hours SET events = events + 1 WHERE rowid = (SELECT min(rowid) FROM report_hours)",
        "UPDATE report_hours SET sessions = sessions + 1 WHERE rowid = (SELECT min(rowid) FROM report_hours)",
        "UPDATE visitor_persons SET person = 'nobody' WHERE mode = 'inclusive'
             AND visitor = (SELECT min(visitor) FROM visitor_persons WHERE mode = 'inclusive')",
    ] {
        let copy = dir.path().join("tampered.db");
        std::fs::copy(&collector.db, &copy).unwrap();
        // The database is the file and its WAL: commits since the last checkpoint are
        // only in the WAL.
        let wal = |db: &std::path::Path| {
            db.with_file_name(format!("{}-wal", db.file_name().unwrap().to_string_lossy()))
        };
        if wal(&collector.db).exists() {
            std::fs::copy(wal(&collector.db), wal(&copy)).unwrap();
        }
        let conn = rusqlite::Connection::open(&copy).unwrap();
        assert_eq!(conn.execute(tamper, []).unwrap(), 1, "{tamper}");
        drop(conn);
        // Quietly: the expected failure's message is not news.
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let caught = std::panic::catch_unwind(|| faults::assert_derived_match_events(&copy));
        std::panic::set_hook(hook);
        assert!(caught.is_err(), "the check missed: {tamper}");
        std::fs::remove_file(&copy).unwrap();
        let _ = std::fs::remove_file(wal(&copy));
    }
}

/// Users the load's visitors log in as: each is the person of many visitors.
const USERS: usize = 7;

/// `batches` with a login in most of them: batch `b`'s visitor logs in as user `b % USERS`
/// (every third batch stays anonymous), so persons of many visitors are built, merged and
/// rewritten while the collector is killed. Each login is one more event with its own id.
#[allow(clippy::unwrap_used)] // Test data made just above.
fn with_logins(batches: Vec<Batch>) -> Vec<Batch> {
    batches
        .into_iter()
        .enumerate()
        .map(|(b, mut batch)| {
            if b % 3 == 2 {
                return batch;
            }
            let mut body: serde_json::Value = serde_json::from_str(&batch.body).unwrap();
            let events = body["events"].as_array_mut().unwrap();
            let mut login = events[0].clone();
            let id = format!("00000000-0000-4000-9000-{b:012x}");
            login["id"] = id.clone().into();
            login["type"] = "identify".into();
            login["user"] = format!("u-{}", b % USERS).into();
            events.push(login);
            batch.body = body.to_string();
            batch.ids.push(id);
            batch
        })
        .collect()
}
