//! The ClickHouse store's report answers on a real `clickhouse-server`, from `events` and
//! `visitor_persons` rows inserted directly (the rows the writer and the identity
//! maintenance append), each answer worked out by hand below. The conformance suite
//! (`conformance_clickhouse.rs`) checks the same answers against SQLite's through the
//! whole collector. Skipped where ClickHouse is not installed (never under `CI=true`).

// Test fixtures panic on a broken set-up, as test functions do.
#![allow(clippy::unwrap_used)]

mod common;

use common::clickhouse_rows::{Ev, VisitorPerson};
use serde::Serialize;
use spoor_collector::identity::graph::Mode;
use spoor_collector::reports::flows;
use spoor_collector::reports::funnel::{FunnelDef, Step};
use spoor_collector::reports::range::{DAY_MS, HOUR_MS, Range, parse_date};
use spoor_collector::reports::{CountBy, Counts, Dimension, Filters, Interval, ReportQuery};
use spoor_collector::session::SessionRules;
use spoor_collector::store::ReportSource;
use spoor_collector::store::clickhouse::client::Client;
use spoor_collector::store::clickhouse::{ClickHouseOptions, ClickHouseStore};

const MIN: i64 = i64::MIN;

/// The day every session below starts on (but s4, the day after).
fn day0() -> i64 {
    parse_date("2026-12-01").unwrap()
}

fn at(day_offset: i64, h: i64, m: i64, s: i64) -> i64 {
    (day0() + day_offset) * DAY_MS + h * HOUR_MS + m * 60_000 + s * 1000
}

/// A page view of `visitor` in `session` at `ts`, arrived a second later.
fn pv(n: u32, visitor: &str, session: u32, ts: i64, path: &str) -> Ev {
    Ev {
        site: "demo".into(),
        id: format!("00000000-0000-4000-8000-{n:012}"),
        day: spoor_collector::reports::range::date(ts.div_euclid(DAY_MS)),
        ts,
        received_after: 1000,
        kind: "pageview".into(),
        visitor: visitor.into(),
        session: format!("00000000-0000-7000-8000-{session:012}"),
        hostname: "example.com".into(),
        path: path.into(),
        browser: "Firefox".into(),
        os: "Linux".into(),
        device: "desktop".into(),
        ..Ev::default()
    }
}

/// The data set:
///
/// | session | visitor | events (UTC, 2026-12-01) | facts |
/// | --- | --- | --- | --- |
/// | s1 | v1 | `/` 10:00 (from google), `/pricing` 10:01, custom `signup` 10:02 | 2 pv, 120 s, FR |
/// | s2 | v2 | `/` 11:00 (utm newsletter / winter), mobile, DE | bounce |
/// | s3 | v3 | `/pricing` 12:00 (t.co, fallback), engaged 15 s 12:00:30, then late `/docs` 11:59 | entry `/docs`, 90 s |
/// | s4 | v1 | `/` 09:00 the next day, after v1's browser passed to person p2 | bounce |
///
/// Persons (inclusive): v2 and v3 are p1; v1 is itself, then p2 from s4's arrival.
/// Strict: no rows (every visitor is its own person). One event of another site.
fn events() -> Vec<Ev> {
    let mut e = Vec::new();
    let mut s1 = pv(1, "v1", 1, at(0, 10, 0, 0), "/");
    s1.referrer = "https://www.google.com/search?q=spoor".into();
    s1.country = "FR".into();
    e.push(s1);
    let mut p = pv(2, "v1", 1, at(0, 10, 1, 0), "/pricing");
    p.prev_path = "/".into();
    p.country = "DE".into(); // not the first event: the session stays FR
    e.push(p);
    let mut signup = pv(3, "v1", 1, at(0, 10, 2, 0), "/pricing");
    signup.kind = "custom".into();
    signup.name = "signup".into();
    signup.props = r#"{"plan":"pro","seats":3,"trial":true}"#.into();
    e.push(signup);

    let mut s2 = pv(4, "v2", 2, at(0, 11, 0, 0), "/");
    s2.utm_source = "newsletter".into();
    s2.utm_campaign = "winter".into();
    s2.browser = "Chrome".into();
    s2.device = "mobile".into();
    s2.country = "DE".into();
    e.push(s2);

    let mut s3 = pv(5, "v3", 3, at(0, 12, 0, 0), "/pricing");
    s3.referrer = "https://t.co/abc".into();
    s3.fallback = "no-wasm".into();
    e.push(s3);
    let mut engaged = pv(6, "v3", 3, at(0, 12, 0, 30), "/pricing");
    engaged.kind = "engagement".into();
    engaged.visible_ms = 15_000;
    e.push(engaged);
    let mut late = pv(7, "v3", 3, at(0, 11, 59, 0), "/docs");
    late.received_after = at(0, 12, 5, 0) - late.ts;
    late.referrer = "https://duckduckgo.com/".into();
    e.push(late);

    e.push(pv(8, "v1", 4, at(1, 9, 0, 0), "/"));

    let mut other = pv(9, "x1", 9, at(0, 10, 0, 0), "/");
    other.site = "other".into();
    e.push(other);
    // As the writer fills them: the first arrival of each session starts it, and every
    // event's source is classified.
    for ev in &mut e {
        ev.starts = u8::from(
            [1, 4, 5, 8, 9]
                .iter()
                .any(|n| ev.id.ends_with(&format!("{n:012}"))),
        );
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let (source, class) = spoor_collector::enrich::source::classify(
            opt(&ev.referrer).as_deref(),
            opt(&ev.utm_source).as_deref(),
            &ev.hostname,
        );
        ev.source = source;
        ev.source_class = class.into();
    }
    e
}

fn persons() -> Vec<VisitorPerson> {
    let row = |visitor: &str, from_ms: i64, person: &str, version: u64| VisitorPerson {
        site: "demo".into(),
        mode: "inclusive".into(),
        visitor: visitor.into(),
        from_ms,
        person: person.into(),
        version,
    };
    vec![
        // An older version of v3's row, replaced.
        row("v3", MIN, "v3", 1),
        row("v2", MIN, "p1", 2),
        row("v3", MIN, "p1", 2),
        row("v1", MIN, "v1", 2),
        row("v1", at(1, 9, 0, 0), "p2", 2),
    ]
}

/// A store with the data set, or `None` where ClickHouse is not installed.
async fn store() -> Option<ClickHouseStore> {
    let url = common::clickhouse::new_database()?;
    let endpoint = common::clickhouse_endpoint(&url);
    let store = ClickHouseStore::open(
        ClickHouseOptions {
            endpoint: endpoint.clone(),
            cluster: None,
            insert_quorum: 2,
        },
        SessionRules::default(),
    )
    .await
    .unwrap();
    // The rows the writer and the identity side append, as they append them.
    let client = Client::new(endpoint);
    client.insert("events", &events(), &[]).await.unwrap();
    client
        .insert("visitor_persons", &persons(), &[])
        .await
        .unwrap();
    // Rows inserted here have no rollups: every answer from the events.
    Some(store.without_rollups())
}

fn query(days: i64) -> ReportQuery {
    ReportQuery::new(
        "demo",
        Range {
            from: day0(),
            to: day0() + days - 1,
        },
    )
}

/// Whether a sketched count is within 7 % of the exact one (`uniqCombined(12)`, like
/// SQLite's sketches, is exact up to a few hundred values, then within about 1.6 %; 7 % is
/// over four standard errors).
fn near(sketched: u64, exact: u64) -> bool {
    (sketched as f64 - exact as f64).abs() <= 0.07 * exact as f64
}

/// Asserts that the rollups' counters equal the exact ones, and their visitors and persons
/// are `near` them.
fn assert_counts_near(got: &Counts, want: &Counts, what: &str) {
    let counters = |c: &Counts| (c.pageviews, c.events, c.sessions, c.bounces, c.duration_ms);
    assert_eq!(counters(got), counters(want), "{what}");
    assert!(
        near(got.visitors, want.visitors),
        "{what}: {got:?} {want:?}"
    );
    assert!(near(got.persons, want.persons), "{what}: {got:?} {want:?}");
}

/// Asserts that two breakdowns have the same keys and counters, visitors `near`.
fn assert_rows_near(
    got: &[spoor_collector::reports::Row],
    want: &[spoor_collector::reports::Row],
    what: &str,
) {
    let (mut got, mut want) = (keys(got), keys(want));
    got.sort_by(|a, b| a.0.cmp(b.0));
    want.sort_by(|a, b| a.0.cmp(b.0));
    let counters = |v: &[(&str, u64, u64, u64, u64)]| {
        v.iter()
            .map(|r| (r.0.to_string(), r.2, r.3, r.4))
            .collect::<Vec<_>>()
    };
    assert_eq!(counters(&got), counters(&want), "{what}");
    for (g, w) in got.iter().zip(&want) {
        assert!(
            near(g.1, w.1),
            "{what} {}: {} visitors, {} exactly",
            g.0,
            g.1,
            w.1
        );
    }
}

fn keys(rows: &[spoor_collector::reports::Row]) -> Vec<(&str, u64, u64, u64, u64)> {
    rows.iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.visitors,
                r.pageviews,
                r.events,
                r.sessions,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_series_and_summary() {
    let Some(store) = store().await else { return };
    let day = Counts {
        visitors: 3,
        persons: 2,
        pageviews: 5,
        sessions: 3,
        events: 7,
        bounces: 1,
        duration_ms: 120_000 + 90_000,
    };
    assert_eq!(store.counts(&query(1)).await.unwrap(), day);
    // Over both days v1's browser reaches p2: v1, p1, p2.
    let both = store.counts(&query(2)).await.unwrap();
    assert_eq!((both.visitors, both.persons, both.sessions), (3, 3, 4));
    let mut strict = query(1);
    strict.mode = Mode::Strict;
    assert_eq!(store.counts(&strict).await.unwrap().persons, 3);

    let next = query(1).with_range(Range {
        from: day0() + 1,
        to: day0() + 1,
    });
    let (now, before) = store.counts_with_previous(&next).await.unwrap();
    assert_eq!(before, day);
    assert_eq!(
        (now.visitors, now.persons, now.sessions, now.bounces),
        (1, 1, 1, 1)
    );

    let hours = store.series(&query(1), Interval::Hour).await.unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(
        hours[10],
        (
            at(0, 10, 0, 0),
            Counts {
                visitors: 1,
                persons: 1,
                pageviews: 2,
                sessions: 1,
                events: 3,
                bounces: 0,
                duration_ms: 120_000,
            }
        )
    );
    assert_eq!(
        (
            hours[10].1.sessions,
            hours[11].1.sessions,
            hours[11].1.visitors,
            hours[11].1.persons
        ),
        (1, 2, 2, 1),
        "s3 starts at 11:59 (its late event)"
    );
    // Unfiltered, as SQLite's rollups: visitors, page views and events by the hour of each
    // event, sessions by their start. s3's events of 12:00 count there, s3 at 11:00.
    assert_eq!(
        hours[12].1,
        Counts {
            visitors: 1,
            persons: 1,
            pageviews: 1,
            events: 2,
            ..Counts::default()
        }
    );
    assert_eq!(hours[11].1.pageviews, 2);
    assert_eq!(hours[13].1, Counts::default());
    // Filtered, as SQLite's exact answers: everything by the session's start.
    let mut desktop = query(1);
    desktop.filters.device = Some("desktop".into());
    let hours = store.series(&desktop, Interval::Hour).await.unwrap();
    assert_eq!(
        (
            hours[11].1.pageviews,
            hours[11].1.events,
            hours[11].1.sessions
        ),
        (2, 3, 1)
    );
    assert_eq!(hours[12].1, Counts::default());
    let days = store.series(&query(2), Interval::Day).await.unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(days[0].1, day);

    let summary = store.summary("demo", Mode::Inclusive).await.unwrap();
    assert_eq!(
        (
            summary.pageviews,
            summary.visitors,
            summary.persons,
            summary.sessions,
            summary.events
        ),
        (6, 3, 3, 4, 8)
    );
    assert_eq!(summary.bounce_rate, 0.5);
    assert_eq!(summary.mean_duration_ms, 52_500);
    assert_eq!(store.sites().await.unwrap(), ["demo", "other"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakdowns_of_sessions_and_events() {
    let Some(store) = store().await else { return };
    let q = query(1);
    let b = |d: Dimension| {
        let (store, q) = (&store, &q);
        async move { store.breakdown(q, &d).await.unwrap() }
    };
    let pages = b(Dimension::Page).await;
    assert_eq!(
        keys(&pages),
        [
            ("/pricing", 2, 2, 4, 0),
            ("/", 2, 2, 2, 0),
            ("/docs", 1, 1, 1, 0)
        ]
    );
    assert!((pages[0].share - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(
        keys(&b(Dimension::Entry).await),
        [("/", 2, 3, 4, 2), ("/docs", 1, 2, 3, 1)]
    );
    assert_eq!(
        keys(&b(Dimension::Exit).await),
        [("/pricing", 2, 4, 6, 2), ("/", 1, 1, 1, 1)]
    );
    // The first arrived event names the source: s3's late event came from duckduckgo.
    assert_eq!(
        keys(&b(Dimension::Source).await),
        [
            ("google.com", 1, 2, 3, 1),
            ("t.co", 1, 2, 3, 1),
            ("newsletter", 1, 1, 1, 1)
        ]
    );
    assert_eq!(
        keys(&b(Dimension::SourceClass).await),
        [
            ("search", 1, 2, 3, 1),
            ("social", 1, 2, 3, 1),
            ("other", 1, 1, 1, 1)
        ]
    );
    assert_eq!(
        keys(&b(Dimension::Campaign).await),
        [("winter", 1, 1, 1, 1)]
    );
    assert_eq!(
        keys(&b(Dimension::Country).await),
        [("FR", 1, 2, 3, 1), ("DE", 1, 1, 1, 1)]
    );
    assert_eq!(
        keys(&b(Dimension::Device).await),
        [("desktop", 2, 4, 6, 2), ("mobile", 1, 1, 1, 1)]
    );
    assert_eq!(keys(&b(Dimension::Event).await), [("signup", 1, 0, 1, 0)]);
    let prop = |p: &str| Dimension::EventProperty {
        event: "signup".into(),
        property: p.into(),
    };
    assert_eq!(keys(&b(prop("plan")).await), [("pro", 1, 0, 1, 0)]);
    assert_eq!(keys(&b(prop("seats")).await), [("3", 1, 0, 1, 0)]);
    assert_eq!(keys(&b(prop("trial")).await), [("true", 1, 0, 1, 0)]);
    assert!(b(prop("none")).await.is_empty());

    let mut persons = q.clone();
    persons.count = CountBy::Persons;
    let rows = store.breakdown(&persons, &Dimension::Page).await.unwrap();
    // v2 and v3 are one person (p1).
    assert_eq!(
        keys(&rows),
        [
            ("/pricing", 2, 2, 4, 0),
            ("/", 2, 2, 2, 0),
            ("/docs", 1, 1, 1, 0)
        ]
    );
    assert_eq!(rows[0].share, 1.0, "over the period's 2 persons");
    let rows = store.breakdown(&persons, &Dimension::Entry).await.unwrap();
    assert_eq!(keys(&rows), [("/", 2, 3, 4, 2), ("/docs", 1, 2, 3, 1)]);

    let mut limited = q.clone();
    limited.limit = 1;
    assert_eq!(
        keys(&store.breakdown(&limited, &Dimension::Page).await.unwrap()).len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_select_sessions() {
    let Some(store) = store().await else { return };
    let filtered = |f: Filters| {
        let mut q = query(1);
        q.filters = f;
        q
    };
    let newsletter = filtered(Filters {
        source: Some("newsletter".into()),
        ..Filters::default()
    });
    let c = store.counts(&newsletter).await.unwrap();
    assert_eq!(
        (c.visitors, c.sessions, c.pageviews, c.bounces),
        (1, 1, 1, 1)
    );
    let pricing = filtered(Filters {
        page: Some("/pricing".into()),
        ..Filters::default()
    });
    let c = store.counts(&pricing).await.unwrap();
    assert_eq!((c.visitors, c.persons, c.sessions, c.events), (2, 2, 2, 6));
    assert_eq!(
        keys(&store.breakdown(&pricing, &Dimension::Page).await.unwrap()),
        [
            ("/pricing", 2, 2, 4, 0),
            ("/", 1, 1, 1, 0),
            ("/docs", 1, 1, 1, 0)
        ]
    );
    let by = |f: Filters| {
        let store = &store;
        async move { store.counts(&filtered(f)).await.unwrap().sessions }
    };
    let quoted = Filters {
        country: Some("FR' OR 1 = 1 OR '".into()),
        ..Filters::default()
    };
    assert_eq!(by(quoted).await, 0, "a filter is a value, never SQL");
    let winter = Filters {
        campaign: Some("winter".into()),
        ..Filters::default()
    };
    assert_eq!(by(winter).await, 1);
    let fr_desktop = Filters {
        country: Some("FR".into()),
        device: Some("desktop".into()),
        ..Filters::default()
    };
    assert_eq!(by(fr_desktop).await, 1);
    let fr_mobile = Filters {
        country: Some("FR".into()),
        device: Some("mobile".into()),
        ..Filters::default()
    };
    assert_eq!(by(fr_mobile).await, 0);
    // The funnel reads only the filtered sessions' events.
    let steps = [Step::Page("/".into()), Step::Event("signup".into())];
    let hits = store
        .funnel_hits(&newsletter, &steps, DAY_MS)
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_and_flows() {
    let Some(store) = store().await else { return };
    let (views, mut before, after) = store.transitions(&query(1), "/pricing").await.unwrap();
    before.sort();
    assert_eq!(views, 2);
    assert_eq!(
        before,
        [("(entrance)".to_string(), 1), ("/".to_string(), 1)]
    );
    assert_eq!(after, [("(exit)".to_string(), 2)]);
    let (views, _, mut after) = store.transitions(&query(1), "/").await.unwrap();
    after.sort();
    assert_eq!(views, 2);
    assert_eq!(
        after,
        [("(exit)".to_string(), 1), ("/pricing".to_string(), 1)]
    );

    let mut flows = store.flows(&query(1), 2).await.unwrap();
    flows.sort();
    let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        flows,
        [
            (path(&["/"]), 1),
            (path(&["/", "/pricing"]), 1),
            (path(&["/docs", "/pricing"]), 1),
        ]
    );
    let mut one = store.flows(&query(1), 1).await.unwrap();
    one.sort();
    assert_eq!(one, [(path(&["/"]), 2), (path(&["/docs"]), 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funnels_hits_and_saved() {
    let Some(store) = store().await else { return };
    let steps = [Step::Page("/".into()), Step::Event("signup".into())];
    let mut hits = store.funnel_hits(&query(1), &steps, DAY_MS).await.unwrap();
    hits.sort_by_key(|h| (h.ts, h.step));
    let got: Vec<(i64, usize)> = hits.iter().map(|h| (h.ts, h.step)).collect();
    // s4's `/` is the next day: outside the range for a first step.
    assert_eq!(
        got,
        [
            (at(0, 10, 0, 0), 0),
            (at(0, 10, 2, 0), 1),
            (at(0, 11, 0, 0), 0)
        ]
    );
    assert_eq!(hits[0].who, hits[1].who, "one visitor, one number");
    assert_ne!(hits[0].who, hits[2].who);
    let results = spoor_collector::reports::funnel::evaluate(
        &steps,
        hits,
        query(1).range.start_ms(),
        query(1).range.end_ms(),
        DAY_MS,
    );
    assert_eq!(
        results.iter().map(|r| r.persons).collect::<Vec<_>>(),
        [2, 1]
    );
    // v2 and v3 are p1: a page step both reach counts one person.
    let docs_or_home = [Step::Page("/pricing".into())];
    let hits = store
        .funnel_hits(&query(1), &docs_or_home, DAY_MS)
        .await
        .unwrap();
    assert_eq!(hits.len(), 2);
    let mut strict = query(1);
    strict.mode = Mode::Strict;
    let home = [Step::Page("/".into())];
    let a = store.funnel_hits(&query(1), &home, 0).await.unwrap();
    let b = store.funnel_hits(&strict, &home, 0).await.unwrap();
    let who = |h: &[spoor_collector::reports::FunnelHit]| {
        let mut w: Vec<u64> = h.iter().map(|h| h.who).collect();
        w.sort();
        w
    };
    assert_ne!(who(&a), who(&b), "v2 is p1 only in the inclusive reading");

    let def = |name: &str, steps: &[&str]| FunnelDef {
        name: name.into(),
        steps: steps.iter().map(|s| s.to_string()).collect(),
        window_ms: DAY_MS,
    };
    store
        .save_funnel("demo", &def("b", &["page:/"]))
        .await
        .unwrap();
    store
        .save_funnel("demo", &def("a", &["page:/"]))
        .await
        .unwrap();
    store
        .save_funnel("demo", &def("a", &["page:/", "event:signup"]))
        .await
        .unwrap();
    store
        .save_funnel("other", &def("c", &["page:/"]))
        .await
        .unwrap();
    assert_eq!(
        store.funnels("demo").await.unwrap(),
        [def("a", &["page:/", "event:signup"]), def("b", &["page:/"])]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_realtime_and_fallbacks() {
    let Some(store) = store().await else { return };
    let log = store.visitor_log(&query(1)).await.unwrap();
    let sessions: Vec<(&str, &str, &str, &str, u64, bool)> = log
        .iter()
        .map(|s| {
            (
                s.visitor.as_str(),
                s.person.as_str(),
                s.entry.as_str(),
                s.exit.as_str(),
                s.pageviews,
                s.bounce,
            )
        })
        .collect();
    assert_eq!(
        sessions,
        [
            ("v3", "p1", "/docs", "/pricing", 2, false),
            ("v2", "p1", "/", "/", 1, true),
            ("v1", "v1", "/", "/pricing", 2, false),
        ]
    );
    let s3 = &log[0];
    assert_eq!(s3.session, "00000000-0000-7000-8000-000000000003");
    assert_eq!(
        (s3.start, s3.end, s3.duration_ms),
        (at(0, 11, 59, 0), at(0, 12, 0, 30), 90_000)
    );
    assert_eq!(s3.source.as_deref(), Some("t.co"));
    assert_eq!(
        s3.events
            .iter()
            .map(|e| (e.kind.as_str(), e.path.as_str()))
            .collect::<Vec<_>>(),
        [
            ("pageview", "/docs"),
            ("pageview", "/pricing"),
            ("engagement", "/pricing")
        ]
    );
    let s1 = &log[2];
    assert_eq!(s1.events[2].name.as_deref(), Some("signup"));
    assert_eq!(s1.events[0].name, None);
    assert_eq!(s1.browser.as_deref(), Some("Firefox"));
    let mut two = query(1);
    two.limit = 2;
    assert_eq!(store.visitor_log(&two).await.unwrap().len(), 2);

    let live = store
        .realtime("demo", at(0, 11, 58, 0), at(0, 12, 0, 0))
        .await
        .unwrap();
    assert_eq!(live.visitors, 1);
    assert_eq!(
        live.pages
            .iter()
            .map(|p| (p.key.as_str(), p.visitors))
            .collect::<Vec<_>>(),
        [("/docs", 1), ("/pricing", 1)],
        "the end is included"
    );
    let live = store
        .realtime("demo", at(0, 9, 0, 0), at(0, 11, 30, 0))
        .await
        .unwrap();
    assert_eq!(live.visitors, 2);
    assert_eq!(live.pages[0].key, "/");
    assert_eq!(live.pages[0].visitors, 2);

    assert_eq!(
        store.fallbacks(&query(1)).await.unwrap(),
        [("no-wasm".to_string(), 1)]
    );
    assert!(
        store
            .fallbacks(&query(1).with_range(Range {
                from: day0() + 1,
                to: day0() + 1
            }))
            .await
            .unwrap()
            .is_empty()
    );
}

/// The same generated history (`reports::generate`: 20 000 events over a week, returning
/// visitors, campaigns, custom events, logins on several devices) written through each
/// store's own insert path answers the same reports on ClickHouse (from its rollups where
/// they answer) as on SQLite read without its rollups (exact): counters, every
/// breakdown, paths, funnels and fallbacks; the rollups' sketched visitors within their
/// error ([`near`]).
#[test]
fn generated_history_answers_as_on_sqlite() {
    use spoor_collector::reports::funnel::evaluate;
    use spoor_collector::reports::generate::{Spec, generate};
    use spoor_collector::store::sqlite::SqliteStore;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = common::clickhouse::new_database() else {
        return;
    };
    let endpoint = common::clickhouse_endpoint(&url);
    let clickhouse = runtime
        .block_on(ClickHouseStore::open(
            ClickHouseOptions {
                endpoint,
                cluster: None,
                insert_quorum: 2,
            },
            SessionRules::default(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("gen.db")).unwrap();
    let end_ms = 20_600 * DAY_MS + DAY_MS / 2;
    let spec = Spec {
        site: "demo".into(),
        events: 20_000,
        days: 7,
        end_ms,
        seed: 7,
        batch: 2_000,
    };
    let a = generate(&sqlite, &spec, |_| {}).unwrap();
    let b = generate(&clickhouse, &spec, |_| {}).unwrap();
    assert_eq!(a, b);
    let exact = sqlite.without_rollups();

    let q = ReportQuery {
        limit: 1_000,
        ..ReportQuery::new(
            "demo",
            Range {
                from: 20_594,
                to: 20_600,
            },
        )
    };
    runtime.block_on(async {
        let counts = exact.counts(&q).unwrap();
        assert!(counts.sessions > 1_000, "{counts:?}");
        let got = ReportSource::counts(&clickhouse, &q).await.unwrap();
        assert_counts_near(&got, &counts, "counts");
        let series = ReportSource::series(&clickhouse, &q, Interval::Day)
            .await
            .unwrap();
        let want_series = exact.series(&q, Interval::Day).unwrap();
        assert_eq!(series.len(), want_series.len());
        for ((t, got), (want_t, want)) in series.iter().zip(&want_series) {
            assert_eq!(t, want_t);
            assert_counts_near(got, want, "series");
        }
        let mut persons = q.clone();
        persons.count = CountBy::Persons;
        for dimension in [
            Dimension::Page,
            Dimension::Entry,
            Dimension::Exit,
            Dimension::Source,
            Dimension::SourceClass,
            Dimension::Campaign,
            Dimension::Browser,
            Dimension::Os,
            Dimension::Device,
            Dimension::Country,
            Dimension::Event,
            Dimension::Outbound,
            Dimension::Download,
        ] {
            for q in [&q, &persons] {
                let want = exact.breakdown(q, &dimension).unwrap();
                let got = ReportSource::breakdown(&clickhouse, q, &dimension)
                    .await
                    .unwrap();
                if q.count == CountBy::Persons {
                    // From the events: exact.
                    assert_eq!(keys(&got), keys(&want), "{dimension:?} {:?}", q.count);
                } else {
                    assert_rows_near(&got, &want, &format!("{dimension:?}"));
                }
            }
        }
        let mut filtered = q.clone();
        filtered.filters.device = Some("mobile".into());
        assert_eq!(
            ReportSource::counts(&clickhouse, &filtered).await.unwrap(),
            exact.counts(&filtered).unwrap()
        );
        let sorted = |mut v: Vec<(String, u64)>| {
            v.sort();
            v
        };
        let (views, before, after) = ReportSource::transitions(&clickhouse, &q, "/pricing")
            .await
            .unwrap();
        let (want_views, want_before, want_after) = exact.transitions(&q, "/pricing").unwrap();
        assert_eq!(views, want_views);
        assert_eq!(sorted(before), sorted(want_before));
        assert_eq!(sorted(after), sorted(want_after));
        // The most common flows (all the rollups send), as the API shows them.
        let flows = ReportSource::flows(&clickhouse, &q, 4).await.unwrap();
        let want_flows = exact.flows(&q, 4).unwrap();
        assert!(want_flows.len() > q.limit, "more flows than are shown");
        assert_eq!(
            flows::build(&flows, 4, q.limit),
            flows::build(&want_flows, 4, q.limit)
        );
        let steps = [
            Step::Page("/".into()),
            Step::Page("/pricing".into()),
            Step::Event("signup".into()),
        ];
        let (start, end) = (q.range.start_ms(), q.range.end_ms());
        let funnel = |hits| {
            evaluate(&steps, hits, start, end, DAY_MS)
                .iter()
                .map(|s| s.persons)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            funnel(
                ReportSource::funnel_hits(&clickhouse, &q, &steps, DAY_MS)
                    .await
                    .unwrap()
            ),
            funnel(exact.funnel_hits(&q, &steps, DAY_MS).unwrap())
        );
        assert_eq!(
            ReportSource::fallbacks(&clickhouse, &q).await.unwrap(),
            exact.fallbacks(&q).unwrap()
        );

        // The answers above came from the rollups (no filter, counting visitors), entry
        // and exit visitors from the sessions not settled yet; settled, they come from the
        // sketches, with the same answers. The first run settles every session.
        let all = end_ms + DAY_MS;
        assert_eq!(clickhouse.settle(all).await.unwrap(), all - 30 * 60_000);
        assert_eq!(clickhouse.settle(all).await.unwrap(), all - 30 * 60_000);
        for dimension in [Dimension::Entry, Dimension::Exit] {
            let want = exact.breakdown(&q, &dimension).unwrap();
            let got = ReportSource::breakdown(&clickhouse, &q, &dimension)
                .await
                .unwrap();
            assert_rows_near(&got, &want, &format!("settled {dimension:?}"));
            let from_events =
                ReportSource::breakdown(&clickhouse.without_rollups(), &q, &dimension)
                    .await
                    .unwrap();
            assert_eq!(keys(&from_events), keys(&want), "from events {dimension:?}");
        }
    });
}

/// A day whose rollups drifted from its events (what a call cut off between its events
/// and its rollups leaves) is made exact again by `reconcile_day`: a history written
/// cleanly needs no correction (the reconciliation derives the rollups as the writer did);
/// after wrong rows are appended, the day's answers from the rollups equal those from the
/// events again, and a second run changes nothing.
#[test]
fn reconciling_a_day_makes_its_drifted_rollups_exact_again() {
    use spoor_collector::reports::generate::{Spec, generate};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some((clickhouse, client)) = runtime.block_on(common::clickhouse_store()) else {
        return;
    };
    let day = 20_599;
    let spec = Spec {
        site: "demo".into(),
        events: 6_000,
        days: 3,
        end_ms: (day + 1) * DAY_MS + DAY_MS / 2,
        seed: 11,
        batch: 1_000,
    };
    generate(&clickhouse, &spec, |_| {}).unwrap();
    let exact = clickhouse.without_rollups();
    let q = ReportQuery {
        limit: 1_000,
        ..ReportQuery::new("demo", Range { from: day, to: day })
    };

    #[derive(Serialize)]
    struct Drift {
        site: &'static str,
        dim: &'static str,
        bucket: i64,
        key: &'static str,
        pageviews: i64,
        events: i64,
        sessions: i64,
        batch: u64,
    }
    let hour = day * 24 + 10;
    let drift = [
        // A lost call's page views and session, a doubled event, a row of nothing real.
        ("hour", hour, "", -3, -4, -1),
        ("page", day, "/pricing", -2, -2, 0),
        ("browser", day, "Firefox", 0, 1, 0),
        ("page", day, "/ghost", 5, 5, 0),
        ("flow", day, "/\n/pricing", 0, 0, 2),
    ]
    .map(|(dim, bucket, key, pageviews, events, sessions)| Drift {
        site: "demo",
        dim,
        bucket,
        key,
        pageviews,
        events,
        sessions,
        batch: 1,
    });
    runtime.block_on(async {
        for d in day - 2..=day + 1 {
            let clean = clickhouse.reconcile_day("demo", d).await.unwrap();
            assert!(
                d == day - 2 || clean.events > 1_000 && clean.sessions > 100,
                "{clean:?}"
            );
            assert_eq!(
                clean.corrected, 0,
                "a clean history needs nothing: {clean:?}"
            );
        }

        client.insert("report_counts", &drift, &[]).await.unwrap();
        let drifted = ReportSource::counts(&clickhouse, &q).await.unwrap();
        assert_ne!(drifted, exact.counts(&q).await.unwrap(), "the drift shows");
        let fixed = clickhouse.reconcile_day("demo", day).await.unwrap();
        assert_eq!(fixed.corrected, drift.len() as u64, "{fixed:?}");

        assert_counts_near(
            &ReportSource::counts(&clickhouse, &q).await.unwrap(),
            &ReportSource::counts(&exact, &q).await.unwrap(),
            "counts",
        );
        for dimension in [Dimension::Page, Dimension::Browser, Dimension::Entry] {
            let got = ReportSource::breakdown(&clickhouse, &q, &dimension)
                .await
                .unwrap();
            let want = ReportSource::breakdown(&exact, &q, &dimension)
                .await
                .unwrap();
            assert_rows_near(&got, &want, &format!("{dimension:?}"));
        }
        let flows = ReportSource::flows(&clickhouse, &q, 4).await.unwrap();
        let want_flows = ReportSource::flows(&exact, &q, 4).await.unwrap();
        assert_eq!(
            flows::build(&flows, 4, q.limit),
            flows::build(&want_flows, 4, q.limit)
        );
        let again = clickhouse.reconcile_day("demo", day).await.unwrap();
        assert_eq!(again.corrected, 0, "{again:?}");

        // Each collector's minutely task reconciles yesterday once it is over, once.
        let next = day + 1;
        let mut drift_next = drift;
        for row in &mut drift_next {
            row.bucket += if row.dim == "hour" { 24 } else { 1 };
        }
        client
            .insert("report_counts", &drift_next, &[])
            .await
            .unwrap();
        let today = (next + 1) * DAY_MS;
        assert_eq!(
            clickhouse
                .reconcile_closed(today + 10 * 60_000)
                .await
                .unwrap(),
            None,
            "not in the first hour of the next day"
        );
        let done = clickhouse
            .reconcile_closed(today + 2 * HOUR_MS)
            .await
            .unwrap()
            .unwrap_or_default();
        assert_eq!(done.len(), 1, "{done:?}");
        assert_eq!(done[0].corrected, drift_next.len() as u64, "{done:?}");
        assert_eq!(
            clickhouse
                .reconcile_closed(today + 3 * HOUR_MS)
                .await
                .unwrap(),
            None,
            "done once"
        );
        let q_next = ReportQuery {
            range: Range {
                from: next,
                to: next,
            },
            ..q.clone()
        };
        assert_counts_near(
            &ReportSource::counts(&clickhouse, &q_next).await.unwrap(),
            &ReportSource::counts(&exact, &q_next).await.unwrap(),
            "the next day's counts",
        );
    });
}

/// Only the latest `settled` mark is read, and every collector adds one a minute: the
/// hourly pruning keeps the last day's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_settled_marks_are_pruned() {
    let Some((store, client)) = common::clickhouse_store().await else {
        return;
    };
    #[derive(Serialize)]
    struct Mark {
        name: &'static str,
        at: i64,
    }
    let latest = 3 * DAY_MS + 5;
    let marks = [1, 2, latest - DAY_MS, latest - 1, latest].map(|at| Mark {
        name: "settled",
        at,
    });
    client.insert("rollup_marks", &marks, &[]).await.unwrap();
    store.prune_settled_marks().await.unwrap();
    #[derive(serde::Deserialize)]
    struct N {
        n: u64,
    }
    let mut left = 0;
    for _ in 0..100 {
        left = client
            .rows::<N>(
                "SELECT count() AS n FROM rollup_marks WHERE name = 'settled'".into(),
                &[],
            )
            .await
            .unwrap()[0]
            .n;
        if left == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 3, "the last day's marks");
    #[derive(serde::Deserialize)]
    struct Span {
        first: i64,
        last: i64,
    }
    let span = client
        .rows::<Span>(
            "SELECT min(at) AS first, max(at) AS last FROM rollup_marks WHERE name = 'settled'"
                .into(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!((span[0].first, span[0].last), (latest - DAY_MS, latest));
}
