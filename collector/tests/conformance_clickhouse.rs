//! The conformance suite ([`conformance`]) on the ClickHouse store: one real
//! `clickhouse-server` for the whole binary (`common::clickhouse`), a new database per
//! store, opened the way `spoor-collector --store clickhouse:…` opens it. Skipped, with a
//! message, where ClickHouse is not installed (never under `CI=true`).

// Test fixtures panic on a broken set-up, as test functions do.
#![allow(clippy::unwrap_used)]

mod common;
mod conformance;

use std::sync::Arc;

use conformance::Backend;
use spoor_collector::Collector;
use spoor_collector::clock::Clock;
use spoor_collector::config::Config;
use spoor_collector::session::SessionRules;
use spoor_collector::store::clickhouse::client::Endpoint;
use spoor_collector::store::clickhouse::{ClickHouseOptions, ClickHouseStore};

/// A database of its own per store on the shared server.
struct ClickHouseDb;

impl Backend for ClickHouseDb {
    type Store = Endpoint;

    async fn create(&self) -> Self::Store {
        common::clickhouse_endpoint(
            &common::clickhouse::new_database().expect("checked by `installed`"),
        )
    }

    async fn start(&self, store: &Self::Store, config: Config, clock: Clock) -> Collector {
        let options = ClickHouseOptions {
            endpoint: store.clone(),
            cluster: None,
            insert_quorum: 2,
        };
        let rules = SessionRules {
            zone: config.site_timezone.clone(),
            idle_timeout: config.session_idle,
        };
        let store = ClickHouseStore::open(options, rules).await.unwrap();
        Collector::with_store_and_clock(config, Arc::new(store), clock)
            .await
            .unwrap()
    }
}

/// Whether a server runs (else the test is skipped, with the fixture's message).
fn installed() -> bool {
    common::clickhouse::server().is_some()
}

macro_rules! areas {
    ($backend:expr, $($area:ident :: $test:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let _ = tracing_subscriber::fmt().with_test_writer().try_init();
                if installed() {
                    conformance::$area::$test(&$backend).await;
                }
            }
        )*
    };
}

areas!(
    ClickHouseDb,
    ingest::acknowledgements,
    ingest::dedupe,
    ingest::health,
    reports::summary,
    reports::timeseries,
    reports::breakdowns,
    reports::exit_visitors,
    reports::paths,
    reports::funnels,
    reports::visitor_log,
    reports::realtime,
    reports::realtime_ignores_later_events,
    sessions::idle_cut_and_late_event,
    sessions::moved_entry_visitors,
    sessions::late_event_keeps_exit,
    identity::persons,
    identity::explain,
    identity::links_undo,
    identity::nat_guard_looks_back_a_day,
    privacy::export,
    privacy::erase_visitor,
    privacy::erase_user,
    privacy::retention,
);
