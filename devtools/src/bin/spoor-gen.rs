//! `spoor-gen`: fills a database with a synthetic history of one site (see
//! [`spoor_collector::reports::generate`]).
//!
//! `cargo run --release -p spoor-collector --bin spoor-gen -- --db /tmp/bench.db --events 10000000 --site demo --days 30`
//!
//! `--clickhouse http://HOST:PORT/DATABASE` writes the same history to a ClickHouse store
//! instead, through its own insert path (user and password from `SPOOR_CLICKHOUSE_USER`
//! / `SPOOR_CLICKHOUSE_PASSWORD`).

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use spoor_collector::reports::generate::{Spec, generate};
use spoor_collector::session::SessionRules;
use spoor_collector::store::BlockingSink;
use spoor_collector::store::clickhouse::client::Endpoint;
use spoor_collector::store::clickhouse::{ClickHouseOptions, ClickHouseStore};
use spoor_collector::store::sqlite::SqliteStore;

/// Fills a database with synthetic history.
#[derive(Parser)]
struct Args {
    /// The SQLite file (created if needed; events are added to what it holds).
    #[arg(long, required_unless_present = "clickhouse")]
    db: Option<PathBuf>,
    /// About how many events.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// The site.
    #[arg(long, default_value = "demo")]
    site: String,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Events per transaction.
    #[arg(long, default_value_t = 20_000)]
    batch: usize,
    /// A ClickHouse store to fill instead: `http://HOST:PORT/DATABASE` (as `--store
    /// clickhouse:…`).
    #[arg(long, conflicts_with = "db")]
    clickhouse: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The ClickHouse store's blocking insert path sends its statements to this runtime.
    let runtime = tokio::runtime::Runtime::new()?;
    let mut clickhouse = None;
    let store: Box<dyn BlockingSink> = match (&args.clickhouse, &args.db) {
        (Some(url), _) => {
            let endpoint = Endpoint::parse(
                url,
                std::env::var("SPOOR_CLICKHOUSE_USER").ok(),
                std::env::var("SPOOR_CLICKHOUSE_PASSWORD").ok(),
            )
            .map_err(anyhow::Error::msg)?;
            let options = ClickHouseOptions {
                endpoint,
                cluster: None,
                insert_quorum: 2,
            };
            let store =
                runtime.block_on(ClickHouseStore::open(options, SessionRules::default()))?;
            clickhouse = Some(store.clone());
            Box::new(store)
        }
        (None, Some(db)) => Box::new(SqliteStore::open(db)?),
        (None, None) => anyhow::bail!("--db or --clickhouse"),
    };
    let spec = Spec {
        site: args.site,
        events: args.events,
        days: args.days,
        end_ms: spoor_collector::clock::now_ms(),
        seed: args.seed,
        batch: args.batch,
    };
    let started = Instant::now();
    let written = generate(store.as_ref(), &spec, |n| {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{n} events in {secs:.0} s ({:.0}/s)",
            n as f64 / secs.max(1e-9)
        );
    })?;
    if let Some(store) = clickhouse {
        // The history's arrival times are past: its entry and exit visitors are settled
        // here, as a running collector settles sessions as they end.
        runtime.block_on(store.settle_all(spoor_collector::clock::now_ms()))?;
    }
    println!(
        "wrote {} events, {} sessions, {} visitors in {:.0} s",
        written.events,
        written.sessions,
        written.visitors,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
