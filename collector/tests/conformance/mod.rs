//! The conformance suite: what every store behind the collector must answer, checked
//! through the collector's public surface only (`/collect`, `/ingest`, `/api/*`,
//! `/healthz`), never through a store's tables, so it holds across rewrites of the write
//! path and the table layout and runs unchanged against a second engine.
//!
//! # What it checks
//! One hand-made dataset ([`dataset`]: fifteen visitors over two days, every kind of event,
//! the identity cases, a duplicate, a bot) is posted the way browsers and a site's server
//! would, over three collector starts on the same store (each start has to rebuild
//! whatever the one before kept in memory; the last one lands inside a session). Then
//! each area asks its questions and compares the answers with numbers worked out by hand
//! and written down, with why, in the comment tables of [`dataset`] and of each area:
//! - [`ingest`]: acknowledgements, the bot, the server-side key, `/api/sites`, `/healthz`;
//!   dedupe: resent event ids (even with other content) change no answer;
//! - [`reports`]: summary (both identity readings, filters, the previous period), time
//!   series by hour and day, every breakdown dimension (JSON, CSV, `count=persons`),
//!   transitions, flows, funnels (inline, saved, both readings), the visitor log, realtime;
//! - [`sessions`]: the idle cut at exactly 30 minutes, a late event that becomes its
//!   session's entry and moves its start an hour back;
//! - [`identity`]: persons, explain, refused links, undoing a link, the NAT guard's look a
//!   day back;
//! - [`privacy`]: export by visitor, person and user, erasure by visitor and by user
//!   (signed and unsigned), and the retention purge.
//!
//! # Plugging in a store
//! A store joins by implementing [`Backend`]: `create` makes a new, empty store and
//! `start` starts a [`Collector`] over it (again after a restart, over the same data) with
//! the given config and clock. Then a test file `collector/tests/conformance_<engine>.rs`
//! declares `mod common; mod conformance;` and one `#[tokio::test]` per area calling the
//! area's function with its backend, as `conformance_sqlite.rs` does (one test per area,
//! so a failure names it). ClickHouse (#13) adds `conformance_clickhouse.rs`, skipping
//! itself when no server is configured. Nothing here may be relaxed for an engine: an
//! answer that differs is a bug of that engine (or of this table, fixed with its reason).

#![allow(clippy::unwrap_used, dead_code)]

pub mod dataset;
pub mod harness;
pub mod identity;
pub mod ingest;
pub mod privacy;
pub mod reports;
pub mod sessions;

use std::future::Future;

use spoor_collector::Collector;
use spoor_collector::clock::Clock;
use spoor_collector::config::Config;

/// A store implementation under test.
pub trait Backend: Sync {
    /// One store's data: what [`Backend::start`] opens, again after a restart.
    type Store: Send + Sync;

    /// A new, empty store.
    fn create(&self) -> impl Future<Output = Self::Store> + Send;

    /// A collector over `store`, configured by `config` (the suite's; the backend adds
    /// only where its data lives) and reading the time from `clock`. The previous
    /// collector over the same store has been dropped.
    fn start(
        &self,
        store: &Self::Store,
        config: Config,
        clock: Clock,
    ) -> impl Future<Output = Collector> + Send;
}

/// Every area, in turn (each on its own copy of the dataset), except [`KNOWN_BUGS`] (none
/// today).
pub async fn run_all<B: Backend>(backend: &B) {
    ingest::acknowledgements(backend).await;
    ingest::dedupe(backend).await;
    ingest::health(backend).await;
    reports::summary(backend).await;
    reports::timeseries(backend).await;
    reports::breakdowns(backend).await;
    reports::exit_visitors(backend).await;
    reports::paths(backend).await;
    reports::funnels(backend).await;
    reports::visitor_log(backend).await;
    reports::realtime(backend).await;
    reports::realtime_ignores_later_events(backend).await;
    sessions::idle_cut_and_late_event(backend).await;
    sessions::moved_entry_visitors(backend).await;
    sessions::late_event_keeps_exit(backend).await;
    identity::persons(backend).await;
    identity::explain(backend).await;
    identity::links_undo(backend).await;
    identity::nat_guard_looks_back_a_day(backend).await;
    privacy::export(backend).await;
    privacy::erase_visitor(backend).await;
    privacy::erase_user(backend).await;
    privacy::retention(backend).await;
}

/// Areas whose hand-checked answers the SQLite store gets wrong today: each has its own
/// ignored test (`#[ignore = "bug: …"]`) naming the bug, and joins [`run_all`] when fixed.
pub const KNOWN_BUGS: &[&str] = &[];
