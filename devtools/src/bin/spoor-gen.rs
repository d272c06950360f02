//! `spoor-gen`: fills a database with a synthetic history of one site (see
//! [`spoor_collector::reports::generate`]).
//!
//! `cargo run --release -p spoor-collector --bin spoor-gen -- --db /tmp/bench.db --events 10000000 --site demo --days 30`

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use spoor_collector::reports::generate::{Spec, generate};
use spoor_collector::store::sqlite::SqliteStore;

/// Fills a database with synthetic history.
#[derive(Parser)]
struct Args {
    /// The SQLite file (created if needed; events are added to what it holds).
    #[arg(long)]
    db: PathBuf,
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
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let store = SqliteStore::open(&args.db)?;
    let spec = Spec {
        site: args.site,
        events: args.events,
        days: args.days,
        end_ms: spoor_collector::clock::now_ms(),
        seed: args.seed,
        batch: args.batch,
    };
    let started = Instant::now();
    let written = generate(&store, &spec, |n| {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{n} events in {secs:.0} s ({:.0}/s)",
            n as f64 / secs.max(1e-9)
        );
    })?;
    println!(
        "wrote {} events, {} sessions, {} visitors in {:.0} s",
        written.events,
        written.sessions,
        written.visitors,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
