//! The visitor log (the range's sessions, newest first, with their first events), the
//! real-time view (visitors and pages of the last minutes), the fallback page views per
//! reason, and the sites with events: the reports that list rather than count sessions.
//!
//! **The log reads back from the range's newest event.** Its answer is the newest
//! `limit` sessions that start in the range and pass the filters. It first finds the
//! range's newest event (the `ts` of its last day, then of [`GROWTH`] times more days
//! back while they are empty), then groups only the sessions with an event in a window
//! `[latest - w, end)`, `w` an hour and then `GROWTH` times longer each time the window
//! holds fewer than `limit` (never past the range's start): the sessions that start in the
//! window are among them, and their events are read over `[from - SPAN, end + SPAN)`
//! ([`sessions_between`](super::sessions), `session IN` the window's), the rest of those
//! days' events skipped before grouping. A window that holds `limit` holds the answer:
//! every session of the range outside it started earlier than all of those. Its cost is
//! that of the window the newest sessions need, not the range's, and an empty end of the
//! range (a day just begun) costs a read of its `ts`. Then the listed sessions' events are
//! read between their earliest start and latest end, where all of them lie.

use std::collections::HashMap;

use serde::Deserialize;

use super::super::ClickHouseStore;
use super::super::client::quote_list;
use super::sessions::{Need, events_between};
use crate::reports::range::{DAY_MS, HOUR_MS};
use crate::reports::{KeyCount, LogEvent, LogSession, Realtime, ReportQuery};
use crate::store::StoreError;

/// Events the log shows per session (as the SQLite store's log).
const LOG_EVENTS: usize = 200;

/// The first window the log looks back over from the range's newest event, ms.
const FIRST_WINDOW_MS: i64 = HOUR_MS;

/// How many times longer each next window is than the one before.
const GROWTH: i64 = 4;

/// A session of the log as the query answers it.
#[derive(Deserialize)]
struct Listed {
    sid: String,
    visitor: String,
    person: String,
    start_ts: i64,
    last_ts: i64,
    entry_path: String,
    exit_path: String,
    pageviews: u64,
    duration_ms: i64,
    bounce: u8,
    device: String,
    browser: String,
    os: String,
    source: String,
}

/// One event of a listed session.
#[derive(Deserialize)]
struct Logged {
    sid: String,
    ts: i64,
    kind: String,
    path: String,
    name: String,
}

/// A key and a count.
#[derive(Deserialize)]
struct Keyed {
    k: String,
    n: u64,
}

impl ClickHouseStore {
    /// [`ReportSource::visitor_log`](crate::store::ReportSource::visitor_log).
    pub(super) async fn range_visitor_log(
        &self,
        q: &ReportQuery,
    ) -> Result<Vec<LogSession>, StoreError> {
        let need = Need {
            facts: true,
            context: true,
            source: true,
            persons: true,
            ..Need::default()
        };
        let listed = self.newest_sessions(q, need).await?;
        let (Some(first), Some(last)) = (
            listed.iter().map(|s| s.start_ts).min(),
            listed.iter().map(|s| s.last_ts).max(),
        ) else {
            return Ok(Vec::new());
        };
        let window = events_between(&q.site, first, last.saturating_add(1));
        let ids = quote_list(listed.iter().map(|s| s.sid.as_str()));
        let logged: Vec<Logged> = self
            .client()
            .rows(
                format!(
                    "SELECT toString(session) AS sid, ts, kind, path, \
                         if(name != '', name, target) AS name \
                     FROM {} WHERE {window} AND toString(session) IN {ids} \
                     ORDER BY sid, ts, received LIMIT {LOG_EVENTS} BY sid",
                    self.table("events")
                ),
                &[],
            )
            .await?;
        let mut events: HashMap<String, Vec<LogEvent>> = HashMap::new();
        for e in logged {
            events.entry(e.sid).or_default().push(LogEvent {
                ts: e.ts,
                kind: e.kind,
                path: e.path,
                name: (!e.name.is_empty()).then_some(e.name),
            });
        }
        Ok(listed
            .into_iter()
            .map(|s| LogSession {
                events: events.remove(&s.sid).unwrap_or_default(),
                session: s.sid,
                visitor: s.visitor,
                person: s.person,
                start: s.start_ts,
                end: s.last_ts,
                entry: s.entry_path,
                exit: s.exit_path,
                pageviews: s.pageviews,
                duration_ms: s.duration_ms,
                bounce: s.bounce != 0,
                device: Some(s.device),
                browser: Some(s.browser),
                os: Some(s.os),
                source: Some(s.source),
            })
            .collect())
    }

    /// The log's sessions (see the module docs): the newest `q.limit` of the range that
    /// pass its filters, newest first (then by id), read back from the range's end in
    /// growing windows.
    async fn newest_sessions(
        &self,
        q: &ReportQuery,
        need: Need,
    ) -> Result<Vec<Listed>, StoreError> {
        let (start, end) = (q.range.start_ms(), q.range.end_ms());
        let Some(latest) = self.newest_event(&q.site, start, end).await? else {
            return Ok(Vec::new());
        };
        let events = self.table("events");
        let mut span = FIRST_WINDOW_MS;
        loop {
            let from = latest.saturating_add(1).saturating_sub(span).max(start);
            let seen = format!(
                "session IN (SELECT session FROM {events} WHERE {})",
                events_between(&q.site, from, end)
            );
            let sessions = self
                .sessions_between(q, (from, end), None, need, Some(&seen))
                .await?;
            let listed: Vec<Listed> = self
                .client()
                .rows(
                    format!(
                        "SELECT toString(session) AS sid, visitor, person, start_ts, last_ts, \
                             entry_path, exit_path, pageviews, duration_ms, bounce, device, \
                             browser, os, source \
                         FROM ({}) ORDER BY start_ts DESC, sid LIMIT {}",
                        sessions.sql(),
                        q.limit
                    ),
                    &[],
                )
                .await?;
            if listed.len() >= q.limit || from <= start {
                return Ok(listed);
            }
            span = span.saturating_mul(GROWTH);
        }
    }

    /// The time of the newest event of `[start, end)` (`None`: there is none), read from
    /// the range's last day, then from [`GROWTH`] times more days back while they hold
    /// none.
    async fn newest_event(
        &self,
        site: &str,
        start: i64,
        end: i64,
    ) -> Result<Option<i64>, StoreError> {
        #[derive(Deserialize)]
        struct Newest {
            n: u64,
            t: i64,
        }
        let mut days = 1;
        loop {
            let from = end.saturating_sub(days * DAY_MS).max(start);
            let rows: Vec<Newest> = self
                .client()
                .rows(
                    format!(
                        "SELECT count() AS n, max(ts) AS t FROM {} WHERE {}",
                        self.table("events"),
                        events_between(site, from, end)
                    ),
                    &[],
                )
                .await?;
            if let Some(r) = rows.first().filter(|r| r.n > 0) {
                return Ok(Some(r.t));
            }
            if from <= start {
                return Ok(None);
            }
            days = days.saturating_mul(GROWTH);
        }
    }

    /// [`ReportSource::realtime`](crate::store::ReportSource::realtime): the events of
    /// `[since, until]`.
    pub(super) async fn live(
        &self,
        site: &str,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Realtime, StoreError> {
        #[derive(Deserialize)]
        struct Total {
            n: u64,
        }
        let events = self.table("events");
        let window = events_between(site, since_ms, until_ms.saturating_add(1));
        let total: Vec<Total> = self
            .client()
            .rows(
                format!("SELECT uniqExact(visitor) AS n FROM {events} WHERE {window}"),
                &[],
            )
            .await?;
        let pages: Vec<Keyed> = self
            .client()
            .rows(
                format!(
                    "SELECT path AS k, uniqExact(visitor) AS n FROM {events} \
                     WHERE {window} AND kind = 'pageview' GROUP BY path \
                     ORDER BY n DESC, k LIMIT 20"
                ),
                &[],
            )
            .await?;
        Ok(Realtime {
            visitors: total.first().map_or(0, |t| t.n),
            pages: pages
                .into_iter()
                .map(|p| KeyCount {
                    key: p.k,
                    visitors: p.n,
                })
                .collect(),
        })
    }

    /// [`ReportSource::fallbacks`](crate::store::ReportSource::fallbacks).
    pub(super) async fn range_fallbacks(
        &self,
        q: &ReportQuery,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let window = events_between(&q.site, q.range.start_ms(), q.range.end_ms());
        let rows: Vec<Keyed> = self
            .client()
            .rows(
                format!(
                    "SELECT fallback AS k, count() AS n FROM {} \
                     WHERE {window} AND fallback != '' GROUP BY fallback ORDER BY n DESC, k",
                    self.table("events")
                ),
                &[],
            )
            .await?;
        Ok(rows.into_iter().map(|r| (r.k, r.n)).collect())
    }

    /// [`ReportSource::sites`](crate::store::ReportSource::sites).
    pub(super) async fn site_names(&self) -> Result<Vec<String>, StoreError> {
        #[derive(Deserialize)]
        struct Site {
            site: String,
        }
        let rows: Vec<Site> = self
            .client()
            .rows(
                format!(
                    "SELECT DISTINCT site FROM {} ORDER BY site",
                    self.table("events")
                ),
                &[],
            )
            .await?;
        Ok(rows.into_iter().map(|s| s.site).collect())
    }
}
