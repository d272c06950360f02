//! Reports over a small hand-made dataset whose answers are worked out in the comments,
//! checked both from the rollups and by scanning the sessions (which must agree).
//!
//! Day D (2026-05-28, UTC), from 10:00 (T):
//! - a: session 1 — `/` from google.com at T, `/pricing` at T+60 s, custom `signup`
//!   {plan: pro} at T+120 s on `/pricing`. 2 page views, 3 events, 120 s, no bounce.
//! - b: session 2 — `/` at T, nothing else (direct): a bounce, 0 s.
//! - b: session 3 — `/blog` from t.co at T+1 h, `/pricing` at T+1 h 30 s, an outbound click
//!   at T+1 h 40 s on `/pricing`. 2 page views, 3 events, 40 s.
//! - c: session 4 — `/pricing?utm_source=newsletter&utm_campaign=spring` at T+10 min on a
//!   phone, `/` at T+11 min. 2 page views, 2 events, 60 s.
//! - d: the day before, one page view of `/` (the previous period).
//!
//! Links: a and c both log in as u1 (`login`, strict); b and c share a fingerprint
//! (`fingerprint`, inclusive only). So on day D, inclusive: one person {a, b, c};
//! strict: two, {a, c} and {b}.
//!
//! Day D: visitors 3, sessions 4, page views 7, events 9, one bounce (0.25), durations
//! 120 + 0 + 40 + 60 = 220 s, mean 55 s, 1.75 views per session.

use std::collections::BTreeMap;

use crate::enrich::agent::classify;
use crate::event::{Custom, Event, EventKind, PropValue, Props};
use crate::identity::graph::{LinkKind, Mode};
use crate::identity::resolver::NewLink;
use crate::reports::funnel::{Step, evaluate};
use crate::reports::range::{DAY_MS, HOUR_MS, Range};
use crate::reports::{Counts, Dimension, Interval, ReportQuery};
use crate::store::StoreError;
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::tests::event;

const D: i64 = 20_601;
const T: i64 = D * DAY_MS + 10 * HOUR_MS;
const S: i64 = 1000;
const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

struct Ev {
    id: u128,
    visitor: &'static str,
    ts: i64,
    path: &'static str,
    kind: EventKind,
    referrer: Option<&'static str>,
}

fn ev(id: u128, visitor: &'static str, ts: i64, path: &'static str) -> Ev {
    Ev {
        id,
        visitor,
        ts,
        path,
        kind: EventKind::Pageview,
        referrer: None,
    }
}

fn build(e: Ev, links: Vec<NewLink>) -> Event {
    let mut out = event(e.id, e.visitor, "s");
    out.client.ts = e.ts;
    out.client.path = e.path.to_string();
    out.client.kind = e.kind;
    out.client.referrer = e.referrer.map(str::to_string);
    out.client.hostname = "example.com".into();
    out.client.context.agent = Some(classify(if e.visitor == "c" { PHONE } else { DESKTOP }));
    if e.id == 9 {
        out.client.utm.source = Some("newsletter".into());
        out.client.utm.campaign = Some("spring".into());
    }
    out.identity.links = links;
    out
}

fn link(a: &str, b: &str, kind: LinkKind) -> NewLink {
    NewLink {
        a: a.into(),
        b: b.into(),
        kind,
        confidence: 1.0,
        verified: false,
    }
}

fn dataset() -> Result<SqliteStore, StoreError> {
    let store = SqliteStore::open_in_memory()?;
    let props = Props(BTreeMap::from([(
        "plan".to_string(),
        PropValue::Text("pro".into()),
    )]));
    let events = vec![
        build(ev(1, "d", T - DAY_MS, "/"), vec![]),
        build(
            Ev {
                referrer: Some("https://www.google.com/search"),
                ..ev(2, "a", T, "/")
            },
            vec![link("a", "user:u1", LinkKind::Login)],
        ),
        build(ev(3, "b", T, "/"), vec![]),
        build(ev(4, "a", T + 60 * S, "/pricing"), vec![]),
        build(
            Ev {
                kind: EventKind::Custom(Custom {
                    name: "signup".into(),
                    props: Some(props),
                }),
                ..ev(5, "a", T + 120 * S, "/pricing")
            },
            vec![],
        ),
        build(
            ev(9, "c", T + 600 * S, "/pricing"),
            vec![
                link("c", "user:u1", LinkKind::Login),
                link("b", "c", LinkKind::Fingerprint),
            ],
        ),
        build(ev(10, "c", T + 660 * S, "/"), vec![]),
        build(
            Ev {
                referrer: Some("https://t.co/x"),
                ..ev(6, "b", T + 3600 * S, "/blog")
            },
            vec![],
        ),
        build(ev(7, "b", T + 3630 * S, "/pricing"), vec![]),
        build(
            Ev {
                kind: EventKind::Outbound {
                    target: "https://github.com/x".into(),
                },
                ..ev(8, "b", T + 3640 * S, "/pricing")
            },
            vec![],
        ),
    ];
    // Two transactions, so sessions are continued across batches too.
    store.insert_events(&events[..5])?;
    store.insert_events(&events[5..])?;
    Ok(store)
}

fn day_d() -> ReportQuery {
    ReportQuery::new("demo", Range { from: D, to: D })
}

/// The store answering from the rollups and by scanning, each with the query.
fn both(store: &SqliteStore, q: &ReportQuery) -> [(SqliteStore, ReportQuery); 2] {
    [
        (store.clone(), q.clone()),
        (store.without_rollups(), q.clone()),
    ]
}

#[test]
fn summary_counts_bounce_duration_and_persons_by_reading() -> Result<(), StoreError> {
    let store = dataset()?;
    for (store, q) in both(&store, &day_d()) {
        let c = store.counts(&q)?;
        let expected = Counts {
            visitors: 3,
            persons: 1,
            pageviews: 7,
            sessions: 4,
            events: 9,
            bounces: 1,
            duration_ms: 220_000,
        };
        assert_eq!(c, expected, "exact: {}", !store.rollups);
        let strict = ReportQuery {
            mode: Mode::Strict,
            ..q.clone()
        };
        assert_eq!(
            store.counts(&strict)?.persons,
            2,
            "exact: {}",
            !store.rollups
        );
        let previous = store.counts(&q.with_range(q.range.previous()))?;
        assert_eq!(
            store.counts_with_previous(&q)?,
            (c, previous),
            "both in one pass"
        );
        assert_eq!(
            (previous.visitors, previous.sessions, previous.bounces),
            (1, 1, 1)
        );
    }
    let totals = crate::reports::summary::Totals::from(store.counts(&day_d())?);
    assert_eq!(
        (totals.bounce_rate, totals.mean_duration_ms),
        (0.25, 55_000)
    );
    assert_eq!(totals.views_per_session, 1.75);
    Ok(())
}

#[test]
fn undoing_a_link_splits_the_person_again() -> Result<(), StoreError> {
    let store = dataset()?;
    let id: i64 =
        store
            .reader()
            .query_row("SELECT id FROM links WHERE kind = 'fingerprint'", [], |r| {
                r.get(0)
            })?;
    assert!(store.deactivate_link(id)?);
    for (store, q) in both(&store, &day_d()) {
        assert_eq!(store.counts(&q)?.persons, 2, "exact: {}", !store.rollups);
    }
    Ok(())
}

#[test]
fn filters_select_sessions() -> Result<(), StoreError> {
    let store = dataset()?;
    let with = |f: fn(&mut ReportQuery)| {
        let mut q = day_d();
        f(&mut q);
        store.counts(&q)
    };
    // c's phone session: 2 page views, 2 events, 60 s.
    let mobile = with(|q| q.filters.device = Some("mobile".into()))?;
    assert_eq!(
        (
            mobile.visitors,
            mobile.sessions,
            mobile.pageviews,
            mobile.events,
            mobile.duration_ms
        ),
        (1, 1, 2, 2, 60_000)
    );
    let direct = with(|q| q.filters.source = Some("Direct".into()))?;
    assert_eq!((direct.sessions, direct.bounces), (1, 1));
    // Only session 3 viewed /blog.
    let blog = with(|q| q.filters.page = Some("/blog".into()))?;
    assert_eq!((blog.sessions, blog.pageviews, blog.events), (1, 2, 3));
    let spring = with(|q| q.filters.campaign = Some("spring".into()))?;
    assert_eq!(spring.visitors, 1);
    let nowhere = with(|q| q.filters.country = Some("FR".into()))?;
    assert_eq!(nowhere, Counts::default());
    Ok(())
}

/// `(key, visitors, pageviews, events, sessions)`.
type Line = (String, u64, u64, u64, u64);

fn rows(store: &SqliteStore, q: &ReportQuery, d: Dimension) -> Result<Vec<Line>, StoreError> {
    Ok(store
        .breakdown(q, &d)?
        .into_iter()
        .map(|r| (r.key, r.visitors, r.pageviews, r.events, r.sessions))
        .collect())
}

#[test]
fn breakdowns_from_rollups_and_by_scanning_agree() -> Result<(), StoreError> {
    let store = dataset()?;
    let s = |k: &str, v, p, e, n| (k.to_string(), v, p, e, n);
    for (store, q) in both(&store, &day_d()) {
        // /pricing and / both have 3 visitors and 3 views; /pricing has 5 events.
        assert_eq!(
            rows(&store, &q, Dimension::Page)?,
            [
                s("/pricing", 3, 3, 5, 0),
                s("/", 3, 3, 3, 0),
                s("/blog", 1, 1, 1, 0)
            ]
        );
        assert_eq!(
            rows(&store, &q, Dimension::Entry)?,
            [
                s("/", 2, 3, 4, 2),
                s("/blog", 1, 2, 3, 1),
                s("/pricing", 1, 2, 2, 1)
            ]
        );
        assert_eq!(
            rows(&store, &q, Dimension::Exit)?,
            [s("/pricing", 2, 4, 6, 2), s("/", 2, 3, 3, 2)]
        );
        let classes: Vec<String> = rows(&store, &q, Dimension::SourceClass)?
            .into_iter()
            .map(|r| format!("{}:{}", r.0, r.4))
            .collect();
        assert_eq!(classes, ["search:1", "social:1", "other:1", "direct:1"]);
        let sources: Vec<String> = rows(&store, &q, Dimension::Source)?
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(sources, ["google.com", "t.co", "newsletter", "Direct"]);
        assert_eq!(
            rows(&store, &q, Dimension::Device)?,
            [s("desktop", 2, 5, 7, 3), s("mobile", 1, 2, 2, 1)]
        );
        assert_eq!(
            rows(&store, &q, Dimension::Campaign)?,
            [s("spring", 1, 2, 2, 1)]
        );
        assert_eq!(rows(&store, &q, Dimension::Browser)?[1].0, "Safari");
        assert_eq!(
            rows(&store, &q, Dimension::Event)?,
            [s("signup", 1, 0, 1, 0)]
        );
        let plan = Dimension::EventProperty {
            event: "signup".into(),
            property: "plan".into(),
        };
        assert_eq!(rows(&store, &q, plan)?, [s("pro", 1, 0, 1, 0)]);
        assert_eq!(
            rows(&store, &q, Dimension::Outbound)?,
            [s("https://github.com/x", 1, 0, 1, 0)]
        );
        assert!(rows(&store, &q, Dimension::Download)?.is_empty());
        let shares: Vec<f64> = store
            .breakdown(&q, &Dimension::Device)?
            .iter()
            .map(|r| r.share)
            .collect();
        assert_eq!(shares, [2.0 / 3.0, 1.0 / 3.0]);
    }
    // Counting persons (strict): a and c are one person, so / had 2 persons.
    let q = ReportQuery {
        count: crate::reports::CountBy::Persons,
        mode: Mode::Strict,
        ..day_d()
    };
    assert_eq!(rows(&store, &q, Dimension::Page)?[1], s("/", 2, 3, 3, 0));
    Ok(())
}

#[test]
fn hourly_series_has_every_bucket() -> Result<(), StoreError> {
    let store = dataset()?;
    for (store, q) in both(&store, &day_d()) {
        let series = store.series(&q, Interval::Hour)?;
        assert_eq!(series.len(), 24);
        let at = |h: usize| series[h].1;
        assert_eq!(series[10].0, T);
        // 10:00: sessions 1, 2, 4 (a, b, c), 5 page views; 11:00: session 3 (b), 2.
        assert_eq!(
            (at(10).sessions, at(10).visitors, at(10).pageviews),
            (3, 3, 5)
        );
        assert_eq!(
            (at(11).sessions, at(11).visitors, at(11).pageviews),
            (1, 1, 2)
        );
        assert_eq!(at(9), Counts::default());
        // Inclusive, the three visitors of 10:00 are one person.
        assert_eq!(at(10).persons, 1, "exact: {}", !store.rollups);
    }
    Ok(())
}

#[test]
fn transitions_and_flows() -> Result<(), StoreError> {
    let store = dataset()?;
    for (store, q) in both(&store, &day_d()) {
        let (views, mut before, mut after) = store.transitions(&q, "/pricing")?;
        before.sort();
        after.sort();
        assert_eq!(views, 3);
        let kv = |k: &str, n| (k.to_string(), n);
        assert_eq!(before, [kv("(entrance)", 1), kv("/", 1), kv("/blog", 1)]);
        assert_eq!(after, [kv("(exit)", 2), kv("/", 1)]);
        let mut flows = store.flows(&q, 5)?;
        flows.sort();
        let p = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            flows,
            [
                (p(&["/"]), 1),
                (p(&["/", "/pricing"]), 1),
                (p(&["/blog", "/pricing"]), 1),
                (p(&["/pricing", "/"]), 1),
            ]
        );
        // Cut to their first page, the sequences starting with `/` add up.
        let mut first = store.flows(&q, 1)?;
        first.sort();
        assert_eq!(
            first,
            [(p(&["/"]), 2), (p(&["/blog"]), 1), (p(&["/pricing"]), 1)],
            "exact: {}",
            !store.rollups
        );
    }
    Ok(())
}

#[test]
fn a_flow_its_session_has_moved_on_from_leaves_no_row() -> Result<(), StoreError> {
    let store = SqliteStore::open_in_memory()?;
    // One page view per transaction, as the beacon sends them: the session's flow is
    // `/`, then `/` `/pricing`, then `/` `/pricing` `/docs`.
    for (id, ts, path) in [
        (1, T, "/"),
        (2, T + 60 * S, "/pricing"),
        (3, T + 90 * S, "/docs"),
    ] {
        store.insert_events(&[build(ev(id, "a", ts, path), vec![])])?;
    }
    store.insert_events(&[build(ev(4, "b", T, "/"), vec![])])?;
    let conn = store.reader();
    let mut stmt = conn.prepare("SELECT key, sessions FROM report_flows ORDER BY key")?;
    let rows: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    assert_eq!(
        rows,
        [("/".into(), 1), ("/\n/pricing\n/docs".into(), 1)],
        "b's one-page session stays; a's shorter flows are gone"
    );
    Ok(())
}

/// A session's visitor moves with its entry and exit pages: a's session exits on `/x`,
/// then on `/y` (a later page view), and enters on `/x`, then on `/z` (a late one, a
/// minute before its start). Rollup sketches cannot take a's visitor back from `/x`, so
/// the entry and exit visitors come from the sessions, and `/x` keeps only b.
#[test]
fn entry_and_exit_visitors_follow_their_sessions() -> Result<(), StoreError> {
    let store = SqliteStore::open_in_memory()?;
    for (id, visitor, ts, path) in [
        (1, "a", T, "/x"),
        (2, "b", T, "/x"),
        (3, "a", T + 60 * S, "/y"),
        (4, "a", T - 60 * S, "/z"),
    ] {
        store.insert_events(&[build(ev(id, visitor, ts, path), vec![])])?;
    }
    let s = |k: &str, v, p, e, n| (k.to_string(), v, p, e, n);
    for (store, q) in both(&store, &day_d()) {
        assert_eq!(
            rows(&store, &q, Dimension::Exit)?,
            [s("/y", 1, 3, 3, 1), s("/x", 1, 1, 1, 1)]
        );
        assert_eq!(
            rows(&store, &q, Dimension::Entry)?,
            [s("/z", 1, 3, 3, 1), s("/x", 1, 1, 1, 1)]
        );
        let mut flows = store.flows(&q, 5)?;
        flows.sort();
        let flow = |p: &[&str], n| (p.iter().map(|p| p.to_string()).collect(), n);
        assert_eq!(flows, [flow(&["/x"], 1), flow(&["/z", "/x", "/y"], 1)]);
    }
    Ok(())
}

#[test]
fn funnels_count_persons_by_reading() -> Result<(), StoreError> {
    let store = dataset()?;
    let steps = [
        Step::Page("/".into()),
        Step::Page("/pricing".into()),
        Step::Event("signup".into()),
    ];
    let persons = |mode: Mode| -> Result<Vec<u64>, StoreError> {
        let q = ReportQuery { mode, ..day_d() };
        let hits = store.funnel_hits(&q, &steps, DAY_MS)?;
        let r = evaluate(&steps, hits, q.range.start_ms(), q.range.end_ms(), DAY_MS);
        Ok(r.iter().map(|s| s.persons).collect())
    };
    // Strict: {a, c} goes / → /pricing → signup; b goes / → /pricing.
    assert_eq!(persons(Mode::Strict)?, [2, 2, 1]);
    // Inclusive: one person, who did it all.
    assert_eq!(persons(Mode::Inclusive)?, [1, 1, 1]);
    Ok(())
}

#[test]
fn visitor_log_and_realtime() -> Result<(), StoreError> {
    let store = dataset()?;
    let log = store.visitor_log(&day_d())?;
    assert_eq!(log.len(), 4);
    let first = &log[0];
    assert_eq!(
        (
            first.visitor.as_str(),
            first.entry.as_str(),
            first.exit.as_str()
        ),
        ("b", "/blog", "/pricing")
    );
    assert_eq!((first.events.len(), first.duration_ms), (3, 40_000));
    assert_eq!(first.source.as_deref(), Some("t.co"));
    assert_eq!(log[1].device.as_deref(), Some("mobile"));
    // c is in the person of a (strict too): named "a" by the merge rule (sets of equal
    // size keep the smaller visitor id, `identity::persons::keeps_label`).
    let strict = ReportQuery {
        mode: Mode::Strict,
        ..day_d()
    };
    assert_eq!(store.visitor_log(&strict)?[1].person, "a");
    let rt = store.realtime("demo", T + 3600 * S, i64::MAX)?;
    assert_eq!(rt.visitors, 1);
    let pages: Vec<&str> = rt.pages.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(pages, ["/blog", "/pricing"]);
    assert_eq!(store.sites()?, ["demo"]);
    Ok(())
}

#[test]
fn fallback_page_views_are_summed_per_reason_through_their_index() -> Result<(), StoreError> {
    let store = SqliteStore::open_in_memory()?;
    let with_fallback = |id: u128, ts: i64, reason: Option<&'static str>| {
        let mut e = build(ev(id, "v1", ts, "/"), vec![]);
        e.client.context.fallback = reason;
        e
    };
    store.insert_events(&[
        with_fallback(1, T, Some("csp")),
        with_fallback(2, T + S, Some("fetch")),
        with_fallback(3, T + 2 * S, Some("csp")),
        with_fallback(4, T + 3 * S, None),
        // The day after: outside the range.
        with_fallback(5, T + DAY_MS, Some("csp")),
    ])?;
    assert_eq!(
        store.fallbacks(&day_d())?,
        [("csp".to_string(), 2), ("fetch".to_string(), 1)]
    );
    let conn = store.reader();
    let plan = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {}", super::FALLBACKS))?
        .query_map(rusqlite::params!["demo", 0, 1], |r| r.get::<_, String>(3))?
        .collect::<Result<Vec<_>, _>>()?;
    assert!(
        plan.iter().any(|step| step.contains("events_fallback")),
        "{plan:?}"
    );
    Ok(())
}
