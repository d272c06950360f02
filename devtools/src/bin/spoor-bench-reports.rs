//! `spoor-bench-reports`: times the dashboard's queries over a database (see
//! [`spoor_devtools::reports_bench`]) and prints a Markdown table.
//!
//! `cargo run --release -p spoor-collector --bin spoor-bench-reports -- --db /tmp/bench.db --site demo --days 30 --runs 10 --scan-runs 3`
//!
//! With `--clickhouse http://HOST:PORT/DATABASE` (user and password from
//! `SPOOR_CLICKHOUSE_USER` / `SPOOR_CLICKHOUSE_PASSWORD`) the same set is asked of that
//! ClickHouse store too (see [`spoor_devtools::reports_bench_clickhouse`]), and printed
//! beside SQLite's; without `--db`, ClickHouse alone.

use std::path::PathBuf;

use clap::Parser;
use rusqlite::{Connection, OpenFlags};
use spoor_collector::reports::ReportQuery;
use spoor_collector::reports::range::{DAY_MS, Range};
use spoor_collector::session::SessionRules;
use spoor_collector::store::ReportSource;
use spoor_collector::store::clickhouse::client::Endpoint;
use spoor_collector::store::clickhouse::{ClickHouseOptions, ClickHouseStore};
use spoor_collector::store::sqlite::SqliteStore;
use spoor_devtools::reports_bench as bench;
use spoor_devtools::reports_bench_clickhouse as ch_bench;

/// Times the dashboard's queries.
#[derive(Parser)]
struct Args {
    /// The SQLite file.
    #[arg(long)]
    db: Option<PathBuf>,
    /// The site.
    #[arg(long, default_value = "demo")]
    site: String,
    /// Days of the range, ending today.
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Runs of each query.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Runs of each query answered by scanning (slow on a large history).
    #[arg(long, default_value_t = 3)]
    scan_runs: usize,
    /// Only the queries whose name contains this (e.g. `funnel`), and no raw scan.
    #[arg(long)]
    only: Option<String>,
    /// A ClickHouse store to time too: `http://HOST:PORT/DATABASE` (as `--store
    /// clickhouse:…`).
    #[arg(long)]
    clickhouse: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let today = spoor_collector::clock::now_ms() / DAY_MS;
    let range = Range {
        from: today - args.days + 1,
        to: today,
    };
    let q = ReportQuery::new(&args.site, range);
    let sqlite = match &args.db {
        Some(db) => sqlite(&args, db, &q)?,
        None => Vec::new(),
    };
    if let Some(url) = &args.clickhouse {
        let timings = clickhouse(&args, url, &q)?;
        println!("{}", ch_bench::table(&timings, &sqlite));
    }
    Ok(())
}

/// Times the set on the ClickHouse store at `url`.
fn clickhouse(args: &Args, url: &str, q: &ReportQuery) -> anyhow::Result<Vec<bench::Timing>> {
    let endpoint = Endpoint::parse(
        url,
        std::env::var("SPOOR_CLICKHOUSE_USER").ok(),
        std::env::var("SPOOR_CLICKHOUSE_PASSWORD").ok(),
    )
    .map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let options = ClickHouseOptions {
            endpoint,
            cluster: None,
            insert_quorum: 2,
        };
        let store = ClickHouseStore::open(options, SessionRules::default()).await?;
        // As a running collector has (again, for a history `spoor-gen` settled: adding the
        // same visitors to a sketch changes nothing).
        let settling = std::time::Instant::now();
        store.settle_all(spoor_collector::clock::now_ms()).await?;
        eprintln!("settled in {:.1} s", settling.elapsed().as_secs_f64());
        let summary = store.summary(&args.site, q.mode).await?;
        println!(
            "ClickHouse: {} events of site {:?}; range {} days; {} runs per query\n",
            summary.events, args.site, args.days, args.runs
        );
        let timings = ch_bench::run(&store, q, args.runs, args.only.as_deref(), |t| {
            eprintln!(
                "clickhouse {}: p95 {:?}",
                t.name,
                bench::percentile(&t.fast, 95.0)
            );
        })
        .await?;
        Ok(timings)
    })
}

/// Times the set on the SQLite file `db`, prints its table and answers its timings.
fn sqlite(
    args: &Args,
    db: &std::path::Path,
    q: &ReportQuery,
) -> anyhow::Result<Vec<bench::Timing>> {
    let store = SqliteStore::open(db)?;
    let events: i64 = {
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.query_row(
            "SELECT count(*) FROM events WHERE site = ?1",
            [&args.site],
            |r| r.get(0),
        )?
    };
    println!(
        "{events} events of site {:?}; range {} days; {} runs per query\n",
        args.site, args.days, args.runs
    );
    let only = args.only.as_deref();
    let mut timings = bench::run(&store, q, args.runs, args.scan_runs, only, |t| {
        eprintln!(
            "{}: p95 {:?}, scan p95 {:?}",
            t.name,
            bench::percentile(&t.fast, 95.0),
            bench::percentile(&t.scan, 95.0)
        );
    })?;
    if only.is_none_or(|o| "person view".contains(o)) {
        timings.extend(bench::person_view(&store, q, args.runs)?);
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let raw = if only.is_some() {
        Vec::new()
    } else {
        bench::run_raw(&conn, q, args.scan_runs.max(1))?
    };
    println!("{}", bench::table(&timings, &raw));
    Ok(timings)
}
