//! Spoor's development tools, kept out of the collector's library and binary: the
//! benchmarks and the binaries that drive them and the synthetic-history generator
//! (`spoor-gen`, whose generator itself, [`spoor_collector::reports::generate`], stays in
//! the library because the collector's own tests build histories with it).
//!
//! - [`ingest_bench`]: `/collect` over HTTP against the store's own insert rate
//!   (`spoor-bench-ingest`);
//! - [`reports_bench`]: the dashboard's query set timed with rollups and by scanning
//!   (`spoor-bench-reports`);
//! - [`reports_bench_clickhouse`]: the same query set on a ClickHouse store, beside
//!   SQLite's (`spoor-bench-reports --clickhouse`);
//! - `spoor-bench-ceiling`: an axum server answering 204 to any body, the ceiling
//!   `scripts/bench.sh` measures the collector against.

pub mod ingest_bench;
pub mod reports_bench;
pub mod reports_bench_clickhouse;
