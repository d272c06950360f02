//! The ClickHouse store's visitor log and funnels on a real `clickhouse-server`, beyond the
//! answers the conformance suite checks: the log reads only the days its newest sessions
//! need (the parts ClickHouse selects are counted), the funnel's per-person reduction
//! evaluates as every hit does, and both answer as SQLite does over a generated history.
//! Skipped where ClickHouse is not installed (never under `CI=true`).

// Test fixtures panic on a broken set-up, as test functions do.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::clickhouse_rows::{Ev, VisitorPerson};
use serde::Deserialize;
use spoor_collector::reports::funnel::{Step, evaluate};
use spoor_collector::reports::range::{DAY_MS, HOUR_MS, Range, date, parse_date};
use spoor_collector::reports::{Filters, FunnelHit, LogSession, ReportQuery};
use spoor_collector::store::ReportSource;
use spoor_collector::store::clickhouse::ClickHouseStore;
use spoor_collector::store::clickhouse::client::Client;

/// The tests below count what the shared server does (its global `system.events`): one
/// at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An event of `visitor` in session number `session` at `ts`, arrived a second later.
fn ev(n: u64, visitor: &str, session: u64, ts: i64, kind: &str, what: &str) -> Ev {
    let (path, name) = if kind == "custom" {
        ("/", what)
    } else {
        (what, "")
    };
    Ev {
        site: "demo".into(),
        id: format!("00000000-0000-4000-8000-{n:012}"),
        day: date(ts.div_euclid(DAY_MS)),
        ts,
        received_after: 1000,
        kind: kind.into(),
        visitor: visitor.into(),
        session: format!("00000000-0000-7000-8000-{session:012}"),
        hostname: "example.com".into(),
        path: path.into(),
        device: "desktop".into(),
        name: name.into(),
        ..Ev::default()
    }
}

/// A new store on the shared server and a client of its database, or `None` where
/// ClickHouse is not installed.
async fn store() -> Option<(ClickHouseStore, Client)> {
    common::clickhouse_store().await
}

/// The server's count of the table parts its queries have selected so far.
async fn selected_parts(client: &Client) -> u64 {
    #[derive(Deserialize)]
    struct Value {
        value: u64,
    }
    let rows: Vec<Value> = client
        .rows(
            "SELECT value FROM system.events WHERE event = 'SelectedParts'".into(),
            &[],
        )
        .await
        .unwrap();
    rows.first().map_or(0, |v| v.value)
}

/// 40 days of sessions, each day inserted as its own part (merges stopped), three
/// sessions a day (08:00, 12:00, 20:00, two page views each), plus:
///
/// - a session from 23:00 the day before the last three days into 01:00 of the first of
///   them (it started before a range of those three days);
/// - a session of the last day whose first event arrived late: `/late` at 21:30 arrived
///   after its 21:40 page view (which started it), so it starts at 21:30;
/// - the only mobile session, on the first day at 10:00.
///
/// Each session's visitor is `d{day}-{hour}` (days from `first_day`).
async fn days_of_parts(client: &Client, first_day: i64) {
    client
        .command(
            format!("SYSTEM STOP MERGES {}.events", client.database()),
            &[],
        )
        .await
        .unwrap();
    let mut n = 0;
    let mut session = 0;
    for d in 0..40 {
        let day = first_day + d;
        let mut rows = Vec::new();
        for h in [8, 12, 20] {
            session += 1;
            let visitor = format!("d{d}-{h}");
            let start = day * DAY_MS + h * HOUR_MS;
            for (i, path) in ["/", "/pricing"].into_iter().enumerate() {
                n += 1;
                let mut e = ev(
                    n,
                    &visitor,
                    session,
                    start + i as i64 * 60_000,
                    "pageview",
                    path,
                );
                e.starts = u8::from(i == 0);
                if d == 0 && h == 8 {
                    e.ts += 2 * HOUR_MS;
                    e.device = "mobile".into();
                }
                rows.push(e);
            }
        }
        if d == 36 {
            session += 1;
            for (i, ts) in [day * DAY_MS + 23 * HOUR_MS, (day + 1) * DAY_MS + HOUR_MS]
                .into_iter()
                .enumerate()
            {
                n += 1;
                let mut e = ev(n, "cross", session, ts, "pageview", "/");
                e.starts = u8::from(i == 0);
                e.day = date(day);
                rows.push(e);
            }
        }
        if d == 39 {
            session += 1;
            n += 1;
            let mut first = ev(
                n,
                "late",
                session,
                day * DAY_MS + 21 * HOUR_MS + 40 * 60_000,
                "pageview",
                "/",
            );
            first.starts = 1;
            n += 1;
            let mut late = ev(
                n,
                "late",
                session,
                day * DAY_MS + 21 * HOUR_MS + 30 * 60_000,
                "pageview",
                "/late",
            );
            late.received_after = first.ts + 60_000 - late.ts;
            rows.extend([first, late]);
        }
        // The crossing session's second event is a row of the next day's part.
        let (this, next): (Vec<Ev>, Vec<Ev>) = rows
            .into_iter()
            .partition(|e| e.ts.div_euclid(DAY_MS) == day);
        client.insert("events", &this, &[]).await.unwrap();
        for mut e in next {
            e.day = date(e.ts.div_euclid(DAY_MS));
            client.insert("events", &[e], &[]).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visitor_log_reads_only_the_days_its_sessions_need() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((store, client)) = store().await else {
        return;
    };
    let first_day = parse_date("2026-10-01").unwrap();
    days_of_parts(&client, first_day).await;
    let last_day = first_day + 39;
    let range = |days: i64| Range {
        from: last_day - days + 1,
        to: last_day,
    };
    let log = |days: i64, limit: usize, filters: Filters| {
        let q = ReportQuery {
            limit,
            filters,
            ..ReportQuery::new("demo", range(days))
        };
        let store = &store;
        let client = &client;
        async move {
            let before = selected_parts(client).await;
            let log = store.visitor_log(&q).await.unwrap();
            (log, selected_parts(client).await - before)
        }
    };
    let start = |s: &spoor_collector::reports::LogSession| (s.visitor.clone(), s.start);
    let at = |d: i64, h: i64, m: i64| (first_day + d) * DAY_MS + h * HOUR_MS + m * 60_000;

    // The newest two sessions: the same answer and the same parts whether the range is
    // three days or forty.
    let (short, short_parts) = log(3, 2, Filters::default()).await;
    let (long, long_parts) = log(40, 2, Filters::default()).await;
    assert_eq!(
        short.iter().map(start).collect::<Vec<_>>(),
        [
            ("late".to_string(), at(39, 21, 30)),
            ("d39-20".into(), at(39, 20, 0))
        ]
    );
    assert_eq!(long, short);
    assert_eq!(short[0].entry, "/late");
    assert_eq!(short[0].events.len(), 2);
    assert!(short_parts > 0);
    assert_eq!(
        long_parts, short_parts,
        "the parts of the range's older days are not read"
    );

    // Back to the range's start: the three days' ten sessions, not the one that started
    // the evening before.
    let (all, _) = log(3, 100, Filters::default()).await;
    let starts: Vec<i64> = all.iter().map(|s| s.start).collect();
    let mut want = vec![at(39, 21, 30)];
    for d in [39, 38, 37] {
        want.extend([at(d, 20, 0), at(d, 12, 0), at(d, 8, 0)]);
    }
    assert_eq!(starts, want);
    assert!(all.iter().all(|s| s.visitor != "cross"));
    let (wider, _) = log(4, 100, Filters::default()).await;
    assert!(wider.iter().any(|s| s.visitor == "cross"));

    // The only mobile session is on the first day: found however far back.
    let mobile = Filters {
        device: Some("mobile".into()),
        ..Filters::default()
    };
    let (found, _) = log(40, 10, mobile.clone()).await;
    assert_eq!(
        found.iter().map(start).collect::<Vec<_>>(),
        [("d0-8".to_string(), at(0, 10, 0))]
    );
    assert!(log(39, 10, mobile).await.0.is_empty());
}

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Random histories of 40 visitors over five days around a three-day range: page views
/// of `/`, `/pricing`, `/docs` and custom `signup` events on a 10-minute grid (so that
/// hits share times and lie exactly a window apart), some visitors many times on `/`;
/// `w0` and `w1` are one person. A session per visitor and UTC day; odd visitors mobile.
fn random_history(day0: i64) -> (Vec<Ev>, Vec<VisitorPerson>) {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut rows = Vec::new();
    let mut n = 0;
    for v in 0..40u64 {
        let visitor = format!("w{v}");
        let events = if v % 7 == 0 { 120 } else { 1 + rng.below(30) };
        for _ in 0..events {
            n += 1;
            let ts = (day0 - 1) * DAY_MS + (rng.below(5 * 144) * 600_000) as i64;
            let day = ts.div_euclid(DAY_MS);
            let session = v * 100 + (day - day0 + 10) as u64;
            let (kind, what) = match rng.below(if v % 7 == 0 { 12 } else { 5 }) {
                0 => ("pageview", "/pricing"),
                1 => ("pageview", "/docs"),
                2 => ("custom", "signup"),
                _ => ("pageview", "/"),
            };
            let mut e = ev(n, &visitor, session, ts, kind, what);
            e.starts = 1;
            if v % 2 == 1 {
                e.device = "mobile".into();
            }
            rows.push(e);
        }
    }
    let persons = ["w0", "w1"]
        .map(|visitor| VisitorPerson {
            site: "demo".into(),
            mode: "inclusive".into(),
            visitor: visitor.into(),
            from_ms: i64::MIN,
            person: "w0".into(),
            version: 1,
        })
        .into();
    (rows, persons)
}

/// Every hit of `steps` in `rows` (as `ReportSource::funnel_hits` documents them, before
/// any reduction): a first step in the range, later ones up to the window past it, each
/// person numbered in order of appearance, only sessions in `allowed` when given.
fn every_hit(
    rows: &[Ev],
    steps: &[Step],
    q: &ReportQuery,
    window_ms: i64,
    allowed: Option<&[String]>,
) -> Vec<FunnelHit> {
    let (start, end) = (q.range.start_ms(), q.range.end_ms());
    let mut who: HashMap<&str, u64> = HashMap::new();
    let mut hits = Vec::new();
    for e in rows {
        if allowed.is_some_and(|a| !a.contains(&e.session)) {
            continue;
        }
        let person = if e.visitor == "w1" { "w0" } else { &e.visitor };
        let next = who.len() as u64;
        let number = *who.entry(person).or_insert(next);
        for (i, step) in steps.iter().enumerate() {
            let matches = match step {
                Step::Page(p) => e.kind == "pageview" && e.path == *p,
                Step::Event(name) => e.kind == "custom" && e.name == *name,
            };
            let to = if i == 0 { end } else { end + window_ms };
            if matches && e.ts >= start && e.ts < to {
                hits.push(FunnelHit {
                    who: number,
                    ts: e.ts,
                    step: i,
                });
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funnel_hits_are_reduced_and_evaluate_as_every_hit() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some((store, client)) = store().await else {
        return;
    };
    let day0 = parse_date("2026-12-01").unwrap();
    let (rows, persons) = random_history(day0);
    client.insert("events", &rows, &[]).await.unwrap();
    client
        .insert("visitor_persons", &persons, &[])
        .await
        .unwrap();
    let page = |p: &str| Step::Page(p.into());
    let funnels = [
        vec![page("/"), page("/pricing"), Step::Event("signup".into())],
        vec![page("/pricing"), page("/")],
        vec![page("/"), page("/")],
        vec![
            page("/"),
            page("/docs"),
            page("/"),
            Step::Event("signup".into()),
        ],
    ];
    let plain = ReportQuery::new(
        "demo",
        Range {
            from: day0,
            to: day0 + 2,
        },
    );
    let (start, end) = (plain.range.start_ms(), plain.range.end_ms());
    // The sessions a mobile filter keeps: those of odd visitors starting in the range.
    let mobile_sessions: Vec<String> = {
        let mut first: HashMap<&str, i64> = HashMap::new();
        for e in &rows {
            let t = first.entry(&e.session).or_insert(e.ts);
            *t = (*t).min(e.ts);
        }
        rows.iter()
            .filter(|e| e.device == "mobile" && (start..end).contains(&first[e.session.as_str()]))
            .map(|e| e.session.clone())
            .collect()
    };
    let mobile = ReportQuery {
        filters: Filters {
            device: Some("mobile".into()),
            ..Filters::default()
        },
        ..plain.clone()
    };
    let (mut kept, mut every) = (0, 0);
    for steps in &funnels {
        for window in [0, 600_000, HOUR_MS, DAY_MS] {
            for (q, allowed) in [(&plain, None), (&mobile, Some(mobile_sessions.as_slice()))] {
                let few = store.funnel_hits(q, steps, window).await.unwrap();
                let all = every_hit(&rows, steps, q, window, allowed);
                // The hits kept are hits: each (time, step) as often at most.
                let mut left: HashMap<(i64, usize), i64> = HashMap::new();
                for h in &all {
                    *left.entry((h.ts, h.step)).or_default() += 1;
                }
                for h in &few {
                    let n = left.entry((h.ts, h.step)).or_default();
                    *n -= 1;
                    assert!(*n >= 0, "{steps:?} {window}: {h:?} is no hit");
                }
                let got = evaluate(steps, few.clone(), start, end, window);
                let want = evaluate(steps, all.clone(), start, end, window);
                assert_eq!(got, want, "{steps:?} window {window} {:?}", q.filters);
                assert!(want[0].persons > 0);
                kept += few.len();
                every += all.len();
            }
        }
    }
    assert!(
        kept * 2 < every,
        "the query keeps {kept} of {every} hits: no reduction"
    );
}

/// The same generated history (`reports::generate`: 20 000 events over a week, returning
/// visitors, campaigns, logins on several devices) written through each store's own
/// insert path gives the same visitor log on ClickHouse as on SQLite: a few newest
/// sessions, all of them, with filters (some far back) and under both identity readings,
/// over a range that ends before the history does.
#[test]
fn visitor_log_answers_as_on_sqlite() {
    use spoor_collector::identity::graph::Mode;
    use spoor_collector::reports::generate::{Spec, generate};
    use spoor_collector::store::sqlite::SqliteStore;

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _one = runtime.block_on(ONE_AT_A_TIME.lock());
    let Some((clickhouse, _)) = runtime.block_on(store()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open(&dir.path().join("gen.db")).unwrap();
    let spec = Spec {
        site: "demo".into(),
        events: 20_000,
        days: 7,
        end_ms: 20_600 * DAY_MS + DAY_MS / 2,
        seed: 11,
        batch: 2_000,
    };
    assert_eq!(
        generate(&sqlite, &spec, |_| {}).unwrap(),
        generate(&clickhouse, &spec, |_| {}).unwrap()
    );
    let week = Range {
        from: 20_594,
        to: 20_600,
    };
    let earlier = Range {
        from: 20_594,
        to: 20_597,
    };
    let filters = [
        Filters::default(),
        Filters {
            device: Some("mobile".into()),
            ..Filters::default()
        },
        Filters {
            page: Some("/pricing".into()),
            ..Filters::default()
        },
        Filters {
            campaign: Some("brand".into()),
            ..Filters::default()
        },
    ];
    let mut compared = 0;
    for range in [week, earlier] {
        for filters in &filters {
            for mode in [Mode::Inclusive, Mode::Strict] {
                for limit in [1, 50, 10_000] {
                    let q = ReportQuery {
                        limit,
                        mode,
                        filters: filters.clone(),
                        ..ReportQuery::new("demo", range)
                    };
                    // Session ids are each store's own; events of the same time (and, on
                    // ClickHouse, arrival) come in no defined order (SQLite's is its
                    // insertion order, which ClickHouse does not keep).
                    let without_ids = |log: Vec<LogSession>| -> Vec<LogSession> {
                        log.into_iter()
                            .map(|mut s| {
                                s.events.sort_by(|a, b| {
                                    (a.ts, &a.kind, &a.path, &a.name)
                                        .cmp(&(b.ts, &b.kind, &b.path, &b.name))
                                });
                                LogSession {
                                    session: String::new(),
                                    ..s
                                }
                            })
                            .collect()
                    };
                    let want = without_ids(sqlite.visitor_log(&q).unwrap());
                    let got = without_ids(
                        runtime
                            .block_on(ReportSource::visitor_log(&clickhouse, &q))
                            .unwrap(),
                    );
                    assert_eq!(got, want, "{range:?} {filters:?} {mode:?} {limit}");
                    compared += want.len();
                }
            }
        }
    }
    assert!(compared > 1_000, "{compared} sessions compared");
}
