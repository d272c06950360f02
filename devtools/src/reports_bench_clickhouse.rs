//! The reports benchmark's ClickHouse column: the dashboard's query set of
//! [`reports_bench`](crate::reports_bench) (the same names, ranges and arguments), asked
//! through the seam ([`ReportSource`], [`IdentityState::person`]) of a store opened with
//! `--store clickhouse:…`, and printed beside SQLite's figures when both are measured.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use spoor_collector::reports::flows;
use spoor_collector::reports::funnel::{Step, evaluate};
use spoor_collector::reports::{Dimension, Interval, ReportQuery};
use spoor_collector::store::{IdentityState, ReportSource, StoreError};

use crate::reports_bench::{Timing, percentile};

/// The names of the dashboard's queries, in [`reports_bench::dashboard`]'s order.
///
/// [`reports_bench::dashboard`]: crate::reports_bench::dashboard
pub const QUERIES: &[&str] = &[
    "summary (+ previous period)",
    "timeseries day",
    "breakdown page",
    "breakdown entry",
    "breakdown exit",
    "breakdown source",
    "breakdown source_class",
    "breakdown campaign",
    "breakdown browser",
    "breakdown os",
    "breakdown device",
    "breakdown country",
    "breakdown event",
    "breakdown outbound",
    "breakdown download",
    "transitions /pricing",
    "flows",
    "funnel / > /pricing > signup",
    "visitor log (50)",
    "realtime",
];

type Answer<'a> = Pin<Box<dyn Future<Output = Result<usize, StoreError>> + Send + 'a>>;

/// Asks query `name` of `store` over `q`, as the API asks it; answers a size, so the work
/// is not optimised away.
pub fn ask<'a, S: ReportSource + ?Sized>(
    store: &'a S,
    name: &str,
    q: &'a ReportQuery,
) -> Answer<'a> {
    let breakdown = |d: Dimension| -> Answer<'a> {
        Box::pin(async move { Ok(store.breakdown(q, &d).await?.len()) })
    };
    match name {
        "summary (+ previous period)" => Box::pin(async move {
            let (a, b) = store.counts_with_previous(q).await?;
            Ok((a.visitors + b.visitors) as usize)
        }),
        "timeseries day" => {
            Box::pin(async move { Ok(store.series(q, Interval::Day).await?.len()) })
        }
        "breakdown page" => breakdown(Dimension::Page),
        "breakdown entry" => breakdown(Dimension::Entry),
        "breakdown exit" => breakdown(Dimension::Exit),
        "breakdown source" => breakdown(Dimension::Source),
        "breakdown source_class" => breakdown(Dimension::SourceClass),
        "breakdown campaign" => breakdown(Dimension::Campaign),
        "breakdown browser" => breakdown(Dimension::Browser),
        "breakdown os" => breakdown(Dimension::Os),
        "breakdown device" => breakdown(Dimension::Device),
        "breakdown country" => breakdown(Dimension::Country),
        "breakdown event" => breakdown(Dimension::Event),
        "breakdown outbound" => breakdown(Dimension::Outbound),
        "breakdown download" => breakdown(Dimension::Download),
        "transitions /pricing" => {
            Box::pin(async move { Ok(store.transitions(q, "/pricing").await?.1.len()) })
        }
        "flows" => Box::pin(async move {
            let steps = 4;
            Ok(flows::build(&store.flows(q, steps).await?, steps, q.limit)
                .links
                .len())
        }),
        "funnel / > /pricing > signup" => Box::pin(async move {
            let steps = [
                Step::Page("/".into()),
                Step::Page("/pricing".into()),
                Step::Event("signup".into()),
            ];
            let window = 86_400_000;
            let hits = store.funnel_hits(q, &steps, window).await?;
            let (start, end) = (q.range.start_ms(), q.range.end_ms());
            Ok(evaluate(&steps, hits, start, end, window)[0].persons as usize)
        }),
        "visitor log (50)" => Box::pin(async move {
            let q = ReportQuery {
                limit: 50,
                ..q.clone()
            };
            Ok(store.visitor_log(&q).await?.len())
        }),
        _ => Box::pin(async move {
            Ok(store
                .realtime(
                    &q.site,
                    q.range.end_ms() - 300_000,
                    q.range.end_ms() + 60_000,
                )
                .await?
                .pages
                .len())
        }),
    }
}

/// Runs the dashboard's queries (those whose name contains `only`, if given) `runs` times
/// each over `q`; `done` sees each query's timing as it completes.
pub async fn run<S: ReportSource + IdentityState>(
    store: &S,
    q: &ReportQuery,
    runs: usize,
    only: Option<&str>,
    mut done: impl FnMut(&Timing),
) -> Result<Vec<Timing>, StoreError> {
    let mut out = Vec::new();
    for name in QUERIES {
        if only.is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let mut t = Timing {
            name: name.to_string(),
            fast: Vec::new(),
            scan: Vec::new(),
        };
        for _ in 0..runs {
            let start = Instant::now();
            std::hint::black_box(ask(store, name, q).await?);
            t.fast.push(start.elapsed());
        }
        done(&t);
        out.push(t);
    }
    if only.is_none_or(|o| "person view".contains(o)) {
        let newest = ReportQuery {
            limit: 1,
            ..q.clone()
        };
        if let Some(session) = store.visitor_log(&newest).await?.into_iter().next() {
            let mut fast = Vec::new();
            for _ in 0..runs {
                let start = Instant::now();
                std::hint::black_box(store.person(&q.site, &session.visitor, q.mode).await?);
                fast.push(start.elapsed());
            }
            out.push(Timing {
                name: "person view".to_string(),
                fast,
                scan: Vec::new(),
            });
        }
    }
    Ok(out)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// ClickHouse's timings as a Markdown table, beside SQLite's (its dashboard answers, from
/// the rollups) where `sqlite` has the query, with the p95 over every query of the set.
pub fn table(clickhouse: &[Timing], sqlite: &[Timing]) -> String {
    let mut out = String::from(
        "| query | ClickHouse p50 ms | ClickHouse p95 ms | SQLite p50 ms | SQLite p95 ms |\n|---|---:|---:|---:|---:|\n",
    );
    for t in clickhouse {
        let (s50, s95) = sqlite
            .iter()
            .find(|s| s.name == t.name)
            .map_or(("-".to_string(), "-".to_string()), |s| {
                (ms(percentile(&s.fast, 50.0)), ms(percentile(&s.fast, 95.0)))
            });
        out.push_str(&format!(
            "| {} | {} | {} | {s50} | {s95} |\n",
            t.name,
            ms(percentile(&t.fast, 50.0)),
            ms(percentile(&t.fast, 95.0)),
        ));
    }
    let all: Vec<Duration> = clickhouse
        .iter()
        .flat_map(|t| t.fast.iter().copied())
        .collect();
    let runs = clickhouse.first().map_or(0, |t| t.fast.len());
    let loads: Vec<Duration> = (0..runs)
        .map(|i| clickhouse.iter().filter_map(|t| t.fast.get(i)).sum())
        .collect();
    out.push_str(&format!(
        "\nClickHouse, every query of the set: p95 {} ms (p50 {} ms); one whole dashboard load (all queries in turn): p95 {} ms.\n",
        ms(percentile(&all, 95.0)),
        ms(percentile(&all, 50.0)),
        ms(percentile(&loads, 95.0)),
    ));
    out
}
