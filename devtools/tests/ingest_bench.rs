//! Smoke test of the ingest benchmark (`spoor-bench-ingest`): a small load goes through
//! the real server and is all stored (the benchmark itself checks the count), and the
//! table reports both paths.

use spoor_devtools::ingest_bench::{self, Spec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_load_is_stored_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        events: 400,
        per_request: 10,
        clients: 4,
    };
    let measured = ingest_bench::run(dir.path(), spec).await.unwrap();
    assert_eq!(measured.http_events, 400);
    assert_eq!(measured.requests.len(), 40);
    assert!(measured.store_events > 300, "{measured:?}");
    let table = ingest_bench::table(spec, &measured);
    assert!(table.contains("| HTTP /collect (4 clients x 10 events a request) | 400 |"));
    assert!(table.contains("| store insert"));
}
