//! Checks of the seam itself: no engine's types leak into it, a store behind
//! `Arc<dyn Store>` appends idempotently and reports its failures as a neutral error,
//! and the SQLite store's calls leave the async workers free while SQLite waits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::sqlite::{SqliteOptions, SqliteStore};
use super::{Store, StoreError};
use crate::identity::graph::Mode;
use crate::store::sqlite::tests::event;

/// The seam's own files: the traits and the types they answer with.
const SEAM: [(&str, &str); 5] = [
    ("mod.rs", include_str!("mod.rs")),
    ("sink.rs", include_str!("sink.rs")),
    ("identity_state.rs", include_str!("identity_state.rs")),
    ("report_source.rs", include_str!("report_source.rs")),
    ("maintenance.rs", include_str!("maintenance.rs")),
];

#[test]
fn no_sqlite_type_appears_in_the_seam() {
    for (file, text) in SEAM {
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") || code == "pub mod sqlite;" {
                continue;
            }
            assert!(
                !code.to_ascii_lowercase().contains("sqlite"),
                "store/{file}:{}: {line}",
                n + 1
            );
        }
    }
}

fn tempdir() -> Result<tempfile::TempDir, StoreError> {
    tempfile::tempdir().map_err(|source| StoreError::Io {
        path: "tmp".into(),
        source,
    })
}

#[tokio::test]
async fn a_store_behind_the_handle_appends_once_per_event_id() -> Result<(), StoreError> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory()?);
    let outcomes = store
        .append(vec![
            vec![event(1, "v1", "s1"), event(2, "v1", "s1")],
            vec![event(2, "v1", "s1"), event(3, "v2", "s2")],
        ])
        .await?;
    let counts: Vec<_> = outcomes.iter().map(|o| (o.stored, o.duplicates)).collect();
    assert_eq!(
        counts,
        [(2, 0), (1, 1)],
        "a known id is a duplicate, not an error"
    );
    let again = store.append(vec![vec![event(3, "v2", "s2")]]).await?;
    assert_eq!((again[0].stored, again[0].duplicates), (0, 1));
    let summary = store.summary("demo", Mode::Inclusive).await?;
    assert_eq!((summary.events, summary.visitors), (3, 2));
    Ok(())
}

#[tokio::test]
async fn an_engine_failure_is_a_neutral_backend_error() -> Result<(), StoreError> {
    let dir = tempdir()?;
    let options = SqliteOptions {
        max_pages: Some(64),
        ..Default::default()
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_with(
        &dir.path().join("spoor.db"),
        options,
    )?);
    let mut next = 0u128;
    let refused = loop {
        let batch = (next..next + 50).map(|i| event(i, "v", "s")).collect();
        match store.append(vec![batch]).await {
            Ok(_) => next += 50,
            Err(e) => break e,
        }
        assert!(next < 100_000, "the page cap never stopped the writes");
    };
    match refused {
        StoreError::Backend { engine, message } => {
            assert_eq!(engine, "sqlite");
            assert!(message.contains("full"), "{message}");
        }
        other => panic!("not a backend error: {other:?}"),
    }
    Ok(())
}

/// On a single-threaded runtime, a store call that waits for SQLite's lock must not
/// hold the thread: a timer set meanwhile fires on time, and the call completes once
/// the lock is released.
#[tokio::test]
async fn a_waiting_store_call_leaves_the_runtime_free() -> Result<(), StoreError> {
    let dir = tempdir()?;
    let path = dir.path().join("spoor.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path)?);
    let lock = rusqlite::Connection::open(&path)?;
    lock.execute_batch("BEGIN IMMEDIATE")?;
    let appending = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.append(vec![vec![event(1, "v", "s")]]).await })
    };
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the timer waited for the store: {:?}",
        started.elapsed()
    );
    assert!(!appending.is_finished(), "the append waits for the lock");
    lock.execute_batch("ROLLBACK")?;
    let outcome = appending
        .await
        .map_err(|e| StoreError::Task(e.to_string()))??;
    assert_eq!(outcome[0].stored, 1);
    Ok(())
}

/// The ingest writer's blocking side is the same store as the handle: what it appends the
/// handle reads, and an erasure through the handle moves the epoch the writer watches
/// (else its caches would keep identity memory the store deleted).
#[tokio::test]
async fn the_writers_blocking_side_shares_the_store_and_its_epoch() -> Result<(), StoreError> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory()?);
    let sink = store.blocking();
    // Called here directly; the writer calls it from its blocking task.
    let appended = sink.insert_groups(&[&[event(1, "v1", "s1")]])?;
    assert_eq!(appended[0].stored, 1);
    assert_eq!(store.summary("demo", Mode::Inclusive).await?.events, 1);
    let before = sink.identity_epoch();
    assert_eq!(before, store.identity_epoch().await?);
    let subject = crate::maintenance::erasure::Subject::Visitor("v1".into());
    store.erase("demo", &subject).await?;
    assert_ne!(sink.identity_epoch(), before, "the writer sees the erasure");
    assert_eq!(store.summary("demo", Mode::Inclusive).await?.events, 0);
    Ok(())
}
