//! Smoke test of the generator and the reports benchmark on a tiny history (20 000
//! events): the generator writes through the real insert path, every query of the
//! dashboard's set runs, and the rollups agree with the scan of the sessions on a
//! realistic mix (counters exactly, sketched visitors within their error).

#![allow(clippy::unwrap_used)]

use spoor_collector::reports::generate::{Spec, generate};
use spoor_collector::reports::range::{DAY_MS, Range};
use spoor_collector::reports::{Dimension, ReportQuery};
use spoor_collector::store::sqlite::SqliteStore;
use spoor_devtools::reports_bench as bench;

#[test]
fn generated_history_benchmarks_and_rollups_agree_with_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.db");
    let store = SqliteStore::open(&path).unwrap();
    // Noon, so today is generated half-way.
    let end_ms = 20_600 * DAY_MS + DAY_MS / 2;
    let spec = Spec {
        site: "demo".into(),
        events: 20_000,
        days: 7,
        end_ms,
        seed: 7,
        batch: 5_000,
    };
    let written = generate(&store, &spec, |_| {}).unwrap();
    assert!(
        written.events > 15_000 && written.events <= 20_100,
        "{written:?}"
    );
    assert!(
        written.visitors > 500 && written.sessions > 1_000,
        "{written:?}"
    );

    let q = ReportQuery::new(
        "demo",
        Range {
            from: 20_594,
            to: 20_600,
        },
    );
    let mut timings = bench::run(&store, &q, 1, 1, None, |_| {}).unwrap();
    assert_eq!(timings.len(), bench::dashboard().len());
    let person = bench::person_view(&store, &q, 2).unwrap();
    assert_eq!(person.as_ref().map(|t| t.fast.len()), Some(2));
    timings.extend(person);
    let only = bench::run(&store, &q, 1, 0, Some("funnel"), |_| {}).unwrap();
    assert_eq!(only.len(), 1, "--only keeps the queries it names");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let raw = bench::run_raw(&conn, &q, 1).unwrap();
    let table = bench::table(&timings, &raw);
    assert!(table.contains("| breakdown page |") && table.contains("naive full scan"));
    assert!(table.contains("| person view |"));

    let reports = &store;
    let scanner = store.without_rollups();
    let scan = q.clone();
    let (fast, slow) = (reports.counts(&q).unwrap(), scanner.counts(&scan).unwrap());
    assert_eq!(
        (
            fast.pageviews,
            fast.events,
            fast.sessions,
            fast.bounces,
            fast.duration_ms
        ),
        (
            slow.pageviews,
            slow.events,
            slow.sessions,
            slow.bounces,
            slow.duration_ms
        )
    );
    assert_eq!(fast.events, written.events);
    let near = |a: u64, b: u64| (a as f64 - b as f64).abs() / (b as f64) < 0.07;
    assert!(
        near(fast.visitors, slow.visitors),
        "{} vs {}",
        fast.visitors,
        slow.visitors
    );
    assert!(
        near(fast.persons, slow.persons),
        "{} vs {}",
        fast.persons,
        slow.persons
    );
    assert!(
        slow.persons < slow.visitors,
        "users log in on several devices"
    );
    for d in [
        Dimension::Page,
        Dimension::Entry,
        Dimension::Exit,
        Dimension::Source,
        Dimension::Device,
    ] {
        let q = ReportQuery {
            limit: 1000,
            ..q.clone()
        };
        let scan = q.clone();
        let key =
            |r: &spoor_collector::reports::Row| (r.key.clone(), r.pageviews, r.events, r.sessions);
        let mut a: Vec<_> = reports.breakdown(&q, &d).unwrap().iter().map(key).collect();
        let mut b: Vec<_> = scanner
            .breakdown(&scan, &d)
            .unwrap()
            .iter()
            .map(key)
            .collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{d:?}");
    }
    let (v1, mut b1, mut a1) = reports.transitions(&q, "/pricing").unwrap();
    let (v2, mut b2, mut a2) = scanner.transitions(&scan, "/pricing").unwrap();
    b1.sort();
    b2.sort();
    a1.sort();
    a2.sort();
    assert_eq!((v1, b1, a1), (v2, b2, a2));
    for steps in [2, 5] {
        let mut f1 = reports.flows(&q, steps).unwrap();
        let mut f2 = scanner.flows(&scan, steps).unwrap();
        f1.sort();
        f2.sort();
        assert_eq!(f1, f2);
    }
}
