//! Reports answered from the rollups ([`rollups`](super::super::rollups)): without a
//! filter, counting visitors, over a range that starts after the rollups do
//! ([`ClickHouseStore::uses_rollups`]), as the SQLite store answers the same reports from
//! its own (`store/sqlite/reports/fast.rs`): counters added up per hour or per day and
//! key, visitors merged from their `uniqCombined` states. A month is 720 hour rows and a
//! few thousand day-and-key rows, whatever the traffic.
//!
//! Persons are the visitors, less the linked visitors (those in `visitor_persons`, in a
//! person of two or more) seen in the bucket, plus their persons (each event's visitor's
//! person at its arrival): only the few linked visitors' events are read. Entry and exit
//! pages' visitors add to their rows' settled sketches the visitors of the range's
//! sessions not settled yet ([`settle`](super::super::rollups::settle)).

use std::collections::HashMap;

use serde::Deserialize;

use super::super::ClickHouseStore;
use super::super::client::quote;
use super::sessions::{ONE_PERSON, PERSON_AT_ARRIVAL, events_between, mode_str};
use crate::reports::range::{DAY_MS, HOUR_MS};
use crate::reports::{CountBy, Counts, ReportQuery, Row};
use crate::store::{RawTransitions, StoreError};

/// A bucket's counters.
#[derive(Deserialize)]
struct HourSums {
    i: i64,
    pageviews: i64,
    events: i64,
    sessions: i64,
    bounces: i64,
    duration_ms: i64,
}

/// A bucket's or key's visitors.
#[derive(Deserialize)]
struct Merged<K> {
    k: K,
    visitors: u64,
}

/// A bucket's linked visitors and their persons.
#[derive(Deserialize)]
struct Linked {
    i: i64,
    visitors: u64,
    persons: u64,
}

/// A key's counters.
#[derive(Deserialize)]
struct KeySums {
    k: String,
    pageviews: i64,
    events: i64,
    sessions: i64,
}

/// A key and one counter.
#[derive(Deserialize)]
struct KeyCount {
    k: String,
    n: i64,
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl ClickHouseStore {
    /// Whether the rollups answer `q`: no filter, counting visitors, a range that starts
    /// after the rollups did.
    pub(super) fn uses_rollups(&self, q: &ReportQuery) -> bool {
        q.filters.is_empty() && q.count == CountBy::Visitors && q.range.start_ms() >= self.since()
    }

    /// `site = … AND dim = … AND bucket …` over `[start, end)` in buckets of `unit` ms.
    fn rollup_rows(site: &str, dim: &str, start: i64, end: i64, unit: i64) -> String {
        format!(
            "site = {} AND dim = {} AND bucket >= {} AND bucket < {}",
            quote(site),
            quote(dim),
            start.div_euclid(unit),
            end.div_euclid(unit),
        )
    }

    /// The counters of `[start, end)` in buckets of `bucket_ms` (every bucket present,
    /// in order, each by its start): hours added up.
    pub(super) async fn fast_buckets(
        &self,
        q: &ReportQuery,
        start: i64,
        end: i64,
        bucket_ms: i64,
    ) -> Result<Vec<(i64, Counts)>, StoreError> {
        let hours = Self::rollup_rows(&q.site, "hour", start, end, HOUR_MS);
        let i = format!("intDiv(bucket * {HOUR_MS} - {start}, {bucket_ms})");
        let sums = self.client().rows::<HourSums>(
            format!(
                "SELECT {i} AS i, sum(pageviews) AS pageviews, sum(events) AS events, \
                     sum(sessions) AS sessions, sum(bounces) AS bounces, \
                     sum(duration_ms) AS duration_ms \
                 FROM {} WHERE {hours} GROUP BY i",
                self.table("report_counts")
            ),
            &[],
        );
        let visitors = self.client().rows::<Merged<i64>>(
            format!(
                "SELECT {i} AS k, uniqCombinedMerge(12)(visitors) AS visitors \
                 FROM {} WHERE {hours} GROUP BY k",
                self.table("report_visitors")
            ),
            &[],
        );
        let linked = self
            .client()
            .rows::<Linked>(self.linked_buckets(q, start, end, bucket_ms), &[]);
        let (sums, visitors, linked) = tokio::try_join!(sums, visitors, linked)?;
        let n = usize::try_from((end - start) / bucket_ms).unwrap_or(0);
        let mut out: Vec<(i64, Counts)> = (0..n)
            .map(|k| (start + k as i64 * bucket_ms, Counts::default()))
            .collect();
        let at = |i: i64| usize::try_from(i).ok().filter(|i| *i < n);
        for s in sums {
            if let Some((_, c)) = at(s.i).and_then(|i| out.get_mut(i)) {
                c.pageviews = u(s.pageviews);
                c.events = u(s.events);
                c.sessions = u(s.sessions);
                c.bounces = u(s.bounces);
                c.duration_ms = u(s.duration_ms);
            }
        }
        for v in visitors {
            if let Some((_, c)) = at(v.k).and_then(|i| out.get_mut(i)) {
                c.visitors = v.visitors;
                c.persons = v.visitors;
            }
        }
        for l in linked {
            if let Some((_, c)) = at(l.i).and_then(|i| out.get_mut(i)) {
                // More persons than visitors when a shared browser is split between users.
                c.persons = (c.visitors + l.persons).saturating_sub(l.visitors);
            }
        }
        Ok(out)
    }

    /// Per bucket (as [`fast_buckets`](Self::fast_buckets) numbers them), the linked
    /// visitors with events there, and those of their persons that are not also an
    /// unlinked visitor with events there (a person is named after one of its visitors,
    /// which has no rows of its own when it was never split): the persons of the linked
    /// visitors and those unlinked visitors together, less the unlinked visitors.
    ///
    /// Which of them have events in which hours is read from `visitor_hours` by its
    /// primary key (the few linked visitors among all); a visitor of one person all along
    /// is that person there. Only the shared browsers (more than one stretch, so the
    /// person depends on each event's arrival) have their events read, by the events'
    /// primary key (`(site, day, visitor)`): they are very few.
    fn linked_buckets(&self, q: &ReportQuery, start: i64, end: i64, bucket_ms: i64) -> String {
        let events = self.table("events");
        let window = events_between(&q.site, start, end);
        let stretches = self.stretches_of(&q.site, q.mode);
        let shared = format!("SELECT visitor FROM ({stretches}) WHERE NOT ({ONE_PERSON})");
        let mappings = format!(
            "FROM {} WHERE site = {} AND mode = '{}'",
            self.table("visitor_persons"),
            quote(&q.site),
            mode_str(q.mode),
        );
        let hours = format!(
            "SELECT intDiv(hour * {HOUR_MS} - {start}, {bucket_ms}) AS i, visitor FROM {} \
             WHERE site = {} AND hour >= {} AND hour < {} \
             AND visitor IN (SELECT visitor {mappings} UNION ALL SELECT person {mappings})",
            self.table("visitor_hours"),
            quote(&q.site),
            start.div_euclid(HOUR_MS),
            end.div_euclid(HOUR_MS)
        );
        format!(
            "SELECT i, uniqExactIf(visitor, linked) AS visitors, \
                 uniqExact(person) - uniqExactIf(person, NOT linked) AS persons \
             FROM (\
                 SELECT i, visitor, notEmpty(stretches) AS linked, \
                     if(linked, stretches[1].2, visitor) AS person \
                 FROM (SELECT * FROM ({hours}) ANY LEFT JOIN ({stretches}) USING visitor) \
                 WHERE NOT linked OR {ONE_PERSON} \
                 UNION ALL \
                 SELECT i, visitor, toUInt8(1) AS linked, person FROM (\
                     SELECT i, visitor, {PERSON_AT_ARRIVAL} FROM (SELECT * FROM (\
                         SELECT intDiv(ts - {start}, {bucket_ms}) AS i, visitor, received \
                         FROM {events} WHERE {window} AND visitor IN ({shared})) \
                     ANY LEFT JOIN ({stretches}) USING visitor))) \
             GROUP BY i"
        )
    }

    /// The visitors of the whole range, from the hours' states (what breakdowns share
    /// over).
    pub(super) async fn fast_visitors(&self, q: &ReportQuery) -> Result<u64, StoreError> {
        let hours = Self::rollup_rows(
            &q.site,
            "hour",
            q.range.start_ms(),
            q.range.end_ms(),
            HOUR_MS,
        );
        let rows: Vec<Merged<u8>> = self
            .client()
            .rows(
                format!(
                    "SELECT toUInt8(0) AS k, uniqCombinedMerge(12)(visitors) AS visitors \
                     FROM {} WHERE {hours}",
                    self.table("report_visitors")
                ),
                &[],
            )
            .await?;
        Ok(rows.first().map_or(0, |r| r.visitors))
    }

    /// The rows of `dim` over the range (unsorted, `share` 0), those with a counter;
    /// `prefix` keeps only keys that start with it, and is cut off them. Entry and exit
    /// add the unsettled sessions' visitors.
    pub(super) async fn fast_keys(
        &self,
        q: &ReportQuery,
        dim: &str,
        prefix: Option<&str>,
    ) -> Result<Vec<Row>, StoreError> {
        let mut rows =
            Self::rollup_rows(&q.site, dim, q.range.start_ms(), q.range.end_ms(), DAY_MS);
        if let Some(p) = prefix {
            rows.push_str(&format!(" AND startsWith(key, {})", quote(p)));
        }
        let sums = self.client().rows::<KeySums>(
            format!(
                "SELECT key AS k, sum(pageviews) AS pageviews, sum(events) AS events, \
                     sum(sessions) AS sessions \
                 FROM {} WHERE {rows} GROUP BY k",
                self.table("report_counts")
            ),
            &[],
        );
        let mut states = format!(
            "SELECT key, visitors FROM {} WHERE {rows}",
            self.table("report_visitors")
        );
        if matches!(dim, "entry" | "exit") {
            states.push_str(&format!(
                " UNION ALL {}",
                self.unsettled_states(q, dim).await?
            ));
        }
        let visitors = self.client().rows::<Merged<String>>(
            format!(
                "SELECT key AS k, uniqCombinedMerge(12)(visitors) AS visitors \
                 FROM ({states}) GROUP BY k"
            ),
            &[],
        );
        let (sums, visitors) = tokio::try_join!(sums, visitors)?;
        let visitors: HashMap<String, u64> =
            visitors.into_iter().map(|m| (m.k, m.visitors)).collect();
        let cut = |k: String| match prefix {
            Some(p) => k.strip_prefix(p).map(str::to_string).unwrap_or(k),
            None => k,
        };
        Ok(sums
            .into_iter()
            .filter(|s| s.pageviews > 0 || s.events > 0 || s.sessions > 0)
            .map(|s| Row {
                visitors: visitors.get(&s.k).copied().unwrap_or(0),
                key: cut(s.k),
                pageviews: u(s.pageviews),
                events: u(s.events),
                sessions: u(s.sessions),
                share: 0.0,
            })
            .collect())
    }

    /// `key, visitors` (states) of the range's sessions not settled yet, by their entry
    /// or exit page (`dim`), as a subquery.
    async fn unsettled_states(&self, q: &ReportQuery, dim: &str) -> Result<String, StoreError> {
        let mark = self.settled_mark().await?;
        let sessions = self.sessions_arrived(Some(&q.site), mark, None);
        Ok(format!(
            "SELECT {dim}_path AS key, uniqCombinedState(12)(visitor) AS visitors FROM ({sessions}) \
             WHERE start_ts >= {} AND start_ts < {} GROUP BY key",
            q.range.start_ms(),
            q.range.end_ms()
        ))
    }

    /// One counter of `dim` per key over the range, added up (transitions and flows
    /// need no visitors); `key_filter` an SQL condition over `key`, `key` the SQL of the
    /// key, `then` what follows the grouping (an order and a limit).
    async fn fast_sums(
        &self,
        q: &ReportQuery,
        dim: &str,
        counter: &str,
        key_filter: &str,
        key: &str,
        then: &str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = Self::rollup_rows(&q.site, dim, q.range.start_ms(), q.range.end_ms(), DAY_MS);
        let sums: Vec<KeyCount> = self
            .client()
            .rows(
                format!(
                    "SELECT {key} AS k, sum({counter}) AS n FROM {} \
                     WHERE {rows} AND {key_filter} GROUP BY k HAVING n > 0 {then}",
                    self.table("report_counts")
                ),
                &[],
            )
            .await?;
        Ok(sums.into_iter().map(|s| (s.k, u(s.n))).collect())
    }

    /// [`ReportSource::transitions`](crate::store::ReportSource::transitions) from the
    /// rollups: the `transition` rows (`from\nto` page views) into and out of `page`, and
    /// its exits.
    pub(super) async fn fast_transitions(
        &self,
        q: &ReportQuery,
        page: &str,
    ) -> Result<RawTransitions, StoreError> {
        let p = quote(page);
        let pairs =
            format!("(splitByChar('\\n', key)[2] = {p} OR splitByChar('\\n', key)[1] = {p})");
        let all = self.fast_sums(q, "transition", "pageviews", &pairs, "key", "");
        let this_page = format!("key = {p}");
        let exits = self.fast_sums(q, "exit", "sessions", &this_page, "key", "");
        let (all, exits) = tokio::try_join!(all, exits)?;
        let exits = exits.into_iter().map(|(_, n)| n).sum();
        Ok(crate::store::rollup::transitions(all, exits, page))
    }

    /// [`ReportSource::flows`](crate::store::ReportSource::flows) from the rollups:
    /// sessions per first `steps` page views, the `q.limit` most common only (by
    /// sessions, then pages: as [`flows::build`](crate::reports::flows::build) orders
    /// them; an array of strings compares as a `Vec<String>` does), so that a month's
    /// tens of thousands of sequences are not sent to be dropped.
    pub(super) async fn fast_flows(
        &self,
        q: &ReportQuery,
        steps: usize,
    ) -> Result<Vec<(Vec<String>, u64)>, StoreError> {
        let cut =
            format!("arrayStringConcat(arraySlice(splitByChar('\\n', key), 1, {steps}), '\\n')");
        let top = format!("ORDER BY n DESC, splitByChar('\\n', k) LIMIT {}", q.limit);
        let sums = self
            .fast_sums(q, "flow", "sessions", "1", &cut, &top)
            .await?;
        Ok(sums
            .into_iter()
            .map(|(key, n)| (key.split('\n').map(str::to_string).collect(), n))
            .collect())
    }
}
