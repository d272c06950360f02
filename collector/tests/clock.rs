//! The injected clock: `/collect` judges timestamps (and stamps `received`) by the
//! collector's [`Clock`], so a simulation can replay days that are not today.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{batch, collect_request, event, event_id};
use serde_json::json;
use spoor_collector::clock::{Clock, now_ms};
use spoor_collector::config::Config;
use spoor_collector::identity::graph::Mode;
use spoor_collector::store::Store;
use spoor_collector::store::sqlite::SqliteStore;
use spoor_collector::{Collector, app};
use tower::ServiceExt;

#[tokio::test]
async fn collect_reads_time_from_the_injected_clock() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in_memory().unwrap());
    let later = now_ms() + 10 * 86_400_000;
    let clock = Clock::manual(now_ms());
    let collector =
        Collector::with_store_and_clock(Config::default(), Arc::clone(&store), clock.clone())
            .await
            .unwrap();
    let router = app(collector.state());
    let send = |n: u32| {
        let body = batch(&[event(
            &event_id(n),
            "pageview",
            "http://127.0.0.1:8080/",
            json!({"ts": later}),
        )]);
        router.clone().oneshot(collect_request(body))
    };
    assert_eq!(
        send(1).await.unwrap().status(),
        StatusCode::BAD_REQUEST,
        "ten days ahead of the clock"
    );
    clock.set(later);
    assert_eq!(send(2).await.unwrap().status(), StatusCode::NO_CONTENT);
    let persons = store.event_persons("demo", Mode::Inclusive).await.unwrap();
    assert_eq!(persons, [(event_id(2), "v-1".to_string())]);
}
