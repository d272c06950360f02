//! The range's sessions, grouped from `events` (a session is not a row on ClickHouse):
//! the one SQL subquery every report that counts sessions builds on, with the same
//! definitions as the SQLite store's session rows (`session`, `store/sqlite/sessions.rs`).
//!
//! - **Which events.** A session lies within one local day of the site (it ends at local
//!   midnight), so every event of a session that has one in `[start, end)` is in
//!   `[start - SPAN, end + SPAN)`, with `SPAN` a local day's longest length. Only those are
//!   read (the `day` column narrows the primary key), and a session belongs to the range
//!   when its start, the earliest event, is in `[start, end)`.
//! - **Facts.** Start and end are the earliest and latest event times; the entry page the
//!   earliest event's path (the first arrived among equal times), the exit the latest page
//!   view's (the latest event's when it has none, the last arrived among equal times); a
//!   bounce is one page view without interaction; campaign, browser, OS, device, country
//!   and source are those of the event that started it (`starts = 1`: the writer classified
//!   its source, [`enrich::source`](crate::enrich::source)); its flow its
//!   first [`FLOW_PAGES`] page views in time order.
//! - **Persons.** `visitor_persons` files each visitor's persons by the collector time
//!   (`received`) from which they hold; a visitor without rows is its own person. A
//!   session's person is the one holding at its first arrival (as SQLite's sessions take
//!   their visitor's person); reports by event time take each event's
//!   ([`PERSON_AT_ARRIVAL`]), so a browser shared by two users counts both.
//!
//! Every value from a request is quoted ([`quote`]) or a Rust number.

use super::super::ClickHouseStore;
use super::super::client::quote;
use crate::identity::graph::Mode;
use crate::reports::range::{DAY_MS, HOUR_MS, date};
use crate::reports::{Filters, ReportQuery};
use crate::store::StoreError;

/// The first page views a session's flow keeps (as the SQLite store's sessions do).
pub(super) const FLOW_PAGES: usize = 5;

/// How far outside `[start, end)` a session starting inside it can have events: a local
/// day is at most 25 hours (a daylight-saving change), one more for safety.
const SPAN_MS: i64 = 26 * HOUR_MS;

/// An event that shows interaction (not a bounce): see [`session`](crate::session).
pub(super) const ENGAGED: &str = "(kind = 'engagement' AND visible_ms >= 10000) \
     OR kind IN ('custom', 'outbound', 'download')";

/// `person`: the person of the row's `visitor` at its `received`, from its `stretches`
/// (joined by [`ClickHouseStore::stretches_of`]; none: the visitor itself). Lambdas take
/// columns as `replicate`d arguments (18.16 loses a column only a lambda captures).
pub(super) const PERSON_AT_ARRIVAL: &str = "arrayCount((t, r) -> t.1 <= r, stretches, \
     replicate(received, stretches)) AS k, if(k = 0, visitor, stretches[k].2) AS person";

/// Over a visitor's `stretches` (see [`PERSON_AT_ARRIVAL`]): whether it is one person
/// all along (one stretch, from the beginning of time), the person of its only stretch.
pub(super) const ONE_PERSON: &str =
    "length(stretches) = 1 AND stretches[1].1 = -9223372036854775808";

/// The stored name of a reading (the `mode` column of `visitor_persons`).
pub(super) fn mode_str(mode: Mode) -> &'static str {
    match mode {
        Mode::Inclusive => "inclusive",
        Mode::Strict => "strict",
    }
}

/// `site = … AND` the events of `[from, to)`, through the primary key's `day`.
pub(super) fn events_between(site: &str, from: i64, to: i64) -> String {
    format!(
        "site = {} AND day >= '{}' AND day <= '{}' AND ts >= {from} AND ts < {to}",
        quote(site),
        date(from.div_euclid(DAY_MS)),
        date((to - 1).div_euclid(DAY_MS)),
    )
}

/// The events any session of `q` starting in `[start, end)` can have (see the module
/// docs), as a `WHERE` condition.
pub(super) fn session_events(site: &str, start: i64, end: i64) -> String {
    events_between(site, start - SPAN_MS, end + SPAN_MS)
}

/// What the subquery computes per session, besides its id, visitor and start.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Need {
    /// `last_ts`, `entry_path`, `exit_path`, `pageviews`, `events`, `bounce`,
    /// `duration_ms`.
    pub facts: bool,
    /// `browser`, `os`, `device`, `country`, `campaign`.
    pub context: bool,
    /// `source`, `source_class`.
    pub source: bool,
    /// `flow` (first page views, newline-separated).
    pub flow: bool,
    /// `person`: its visitor's person at its first arrival.
    pub persons: bool,
}

/// The range's sessions that pass the filters, as a subquery (`FROM (…)`): one row per
/// session with `session`, `visitor`, `start_ts` and what `need` asks.
pub(super) struct Sessions {
    sql: String,
}

impl Sessions {
    /// The subquery's SQL.
    pub(super) fn sql(&self) -> &str {
        &self.sql
    }
}

impl ClickHouseStore {
    /// The sessions of `q`'s range that pass its filters (see the module docs).
    pub(super) async fn sessions(
        &self,
        q: &ReportQuery,
        need: Need,
    ) -> Result<Sessions, StoreError> {
        self.sessions_between(q, (q.range.start_ms(), q.range.end_ms()), None, need, None)
            .await
    }

    /// The sessions of `[start, end)` of `q`'s site that pass its filters; `bucket`, when
    /// given, is an SQL expression over `start_ts` added as column `b`; `among`, when
    /// given, an SQL condition over the events' columns (such as `session IN (…)`) that
    /// keeps only some sessions, the other events skipped before they are grouped.
    pub(super) async fn sessions_between(
        &self,
        q: &ReportQuery,
        (start, end): (i64, i64),
        bucket: Option<&str>,
        need: Need,
        among: Option<&str>,
    ) -> Result<Sessions, StoreError> {
        let events = self.table("events");
        let mut window = session_events(&q.site, start, end);
        if let Some(among) = among {
            window.push_str(&format!(" AND {among}"));
        }
        let f = &q.filters;
        let mut cols = vec![
            "session".to_string(),
            "any(visitor) AS visitor".into(),
            "min(ts) AS start_ts".into(),
        ];
        if need.facts {
            cols.extend(
                [
                    "max(ts) AS last_ts",
                    "argMin(path, (ts, received)) AS entry_path",
                    "countIf(kind = 'pageview') AS pageviews",
                    "if(pageviews > 0, argMaxIf(path, (ts, received), kind = 'pageview'), \
                     argMax(path, (ts, received))) AS exit_path",
                    "count() AS events",
                    "last_ts - start_ts AS duration_ms",
                ]
                .map(String::from),
            );
            cols.push(format!(
                "toUInt8(pageviews = 1 AND max({ENGAGED}) = 0) AS bounce"
            ));
        }
        if need.context || f.campaign.is_some() || f.country.is_some() || f.device.is_some() {
            for c in ["browser", "os", "device", "country"] {
                cols.push(format!("anyIf({c}, starts = 1) AS {c}"));
            }
            cols.push("anyIf(utm_campaign, starts = 1) AS campaign".into());
        }
        if need.source || f.source.is_some() {
            cols.push("anyIf(source, starts = 1) AS source".into());
            cols.push("anyIf(source_class, starts = 1) AS source_class".into());
        }
        if need.flow {
            cols.push(format!(
                "arrayStringConcat(arraySlice(arrayMap(p -> p.3, arraySort(\
                 groupArrayIf((ts, received, path), kind = 'pageview'))), 1, {FLOW_PAGES}), \
                 '\\n') AS flow"
            ));
        }
        if need.persons {
            cols.push("min(received) AS first_received".into());
        }
        if let Some(page) = &f.page {
            cols.push(format!(
                "max(kind = 'pageview' AND path = {}) AS has_page",
                quote(page)
            ));
        }
        if let Some(b) = bucket {
            cols.push(format!("{b} AS b"));
        }
        let mut having = vec![format!("start_ts >= {start} AND start_ts < {end}")];
        having.extend(filter_conditions(f));
        let grouped = format!(
            "SELECT {} FROM {events} WHERE {window} GROUP BY session HAVING {}",
            cols.join(", "),
            having.join(" AND ")
        );
        let sql = if need.persons {
            self.with_persons(&grouped, &q.site, q.mode)
        } else {
            grouped
        };
        Ok(Sessions { sql })
    }

    /// `grouped` (sessions with `first_received`) with `person` from `visitor_persons`
    /// (see the module docs): each visitor's stretches,
    /// sorted by `from_ms`, joined by visitor. (18.16 finds no left-side column from a
    /// lambda in the SELECT of a join, nor keeps a column only a lambda captures: the join
    /// is a subquery of its own, and lambdas take columns as `replicate`d arguments.)
    fn with_persons(&self, grouped: &str, site: &str, mode: Mode) -> String {
        let stretches = self.stretches_of(site, mode);
        format!(
            "SELECT *, arrayCount((t, r) -> t.1 <= r, stretches, \
                     replicate(first_received, stretches)) AS k, \
                 if(k = 0, visitor, stretches[k].2) AS person \
             FROM (SELECT * FROM ({grouped}) ANY LEFT JOIN ({stretches}) USING visitor)"
        )
    }

    /// `visitor, stretches`: for each visitor with rows in `visitor_persons` under `mode`,
    /// its `(from_ms, person)` sorted by time (the newest version of each). Only visitors
    /// in a person of two or more have rows: few, read by the key's `(site, mode)`.
    pub(super) fn stretches_of(&self, site: &str, mode: Mode) -> String {
        format!(
            "SELECT visitor, arraySort(groupArray((from_ms, p))) AS stretches FROM (\
                 SELECT visitor, from_ms, argMax(person, version) AS p \
                 FROM {} WHERE site = {} AND mode = '{}' \
                 GROUP BY visitor, from_ms) GROUP BY visitor",
            self.table("visitor_persons"),
            quote(site),
            mode_str(mode),
        )
    }

    /// The visitors with rows in `visitor_persons` under `mode` (in a person of two or
    /// more, or a shared browser), as a subquery for `IN`.
    pub(super) fn linked_visitors(&self, site: &str, mode: Mode) -> String {
        format!(
            "SELECT visitor FROM {} WHERE site = {} AND mode = '{}'",
            self.table("visitor_persons"),
            quote(site),
            mode_str(mode),
        )
    }
}

/// The `HAVING` conditions of the filters (over the columns they make the subquery keep).
fn filter_conditions(f: &Filters) -> Vec<String> {
    let mut out = Vec::new();
    if f.page.is_some() {
        out.push("has_page = 1".to_string());
    }
    if let Some(s) = &f.source {
        out.push(format!("source = {}", quote(s)));
    }
    if let Some(c) = &f.campaign {
        out.push(format!("campaign = {}", quote(c)));
    }
    if let Some(c) = &f.country {
        out.push(format!("country = {}", quote(c)));
    }
    if let Some(d) = &f.device {
        out.push(format!("device = {}", quote(d)));
    }
    out
}
