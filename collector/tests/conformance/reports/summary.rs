//! The summary (both identity readings, one day against the other, each filter, the
//! no-wasm fallback) and the time series by day and by hour.

use serde_json::{Value, json};

use super::{DAY_1, DAY_2, Totals};
use crate::conformance::Backend;
use crate::conformance::dataset::{BOTH, FIRST, SECOND, at, load};
use crate::conformance::harness::close;

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
/// The period before 2026-11-02 is empty: every change is `null`. Day 2 against day 1:
/// visitors (7 − 10) / 10 = −0.3, page views (13 − 11) / 11, events (22 − 17) / 17. Then a
/// page view sent by the no-wasm fallback (a CSP error) adds one page view and the
/// `fallback` line `csp: 1`.
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
    let mut blocked = crate::conformance::harness::Browser::new(
        "198.51.100.10",
        crate::conformance::dataset::FIREFOX_LINUX,
        Some("z5"),
    );
    let csp =
        json!({"nowasm": "CompileError: Refused to compile WebAssembly: Content Security Policy"});
    blocked
        .send(
            &live,
            &[crate::conformance::harness::ev(
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
