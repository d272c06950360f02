//! The counters of a period — visitors, persons, page views, sessions, events, bounces,
//! duration — over the sessions that start in it ([`sessions`](super::sessions)), for one
//! bucket, two (a period and the one before, in one pass) or a series; and the all-time
//! summary of a site.

use serde::Deserialize;

use super::super::ClickHouseStore;
use super::super::client::quote;
use super::sessions::{ENGAGED, Need, PERSON_AT_ARRIVAL, events_between};
use crate::identity::graph::Mode;
use crate::reports::range::Range;
use crate::reports::{CountBy, Counts, Interval, ReportQuery};
use crate::store::{StoreError, Summary};

/// One bucket's counters as the query answers them.
#[derive(Deserialize)]
struct Bucket {
    b: i64,
    visitors: u64,
    persons: u64,
    pageviews: u64,
    sessions: u64,
    events: u64,
    bounces: u64,
    duration_ms: u64,
}

impl Bucket {
    fn counts(&self) -> Counts {
        Counts {
            visitors: self.visitors,
            persons: self.persons,
            pageviews: self.pageviews,
            sessions: self.sessions,
            events: self.events,
            bounces: self.bounces,
            duration_ms: self.duration_ms,
        }
    }
}

/// Whether `q` is answered the way the SQLite store answers it from its rollups (no
/// filter, counting visitors): visitors, persons, page views and events by the time of
/// each event in the range; sessions, bounces and duration by the session's start.
/// Otherwise everything is of the sessions that start in the range and pass the filters,
/// as SQLite's exact answers are. (The two agree over whole days in UTC; an hour's page
/// views differ.)
pub(super) fn by_event_time(q: &ReportQuery) -> bool {
    q.filters.is_empty() && q.count == CountBy::Visitors
}

/// The bucket of a time column: an SQL expression over the column named.
type BucketOf<'a> = &'a (dyn Fn(&str) -> String + Sync);

impl ClickHouseStore {
    /// Counters of `[start, end)` per bucket (see [`by_event_time`]), by bucket.
    async fn buckets(
        &self,
        q: &ReportQuery,
        start: i64,
        end: i64,
        bucket: BucketOf<'_>,
    ) -> Result<Vec<(i64, Counts)>, StoreError> {
        let events_side = by_event_time(q);
        let need = Need {
            facts: true,
            persons: !events_side,
            ..Need::default()
        };
        let sessions = self
            .sessions_between(q, (start, end), Some(&bucket("start_ts")), need, None)
            .await?;
        let session_counts = if events_side {
            "toUInt64(0) AS visitors, toUInt64(0) AS persons, toUInt64(0) AS pageviews, \
             toUInt64(0) AS events"
        } else {
            "uniqExact(visitor) AS visitors, uniqExact(person) AS persons, \
             sum(pageviews) AS pageviews, sum(events) AS events"
        };
        let mut rows: Vec<Bucket> = self
            .client()
            .rows(
                format!(
                    "SELECT b, {session_counts}, count() AS sessions, sum(bounce) AS bounces, \
                         toUInt64(sum(duration_ms)) AS duration_ms \
                     FROM ({}) GROUP BY b ORDER BY b",
                    sessions.sql()
                ),
                &[],
            )
            .await?;
        if events_side {
            let events: Vec<Bucket> = self
                .client()
                .rows(self.event_buckets(q, start, end, bucket), &[])
                .await?;
            for e in events {
                match rows.iter_mut().find(|r| r.b == e.b) {
                    Some(r) => {
                        r.visitors = e.visitors;
                        r.persons = e.persons;
                        r.pageviews = e.pageviews;
                        r.events = e.events;
                    }
                    None => rows.push(e),
                }
            }
            rows.sort_by_key(|r| r.b);
        }
        Ok(rows.iter().map(|r| (r.b, r.counts())).collect())
    }

    /// Visitors, persons (each event's visitor's person at its arrival), page views and
    /// events of `[start, end)` per bucket of their time. Persons are the unlinked visitors
    /// (no rows in `visitor_persons`: their own person) with the linked ones' persons: only
    /// the few linked visitors' events are joined to their stretches.
    fn event_buckets(&self, q: &ReportQuery, start: i64, end: i64, bucket: BucketOf<'_>) -> String {
        let events = self.table("events");
        let window = events_between(&q.site, start, end);
        let stretches = self.stretches_of(&q.site, q.mode);
        let linked = self.linked_visitors(&q.site, q.mode);
        let b = bucket("ts");
        format!(
            "SELECT b, uniqExactIf(visitor, part = 0) AS visitors, \
                 uniqExactIf(person, part = 1 OR NOT linked) AS persons, \
                 countIf(part = 0 AND kind = 'pageview') AS pageviews, \
                 countIf(part = 0) AS events, \
                 toUInt64(0) AS sessions, toUInt64(0) AS bounces, toUInt64(0) AS duration_ms \
             FROM (\
                 SELECT {b} AS b, visitor, kind, visitor AS person, toUInt8(0) AS part, \
                     visitor IN ({linked}) AS linked \
                 FROM {events} WHERE {window} \
                 UNION ALL \
                 SELECT b, visitor, kind, person, toUInt8(1) AS part, toUInt8(1) AS linked FROM (\
                     SELECT b, visitor, kind, {PERSON_AT_ARRIVAL} FROM (SELECT * FROM (\
                         SELECT {b} AS b, visitor, kind, received FROM {events} \
                         WHERE {window} AND visitor IN ({linked})) \
                     ANY LEFT JOIN ({stretches}) USING visitor))) \
             GROUP BY b"
        )
    }

    /// [`ReportSource::counts`](crate::store::ReportSource::counts).
    pub(super) async fn range_counts(&self, q: &ReportQuery) -> Result<Counts, StoreError> {
        let (start, end) = (q.range.start_ms(), q.range.end_ms());
        let b = if self.uses_rollups(q) {
            self.fast_buckets(q, start, end, end - start).await?
        } else {
            self.buckets(q, start, end, &|_| "0".into()).await?
        };
        Ok(b.first().map(|(_, c)| *c).unwrap_or_default())
    }

    /// [`ReportSource::counts_with_previous`](crate::store::ReportSource::counts_with_previous):
    /// both periods in one pass, bucket 1 the current one.
    pub(super) async fn range_counts_with_previous(
        &self,
        q: &ReportQuery,
    ) -> Result<(Counts, Counts), StoreError> {
        let both = Range {
            from: q.range.previous().from,
            to: q.range.to,
        };
        let mid = q.range.start_ms();
        if self.uses_rollups(&q.with_range(both)) {
            let b = self
                .fast_buckets(q, both.start_ms(), both.end_ms(), both.end_ms() - mid)
                .await?;
            let of = |i: usize| b.get(i).map(|(_, c)| *c).unwrap_or_default();
            return Ok((of(1), of(0)));
        }
        let b = self
            .buckets(q, both.start_ms(), both.end_ms(), &|t| {
                format!("toUInt8({t} >= {mid})")
            })
            .await?;
        let of = |k: i64| {
            b.iter()
                .find(|(t, _)| *t == k)
                .map(|(_, c)| *c)
                .unwrap_or_default()
        };
        Ok((of(1), of(0)))
    }

    /// [`ReportSource::series`](crate::store::ReportSource::series): every bucket of the
    /// range, empty ones too. Buckets are UTC hours or days (the range is UTC days).
    pub(super) async fn range_series(
        &self,
        q: &ReportQuery,
        interval: Interval,
    ) -> Result<Vec<(i64, Counts)>, StoreError> {
        let bucket = interval.ms();
        let (start, end) = (q.range.start_ms(), q.range.end_ms());
        if self.uses_rollups(q) {
            return self.fast_buckets(q, start, end, bucket).await;
        }
        let found = self
            .buckets(q, start, end, &|t| {
                format!("intDiv({t} - {start}, {bucket}) * {bucket} + {start}")
            })
            .await?;
        let n = (end - start) / bucket;
        Ok((0..n)
            .map(|i| {
                let t = start + i * bucket;
                let c = found
                    .iter()
                    .find(|(b, _)| *b == t)
                    .map(|(_, c)| *c)
                    .unwrap_or_default();
                (t, c)
            })
            .collect())
    }

    /// [`ReportSource::summary`](crate::store::ReportSource::summary): everything stored
    /// for `site`.
    pub(super) async fn site_summary(&self, site: &str, mode: Mode) -> Result<Summary, StoreError> {
        #[derive(Deserialize)]
        struct Totals {
            pageviews: u64,
            visitors: u64,
            events: u64,
        }
        #[derive(Deserialize)]
        struct Sessions {
            sessions: u64,
            bounces: u64,
            mean: f64,
        }
        #[derive(Deserialize)]
        struct Persons {
            persons: u64,
        }
        let events = self.table("events");
        let site_q = quote(site);
        let totals: Vec<Totals> = self
            .client()
            .rows(
                format!(
                    "SELECT countIf(kind = 'pageview') AS pageviews, uniqExact(visitor) AS visitors, \
                         count() AS events FROM {events} WHERE site = {site_q}"
                ),
                &[],
            )
            .await?;
        let sessions: Vec<Sessions> = self
            .client()
            .rows(
                format!(
                    "SELECT count() AS sessions, sum(bounce) AS bounces, \
                         if(count() = 0, 0, avg(duration)) AS mean FROM (\
                         SELECT toUInt8(countIf(kind = 'pageview') = 1 AND max({ENGAGED}) = 0) AS bounce, \
                             max(ts) - min(ts) AS duration \
                         FROM {events} WHERE site = {site_q} GROUP BY session)"
                ),
                &[],
            )
            .await?;
        // Every person any visitor with events belongs to (each of a shared browser's
        // stretches), a visitor without rows being its own.
        let visitors = format!("SELECT DISTINCT visitor FROM {events} WHERE site = {site_q}");
        let stretches = self.stretches_of(site, mode);
        let persons: Vec<Persons> = self
            .client()
            .rows(
                format!(
                    "SELECT uniqExactArray(if(empty(stretches), [visitor], \
                         arrayMap(t -> t.2, stretches))) AS persons \
                     FROM ({visitors}) ANY LEFT JOIN ({stretches}) USING visitor"
                ),
                &[],
            )
            .await?;
        let t = totals.first();
        let s = sessions.first();
        let n = s.map_or(0, |s| s.sessions);
        Ok(Summary {
            site: site.to_string(),
            pageviews: t.map_or(0, |t| t.pageviews),
            visitors: t.map_or(0, |t| t.visitors),
            persons: persons.first().map_or(0, |p| p.persons),
            sessions: n,
            events: t.map_or(0, |t| t.events),
            bounce_rate: match s {
                Some(s) if n > 0 => s.bounces as f64 / n as f64,
                _ => 0.0,
            },
            mean_duration_ms: s.map_or(0, |s| s.mean.round().max(0.0) as u64),
        })
    }
}
