//! Reports: every `/api/…` report of `docs/API.md` over the dataset, against the numbers of
//! [`dataset`](super::dataset)'s tables (each area's own table below says where each figure
//! comes from).

use axum::body::Body;
use serde_json::{Value, json};

use super::Backend;
use super::dataset::{BOTH, FIRST, SECOND, at, load};
use super::harness::{Live, close};

/// A summary's (or time-series point's) counters and rates, as hand-computed.
pub struct Totals {
    pub visitors: u64,
    pub persons: u64,
    pub pageviews: u64,
    pub sessions: u64,
    pub events: u64,
    /// Bounced sessions, over `sessions`.
    pub bounces: u64,
    /// Sum of session durations, ms.
    pub duration_ms: u64,
}

impl Totals {
    /// Asserts that `got` (a summary or a time-series point) has these numbers.
    pub fn check(&self, got: &Value, what: &str) {
        let n = |k: &str| got[k].as_u64().unwrap_or(u64::MAX);
        assert_eq!(
            (n("visitors"), n("persons"), n("pageviews"), n("sessions")),
            (self.visitors, self.persons, self.pageviews, self.sessions),
            "{what}: visitors, persons, pageviews, sessions of {got}"
        );
        if got.get("events").is_some() {
            assert_eq!(n("events"), self.events, "{what}: events of {got}");
        }
        let (bounce, mean) = if self.sessions == 0 {
            (0.0, 0)
        } else {
            let s = self.sessions as f64;
            (
                self.bounces as f64 / s,
                (self.duration_ms as f64 / s).round() as u64,
            )
        };
        assert!(
            close(&got["bounce_rate"], bounce),
            "{what}: bounce rate of {got}"
        );
        assert_eq!(
            n("mean_duration_ms"),
            mean,
            "{what}: mean duration of {got}"
        );
        if got.get("views_per_session").is_some() && self.sessions > 0 {
            let vps = self.pageviews as f64 / self.sessions as f64;
            assert!(
                close(&got["views_per_session"], vps),
                "{what}: views per session of {got}"
            );
        }
    }
}

/// Day 1 and day 2 (see the dataset's totals table; `persons` inclusive).
const DAY_1: Totals = Totals {
    visitors: 10,
    persons: 9,
    pageviews: 11,
    sessions: 10,
    events: 17,
    bounces: 8,
    duration_ms: 240_000,
};
const DAY_2: Totals = Totals {
    visitors: 7,
    persons: 7,
    pageviews: 13,
    sessions: 7,
    events: 22,
    bounces: 2,
    duration_ms: 1_695_000,
};

/// Summary, both readings, one day against the other, and each filter:
///
/// | query | sessions (visitors) | visitors | persons incl./strict | pv | events | bounces | duration |
/// |---|---|---:|---:|---:|---:|---:|---:|
/// | both days | all 17 | 15 | 13 / 14 | 24 | 39 | 10 | 1 935 s |
/// | `source=Direct` | SC1 SC2 SD1 SD2 SE1 SF1 SFP SM2 SB2 SK1 SI1 | 11 | 10 / 11 (d1+d2) | 13 | 20 | 7 | 30 + 30 + 5 + 1 260 + 60 = 1 385 s |
/// | `country=AU` | SP1 SH1 SI1 | 3 | 3 | 4 | 8 | 1 (SH1) | 120 + 10 + 60 = 190 s |
/// | `page=/pricing` | SA1 SD2 SFP SK1 SJ1 SI1 | 6 | 6 (d1 is not in it) | 12 | 20 | 2 (SD2, SFP) | 180 + 1 260 + 240 + 60 = 1 740 s |
/// | `campaign=launch` | SM1 SP1 | 2 | 2 | 3 | 5 | 1 | 120 s |
/// | `device=tablet` | SH1 | 1 | 1 | 1 | 2 | 1 | 10 s |
///
/// The period before 2026-11-02 is empty: every change is `null`. Then a page view sent by
/// the no-wasm fallback (a CSP error) adds one page view and the `fallback` line `csp: 1`. Day 2 against day 1:
/// visitors (7 − 10) / 10 = −0.3, page views (13 − 11) / 11, events (22 − 17) / 17.
pub async fn summary<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let both = Totals {
        visitors: 15,
        persons: 13,
        pageviews: 24,
        sessions: 17,
        events: 39,
        bounces: 10,
        duration_ms: 1_935_000,
    };
    let s = live.get(&format!("/api/summary?{BOTH}")).await;
    both.check(&s, "both days");
    assert_eq!(
        (s["from"].clone(), s["to"].clone()),
        (json!("2026-11-02"), json!("2026-11-03"))
    );
    assert_eq!(s["fallback"], json!([]));
    for k in ["visitors", "persons", "pageviews", "sessions", "events"] {
        assert_eq!(s["previous"][k], 0, "previous {k}: {s}");
        assert_eq!(s["change"][k], Value::Null, "change {k}: {s}");
    }
    let strict = live
        .get(&format!("/api/summary?{BOTH}&identity=strict"))
        .await;
    Totals {
        persons: 14,
        ..both
    }
    .check(&strict, "both days, strict");

    DAY_1.check(&live.get(&format!("/api/summary?{FIRST}")).await, "day 1");
    let day1_strict = live
        .get(&format!("/api/summary?{FIRST}&identity=strict"))
        .await;
    Totals {
        persons: 10,
        ..DAY_1
    }
    .check(&day1_strict, "day 1, strict");
    let s2 = live.get(&format!("/api/summary?{SECOND}")).await;
    DAY_2.check(&s2, "day 2");
    DAY_1.check(&s2["previous"], "day 2's previous period");
    assert!(close(&s2["change"]["visitors"], -0.3), "{s2}");
    assert!(close(&s2["change"]["pageviews"], 2.0 / 11.0), "{s2}");
    assert!(close(&s2["change"]["events"], 5.0 / 17.0), "{s2}");
    assert!(close(&s2["change"]["sessions"], -0.3), "{s2}");

    let filters: [(&str, Totals, u64); 5] = [
        (
            "source=Direct",
            Totals {
                visitors: 11,
                persons: 10,
                pageviews: 13,
                sessions: 11,
                events: 20,
                bounces: 7,
                duration_ms: 1_385_000,
            },
            11,
        ),
        (
            "country=AU",
            Totals {
                visitors: 3,
                persons: 3,
                pageviews: 4,
                sessions: 3,
                events: 8,
                bounces: 1,
                duration_ms: 190_000,
            },
            3,
        ),
        (
            "page=/pricing",
            Totals {
                visitors: 6,
                persons: 6,
                pageviews: 12,
                sessions: 6,
                events: 20,
                bounces: 2,
                duration_ms: 1_740_000,
            },
            6,
        ),
        (
            "campaign=launch",
            Totals {
                visitors: 2,
                persons: 2,
                pageviews: 3,
                sessions: 2,
                events: 5,
                bounces: 1,
                duration_ms: 120_000,
            },
            2,
        ),
        (
            "device=tablet",
            Totals {
                visitors: 1,
                persons: 1,
                pageviews: 1,
                sessions: 1,
                events: 2,
                bounces: 1,
                duration_ms: 10_000,
            },
            1,
        ),
    ];
    for (filter, want, strict_persons) in filters {
        let got = live.get(&format!("/api/summary?{BOTH}&{filter}")).await;
        let strict_got = live
            .get(&format!("/api/summary?{BOTH}&{filter}&identity=strict"))
            .await;
        let strict_want = Totals {
            persons: strict_persons,
            ..want
        };
        want.check(&got, filter);
        strict_want.check(&strict_got, filter);
    }

    // A page view from the loader's no-wasm fallback (a Content Security Policy blocked
    // the wasm): one more page view, listed under `fallback` as `csp`.
    let mut blocked =
        super::harness::Browser::new("198.51.100.10", super::dataset::FIREFOX_LINUX, Some("z5"));
    let csp =
        json!({"nowasm": "CompileError: Refused to compile WebAssembly: Content Security Policy"});
    blocked
        .send(
            &live,
            &[super::harness::ev(
                140,
                "pageview",
                at(2, 18, 0, 0),
                "/",
                csp,
            )],
        )
        .await;
    let s = live.get(&format!("/api/summary?{BOTH}")).await;
    assert_eq!(s["pageviews"], 25, "{s}");
    assert_eq!(
        s["fallback"],
        json!([{"reason": "csp", "pageviews": 1}]),
        "{s}"
    );
}

/// Time series. By day: day 1 and day 2 of the totals table (persons on day 1: 9
/// inclusive, 10 strict). By hour (48 points, index = hour since day 1's midnight), where
/// each session counts in the hour it started and page views in their own:
///
/// | index | who | visitors | pv | sessions | bounces | duration |
/// |---:|---|---:|---:|---:|---:|---:|
/// | 9 | a1 (#1, #2) | 1 | 2 | 1 | 0 | 180 s |
/// | 10 | b1 | 1 | 1 | 1 | 1 | 0 |
/// | 11 | c1, c2 | 2 | 2 | 2 | 2 | 30 s |
/// | 12 | d1, d2 (1 person inclusive) | 2 | 2 | 2 | 2 | 0 |
/// | 13 | e1, f1, fp | 3 | 3 | 3 | 2 (not SE1) | 30 s |
/// | 23 | m1 | 1 | 1 | 1 | 1 | 0 |
/// | 24 | m1 | 1 | 1 | 1 | 1 | 0 |
/// | 33 | k1 (#90, #92, #94) | 1 | 3 | 1 | 0 | 1 260 s |
/// | 34 | a2 | 1 | 2 | 1 | 0 | 120 s |
/// | 36 | h1 | 1 | 1 | 1 | 1 | 10 s |
/// | 38 | b1 | 1 | 1 | 1 | 0 | 5 s |
/// | 39 | srv-7 | 1 | 1 | 1 | 0 | 60 s |
/// | 40 | j1 | 1 | 4 | 1 | 0 | 240 s |
///
/// Every other hour is zeros.
pub async fn timeseries<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let days = live
        .get(&format!("/api/timeseries?{BOTH}&interval=day"))
        .await;
    assert_eq!(days["interval"], "day");
    let points = days["points"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{days}");
    assert_eq!(points[0]["t"], "2026-11-02T00:00:00Z");
    assert_eq!(points[1]["t"], "2026-11-03T00:00:00Z");
    DAY_1.check(&points[0], "day 1 point");
    DAY_2.check(&points[1], "day 2 point");
    let strict = live
        .get(&format!(
            "/api/timeseries?{BOTH}&interval=day&identity=strict"
        ))
        .await;
    assert_eq!(strict["points"][0]["persons"], 10, "{strict}");
    // No interval: by day.
    let default = live.get(&format!("/api/timeseries?{BOTH}")).await;
    assert_eq!(default["points"], days["points"]);

    let hours = live
        .get(&format!("/api/timeseries?{BOTH}&interval=hour"))
        .await;
    assert_eq!(hours["interval"], "hour");
    let points = hours["points"].as_array().unwrap();
    assert_eq!(points.len(), 48, "{hours}");
    assert_eq!(points[13]["t"], "2026-11-02T13:00:00Z");
    assert_eq!(points[40]["t"], "2026-11-03T16:00:00Z");
    let busy: [(usize, u64, u64, u64, u64, u64); 13] = [
        (9, 1, 2, 1, 0, 180_000),
        (10, 1, 1, 1, 1, 0),
        (11, 2, 2, 2, 2, 30_000),
        (12, 2, 2, 2, 2, 0),
        (13, 3, 3, 3, 2, 30_000),
        (23, 1, 1, 1, 1, 0),
        (24, 1, 1, 1, 1, 0),
        (33, 1, 3, 1, 0, 1_260_000),
        (34, 1, 2, 1, 0, 120_000),
        (36, 1, 1, 1, 1, 10_000),
        (38, 1, 1, 1, 0, 5_000),
        (39, 1, 1, 1, 0, 60_000),
        (40, 1, 4, 1, 0, 240_000),
    ];
    for (i, point) in points.iter().enumerate() {
        let (visitors, pageviews, sessions, bounces, duration_ms) = busy
            .iter()
            .find(|b| b.0 == i)
            .map_or((0, 0, 0, 0, 0), |b| (b.1, b.2, b.3, b.4, b.5));
        // Hour 12 of day 1: d1 and d2, one person (inclusive). Hour 9 of day 2: k1 alone,
        // but two persons: gina until hank's login at 09:20, hank after it (a shared
        // browser's events go to whoever was logged in).
        let persons = match i {
            12 => 1,
            33 => 2,
            _ => visitors,
        };
        Totals {
            visitors,
            persons,
            pageviews,
            sessions,
            events: 0,
            bounces,
            duration_ms,
        }
        .check(point, &format!("hour {i}"));
    }
    let strict = live
        .get(&format!(
            "/api/timeseries?{BOTH}&interval=hour&identity=strict"
        ))
        .await;
    assert_eq!(
        strict["points"][12]["persons"], 2,
        "d1 and d2 apart: {strict}"
    );
    assert_eq!(
        strict["points"][33]["persons"], 2,
        "gina and hank: {strict}"
    );
}

/// The `(key, visitors, pageviews, events, sessions)` of a breakdown's rows, in order.
async fn rows<B: Backend>(live: &Live<'_, B>, query: &str) -> Vec<(String, u64, u64, u64, u64)> {
    rows_of(live, &format!("{BOTH}&{query}")).await
}

/// [`rows`] of `/api/breakdown?{query}` (the query names the site and range).
pub async fn rows_of<B: Backend>(
    live: &Live<'_, B>,
    query: &str,
) -> Vec<(String, u64, u64, u64, u64)> {
    let got = live.get(&format!("/api/breakdown?{query}")).await;
    got["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: {got}"))
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            (
                r["key"].as_str().unwrap().to_string(),
                n("visitors"),
                n("pageviews"),
                n("events"),
                n("sessions"),
            )
        })
        .collect()
}

/// A row as written in the tables: `(key, visitors, pageviews, events, sessions)`.
pub type Wanted = (&'static str, u64, u64, u64, u64);

/// The rows of `rows` with owned keys, to compare with [`rows`].
pub fn want(rows: &[Wanted]) -> Vec<(String, u64, u64, u64, u64)> {
    rows.iter()
        .map(|&(k, v, p, e, s)| (k.to_string(), v, p, e, s))
        .collect()
}

/// Breakdowns over both days. Page rows count every event on the page and the visitors
/// with any event there; session dimensions count sessions by where they started and
/// their page views and events (see the dataset's session column):
///
/// | dimension | key | visitors | pv | events | sessions | why |
/// |---|---|---:|---:|---:|---:|---|
/// | page | `/` | 10 | 10 | 14 | 0 | pv #1 #10 #23 #30 #40 #50 #70 #90 #100 #110, engagement #43, identify #71 #91 #101 |
/// | page | `/pricing` | 6 | 7 | 14 | 0 | a1 #2–#5, d2, fp, k1 #92 #93, j1 #111 #113–#115, srv-7 #120 #121 |
/// | page | `/docs` | 6 | 6 | 9 | 0 | c1 #20–#22, f1, m1 #51, a2 #72 #73, k1 #94, j1 #112 |
/// | page | `/blog` | 1 | 1 | 2 | 0 | b1 #80 #81 |
/// | entry | `/` | 10 | 17 | 28 | 10 | SA1 SB1 SC2 SD1 SE1 SM1 SP1 SK1 SH1 SJ1 |
/// | entry | `/docs` | 3 | 3 | 5 | 3 | SC1 SF1 SM2 |
/// | entry | `/pricing` | 3 | 3 | 4 | 3 | SD2 SFP SI1 |
/// | exit, `device=desktop` | `/pricing` | 5 | 9 | 15 | 5 | SA1 SD2 SFP SJ1 SI1 |
/// | exit, `device=desktop` | `/` | 5 | 5 | 6 | 5 | SB1 SC2 SD1 SE1 SM1 |
/// | exit, `device=desktop` | `/docs` | 4 | 6 | 10 | 4 | SC1 SF1 SM2 SK1 |
/// | source | `Direct` | 11 | 13 | 20 | 11 | see the summary's filter |
/// | source | `newsletter` | 2 | 3 | 5 | 2 | SM1 SP1 (`utm_source`) |
/// | source_class | `search` | 2 | 6 | 11 | 2 | SA1 (google) SJ1 (duckduckgo) |
/// | source_class | `other` | 2 | 3 | 5 | 2 | a tag without a referrer |
/// | source_class | `social` | 2 | 2 | 3 | 2 | SB1 (HN) SH1 (t.co) |
/// | browser | Chrome | 6 | 10 | 17 | 6 | a1 d1 d2 j1 srv-7 h1 |
/// | browser | Firefox | 5 | 7 | 9 | 7 | b1 (2 sessions) e1 f1 fp m1 (2) |
/// | browser | Safari | 4 | 7 | 13 | 4 | c1 c2 k1 a2 |
/// | country | NZ | 9 | 17 | 27 | 11 | 198.51.100.1–7 |
/// | country | AU | 3 | 4 | 8 | 3 | a2 h1 srv-7 |
/// | country | DE | 3 | 3 | 4 | 3 | the NAT |
/// | event | `signup` | 2 | 0 | 2 | 0 | #4 #114 |
/// | outbound | `https://github.com/spoor` | 2 | 0 | 2 | 0 | #81 #115 |
///
/// Ties are ordered by page views, then events, then sessions, then key. `share` is over
/// the period's 15 visitors. The unfiltered exit rows are checked by [`exit_visitors`]. With `count=persons`, `visitors` counts persons: the Direct
/// sessions' 11 visitors are 10 persons inclusive (d1+d2), 11 strict; `/` is 9 (a1+a2).
pub async fn breakdowns<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let page = want(&[
        ("/", 10, 10, 14, 0),
        ("/pricing", 6, 7, 14, 0),
        ("/docs", 6, 6, 9, 0),
        ("/blog", 1, 1, 2, 0),
    ]);
    assert_eq!(rows(&live, "dimension=page").await, page);
    let full = live
        .get(&format!("/api/breakdown?{BOTH}&dimension=page"))
        .await;
    assert_eq!(full["dimension"], "page");
    assert!(close(&full["rows"][0]["share"], 10.0 / 15.0), "{full}");
    assert!(close(&full["rows"][3]["share"], 1.0 / 15.0), "{full}");
    assert_eq!(rows(&live, "dimension=page&limit=2").await, page[..2]);

    let cases: [(&str, &[Wanted]); 14] = [
        (
            "dimension=entry",
            &[
                ("/", 10, 17, 28, 10),
                ("/docs", 3, 3, 5, 3),
                ("/pricing", 3, 3, 4, 3),
                ("/blog", 1, 1, 2, 1),
            ],
        ),
        (
            "dimension=exit&device=desktop",
            &[
                ("/pricing", 5, 9, 15, 5),
                ("/", 5, 5, 6, 5),
                ("/docs", 4, 6, 10, 4),
                ("/blog", 1, 1, 2, 1),
            ],
        ),
        (
            "dimension=source",
            &[
                ("Direct", 11, 13, 20, 11),
                ("newsletter", 2, 3, 5, 2),
                ("duckduckgo.com", 1, 4, 6, 1),
                ("google.com", 1, 2, 5, 1),
                ("t.co", 1, 1, 2, 1),
                ("news.ycombinator.com", 1, 1, 1, 1),
            ],
        ),
        (
            "dimension=source_class",
            &[
                ("direct", 11, 13, 20, 11),
                ("search", 2, 6, 11, 2),
                ("other", 2, 3, 5, 2),
                ("social", 2, 2, 3, 2),
            ],
        ),
        ("dimension=campaign", &[("launch", 2, 3, 5, 2)]),
        (
            "dimension=browser",
            &[
                ("Chrome", 6, 10, 17, 6),
                ("Firefox", 5, 7, 9, 7),
                ("Safari", 4, 7, 13, 4),
            ],
        ),
        (
            "dimension=os",
            &[
                ("Windows", 5, 9, 15, 5),
                ("Linux", 5, 7, 9, 7),
                ("macOS", 3, 5, 9, 3),
                ("iOS", 1, 2, 4, 1),
                ("Android", 1, 1, 2, 1),
            ],
        ),
        (
            "dimension=device",
            &[
                ("desktop", 13, 21, 33, 15),
                ("mobile", 1, 2, 4, 1),
                ("tablet", 1, 1, 2, 1),
            ],
        ),
        (
            "dimension=country",
            &[
                ("NZ", 9, 17, 27, 11),
                ("AU", 3, 4, 8, 3),
                ("DE", 3, 3, 4, 3),
            ],
        ),
        (
            "dimension=event",
            &[("signup", 2, 0, 2, 0), ("purchase", 1, 0, 1, 0)],
        ),
        (
            "dimension=event_property&event=signup&property=plan",
            &[("free", 1, 0, 1, 0), ("pro", 1, 0, 1, 0)],
        ),
        (
            "dimension=event_property&event=signup&property=seats",
            &[("1", 1, 0, 1, 0), ("3", 1, 0, 1, 0)],
        ),
        (
            "dimension=outbound",
            &[("https://github.com/spoor", 2, 0, 2, 0)],
        ),
        (
            "dimension=download",
            &[("http://localhost/files/guide.pdf", 1, 0, 1, 0)],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(rows(&live, query).await, want(expected), "{query}");
    }
    assert_eq!(
        rows(
            &live,
            "dimension=event_property&event=purchase&property=amount"
        )
        .await,
        want(&[("49", 1, 0, 1, 0)])
    );

    // Persons: the Direct sessions' d1 and d2 are one person inclusive, two strict.
    let direct = |rows: Vec<(String, u64, u64, u64, u64)>| {
        rows.into_iter().find(|r| r.0 == "Direct").map(|r| r.1)
    };
    assert_eq!(
        direct(rows(&live, "dimension=source&count=persons").await),
        Some(10)
    );
    assert_eq!(
        direct(rows(&live, "dimension=source&count=persons&identity=strict").await),
        Some(11)
    );
    assert_eq!(
        rows(&live, "dimension=page&count=persons").await,
        want(&[
            ("/", 9, 10, 14, 0),
            ("/pricing", 6, 7, 14, 0),
            ("/docs", 6, 6, 9, 0),
            ("/blog", 1, 1, 2, 0)
        ])
    );

    let resp = live
        .admin(
            "GET",
            &format!("/api/breakdown?{BOTH}&dimension=page&format=csv"),
            Body::empty(),
        )
        .await;
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"page.csv\""
    );
    let csv = String::from_utf8(crate::common::body_bytes(resp).await).unwrap();
    assert_eq!(
        csv,
        "key,visitors,pageviews,events,sessions,share\r\n\
         /,10,10,14,0,0.6666666666666666\r\n\
         /pricing,6,7,14,0,0.4\r\n\
         /docs,6,6,9,0,0.4\r\n\
         /blog,1,1,2,0,0.06666666666666667\r\n"
    );
}

/// Exit pages over both days, unfiltered (read from the rollups):
///
/// | key | visitors | pv | events | sessions | sessions that ended there |
/// |---|---:|---:|---:|---:|---|
/// | `/` | 6 | 6 | 8 | 6 | SB1 SC2 SD1 SE1 SM1 SH1 |
/// | `/pricing` | 5 | 9 | 15 | 5 | SA1 SD2 SFP SJ1 SI1 |
/// | `/docs` | 5 | 8 | 14 | 5 | SC1 SF1 SM2 SP1 SK1 |
/// | `/blog` | 1 | 1 | 2 | 1 | SB2 |
///
/// Known bug (SQLite rollups): a session's exit row is taken back when its exit moves, but
/// its visitor stays in the old row's sketch (a sketch cannot subtract), so `/` also counts
/// a1, a2 and k1 (their sessions' first batch ended on `/`) and `/pricing` k1: 9 and 6
/// visitors for 6 and 5 sessions. The filtered (exact) reading in [`breakdowns`] is right.
pub async fn exit_visitors<B: Backend>(backend: &B) {
    let live = load(backend).await;
    assert_eq!(
        rows(&live, "dimension=exit").await,
        want(&[
            ("/", 6, 6, 8, 6),
            ("/pricing", 5, 9, 15, 5),
            ("/docs", 5, 8, 14, 5),
            ("/blog", 1, 1, 2, 1)
        ])
    );
}

/// Paths. Transitions of `/pricing`, its 7 views: #2 (a1, after `/`, then nothing), #31
/// (d2), #42 (fp), #120 (srv-7) (each an entrance and an exit), #92 (k1, `/` → `/docs`),
/// #111 (j1, `/` → `/docs`), #113 (j1, `/docs` → nothing). Before: entrance 3, `/` 3,
/// `/docs` 1; after: exit 5, `/docs` 2.
///
/// Flows (first 4 page views of each of the 17 sessions): `/` alone 6 (SB1 SC2 SD1 SE1 SM1
/// SH1), `/docs` 3 (SC1 SF1 SM2), `/pricing` 3 (SD2 SFP SI1), then once each `/ /docs`
/// (SP1), `/ /pricing` (SA1), `/ /pricing /docs` (SK1), `/ /pricing /docs /pricing` (SJ1),
/// `/blog` (SB2); ties by pages. Links: `1 /`→`2 /pricing` 3 (SA1 SK1 SJ1), `2 /pricing`→`3
/// /docs` 2, `1 /`→`2 /docs` 1, `3 /docs`→`4 /pricing` 1. With `steps=2` SK1 and SJ1 both
/// read `/ /pricing`: 3 with SA1.
pub async fn paths<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let t = live
        .get(&format!("/api/paths/transitions?{BOTH}&page=/pricing"))
        .await;
    let v7 = |n: f64| n / 7.0;
    assert_eq!(t["page"], "/pricing");
    assert_eq!(t["views"], 7);
    let keys = |side: &Value| -> Vec<(String, u64)> {
        side.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["key"].as_str().unwrap().to_string(),
                    s["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        keys(&t["before"]),
        [
            ("(entrance)".to_string(), 3),
            ("/".into(), 3),
            ("/docs".into(), 1)
        ],
        "{t}"
    );
    assert_eq!(
        keys(&t["after"]),
        [("(exit)".to_string(), 5), ("/docs".into(), 2)],
        "{t}"
    );
    assert!(
        close(&t["before"][0]["share"], v7(3.0)) && close(&t["after"][1]["share"], v7(2.0)),
        "{t}"
    );
    let csv = live
        .get_text(&format!(
            "/api/paths/transitions?{BOTH}&page=/pricing&format=csv"
        ))
        .await;
    assert_eq!(
        csv,
        format!(
            "side,key,count,share\r\nbefore,(entrance),3,{a}\r\nbefore,/,3,{a}\r\nbefore,/docs,1,{b}\r\n\
             after,(exit),5,{c}\r\nafter,/docs,2,{d}\r\n",
            a = 3.0 / 7.0,
            b = 1.0 / 7.0,
            c = 5.0 / 7.0,
            d = 2.0 / 7.0
        )
    );
    let (status, _) = live
        .get_status(&format!("/api/paths/transitions?{BOTH}"))
        .await;
    assert_eq!(status, 400, "page is required");

    let f = live.get(&format!("/api/paths/flows?{BOTH}")).await;
    let sequences: Vec<(Vec<String>, u64)> = f["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                serde_json::from_value(s["pages"].clone()).unwrap(),
                s["sessions"].as_u64().unwrap(),
            )
        })
        .collect();
    let seq = |pages: &[&str], n: u64| (pages.iter().map(|p| p.to_string()).collect::<Vec<_>>(), n);
    assert_eq!(
        sequences,
        [
            seq(&["/"], 6),
            seq(&["/docs"], 3),
            seq(&["/pricing"], 3),
            seq(&["/", "/docs"], 1),
            seq(&["/", "/pricing"], 1),
            seq(&["/", "/pricing", "/docs"], 1),
            seq(&["/", "/pricing", "/docs", "/pricing"], 1),
            seq(&["/blog"], 1),
        ],
        "{f}"
    );
    assert_eq!(
        f["links"],
        json!([
            {"source": "1 /", "target": "2 /pricing", "value": 3},
            {"source": "2 /pricing", "target": "3 /docs", "value": 2},
            {"source": "1 /", "target": "2 /docs", "value": 1},
            {"source": "3 /docs", "target": "4 /pricing", "value": 1},
        ])
    );
    let names: Vec<&str> = f["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "1 /",
            "1 /docs",
            "1 /pricing",
            "2 /docs",
            "2 /pricing",
            "3 /docs",
            "4 /pricing",
            "1 /blog"
        ]
    );
    let two = live
        .get(&format!("/api/paths/flows?{BOTH}&steps=2&limit=5"))
        .await;
    assert_eq!(two["sequences"][0], json!({"pages": ["/"], "sessions": 6}));
    // `/ /pricing` (3) sorts before `/docs` (3): ties go by pages.
    assert_eq!(
        two["sequences"][1],
        json!({"pages": ["/", "/pricing"], "sessions": 3}),
        "{two}"
    );
    let csv = live
        .get_text(&format!("/api/paths/flows?{BOTH}&format=csv"))
        .await;
    assert_eq!(
        csv,
        "pages,sessions\r\n/,6\r\n/docs,3\r\n/pricing,3\r\n/ > /docs,1\r\n/ > /pricing,1\r\n\
         / > /pricing > /docs,1\r\n/ > /pricing > /docs > /pricing,1\r\n/blog,1\r\n"
    );
}

/// Funnel `page:/ → page:/pricing → event:signup` over both days, persons:
///
/// | step | inclusive | strict | who |
/// |---|---:|---:|---|
/// | `page:/` | 9 | 9 | alice (a1, a2), bob, c2, dave (d1; strict: d1 alone), erin, mia, gina (k1), hank (h1), jane |
/// | `page:/pricing` | 4 | 3 | alice 09:01, dave (d2 at 12:10, 10 min after d1's `/`: only when d1 and d2 are one person), gina 09:10, jane 16:01 |
/// | `event:signup` | 2 | 2 | alice 09:02, jane 16:03:30 |
///
/// With a 5-minute window, dave and gina (10 minutes) drop out: 9, 2, 2.
pub async fn funnels<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let steps = "steps=page:/,page:/pricing,event:signup";
    let check = |got: &Value, want: [(u64, f64, u64); 3]| {
        let s = got["steps"].as_array().unwrap();
        let names = ["page:/", "page:/pricing", "event:signup"];
        for (i, (persons, conversion, dropoff)) in want.into_iter().enumerate() {
            assert_eq!(s[i]["step"], names[i], "{got}");
            assert_eq!(
                (s[i]["persons"].as_u64(), s[i]["dropoff"].as_u64()),
                (Some(persons), Some(dropoff)),
                "step {i}: {got}"
            );
            assert!(close(&s[i]["conversion"], conversion), "step {i}: {got}");
        }
    };
    let inclusive = live.get(&format!("/api/funnel?{BOTH}&{steps}")).await;
    check(&inclusive, [(9, 1.0, 0), (4, 4.0 / 9.0, 5), (2, 0.5, 2)]);
    assert_eq!(inclusive["window_ms"], 86_400_000);
    let strict = live
        .get(&format!("/api/funnel?{BOTH}&{steps}&identity=strict"))
        .await;
    check(&strict, [(9, 1.0, 0), (3, 1.0 / 3.0, 6), (2, 2.0 / 3.0, 1)]);
    let short = live
        .get(&format!("/api/funnel?{BOTH}&{steps}&window_ms=300000"))
        .await;
    check(&short, [(9, 1.0, 0), (2, 2.0 / 9.0, 7), (2, 1.0, 0)]);
    let csv = live
        .get_text(&format!("/api/funnel?{BOTH}&{steps}&format=csv"))
        .await;
    assert_eq!(
        csv,
        format!(
            "step,persons,conversion,dropoff\r\npage:/,9,1,0\r\npage:/pricing,4,{},5\r\nevent:signup,2,0.5,2\r\n",
            4.0 / 9.0
        )
    );

    let save = json!({"site": "demo", "name": "signup", "steps": ["page:/", "page:/pricing", "event:signup"], "window_ms": 86_400_000});
    let resp = live
        .admin("POST", "/api/funnels", Body::from(save.to_string()))
        .await;
    assert_eq!(resp.status(), 201);
    let listed = live.get("/api/funnels?site=demo").await;
    assert_eq!(
        listed["funnels"],
        json!([{"name": "signup", "steps": ["page:/", "page:/pricing", "event:signup"], "window_ms": 86_400_000}])
    );
    let by_name = live.get(&format!("/api/funnel?{BOTH}&name=signup")).await;
    assert_eq!(by_name, inclusive);
    let (status, _) = live
        .get_status(&format!("/api/funnel?{BOTH}&name=nope"))
        .await;
    assert_eq!(status, 404);
}

/// The visitor log: the 17 sessions, newest first, each with its events oldest first.
/// Persons inclusive: a2's is `a1` (the smallest id of `{a1, a2, user:alice}`), d2's `d1`;
/// strict: d2's is `d2`. k1's session holds all five of its events (09:00–09:21).
pub async fn visitor_log<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let log = live.get(&format!("/api/visitors?{BOTH}&limit=100")).await;
    let sessions = log["sessions"].as_array().unwrap();
    let visitors: Vec<&str> = sessions
        .iter()
        .map(|s| s["visitor"].as_str().unwrap())
        .collect();
    let fp = visitors[8];
    assert!(fp.starts_with("fp_"), "{fp}");
    assert_eq!(
        visitors,
        [
            "j1", "srv-7", "b1", "h1", "a2", "k1", "m1", "m1", fp, "f1", "e1", "d2", "d1", "c2",
            "c1", "b1", "a1"
        ]
    );
    let find = |v: &str| sessions.iter().find(|s| s["visitor"] == v).unwrap();
    let k1 = find("k1");
    assert_eq!(
        (
            k1["start"].clone(),
            k1["end"].clone(),
            k1["entry"].clone(),
            k1["exit"].clone()
        ),
        (
            json!(at(2, 9, 0, 0)),
            json!(at(2, 9, 21, 0)),
            json!("/"),
            json!("/docs")
        )
    );
    assert_eq!(
        (
            k1["pageviews"].clone(),
            k1["duration_ms"].clone(),
            k1["bounce"].clone()
        ),
        (json!(3), json!(1_260_000), json!(false))
    );
    assert_eq!(
        (
            k1["device"].clone(),
            k1["browser"].clone(),
            k1["os"].clone(),
            k1["source"].clone()
        ),
        (
            json!("desktop"),
            json!("Safari"),
            json!("macOS"),
            json!("Direct")
        )
    );
    let kinds: Vec<&str> = k1["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["pageview", "identify", "pageview", "identify", "pageview"]
    );
    let a1 = find("a1");
    let names: Vec<Value> = a1["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(
        names,
        [
            Value::Null,
            Value::Null,
            Value::Null,
            json!("signup"),
            Value::Null
        ],
        "{a1}"
    );
    assert_eq!(
        find("a2")["events"][3]["name"],
        "http://localhost/files/guide.pdf"
    );
    assert_eq!(find("a2")["person"], "a1");
    assert_eq!(find("d2")["person"], "d1");
    let strict = live
        .get(&format!("/api/visitors?{BOTH}&limit=100&identity=strict"))
        .await;
    let d2 = strict["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["visitor"] == "d2")
        .unwrap();
    assert_eq!(d2["person"], "d2");

    let default = live.get(&format!("/api/visitors?{BOTH}")).await;
    assert_eq!(
        default["sessions"].as_array().unwrap().len(),
        10,
        "default limit"
    );
    let pricing = live
        .get(&format!("/api/visitors?{BOTH}&page=/pricing"))
        .await;
    let who: Vec<&str> = pricing["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["visitor"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["j1", "srv-7", "k1", fp, "d2", "a1"]);
    let csv = live
        .get_text(&format!("/api/visitors?{BOTH}&limit=100&format=csv"))
        .await;
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 18, "header and 17 sessions");
    assert_eq!(
        lines[0],
        "session,visitor,person,start,end,entry,exit,pageviews,duration_ms,bounce,device,browser,os,source,events"
    );
    assert!(
        lines[1].ends_with(&format!(
            ",j1,j1,{},{},/,/pricing,4,240000,false,desktop,Chrome,Windows,duckduckgo.com,6",
            at(2, 16, 0, 0),
            at(2, 16, 4, 0)
        )),
        "{}",
        lines[1]
    );
}

/// Realtime: distinct visitors and their pages over the 5 minutes before the collector's
/// now. At 16:04 on day 2 that is jane alone (16:00–16:04: `/`, `/pricing`, `/docs`); at
/// 17:00, nobody. (At 15:04 see [`realtime_ignores_later_events`].)
pub async fn realtime<B: Backend>(backend: &B) {
    let live = load(backend).await;
    let pages = |r: &Value| -> Vec<(String, u64)> {
        let mut p: Vec<(String, u64)> = r["pages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["key"].as_str().unwrap().to_string(),
                    p["visitors"].as_u64().unwrap(),
                )
            })
            .collect();
        p.sort();
        p
    };
    live.clock.set(at(2, 16, 4, 0));
    let r = live.get("/api/realtime?site=demo").await;
    assert_eq!(r["visitors"], 1, "{r}");
    assert_eq!(
        pages(&r),
        [
            ("/".to_string(), 1),
            ("/docs".into(), 1),
            ("/pricing".into(), 1)
        ]
    );
    live.clock.set(at(2, 17, 0, 0));
    let r = live.get("/api/realtime?site=demo").await;
    assert_eq!(r["visitors"], 0, "{r}");
}

/// Realtime at 15:04 on day 2: the 5 minutes before are srv-7 alone (15:00, 15:01 on
/// `/pricing`); jane's events at 16:00–16:04 are after now, not in the window.
///
/// Known bug (SQLite): the window has no upper bound (`ts >= since`), so jane counts too
/// (2 visitors). A client whose clock runs ahead (up to a day is accepted) shows as "on
/// the site now" for as long as its timestamps lead.
pub async fn realtime_ignores_later_events<B: Backend>(backend: &B) {
    let live = load(backend).await;
    live.clock.set(at(2, 15, 4, 0));
    let r = live.get("/api/realtime?site=demo").await;
    assert_eq!(r["visitors"], 1, "{r}");
    assert_eq!(
        r["pages"],
        json!([{"key": "/pricing", "visitors": 1}]),
        "{r}"
    );
}
