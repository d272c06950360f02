//! Sessions beyond the dataset's: the idle cut at exactly 30 minutes and an event sent
//! late that becomes its session's entry, moving the session's start into the hour before.
//!
//! After the dataset, visitor `z4` (198.51.100.8, NZ, Firefox on Linux) on day 2:
//!
//! | sent | event | session |
//! |---|---|---|
//! | 1st | #130 17:00:00 pv `/` | S1 starts |
//! | 2nd | #131 17:29:59 pv `/docs` | S1 (29:59 idle) |
//! | 3rd | #133 16:58:00 pv `/blog`, late | S1: same day, 2 min before its start: joins it as its entry; S1 now starts at 16:58 and still exits on `/docs` |
//! | 4th | #132 17:59:59 pv `/pricing` | 30:00 after S1's last event: S2 |
//!
//! S1: 16:58:00–17:29:59 (1 919 s), 3 pv, entry `/blog`, exit `/docs`, not a bounce.
//! S2: 17:59:59, 1 pv, a bounce. Day 2 becomes 8 visitors (8 persons), 9 sessions, 17 page
//! views, 26 events, 3 bounces, 1 695 + 1 919 = 3 614 s.

use serde_json::{Value, json};

use super::Backend;
use super::dataset::{FIREFOX_LINUX, SECOND, at, load};
use super::harness::{Browser, Live, ev};
use super::reports::{Totals, Wanted, rows_of, want};

/// Sends z4's four events (the table above).
pub async fn late_and_idle<B: Backend>(live: &Live<'_, B>) {
    let mut z4 = Browser::new("198.51.100.8", FIREFOX_LINUX, Some("z4"));
    let sends = [
        ev(130, "pageview", at(2, 17, 0, 0), "/", json!({})),
        ev(131, "pageview", at(2, 17, 29, 59), "/docs", json!({})),
        ev(133, "pageview", at(2, 16, 58, 0), "/blog", json!({})),
        ev(132, "pageview", at(2, 17, 59, 59), "/pricing", json!({})),
    ];
    for event in sends {
        z4.send(live, &[event]).await;
    }
}

/// z4's sessions in the visitor log (S1's exit aside), the day's totals, its hours (S1
/// counts in hour 16 with jane's SJ1: 2 sessions, 5 page views with #133, mean
/// (240 + 1 919) / 2 s; hour 17 holds S2 and #130–#132) and the exact (filtered) entry
/// pages.
pub async fn idle_cut_and_late_event<B: Backend>(backend: &B) {
    let live = load(backend).await;
    late_and_idle(&live).await;
    let log = live.get(&format!("/api/visitors?{SECOND}&limit=100")).await;
    let z4: Vec<&Value> = log["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["visitor"] == "z4")
        .collect();
    assert_eq!(z4.len(), 2, "{log}");
    let fields = |s: &Value| {
        (
            s["start"].as_i64().unwrap(),
            s["end"].as_i64().unwrap(),
            s["entry"].as_str().unwrap().to_string(),
            s["pageviews"].as_u64().unwrap(),
            s["duration_ms"].as_u64().unwrap(),
            s["bounce"].as_bool().unwrap(),
        )
    };
    let t = |h, m, s| at(2, h, m, s);
    assert_eq!(
        fields(z4[0]),
        (t(17, 59, 59), t(17, 59, 59), "/pricing".into(), 1, 0, true)
    );
    assert_eq!(
        fields(z4[1]),
        (
            t(16, 58, 0),
            t(17, 29, 59),
            "/blog".into(),
            3,
            1_919_000,
            false
        )
    );
    let paths: Vec<&str> = z4[1]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/blog", "/", "/docs"]);
    assert_eq!(z4[0]["exit"], "/pricing");
    // S1's exit: see [`late_event_keeps_exit`].

    let day2 = Totals {
        visitors: 8,
        persons: 8,
        pageviews: 17,
        sessions: 9,
        events: 26,
        bounces: 3,
        duration_ms: 3_614_000,
    };
    day2.check(
        &live.get(&format!("/api/summary?{SECOND}")).await,
        "day 2 with z4",
    );
    // Exact, from sessions: SB2 and S1 viewed `/blog`.
    let blog = Totals {
        visitors: 2,
        persons: 2,
        pageviews: 4,
        sessions: 2,
        events: 5,
        bounces: 0,
        duration_ms: 1_924_000,
    };
    blog.check(
        &live.get(&format!("/api/summary?{SECOND}&page=/blog")).await,
        "day 2, page=/blog",
    );

    let hours = live
        .get(&format!("/api/timeseries?{SECOND}&interval=hour"))
        .await;
    let h16 = Totals {
        visitors: 2,
        persons: 2,
        pageviews: 5,
        sessions: 2,
        events: 0,
        bounces: 0,
        duration_ms: 2_159_000,
    };
    h16.check(&hours["points"][16], "hour 16");
    let h17 = Totals {
        visitors: 1,
        persons: 1,
        pageviews: 3,
        sessions: 1,
        events: 0,
        bounces: 1,
        duration_ms: 0,
    };
    h17.check(&hours["points"][17], "hour 17");

    // Desktop sessions of day 2 (all but SP1 and SH1), read from sessions.
    let desktop: [Wanted; 4] = [
        ("/", 2, 7, 11, 2),
        ("/blog", 2, 4, 5, 2),
        ("/pricing", 2, 2, 3, 2),
        ("/docs", 1, 1, 1, 1),
    ];
    let got = rows_of(&live, &format!("{SECOND}&dimension=entry&device=desktop")).await;
    assert_eq!(got, want(&desktop));
}

/// Day 2's entry pages with z4, unfiltered (from the rollups):
///
/// | key | visitors | pv | events | sessions | sessions |
/// |---|---:|---:|---:|---:|---|
/// | `/` | 4 | 10 | 17 | 4 | SP1 SK1 SH1 SJ1 |
/// | `/blog` | 2 | 4 | 5 | 2 | SB2, z4's S1 |
/// | `/pricing` | 2 | 2 | 3 | 2 | SI1, z4's S2 |
/// | `/docs` | 1 | 1 | 1 | 1 | SM2 |
///
/// As for exits, z4 leaves `/` with its session when #133 moves S1's entry to `/blog` (a
/// store that keeps it there, as SQLite's rollup sketches once did, says 5 visitors for 4
/// sessions).
pub async fn moved_entry_visitors<B: Backend>(backend: &B) {
    let live = load(backend).await;
    late_and_idle(&live).await;
    let entry: [Wanted; 4] = [
        ("/", 4, 10, 17, 4),
        ("/blog", 2, 4, 5, 2),
        ("/pricing", 2, 2, 3, 2),
        ("/docs", 1, 1, 1, 1),
    ];
    let got = rows_of(&live, &format!("{SECOND}&dimension=entry")).await;
    assert_eq!(got, want(&entry));
}

/// A late event does not move its session's exit or its order: z4's S1 exits on `/docs`
/// (its latest page view, 17:29:59) in the visitor log, and its first pages, for flows,
/// are `/blog`, `/`, `/docs` in time order.
///
/// A store that follows page views in the order they arrive (as SQLite once did) makes the
/// late `/blog` (16:58) S1's last page: the log says exit `/blog`, the exit rows count S1
/// under `/blog`, and its flow reads `/ > /docs > /blog`.
pub async fn late_event_keeps_exit<B: Backend>(backend: &B) {
    let live = load(backend).await;
    late_and_idle(&live).await;
    let log = live.get(&format!("/api/visitors?{SECOND}&limit=100")).await;
    let s1 = log["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["visitor"] == "z4" && s["pageviews"] == 3)
        .unwrap();
    assert_eq!(s1["exit"], "/docs", "{s1}");
    let flows = live
        .get(&format!("/api/paths/flows?{SECOND}&limit=20"))
        .await;
    let late = json!({"pages": ["/blog", "/", "/docs"], "sessions": 1});
    assert!(
        flows["sequences"].as_array().unwrap().contains(&late),
        "{flows}"
    );
}
