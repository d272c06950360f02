//! `spoor-bench-ingest`: the collector's ingest throughput over HTTP against the store's
//! own insert rate in the same run (see [`spoor_devtools::ingest_bench`]); prints a
//! Markdown table.
//!
//! `cargo run --release -p spoor-collector --bin spoor-bench-ingest -- --events 100000 --clients 16 --per-request 10`

use clap::Parser;
use spoor_devtools::ingest_bench::{self, Spec};

/// Times ingest.
#[derive(Parser)]
struct Args {
    /// Events in all.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Events per request.
    #[arg(long, default_value_t = 10)]
    per_request: usize,
    /// Clients sending at once.
    #[arg(long, default_value_t = 16)]
    clients: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let spec = Spec {
        events: args.events,
        per_request: args.per_request,
        clients: args.clients,
    };
    let dir = tempfile_dir()?;
    let measured = ingest_bench::run(&dir, spec).await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", ingest_bench::table(spec, &measured?));
    Ok(())
}

/// A new directory under the system's temporary one for the two databases.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("spoor-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
