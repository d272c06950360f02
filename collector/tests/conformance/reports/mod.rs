//! Reports: every `/api/…` report of `docs/API.md` over the dataset, against the numbers of
//! [`dataset`](super::dataset)'s tables (each area's own table below says where each figure
//! comes from).

mod breakdown;
mod funnel;
mod paths;
mod summary;
mod visitors;

use serde_json::Value;

pub use breakdown::{breakdowns, exit_visitors};
pub use funnel::funnels;
pub use paths::paths;
pub use summary::{summary, timeseries};
pub use visitors::{realtime, realtime_ignores_later_events, visitor_log};

use super::Backend;
use super::dataset::BOTH;
use crate::conformance::harness::{Live, close};

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
