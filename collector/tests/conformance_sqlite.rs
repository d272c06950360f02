//! The conformance suite ([`conformance`]) on the SQLite store: a fresh database file in a
//! temporary directory per area, opened the way `spoor-collector` opens it (its
//! synchronous mode, busy timeout and session rules from the config), and, for the areas
//! that cost little, the in-memory store the other handler tests use.

// Test fixtures panic on a broken set-up, as test functions do.
#![allow(clippy::unwrap_used)]

mod common;
mod conformance;

use std::path::PathBuf;
use std::sync::Arc;

use conformance::Backend;
use spoor_collector::Collector;
use spoor_collector::clock::Clock;
use spoor_collector::config::Config;
use spoor_collector::session::SessionRules;
use spoor_collector::store::Store;
use spoor_collector::store::sqlite::{SqliteOptions, SqliteStore};

/// A SQLite file per store, in its own temporary directory.
struct SqliteFile;

impl Backend for SqliteFile {
    type Store = (tempfile::TempDir, PathBuf);

    async fn create(&self) -> Self::Store {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/spoor.db");
        (dir, path)
    }

    async fn start(&self, store: &Self::Store, config: Config, clock: Clock) -> Collector {
        let config = Config {
            db: store.1.clone(),
            ..config
        };
        let options = SqliteOptions {
            synchronous: config.sqlite_synchronous,
            busy_timeout: config.ingest.store_deadline,
            max_pages: config.sqlite_max_pages,
        };
        let rules = SessionRules {
            zone: config.site_timezone.clone(),
            idle_timeout: config.session_idle,
        };
        let sqlite = SqliteStore::open_with(&config.db, options)
            .unwrap()
            .with_session_rules(rules);
        Collector::with_store_and_clock(config, Arc::new(sqlite), clock)
            .await
            .unwrap()
    }
}

/// The in-memory SQLite store (one connection; a restart keeps the same store).
struct SqliteMemory;

impl Backend for SqliteMemory {
    type Store = Arc<dyn Store>;

    async fn create(&self) -> Self::Store {
        Arc::new(SqliteStore::open_in_memory().unwrap())
    }

    async fn start(&self, store: &Self::Store, config: Config, clock: Clock) -> Collector {
        Collector::with_store_and_clock(config, Arc::clone(store), clock)
            .await
            .unwrap()
    }
}

macro_rules! areas {
    ($backend:expr, $($area:ident :: $test:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                conformance::$area::$test(&$backend).await;
            }
        )*
    };
}

areas!(
    SqliteFile,
    ingest::acknowledgements,
    ingest::dedupe,
    ingest::health,
    reports::summary,
    reports::timeseries,
    reports::breakdowns,
    reports::paths,
    reports::funnels,
    reports::visitor_log,
    reports::realtime,
    sessions::idle_cut_and_late_event,
    identity::persons,
    identity::explain,
    identity::links_undo,
    identity::nat_guard_looks_back_a_day,
    privacy::export,
    privacy::erase_visitor,
    privacy::erase_user,
    privacy::retention,
);

#[tokio::test]
async fn exit_visitors() {
    conformance::reports::exit_visitors(&SqliteFile).await;
}

#[tokio::test]
async fn realtime_ignores_later_events() {
    conformance::reports::realtime_ignores_later_events(&SqliteFile).await;
}

#[tokio::test]
async fn moved_entry_visitors() {
    conformance::sessions::moved_entry_visitors(&SqliteFile).await;
}

#[tokio::test]
async fn late_event_keeps_exit() {
    conformance::sessions::late_event_keeps_exit(&SqliteFile).await;
}

/// The whole suite once more on the in-memory store.
#[tokio::test]
async fn in_memory_store_runs_the_whole_suite() {
    conformance::run_all(&SqliteMemory).await;
}
