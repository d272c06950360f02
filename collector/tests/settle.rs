//! Entry and exit visitors settle by the collector's clock: a session's visitor enters its
//! exit row's sketch once no event arrived for it for the session timeout, as `/collect`
//! stamps arrivals with the injected [`Clock`]; a page view that still joins the session
//! after that moves its counters, not its visitor (see `store/sqlite/reports/settle.rs`).

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{batch, collect_request, event, event_id};
use serde_json::json;
use spoor_collector::clock::Clock;
use spoor_collector::config::Config;
use spoor_collector::reports::range::{DAY_MS, Range};
use spoor_collector::reports::{Dimension, ReportQuery};
use spoor_collector::store::Store;
use spoor_collector::store::sqlite::SqliteStore;
use spoor_collector::{Collector, app};
use tower::ServiceExt;

/// 2026-05-28T20:26:40Z.
const T: i64 = 1_780_000_000_000;
const MIN: i64 = 60_000;

/// (exit page, visitors, sessions) of day T from the rollups, by page.
fn exits(store: &SqliteStore) -> Vec<(String, u64, u64)> {
    let day = T / DAY_MS;
    let q = ReportQuery::new("demo", Range { from: day, to: day });
    let mut rows: Vec<_> = store
        .breakdown(&q, &Dimension::Exit)
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.visitors, r.sessions))
        .collect();
    rows.sort();
    rows
}

fn row(key: &str, visitors: u64, sessions: u64) -> (String, u64, u64) {
    (key.to_string(), visitors, sessions)
}

/// a's session exits on `/y`; then a page view of it (client time 90 s after its start)
/// arrives when the clock says `arrival`, and moves its exit to `/z`.
async fn late_exit(arrival: i64) -> Vec<(String, u64, u64)> {
    let sqlite = Arc::new(SqliteStore::open_in_memory().unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    let clock = Clock::manual(T);
    let collector = Collector::with_store_and_clock(Config::default(), store, clock.clone())
        .await
        .unwrap();
    let router = app(collector.state());
    let send = |n: u32, visitor: &str, ts: i64, path: &str| {
        let body = batch(&[event(
            &event_id(n),
            "pageview",
            &format!("http://127.0.0.1:8080{path}"),
            json!({"ts": ts, "visitor": visitor}),
        )]);
        router.clone().oneshot(collect_request(body))
    };
    assert_eq!(
        send(1, "a", T, "/x").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(2, "b", T, "/x").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    clock.set(T + MIN);
    assert_eq!(
        send(3, "a", T + MIN, "/y").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(exits(&sqlite), [row("/x", 1, 1), row("/y", 1, 1)]);
    clock.set(arrival);
    assert_eq!(
        send(4, "a", T + 90_000, "/z").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    exits(&sqlite)
}

#[tokio::test]
async fn a_page_view_before_the_session_settles_moves_its_visitor() {
    // Two minutes after a's last arrival: still unsettled, the visitor follows the exit.
    assert_eq!(
        late_exit(T + 3 * MIN).await,
        [row("/x", 1, 1), row("/z", 1, 1)]
    );
}

#[tokio::test]
async fn a_page_view_after_the_session_settled_moves_only_its_counters() {
    // Two hours later: the commit that stores it settled a's session first (its visitor is
    // sketched under `/y`, which it leaves), so `/z` counts the session without its
    // visitor and a is counted under no exit twice.
    assert_eq!(
        late_exit(T + 2 * 60 * MIN).await,
        [row("/x", 1, 1), row("/z", 0, 1)]
    );
}
