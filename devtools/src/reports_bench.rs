//! The reports benchmark: the set of queries the dashboard issues for a range, timed when
//! answered from the rollups and when answered by scanning (the range's sessions and
//! events, without rollups), plus the headline numbers straight from the raw `events`
//! table, all in the same run. Figures and ratios are printed, never asserted.

use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use spoor_collector::reports::flows;
use spoor_collector::reports::funnel::{Step, evaluate};
use spoor_collector::reports::{Dimension, Interval, ReportQuery};
use spoor_collector::store::StoreError;
use spoor_collector::store::sqlite::SqliteStore;

/// How one query fared.
#[derive(Debug, Clone)]
pub struct Timing {
    /// The query.
    pub name: String,
    /// Times answered as the dashboard asks (rollups where they apply).
    pub fast: Vec<Duration>,
    /// Times answered by scanning, if that is a different way.
    pub scan: Vec<Duration>,
}

/// The `p`-th percentile (0 to 100) of `times`, nearest rank.
pub fn percentile(times: &[Duration], p: f64) -> Duration {
    let mut t = times.to_vec();
    t.sort();
    if t.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * t.len() as f64).ceil() as usize;
    t[rank.clamp(1, t.len()) - 1]
}

type Query = Box<dyn Fn(&SqliteStore, &ReportQuery) -> Result<usize, StoreError>>;

/// The dashboard's queries for one load, by name. Each returns a size so work is not
/// optimised away. `scans` says whether a scan answer differs from the dashboard's.
pub fn dashboard() -> Vec<(&'static str, bool, Query)> {
    let breakdown = |d: Dimension| -> Query { Box::new(move |r, q| Ok(r.breakdown(q, &d)?.len())) };
    vec![
        (
            "summary (+ previous period)",
            true,
            Box::new(|r: &SqliteStore, q: &ReportQuery| {
                let (a, b) = r.counts_with_previous(q)?;
                Ok((a.visitors + b.visitors) as usize)
            }) as Query,
        ),
        (
            "timeseries day",
            true,
            Box::new(|r: &SqliteStore, q: &ReportQuery| Ok(r.series(q, Interval::Day)?.len())),
        ),
        ("breakdown page", true, breakdown(Dimension::Page)),
        ("breakdown entry", true, breakdown(Dimension::Entry)),
        ("breakdown exit", true, breakdown(Dimension::Exit)),
        ("breakdown source", true, breakdown(Dimension::Source)),
        (
            "breakdown source_class",
            true,
            breakdown(Dimension::SourceClass),
        ),
        ("breakdown campaign", true, breakdown(Dimension::Campaign)),
        ("breakdown browser", true, breakdown(Dimension::Browser)),
        ("breakdown os", true, breakdown(Dimension::Os)),
        ("breakdown device", true, breakdown(Dimension::Device)),
        ("breakdown country", true, breakdown(Dimension::Country)),
        ("breakdown event", true, breakdown(Dimension::Event)),
        ("breakdown outbound", true, breakdown(Dimension::Outbound)),
        ("breakdown download", true, breakdown(Dimension::Download)),
        (
            "transitions /pricing",
            true,
            Box::new(|r: &SqliteStore, q: &ReportQuery| Ok(r.transitions(q, "/pricing")?.1.len())),
        ),
        (
            "flows",
            true,
            // As the API answers it by default: 4 steps, drawn as a Sankey.
            Box::new(|r: &SqliteStore, q: &ReportQuery| {
                let steps = 4;
                Ok(flows::build(&r.flows(q, steps)?, steps, q.limit)
                    .links
                    .len())
            }),
        ),
        (
            "funnel / > /pricing > signup",
            false,
            Box::new(|r: &SqliteStore, q: &ReportQuery| {
                let steps = [
                    Step::Page("/".into()),
                    Step::Page("/pricing".into()),
                    Step::Event("signup".into()),
                ];
                // As the API answers it: the hits, then their evaluation.
                let window = 86_400_000;
                let hits = r.funnel_hits(q, &steps, window)?;
                let (start, end) = (q.range.start_ms(), q.range.end_ms());
                Ok(evaluate(&steps, hits, start, end, window)[0].persons as usize)
            }),
        ),
        (
            "visitor log (50)",
            false,
            Box::new(|r: &SqliteStore, q: &ReportQuery| {
                let q = ReportQuery {
                    limit: 50,
                    ..q.clone()
                };
                Ok(r.visitor_log(&q)?.len())
            }),
        ),
        (
            "realtime",
            false,
            Box::new(|r: &SqliteStore, q: &ReportQuery| {
                Ok(r.realtime(
                    &q.site,
                    q.range.end_ms() - 300_000,
                    q.range.end_ms() + 60_000,
                )?
                .pages
                .len())
            }),
        ),
    ]
}

/// Runs the dashboard's queries (those whose name contains `only`, if given) `runs` times
/// each over `q`, and `scan_runs` times by scanning (slow on a large history); `done`
/// sees each query's timing as it completes.
pub fn run(
    reports: &SqliteStore,
    q: &ReportQuery,
    runs: usize,
    scan_runs: usize,
    only: Option<&str>,
    mut done: impl FnMut(&Timing),
) -> Result<Vec<Timing>, StoreError> {
    let scan = reports.without_rollups();
    let mut out = Vec::new();
    for (name, scans, f) in dashboard() {
        if only.is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let mut t = Timing {
            name: name.to_string(),
            fast: Vec::new(),
            scan: Vec::new(),
        };
        for i in 0..runs.max(scan_runs) {
            if i < runs {
                let start = Instant::now();
                std::hint::black_box(f(reports, q)?);
                t.fast.push(start.elapsed());
            }
            if scans && i < scan_runs {
                let start = Instant::now();
                std::hint::black_box(f(&scan, q)?);
                t.scan.push(start.elapsed());
            }
        }
        done(&t);
        out.push(t);
    }
    Ok(out)
}

/// Times the person view (`GET /api/persons/{visitor}`: visitors, links, timeline) of
/// the visitor behind the newest session of the range, `runs` times; `None` when the
/// range has no session.
pub fn person_view(
    store: &SqliteStore,
    q: &ReportQuery,
    runs: usize,
) -> Result<Option<Timing>, StoreError> {
    let newest = ReportQuery {
        limit: 1,
        ..q.clone()
    };
    let Some(session) = store.visitor_log(&newest)?.into_iter().next() else {
        return Ok(None);
    };
    let mut fast = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(store.person(&q.site, &session.visitor, q.mode)?);
        fast.push(start.elapsed());
    }
    Ok(Some(Timing {
        name: "person view".to_string(),
        fast,
        scan: Vec::new(),
    }))
}

/// The headline numbers straight from the raw `events` table (no rollups, no sessions
/// table): page views, events and distinct visitors of the range, sessions with their
/// bounces and durations grouped from the events' session ids, and the top pages.
pub fn raw_scan(conn: &Connection, q: &ReportQuery) -> Result<usize, StoreError> {
    let (start, end) = (q.range.start_ms(), q.range.end_ms());
    let (pv, visitors, events): (i64, i64, i64) = conn.query_row(
        "SELECT count(*) FILTER (WHERE kind = 'pageview'), count(DISTINCT visitor), count(*)
         FROM events WHERE site = ?1 AND ts >= ?2 AND ts < ?3",
        params![q.site, start, end],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let (sessions, bounces, duration): (i64, i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(pv = 1 AND n = 1), 0), coalesce(sum(d), 0) FROM (
             SELECT count(*) FILTER (WHERE kind = 'pageview') AS pv, count(*) AS n,
                    max(ts) - min(ts) AS d
             FROM events WHERE site = ?1 AND ts >= ?2 AND ts < ?3 GROUP BY session_id)",
        params![q.site, start, end],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT path, count(DISTINCT visitor) AS v, count(*) FROM events
         WHERE site = ?1 AND ts >= ?2 AND ts < ?3 AND kind = 'pageview'
         GROUP BY path ORDER BY v DESC LIMIT 10",
    )?;
    let pages = stmt
        .query_map(params![q.site, start, end], |r| r.get::<_, String>(0))?
        .count();
    Ok((pv + visitors + events + sessions + bounces + duration) as usize + pages)
}

/// Times [`raw_scan`] `runs` times.
pub fn run_raw(
    conn: &Connection,
    q: &ReportQuery,
    runs: usize,
) -> Result<Vec<Duration>, StoreError> {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(raw_scan(conn, q)?);
            Ok(start.elapsed())
        })
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// The results as a Markdown table, with the p95 over every query of the dashboard's set.
pub fn table(timings: &[Timing], raw: &[Duration]) -> String {
    let mut out = String::from(
        "| query | p50 ms | p95 ms | scan p50 ms | scan p95 ms | scan / rollup (p95) |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for t in timings {
        let p95 = percentile(&t.fast, 95.0);
        let (s50, s95, ratio) = if t.scan.is_empty() {
            ("same".to_string(), "same".to_string(), "-".to_string())
        } else {
            let s95 = percentile(&t.scan, 95.0);
            (
                ms(percentile(&t.scan, 50.0)),
                ms(s95),
                format!("{:.0}x", s95.as_secs_f64() / p95.as_secs_f64().max(1e-9)),
            )
        };
        out.push_str(&format!(
            "| {} | {} | {} | {s50} | {s95} | {ratio} |\n",
            t.name,
            ms(percentile(&t.fast, 50.0)),
            ms(p95)
        ));
    }
    let all: Vec<Duration> = timings
        .iter()
        .flat_map(|t| t.fast.iter().copied())
        .collect();
    let runs = timings.first().map_or(0, |t| t.fast.len());
    let loads: Vec<Duration> = (0..runs)
        .map(|i| timings.iter().filter_map(|t| t.fast.get(i)).sum())
        .collect();
    let scan_runs = timings
        .iter()
        .map(|t| t.scan.len())
        .max()
        .unwrap_or(0)
        .min(runs);
    let scan_loads: Vec<Duration> = (0..scan_runs)
        .map(|i| {
            timings
                .iter()
                .filter_map(|t| {
                    if t.scan.is_empty() {
                        t.fast.get(i)
                    } else {
                        t.scan.get(i)
                    }
                })
                .sum()
        })
        .collect();
    out.push_str(&format!(
        "\nEvery query of the set: p95 {} ms (p50 {} ms). One whole dashboard load (all queries in turn): p95 {} ms with rollups, {} ms by scanning ({:.0}x).\n",
        ms(percentile(&all, 95.0)),
        ms(percentile(&all, 50.0)),
        ms(percentile(&loads, 95.0)),
        ms(percentile(&scan_loads, 95.0)),
        percentile(&scan_loads, 95.0).as_secs_f64() / percentile(&loads, 95.0).as_secs_f64().max(1e-9),
    ));
    if !raw.is_empty() {
        out.push_str(&format!(
            "Headline numbers and top pages straight from the raw events table (naive full scan of the range): p50 {} ms, p95 {} ms.\n",
            ms(percentile(raw, 50.0)),
            ms(percentile(raw, 95.0)),
        ));
    }
    out
}
